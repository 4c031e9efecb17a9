package dev.zq.model.bert;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.ModelFormatException;
import dev.zq.model.format.OnnxModel;
import dev.zq.model.format.OnnxNode;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Builds a {@link BertEncoder} from a PyTorch-exported BERT ONNX graph (HF {@code BertModel} exported with
 * {@code torch.onnx}, as the sentence-transformers ONNX files are). The graph is not executed: weights are
 * found through the nodes that use them ({@code /encoder/layer.N/attention/self/query/MatMul} and its
 * bias {@code Add}), and the hyper-parameters that are not visible in weight shapes (heads, LayerNorm
 * epsilon) are read from the graph's constants.
 */
public final class BertOnnxLoader {
    private BertOnnxLoader() {}

    /** Transposed projection weights are copied into {@code arena}; embeddings stay views of the ONNX file. */
    public static BertEncoder load(OnnxModel onnx, Arena arena) throws ModelFormatException {
        Tensor word = f32(onnx, "embeddings.word_embeddings.weight");
        Tensor pos = f32(onnx, "embeddings.position_embeddings.weight");
        Tensor type = f32(onnx, "embeddings.token_type_embeddings.weight");
        Norm embNorm = new Norm(f32(onnx, "embeddings.LayerNorm.weight"), f32(onnx, "embeddings.LayerNorm.bias"));
        int hidden = word.dim(1);

        int numLayers = 0;
        while (onnx.node(layerPrefix(numLayers) + "attention/self/query/MatMul").isPresent()) numLayers++;
        if (numLayers == 0) throw fail(onnx, "no node /encoder/layer.0/attention/self/query/MatMul: not a BERT export this loader knows");

        List<BertLayer> layers = new ArrayList<>(numLayers);
        for (int i = 0; i < numLayers; i++) {
            String p = layerPrefix(i);
            layers.add(new BertLayer(
                    linear(onnx, arena, p + "attention/self/query"), linear(onnx, arena, p + "attention/self/key"),
                    linear(onnx, arena, p + "attention/self/value"), linear(onnx, arena, p + "attention/output/dense"),
                    norm(onnx, "encoder.layer." + i + ".attention.output.LayerNorm"),
                    linear(onnx, arena, p + "intermediate/dense"), linear(onnx, arena, p + "output/dense"),
                    norm(onnx, "encoder.layer." + i + ".output.LayerNorm")));
        }
        int heads = numHeads(onnx, hidden);
        float eps = scalarConstant(onnx, "/embeddings/LayerNorm/Add").orElseThrow(
                () -> fail(onnx, "cannot find the LayerNorm epsilon constant of /embeddings/LayerNorm/Add"));
        BertConfig config = new BertConfig(word.dim(0), hidden, numLayers, heads,
                layers.getFirst().intermediate().outFeatures(), pos.dim(0), type.dim(0), eps);
        try {
            return new BertEncoder(config, word, pos, type, embNorm, layers);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(onnx.file(), "inconsistent BERT weights: " + e.getMessage(), e);
        }
    }

    private static String layerPrefix(int i) { return "/encoder/layer." + i + "/"; }

    /** The {@code MatMul} weight (stored [in, out]) and the initializer its following {@code Add} adds. */
    private static Linear linear(OnnxModel onnx, Arena arena, String module) throws ModelFormatException {
        OnnxNode matmul = onnx.node(module + "/MatMul").orElseThrow(() -> fail(onnx, "missing node " + module + "/MatMul"));
        OnnxNode add = onnx.node(module + "/Add").orElseThrow(() -> fail(onnx, "missing bias node " + module + "/Add"));
        Tensor w = f32(onnx, matmul.inputs().get(1));
        if (w.rank() != 2) throw fail(onnx, module + " weight is " + w.shape() + ", expected a matrix");
        Tensor bias = null;
        for (String in : add.inputs()) if (onnx.initializers().containsKey(in)) bias = f32(onnx, in);
        if (bias == null) throw fail(onnx, module + "/Add has no initializer input to use as bias");
        return DenseLinear.fromInOut(arena, w, bias);
    }

    private static Norm norm(OnnxModel onnx, String prefix) throws ModelFormatException {
        return new Norm(f32(onnx, prefix + ".weight"), f32(onnx, prefix + ".bias"));
    }

    private static Tensor f32(OnnxModel onnx, String name) throws ModelFormatException {
        Tensor t = onnx.initializer(name);
        if (t.dtype() != DType.F32) throw fail(onnx, "initializer " + name + " is " + t.dtype() + ", expected F32");
        return ModelFormatException.requireFinite(onnx.file(), "initializer " + name, t);
    }

    /**
     * Heads: the self-attention reshape target {@code [batch, seq, heads, headDim]} is a Concat of two
     * dynamic dims and two constants; the constant pair whose product is the hidden size is (heads, headDim).
     */
    private static int numHeads(OnnxModel onnx, int hidden) throws ModelFormatException {
        OnnxNode concat = onnx.node(layerPrefix(0) + "attention/self/Concat")
                .orElseThrow(() -> fail(onnx, "missing " + layerPrefix(0) + "attention/self/Concat (the heads reshape)"));
        List<Long> constants = new ArrayList<>();
        for (String in : concat.inputs()) constantTensor(onnx, in).ifPresent(t -> constants.add(longAt(t)));
        if (constants.size() == 2 && constants.get(0) * constants.get(1) == hidden && constants.get(0) > 0)
            return Math.toIntExact(constants.get(0));
        throw fail(onnx, "cannot read the number of heads from " + concat.name() + " constants " + constants);
    }

    /** The scalar constant input of node {@code nodeName} (e.g. LayerNorm's epsilon in its Add). */
    private static Optional<Float> scalarConstant(OnnxModel onnx, String nodeName) {
        return onnx.node(nodeName).flatMap(n -> n.inputs().stream()
                .map(in -> constantTensor(onnx, in)).flatMap(Optional::stream)
                .filter(t -> t.numel() == 1).findFirst().map(t -> t.getFloat(0)));
    }

    private static Optional<Tensor> constantTensor(OnnxModel onnx, String output) {
        Tensor init = onnx.initializers().get(output);
        if (init != null) return Optional.of(init);
        for (OnnxNode n : onnx.nodes())
            if (n.opType().equals("Constant") && n.outputs().contains(output) && n.attributes().containsKey("value"))
                return Optional.ofNullable(n.attributes().get("value").t());
        return Optional.empty();
    }

    private static long longAt(Tensor t) {
        return t.dtype() == DType.I64 ? t.getLong(0) : t.dtype() == DType.I32 ? t.getInt(0) : (long) t.getFloat(0);
    }

    private static ModelFormatException fail(OnnxModel onnx, String what) {
        return ModelFormatException.of(onnx.file(), what);
    }
}
