package dev.zq.lkd;

import dev.zq.lkd.StudentLayer.Projection;
import dev.zq.lkd.autodiff.AdaRound;
import dev.zq.lkd.autodiff.AttentionOp;
import dev.zq.lkd.autodiff.FakeQuant;
import dev.zq.lkd.autodiff.Ops;
import dev.zq.lkd.autodiff.Var;
import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderLayer;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.Norm;
import dev.zq.quant.Scheme;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One decoder block on the autodiff tape, in double precision. GPT-2: pre-LayerNorm causal self-attention with
 * the fused q/k/v projection, then a pre-LayerNorm GeLU MLP. LLaMA: pre-RMSNorm causal self-attention with
 * separate q, k, v projections, rotary positions and grouped-query key/value heads, then a pre-RMSNorm SwiGLU
 * MLP, {@code down(silu(gate(x)) · up(x))}. Each half is added to the residual stream. As the teacher it runs
 * the FP weights; as the student the same weights train under the scheme's fake quantization (weights
 * group-wise, activations token-wise, straight-through gradients).
 */
final class DecoderStudentLayer {
    private final List<Projection> projections;   // GPT-2: c_attn, c_proj, c_fc, c_proj; LLaMA: q, k, v, o, gate, up, down
    private final Var[] clips;                      // per projection: learnable clip per weight group, or null
    private final AdaRound[] roundings;             // per projection: learned rounding, or null
    private boolean hardRounding;                   // evaluate learned rounding as the final codes
    private final Var norm1Gamma, norm1Beta, norm2Gamma, norm2Beta;   // the betas null for RMSNorm (LLaMA)
    private final boolean normsTrain;               // γ and β of both LayerNorms train too
    private final String norm1Name, norm2Name;      // HF's module names, for checkpoints
    private final int heads, kvHeads, hidden;
    private final double eps, ropeTheta;
    private final boolean llama, tanhGelu;
    private int tap = -1;                           // forward records projection tap's input in tapped
    private Var tapped;

    private DecoderStudentLayer(List<Projection> projections, Var[] norms, boolean normsTrain, String[] normNames, DecoderConfig c) {
        this.projections = projections;
        this.normsTrain = normsTrain;
        this.norm1Name = normNames[0];
        this.norm2Name = normNames[1];
        this.norm1Gamma = norms[0];
        this.norm1Beta = norms[1];
        this.norm2Gamma = norms[2];
        this.norm2Beta = norms[3];
        this.heads = c.numHeads();
        this.kvHeads = c.numKvHeads();
        this.hidden = c.hiddenSize();
        this.eps = c.normEps();
        this.ropeTheta = c.ropeTheta();
        this.llama = c.family() == DecoderConfig.Family.LLAMA;
        this.tanhGelu = c.activation() == DecoderConfig.Activation.GELU_TANH;
        this.clips = new Var[projections.size()];
        this.roundings = new AdaRound[projections.size()];
    }

    /** Block {@code index} of {@code fp}; its projections' weights and biases trainable when {@code trainable}. */
    static DecoderStudentLayer of(DecoderModel fp, int index, boolean trainable) {
        return of(fp, index, trainable, false);
    }

    /** The same, with its LayerNorms' γ and β trainable too when {@code trainableNorms}. */
    static DecoderStudentLayer of(DecoderModel fp, int index, boolean trainable, boolean trainableNorms) {
        DecoderConfig c = fp.config();
        boolean llama = c.family() == DecoderConfig.Family.LLAMA;
        if (llama != (c.activation() == DecoderConfig.Activation.SWIGLU) || (!llama && c.numKvHeads() != c.numHeads()))
            throw new IllegalArgumentException("LKD for decoders covers GPT-2 (GeLU, one kv head a head) and LLaMA (SwiGLU); this model is "
                    + c.family() + " with " + c.activation() + " and " + c.numKvHeads() + " kv heads for " + c.numHeads());
        DecoderLayer l = fp.layers().get(index);
        List<String> names = fp.linearNames(index);
        Linear[] lins = llama ? new Linear[]{l.q(), l.k(), l.v(), l.output(), l.gate(), l.up(), l.down()}
                : new Linear[]{l.qkv(), l.output(), l.up(), l.down()};
        List<Projection> ps = new ArrayList<>();
        for (int i = 0; i < lins.length; i++) {
            if (!(lins[i] instanceof DenseLinear d)) throw new IllegalArgumentException(names.get(i) + " is not an FP32 layer: LKD starts from the FP model");
            ps.add(new Projection(names.get(i), StudentLayer.var(d.weight(), trainable), d.bias() == null ? null : StudentLayer.var(d.bias(), trainable)));
        }
        boolean n = trainable && trainableNorms;
        Var[] norms = {StudentLayer.var(l.attentionNorm().weight(), n), optionalVar(l.attentionNorm().bias(), n),
                StudentLayer.var(l.mlpNorm().weight(), n), optionalVar(l.mlpNorm().bias(), n)};
        String[] normNames = llama ? new String[]{"model.layers." + index + ".input_layernorm", "model.layers." + index + ".post_attention_layernorm"}
                : new String[]{"transformer.h." + index + ".ln_1", "transformer.h." + index + ".ln_2"};
        return new DecoderStudentLayer(ps, norms, n, normNames, c);
    }

