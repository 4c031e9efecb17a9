package dev.zq.lkd;

import dev.zq.lkd.autodiff.AttentionOp;
import dev.zq.lkd.autodiff.FakeQuant;
import dev.zq.lkd.autodiff.Ops;
import dev.zq.lkd.autodiff.Var;
import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.bert.BertEncoder;
import dev.zq.model.bert.BertLayer;
import dev.zq.quant.Scheme;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One BERT layer on the autodiff tape, in double precision: the teacher (FP weights, nothing quantized) or
 * the student (the same weights as trainable parameters, run through fake quantization exactly as the
 * scheme will quantize them: weights group-wise, activations token-wise, straight-through gradients).
 */
final class StudentLayer {
    /** A projection's trainable weight and bias, under its HF module name. */
    record Projection(String name, Var weight, Var bias) {}

    private final List<Projection> projections;   // query, key, value, attention output, intermediate, output
    private final Var norm1Gamma, norm1Beta, norm2Gamma, norm2Beta;
    private final int heads;
    private final double eps;

    private StudentLayer(List<Projection> projections, Var[] norms, int heads, double eps) {
        this.projections = projections;
        this.norm1Gamma = norms[0];
        this.norm1Beta = norms[1];
        this.norm2Gamma = norms[2];
        this.norm2Beta = norms[3];
        this.heads = heads;
        this.eps = eps;
    }

    /** Layer {@code index} of {@code fp}; its projections' weights and biases trainable when {@code trainable}. */
    static StudentLayer of(BertEncoder fp, int index, boolean trainable) {
        BertLayer l = fp.layers().get(index);
        List<String> names = BertEncoder.linearNames(index);
        Linear[] lins = {l.query(), l.key(), l.value(), l.attentionOutput(), l.intermediate(), l.output()};
        List<Projection> ps = new ArrayList<>();
        for (int i = 0; i < lins.length; i++) {
            if (!(lins[i] instanceof DenseLinear d)) throw new IllegalArgumentException(names.get(i) + " is not an FP32 layer: LKD starts from the FP model");
            ps.add(new Projection(names.get(i), var(d.weight(), trainable), d.bias() == null ? null : var(d.bias(), trainable)));
        }
        Var[] norms = {var(l.attentionNorm().gamma(), false), var(l.attentionNorm().beta(), false),
                var(l.outputNorm().gamma(), false), var(l.outputNorm().beta(), false)};
        return new StudentLayer(ps, norms, fp.config().numHeads(), fp.config().layerNormEps());
    }

    static Var var(Tensor t, boolean trainable) {
        double[] d = new double[(int) t.numel()];
        for (int i = 0; i < d.length; i++) d[i] = t.getFloat(i);
        int[] shape = new int[t.rank()];
        for (int i = 0; i < shape.length; i++) shape[i] = t.dim(i);
        return trainable ? Var.param(d, shape) : Var.constant(d, shape);
    }

    List<Projection> projections() { return projections; }

    List<Var> trainable() {
        List<Var> out = new ArrayList<>();
        for (Projection p : projections) {
            out.add(p.weight());
            if (p.bias() != null) out.add(p.bias());
        }
        return out;
    }

    /** x [B, S, H] → the layer's output; {@code scheme} null runs it unquantized (the teacher). */
    Var forward(Var x, int[] mask, Scheme scheme) {
        Var q = project(0, x, scheme), k = project(1, x, scheme), v = project(2, x, scheme);
        Var attended = project(3, AttentionOp.attention(q, k, v, mask, heads), scheme);
        Var h = Ops.layerNorm(Ops.add(attended, x), norm1Gamma, norm1Beta, eps);
        Var mlp = project(5, Ops.gelu(project(4, h, scheme)), scheme);
        return Ops.layerNorm(Ops.add(mlp, h), norm2Gamma, norm2Beta, eps);
    }

    private Var project(int i, Var x, Scheme scheme) {
        Projection p = projections.get(i);
        Var w = p.weight(), in = x;
        if (scheme != null) {
            var wr = scheme.weightRule(p.name());
            if (wr.isPresent()) w = FakeQuant.weights(w, wr.get().bits(), wr.get().granularityFor(w.dim(1)));
            var ar = scheme.activationRule(p.name());
            if (ar.isPresent()) in = FakeQuant.tokenwise(x, ar.get().bits());
        }
        return Ops.linear(in, w, p.bias());
    }

    /** The trained projections as FP32 {@link DenseLinear}s in {@code arena}, by module name. */
    Map<String, DenseLinear> toDense(Arena arena) {
        Map<String, DenseLinear> out = new LinkedHashMap<>();
        for (Projection p : projections) out.put(p.name(), new DenseLinear(tensor(arena, p.weight()), p.bias() == null ? null : tensor(arena, p.bias())));
        return out;
    }

    static Tensor tensor(Arena arena, Var v) {
        Tensor t = Tensor.allocate(arena, DType.F32, v.shape);
        for (int i = 0; i < v.numel(); i++) t.setFloat(i, (float) v.data[i]);
        return t;
    }

    /** Loads trained values (same names and shapes) into this layer's parameters. */
    void load(Map<String, Tensor> trained) {
        for (Projection p : projections) {
            copy(trained.get(p.name() + ".weight"), p.weight(), p.name() + ".weight");
            if (p.bias() != null) copy(trained.get(p.name() + ".bias"), p.bias(), p.name() + ".bias");
        }
    }

    static void copy(Tensor t, Var v, String name) {
        if (t == null || t.numel() != v.numel()) throw new IllegalArgumentException("checkpoint lacks " + name + " of " + v.numel() + " values");
        for (int i = 0; i < v.numel(); i++) v.data[i] = t.getFloat(i);
    }

}
