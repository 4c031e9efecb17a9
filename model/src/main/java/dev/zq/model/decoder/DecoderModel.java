package dev.zq.model.decoder;

import dev.zq.model.DenseLinear;
import dev.zq.model.Linear;
import dev.zq.tensor.Attention;
import dev.zq.tensor.DType;
import dev.zq.tensor.Elementwise;
import dev.zq.tensor.Gelu;
import dev.zq.tensor.Rope;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;

/**
 * A decoder-only language model (GPT-2 or LLaMA family), readable top to bottom in {@link #forward}. Each
 * call appends {@code seq} tokens per batch row to a {@link KvCache} and returns their next-token logits;
 * a prompt is one call (prefill), generation is one call per new token (decode).
 */
public final class DecoderModel {
    private final DecoderConfig config;
    private final Tensor tokenEmbeddings;     // [vocab, hidden]
    private final Tensor positionEmbeddings;  // [positions, hidden] (GPT-2), null with rotary positions
    private final List<DecoderLayer> layers;
    private final Norm finalNorm;
    private final Linear lmHead;              // hidden -> vocab (GPT-2: the token embeddings themselves)

    public DecoderModel(DecoderConfig config, Tensor tokenEmbeddings, Tensor positionEmbeddings, List<DecoderLayer> layers,
                        Norm finalNorm, Linear lmHead) {
        this.config = Objects.requireNonNull(config);
        checkShape("token embeddings", tokenEmbeddings, config.vocabSize(), config.hiddenSize());
        if (config.family() == DecoderConfig.Family.GPT2)
            checkShape("position embeddings", positionEmbeddings, config.maxPositions(), config.hiddenSize());
        else if (positionEmbeddings != null) throw new IllegalArgumentException("a rotary model has no position embeddings");
        if (layers.size() != config.numLayers())
            throw new IllegalArgumentException(layers.size() + " layers given, config says " + config.numLayers());
        if (lmHead.inFeatures() != config.hiddenSize() || lmHead.outFeatures() != config.vocabSize())
            throw new IllegalArgumentException("LM head is " + lmHead.inFeatures() + " -> " + lmHead.outFeatures());
        this.tokenEmbeddings = tokenEmbeddings;
        this.positionEmbeddings = positionEmbeddings;
        this.layers = List.copyOf(layers);
        this.finalNorm = Objects.requireNonNull(finalNorm);
        this.lmHead = lmHead;
    }

    private static void checkShape(String what, Tensor t, int rows, int cols) {
        if (t == null || t.dtype() != DType.F32 || t.rank() != 2 || t.dim(0) != rows || t.dim(1) != cols)
            throw new IllegalArgumentException(what + " must be F32 [" + rows + ", " + cols + "], got " + t);
    }

    public DecoderConfig config() { return config; }
    public List<DecoderLayer> layers() { return layers; }
    public Tensor tokenEmbeddings() { return tokenEmbeddings; }
    public Tensor positionEmbeddings() { return positionEmbeddings; }
    public Norm finalNorm() { return finalNorm; }
    public Linear lmHead() { return lmHead; }

    /** A cache for {@code batch} sequences of up to {@code capacity} tokens. */
    public KvCache newCache(int batch, int capacity) { return new KvCache(config, batch, capacity); }

    /**
     * Runs {@code tokens} ({@code [batch, seq]} row-major) after what {@code cache} holds and returns logits
     * {@code [batch, seq, vocab]} when {@code allPositions}, else only the last position's {@code [batch, 1, vocab]}.
     */
    public Tensor forward(Arena arena, KvCache cache, int batch, int seq, int[] tokens, boolean allPositions) {
        checkInputs(cache, batch, seq, tokens);
        int hidden = config.hiddenSize(), pos = cache.length(), heads = config.numHeads(), kvHeads = config.numKvHeads();
        float eps = config.normEps();

        // Token embeddings, plus learned position embeddings for GPT-2.
        Tensor x = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++) {
                long dst = 4L * ((long) b * seq + s) * hidden;
                MemorySegment.copy(tokenEmbeddings.segment(), 4L * tokens[b * seq + s] * hidden, x.segment(), dst, 4L * hidden);
                if (positionEmbeddings != null)
                    for (int h = 0; h < hidden; h++)
                        x.setFloat(dst / 4 + h, x.getFloat(dst / 4 + h) + positionEmbeddings.getFloat((long) (pos + s) * hidden + h));
            }