    private static Var optionalVar(Tensor t, boolean trainable) {
        return t == null ? null : StudentLayer.var(t, trainable);
    }

    /**
     * Adds {@code delta} (one value a channel) to the bias of the block's last projection, the MLP's down projection, whose
     * output joins the residual stream: the block's output moves by exactly {@code delta}, whatever the quantization.
     */
    void shiftOutput(double[] delta) {
        Projection down = projections.getLast();
        if (down.bias() == null) throw new IllegalStateException(down.name() + " has no bias to take the block's output shift");
        if (delta.length != down.bias().numel())
            throw new IllegalArgumentException(delta.length + " shifts for " + down.bias().numel() + " channels of " + down.name());
        for (int c = 0; c < delta.length; c++) down.bias().data[c] += delta[c];
    }

    /** Gives every weight that {@code scheme} quantizes a learnable clipping threshold per group, starting at the group's max. */
    DecoderStudentLayer learnClipping(Scheme scheme) {
        for (int i = 0; i < projections.size(); i++) {
            Projection p = projections.get(i);
            var wr = scheme.weightRule(p.name());
            if (wr.isEmpty()) continue;
            int group = FakeQuant.groupSize(wr.get().granularityFor(p.weight().dim(1)), p.weight().numel(), p.weight().dim(1));
            double[] max = FakeQuant.groupMax(p.weight().data, group);
            clips[i] = Var.param(max, max.length);
        }
        return this;
    }

    /** Every weight that {@code scheme} quantizes learns its rounding instead (AdaRound); the weights and biases stay fixed. */
    DecoderStudentLayer learnRounding(Scheme scheme) {
        for (int i = 0; i < projections.size(); i++) {
            Projection p = projections.get(i);
            var wr = scheme.weightRule(p.name());
            if (wr.isEmpty()) continue;
            roundings[i] = new AdaRound(p.weight(), wr.get().bits(),
                    FakeQuant.groupSize(wr.get().granularityFor(p.weight().dim(1)), p.weight().numel(), p.weight().dim(1)));
        }
        return this;
    }

    /** With learned rounding: the soft relaxation (training) or the final codes. */
    void hardRounding(boolean hard) { this.hardRounding = hard; }

    /** The rounding regulariser summed over this layer's projections, or null without learned rounding. */
    Var roundingRegularizer(double beta, double weight) {
        Var sum = null;
        for (AdaRound r : roundings) if (r != null) sum = sum == null ? r.regularizer(beta, weight) : Ops.add(sum, r.regularizer(beta, weight));
        return sum;
    }

    /** Mean share of settled roundings (h within 0.01 of 0 or 1) over the projections that learn them. */
    double roundingSettled() {
        double s = 0;
        int n = 0;
        for (AdaRound r : roundings) if (r != null) { s += r.settled(); n++; }
        return n == 0 ? 1 : s / n;
    }

