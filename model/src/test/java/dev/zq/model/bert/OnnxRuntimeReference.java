package dev.zq.model.bert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.file.Path;
import java.util.Map;

/** The judge: ONNX Runtime running the same ONNX file on the same token ids (tests only). */
final class OnnxRuntimeReference implements AutoCloseable {
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;

    OnnxRuntimeReference(Path onnx) throws OrtException {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(2);
        session = env.createSession(onnx.toString(), opts);
    }

    /** Last hidden states [batch][seq][hidden] for row-major [batch, seq] inputs. */
    float[][][] lastHiddenState(int batch, int seq, int[] ids, int[] types, int[] mask) throws OrtException {
        try (OnnxTensor i = OnnxTensor.createTensor(env, rows(batch, seq, ids));
             OnnxTensor t = OnnxTensor.createTensor(env, rows(batch, seq, types));
             OnnxTensor m = OnnxTensor.createTensor(env, rows(batch, seq, mask));
             OrtSession.Result r = session.run(Map.of("input_ids", i, "token_type_ids", t, "attention_mask", m))) {
            return (float[][][]) r.get(0).getValue();
        }
    }

    private static long[][] rows(int batch, int seq, int[] flat) {
        long[][] out = new long[batch][seq];
        for (int b = 0; b < batch; b++) for (int s = 0; s < seq; s++) out[b][s] = flat[b * seq + s];
        return out;
    }

    @Override
    public void close() throws OrtException { session.close(); }
}