        // Scratch reused by every layer.
        Tensor h = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor q = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor k = Tensor.allocate(arena, DType.F32, batch, seq, config.kvDim());
        Tensor v = Tensor.allocate(arena, DType.F32, batch, seq, config.kvDim());
        Tensor qkv = Tensor.allocate(arena, DType.F32, batch, seq, hidden + 2 * config.kvDim());
        Tensor context = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor projected = Tensor.allocate(arena, DType.F32, batch, seq, hidden);
        Tensor up = Tensor.allocate(arena, DType.F32, batch, seq, config.intermediateSize());
        Tensor gate = config.activation() == DecoderConfig.Activation.SWIGLU
                ? Tensor.allocate(arena, DType.F32, batch, seq, config.intermediateSize()) : null;

        for (int l = 0; l < layers.size(); l++) {
            DecoderLayer layer = layers.get(l);
            // Attention block (pre-norm): project, rotate (LLaMA), append k/v to the cache, attend causally.
            layer.attentionNorm().apply(x, eps, h);
            if (layer.qkv() != null) {
                layer.qkv().forward(h, qkv);
                split(qkv, q, k, v);
            } else {
                layer.q().forward(h, q);
                layer.k().forward(h, k);
                layer.v().forward(h, v);
            }
            if (config.family() == DecoderConfig.Family.LLAMA) {
                Rope.apply(q, heads, pos, config.ropeTheta());
                Rope.apply(k, kvHeads, pos, config.ropeTheta());
            }
            cache.store(l, k, v);
            Attention.forward(q, cache.keys(l), cache.values(l), null, heads, kvHeads, true, pos, context);
            layer.output().forward(context, projected);
            Elementwise.add(x, projected, x);

            // MLP block (pre-norm): GPT-2 up -> tanh GeLU -> down; LLaMA down(silu(gate) * up).
            layer.mlpNorm().apply(x, eps, h);
            layer.up().forward(h, up);
            switch (config.activation()) {
                case GELU_TANH -> Gelu.tanh(up, up);
                case GELU -> Gelu.erf(up, up);
                case SWIGLU -> {
                    layer.gate().forward(h, gate);
                    Elementwise.silu(gate, gate);
                    Elementwise.mul(up, gate, up);
                }
            }
            layer.down().forward(up, projected);
            Elementwise.add(x, projected, x);
        }
        cache.advance(seq);