    /**
     * Rounds every weight that {@code scheme} quantizes with GPTQ's error compensation ({@link Gptq}), projection after
     * projection in the order of the forward pass, each on its inputs over {@code inputs} with the projections before it
     * already rounded (and activations quantized as the scheme says): the student starts from the values GPTQ rounded
     * (which quantize to its codes) instead of the FP weights. Call before {@link #learnClipping}, whose thresholds then start at the
     * scales found here.
     */
    DecoderStudentLayer gptqStart(Scheme scheme, List<Var> inputs) {
        for (int i = 0; i < projections.size(); i++) {
            Projection p = projections.get(i);
            var wr = scheme.weightRule(p.name());
            if (wr.isEmpty()) continue;
            if (clips[i] != null || roundings[i] != null) throw new IllegalStateException("GPTQ's start comes before learned clipping or rounding");
            int N = p.weight().dim(0), K = p.weight().dim(1);
            int group = FakeQuant.groupSize(wr.get().granularityFor(K), p.weight().numel(), K);
            if (group > K) throw new IllegalArgumentException("GPTQ rounds each row on its own; " + p.name() + "'s weights are quantized per tensor");
            double[] h = new double[K * K];
            for (Var x : inputs) {
                tap = i;
                try {
                    forward(x, scheme);
                    dev.zq.lkd.autodiff.DMath.addGram(tapped.data, tapped.numel() / K, K, h);
                } finally {
                    tap = -1;
                    tapped = null;
                }
            }
            Gptq.quantize(p.weight().data, N, K, h, wr.get().bits(), group);
        }
        return this;
    }

    /** The learned clipping thresholds (empty without them). */
    List<Var> thresholds() {
        List<Var> out = new ArrayList<>();
        for (Var c : clips) if (c != null) out.add(c);
        return out;
    }

    List<Var> trainable() {
        List<Var> out = new ArrayList<>();
        boolean rounding = false;
        for (AdaRound r : roundings) rounding |= r != null;
        if (rounding) {
            for (AdaRound r : roundings) if (r != null) out.add(r.v);
            return out;
        }
        for (int i = 0; i < projections.size(); i++) {
            Projection p = projections.get(i);
            out.add(p.weight());
            if (p.bias() != null) out.add(p.bias());
            if (clips[i] != null) out.add(clips[i]);
        }
        out.addAll(normParameters());
        return out;
    }

    /** The LayerNorms' γ and β when they train (empty otherwise). */
    List<Var> normParameters() {
        if (!normsTrain) return List.of();
        List<Var> out = new ArrayList<>();
        for (Var v : new Var[]{norm1Gamma, norm1Beta, norm2Gamma, norm2Beta}) if (v != null) out.add(v);
        return out;
    }

    /** The trained LayerNorms, attention's then the MLP's, in {@code arena}; null when they did not train. */
    Norm[] norms(Arena arena) {
        if (!normsTrain) return null;
        return new Norm[]{new Norm(StudentLayer.tensor(arena, norm1Gamma), norm1Beta == null ? null : StudentLayer.tensor(arena, norm1Beta)),
                new Norm(StudentLayer.tensor(arena, norm2Gamma), norm2Beta == null ? null : StudentLayer.tensor(arena, norm2Beta))};
    }

