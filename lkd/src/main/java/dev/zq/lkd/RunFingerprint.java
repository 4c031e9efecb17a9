package dev.zq.lkd;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertLayer;
import dev.zq.model.decoder.DecoderLayer;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.Norm;
import dev.zq.model.tokenizer.Encoding;
import dev.zq.quant.Scheme;
import dev.zq.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * What an LKD run depends on — the FP model's weights, the scheme, the data and the options but the checkpoint directory —
 * condensed to one string that each layer checkpoint records. A rerun resumes a checkpoint only if its own string is the
 * same: otherwise a second {@code zq quantize --lkd} with another scheme, model or data and the same {@code --out} would
 * silently load layers trained for the first.
 * <p>
 * The weights enter as a CRC-32C per tensor (fast enough to read every weight of a large model once), the rest as they are;
 * the whole is hashed with SHA-256. It tells runs apart; it is no protection against a checkpoint forged on purpose.
 */
final class RunFingerprint {
    private final MessageDigest digest;

    private RunFingerprint(Scheme scheme, Lkd.Options options) {
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        text("scheme " + scheme);
        text("options " + options.withCheckpointDir(null));
    }

    static String of(DecoderModel fp, Scheme scheme, Lkd.Options options, List<int[][]> batches) {
        RunFingerprint f = new RunFingerprint(scheme, options);
        f.text("config " + fp.config());
        f.tensor("token embeddings", fp.tokenEmbeddings());
        f.tensor("position embeddings", fp.positionEmbeddings());
        fp.withLinears((name, l) -> f.linear(name, l));
        for (int i = 0; i < fp.layers().size(); i++) {
            DecoderLayer l = fp.layers().get(i);
            f.norm("layer " + i + " attention norm", l.attentionNorm());
            f.norm("layer " + i + " mlp norm", l.mlpNorm());
        }
        f.norm("final norm", fp.finalNorm());
        if (fp.lmHead() instanceof DenseLinear d && d.weight() == fp.tokenEmbeddings()) f.text("lm head tied to the token embeddings");
        else f.linear("lm head", fp.lmHead());   // (a tied head's weights were read once, above)
        for (int[][] batch : batches) {
            f.text("batch " + batch.length);
            for (int[] window : batch) f.ints(window);
        }
        return f.finish();
    }

    static String of(BertEncoder fp, Scheme scheme, Lkd.Options options, List<List<Encoding>> batches) {
        RunFingerprint f = new RunFingerprint(scheme, options);
        f.text("config " + fp.config());
        fp.embeddingTensors().forEach(f::tensor);
        fp.withLinears((name, l) -> f.linear(name, l));
        for (int i = 0; i < fp.layers().size(); i++) {
            BertLayer l = fp.layers().get(i);
            f.tensor("layer " + i + " attention norm gamma", l.attentionNorm().gamma());
            f.tensor("layer " + i + " attention norm beta", l.attentionNorm().beta());
            f.tensor("layer " + i + " output norm gamma", l.outputNorm().gamma());
            f.tensor("layer " + i + " output norm beta", l.outputNorm().beta());
        }
        for (List<Encoding> batch : batches) {
            f.text("batch " + batch.size());
            for (Encoding e : batch) {
                f.ints(e.ids());
                f.ints(e.typeIds());
                f.ints(e.attentionMask());
            }
        }
        return f.finish();
    }

    private Linear linear(String name, Linear l) {
        if (l instanceof DenseLinear d) {
            tensor(name + " weight", d.weight());
            tensor(name + " bias", d.bias());
        } else text(name + " " + l.getClass().getName() + " " + l.inFeatures() + "x" + l.outFeatures());
        return l;
    }

    private void norm(String name, Norm n) {
        tensor(name + " weight", n.weight());
        tensor(name + " bias", n.bias());
    }

    private void tensor(String name, Tensor t) {
        if (t == null) {
            text(name + " none");
            return;
        }
        CRC32C crc = new CRC32C();
        MemorySegment s = t.segment();
        for (long at = 0; at < s.byteSize(); at += 1 << 30)   // a ByteBuffer holds at most 2 GiB
            crc.update(s.asSlice(at, Math.min(1L << 30, s.byteSize() - at)).asByteBuffer());
        text(name + " " + t.dtype() + " " + t.shape() + " crc32c " + crc.getValue());
    }

    private void ints(int[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(values.length);
        for (int v : values) b.putInt(v);
        digest.update(b.flip());
    }

    private void text(String s) {
        byte[] bytes = (s + "\n").getBytes(StandardCharsets.UTF_8);
        digest.update(bytes);
    }

    private String finish() {
        return HexFormat.of().formatHex(digest.digest());
    }
}