        // Final norm and the LM head, on every position or only on the last one.
        Tensor last = allPositions ? x : lastPositions(arena, x);
        finalNorm.apply(last, eps, last);
        Tensor logits = Tensor.allocate(arena, DType.F32, batch, last.dim(1), config.vocabSize());
        lmHead.forward(last, logits);
        return logits;
    }

    private void checkInputs(KvCache cache, int batch, int seq, int[] tokens) {
        if (batch <= 0 || seq <= 0) throw new IllegalArgumentException("empty input: " + batch + " x " + seq);
        if (cache.batch() != batch) throw new IllegalArgumentException("cache holds " + cache.batch() + " rows, input has " + batch);
        if (cache.length() + seq > cache.capacity())
            throw new IllegalArgumentException(cache.length() + " cached + " + seq + " new tokens exceed the cache's " + cache.capacity());
        if (positionEmbeddings != null && cache.length() + seq > config.maxPositions())
            throw new IllegalArgumentException("position " + (cache.length() + seq - 1) + " is past the model's " + config.maxPositions() + " positions");
        if (tokens.length != batch * seq) throw new IllegalArgumentException(tokens.length + " tokens given for " + batch + " x " + seq);
        for (int i = 0; i < tokens.length; i++)
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize())
                throw new IllegalArgumentException("token id " + tokens[i] + " at " + i + " outside the vocabulary of " + config.vocabSize());
    }

    private static void split(Tensor qkv, Tensor q, Tensor k, Tensor v) {
        int rows = (int) (qkv.numel() / qkv.dim(-1));
        long qd = 4L * q.dim(-1), kd = 4L * k.dim(-1), all = 4L * qkv.dim(-1);
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(qkv.segment(), r * all, q.segment(), r * qd, qd);
            MemorySegment.copy(qkv.segment(), r * all + qd, k.segment(), r * kd, kd);
            MemorySegment.copy(qkv.segment(), r * all + qd + kd, v.segment(), r * kd, kd);
        }
    }

    private static Tensor lastPositions(Arena arena, Tensor x) {
        int batch = x.dim(0), seq = x.dim(1), hidden = x.dim(2);
        Tensor out = Tensor.allocate(arena, DType.F32, batch, 1, hidden);
        for (int b = 0; b < batch; b++)
            MemorySegment.copy(x.segment(), 4L * ((long) b * seq + seq - 1) * hidden, out.segment(), 4L * b * hidden, 4L * hidden);
        return out;
    }

    // ---- the quantization seam ----------------------------------------------------------------------------

    /** HF's module names of layer {@code i}'s projections, in the order {@link #withLinears} visits them. */
    public List<String> linearNames(int i) {
        if (config.family() == DecoderConfig.Family.GPT2) {
            String p = "transformer.h." + i + ".";
            return List.of(p + "attn.c_attn", p + "attn.c_proj", p + "mlp.c_fc", p + "mlp.c_proj");
        }
        String p = "model.layers." + i + ".";
        return List.of(p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj", p + "self_attn.o_proj",
                p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj");
    }

    /** The same model with every block projection replaced by {@code replace.apply(name, linear)} (the LM head stays). */
    public DecoderModel withLinears(BiFunction<String, Linear, Linear> replace) {
        List<DecoderLayer> out = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            DecoderLayer l = layers.get(i);
            List<String> n = linearNames(i);
            if (l.qkv() != null)
                out.add(new DecoderLayer(l.attentionNorm(), replace.apply(n.get(0), l.qkv()), null, null, null,
                        replace.apply(n.get(1), l.output()), l.mlpNorm(), null, replace.apply(n.get(2), l.up()), replace.apply(n.get(3), l.down())));
            else
                out.add(new DecoderLayer(l.attentionNorm(), null, replace.apply(n.get(0), l.q()), replace.apply(n.get(1), l.k()),
                        replace.apply(n.get(2), l.v()), replace.apply(n.get(3), l.output()), l.mlpNorm(),
                        replace.apply(n.get(4), l.gate()), replace.apply(n.get(5), l.up()), replace.apply(n.get(6), l.down())));
        }
        return new DecoderModel(config, tokenEmbeddings, positionEmbeddings, out, finalNorm, lmHead);
    }

    /** Bytes of all weights (embeddings, projections as they are now, norms, the LM head unless tied). */
    public long weightBytes() {
        long n = tokenEmbeddings.byteSize() + (positionEmbeddings == null ? 0 : positionEmbeddings.byteSize());
        for (DecoderLayer l : layers) {
            for (Linear lin : new Linear[]{l.qkv(), l.q(), l.k(), l.v(), l.output(), l.gate(), l.up(), l.down()})
                if (lin != null) n += lin.weightBytes();
            n += normBytes(l.attentionNorm()) + normBytes(l.mlpNorm());
        }
        n += normBytes(finalNorm);
        if (!(lmHead instanceof DenseLinear d && d.weight() == tokenEmbeddings)) n += lmHead.weightBytes();
        return n;
    }

    private static long normBytes(Norm n) { return n.weight().byteSize() + (n.bias() == null ? 0 : n.bias().byteSize()); }

    /**
     * A model with random weights (normal, std 0.02 like GPT-2's init; norms at 1, biases at 0) of the given
     * shapes: for benchmarks and tests of shapes whose real weights are not at hand. Not a language model.
     */
    public static DecoderModel random(DecoderConfig c, long seed, Arena arena) {
        RandomWeights rnd = new RandomWeights(seed);
        int hidden = c.hiddenSize(), inter = c.intermediateSize(), kv = c.kvDim();
        boolean gpt2 = c.family() == DecoderConfig.Family.GPT2;
        Tensor wte = rnd.gaussian(arena, c.vocabSize(), hidden, 0.02);
        Tensor wpe = gpt2 ? rnd.gaussian(arena, c.maxPositions(), hidden, 0.02) : null;
        List<DecoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            if (gpt2)
                layers.add(new DecoderLayer(norm(arena, hidden, true), linear(arena, rnd, hidden + 2 * kv, hidden, true), null, null, null,
                        linear(arena, rnd, hidden, hidden, true), norm(arena, hidden, true), null,
                        linear(arena, rnd, inter, hidden, true), linear(arena, rnd, hidden, inter, true)));
            else
                layers.add(new DecoderLayer(norm(arena, hidden, false), null, linear(arena, rnd, hidden, hidden, false),
                        linear(arena, rnd, kv, hidden, false), linear(arena, rnd, kv, hidden, false), linear(arena, rnd, hidden, hidden, false),
                        norm(arena, hidden, false), linear(arena, rnd, inter, hidden, false), linear(arena, rnd, inter, hidden, false),
                        linear(arena, rnd, hidden, inter, false)));
        }
        Linear head = c.tiedEmbeddings() ? new DenseLinear(wte, null) : linear(arena, rnd, c.vocabSize(), hidden, false);
        return new DecoderModel(c, wte, wpe, layers, norm(arena, hidden, gpt2), head);
    }

    private static DenseLinear linear(Arena arena, RandomWeights rnd, int out, int in, boolean bias) {
        return new DenseLinear(rnd.gaussian(arena, out, in, 0.02), bias ? Tensor.allocate(arena, DType.F32, out) : null);
    }

    private static Norm norm(Arena arena, int n, boolean bias) {
        Tensor w = Tensor.allocate(arena, DType.F32, n);
        for (int i = 0; i < n; i++) w.setFloat(i, 1f);
        return new Norm(w, bias ? Tensor.allocate(arena, DType.F32, n) : null);
    }
}