    /** The trained LayerNorms by full tensor name ({@code ….ln_1.weight} …), for checkpoints; empty when they did not train. */
    Map<String, Tensor> normTensors(Arena arena) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        Norm[] n = norms(arena);
        if (n == null) return out;
        out.put(norm1Name + ".weight", n[0].weight());
        if (n[0].bias() != null) out.put(norm1Name + ".bias", n[0].bias());
        out.put(norm2Name + ".weight", n[1].weight());
        if (n[1].bias() != null) out.put(norm2Name + ".bias", n[1].bias());
        return out;
    }

    /** x [B, S, H] → the block's output (the residual stream after it); {@code scheme} null runs it unquantized. */
    Var forward(Var x, Scheme scheme) {
        if (llama) return forwardLlama(x, scheme);
        Var qkv = project(0, Ops.layerNorm(x, norm1Gamma, norm1Beta, eps), scheme);
        Var q = Ops.narrow(qkv, 0, hidden), k = Ops.narrow(qkv, hidden, hidden), v = Ops.narrow(qkv, 2 * hidden, hidden);
        Var h = Ops.add(x, project(1, AttentionOp.attention(q, k, v, null, heads, true), scheme));
        Var up = project(2, Ops.layerNorm(h, norm2Gamma, norm2Beta, eps), scheme);
        Var mlp = project(3, tanhGelu ? Ops.geluTanh(up) : Ops.gelu(up), scheme);
        return Ops.add(h, mlp);
    }

    /** LLaMA: rows of every sequence at positions 0, 1, … (LKD's windows start a sequence each). */
    private Var forwardLlama(Var x, Scheme scheme) {
        Var n1 = Ops.rmsNorm(x, norm1Gamma, eps);
        Var q = Ops.rope(project(0, n1, scheme), heads, ropeTheta);
        Var k = Ops.rope(project(1, n1, scheme), kvHeads, ropeTheta), v = project(2, n1, scheme);
        if (kvHeads != heads) {
            k = Ops.repeatKv(k, kvHeads, heads);
            v = Ops.repeatKv(v, kvHeads, heads);
        }
        Var h = Ops.add(x, project(3, AttentionOp.attention(q, k, v, null, heads, true), scheme));
        Var n2 = Ops.rmsNorm(h, norm2Gamma, eps);
        return Ops.add(h, project(6, Ops.mul(Ops.silu(project(4, n2, scheme)), project(5, n2, scheme)), scheme));
    }

    /** LayerNorm with a bias, RMSNorm without one: the block's two norms and a model's final one. */
    static Var norm(Var x, Var gamma, Var beta, double eps) {
        return beta == null ? Ops.rmsNorm(x, gamma, eps) : Ops.layerNorm(x, gamma, beta, eps);
    }

    private Var project(int i, Var x, Scheme scheme) {
        // With learned clipping the weights are quantized with their group thresholds; otherwise at the groups' max.
        Projection p = projections.get(i);
        Var w = p.weight(), in = x;
        if (scheme != null) {
            var wr = scheme.weightRule(p.name());
            if (wr.isPresent() && roundings[i] != null) w = roundings[i].quantized(hardRounding);
            else if (wr.isPresent() && clips[i] != null)
                w = FakeQuant.weightsClipped(w, clips[i], wr.get().bits(), w.numel() / clips[i].numel());
            else if (wr.isPresent()) w = FakeQuant.weights(w, wr.get().bits(), wr.get().granularityFor(w.dim(1)));
            var ar = scheme.activationRule(p.name());
            if (ar.isPresent()) in = FakeQuant.tokenwise(x, ar.get().bits());
        }
        if (i == tap) tapped = in;
        return Ops.linear(in, w, p.bias());
    }

    /**
     * The trained projections as FP32 {@link DenseLinear}s in {@code arena}, by module name; learned clipping or rounding
     * is applied to the weights, so that zq's max-based quantizer finds exactly the learned thresholds or codes.
     */
    Map<String, DenseLinear> toDense(Arena arena) {
        Map<String, DenseLinear> out = new LinkedHashMap<>();
        for (int i = 0; i < projections.size(); i++) {
            Projection p = projections.get(i);
            Tensor w = StudentLayer.tensor(arena, p.weight());
            float[] c = roundings[i] != null ? roundings[i].exported()
                    : clips[i] != null ? FakeQuant.clamped(p.weight().data, clips[i].data, p.weight().numel() / clips[i].numel()) : null;
            if (c != null) for (int j = 0; j < c.length; j++) w.setFloat(j, c[j]);
            out.put(p.name(), new DenseLinear(w, p.bias() == null ? null : StudentLayer.tensor(arena, p.bias())));
        }
        return out;
    }

    /** Loads trained values (same names and shapes) into this layer's parameters. */
    void load(Map<String, Tensor> trained) {
        for (Projection p : projections) {
            StudentLayer.copy(trained.get(p.name() + ".weight"), p.weight(), p.name() + ".weight");
            if (p.bias() != null) StudentLayer.copy(trained.get(p.name() + ".bias"), p.bias(), p.name() + ".bias");
        }
        if (normsTrain) {
            StudentLayer.copy(trained.get(norm1Name + ".weight"), norm1Gamma, norm1Name + ".weight");
            if (norm1Beta != null) StudentLayer.copy(trained.get(norm1Name + ".bias"), norm1Beta, norm1Name + ".bias");
            StudentLayer.copy(trained.get(norm2Name + ".weight"), norm2Gamma, norm2Name + ".weight");
            if (norm2Beta != null) StudentLayer.copy(trained.get(norm2Name + ".bias"), norm2Beta, norm2Name + ".bias");
        }
        for (int i = 0; i < roundings.length; i++)  // saved weights are already rounded: they start as their own codes
            if (roundings[i] != null) roundings[i] = roundings[i].restarted(projections.get(i).weight());
        for (int i = 0; i < clips.length; i++)     // saved weights are already clamped: their maxima are the thresholds
            if (clips[i] != null) {
                Var w = projections.get(i).weight();
                System.arraycopy(FakeQuant.groupMax(w.data, w.numel() / clips[i].numel()), 0, clips[i].data, 0, clips[i].numel());
            }
    }
}
