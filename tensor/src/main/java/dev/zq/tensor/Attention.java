package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/** Multi-head scaled-dot-product attention on the CPU, one task per (batch, head). */
public final class Attention {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Attention() {}

    /**
     * Multi-head scaled-dot-product attention. q: [B, Sq, H*D], k and v: [B, Sk, H*D] (F32), out: [B, Sq, H*D].
     * keyMask: null, or [B, Sk] of F32/I32/I64 where 0 means "padding, do not attend". causal: query row i sits at
     * absolute position queryOffset+i and attends only keys j <= queryOffset+i (KV-cache decoding passes Sq=1,
     * queryOffset=Sk-1). Scores are scaled by 1/sqrt(D). Masked scores behave like HF's additive float-min mask: a
     * row whose keys are all masked attends uniformly (the mean of v), never NaN. {@code out} must not alias q, k, v.
     */
    public static void forward(Tensor q, Tensor k, Tensor v, Tensor keyMask, int heads, boolean causal, int queryOffset, Tensor out) {
        forward(q, k, v, keyMask, heads, heads, causal, queryOffset, out);
    }

    /**
     * Grouped-query attention: as above, but k and v hold {@code kvHeads} heads ([B, Sk, kvHeads*D]) and query
     * head h reads key/value head {@code h / (heads / kvHeads)} (LLaMA-2/3's GQA; kvHeads == heads is plain MHA).
     */
    public static void forward(Tensor q, Tensor k, Tensor v, Tensor keyMask, int heads, int kvHeads, boolean causal, int queryOffset, Tensor out) {
        for (Tensor t : new Tensor[]{q, k, v, out}) {
            Checks.dtype(t, DType.F32, "attention operand");
            Checks.rank(t, 3, "attention operand");
        }
        int b = q.dim(0), sq = q.dim(1), hd = q.dim(2), sk = k.dim(1);
        if (heads <= 0 || hd % heads != 0) throw new IllegalArgumentException(hd + " features cannot be split into " + heads + " heads");
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new IllegalArgumentException(heads + " query heads cannot share " + kvHeads + " key/value heads");
        int kvd = hd / heads * kvHeads, group = heads / kvHeads;
        if (k.dim(0) != b || v.dim(0) != b || k.dim(2) != kvd || v.dim(2) != kvd || v.dim(1) != sk || !out.shape().equals(q.shape()))
            throw new IllegalArgumentException("attention shapes do not fit: q" + q.shape() + " k" + k.shape() + " v" + v.shape() + " out" + out.shape());
        if (keyMask != null && (keyMask.numel() != (long) b * sk || keyMask.dtype() == DType.I4 || keyMask.dtype() == DType.I8))
            throw new IllegalArgumentException("key mask " + keyMask + " must be F32/I32/I64 [" + b + ", " + sk + "]");
        if (causal && (queryOffset < 0 || queryOffset + sq > sk))
            throw new IllegalArgumentException("causal queries at " + queryOffset + ".." + (queryOffset + sq - 1) + " need keys up to there, have " + sk);
        int d = hd / heads;
        float scale = (float) (1 / Math.sqrt(d));
        boolean[] masked = new boolean[b * sk];
        if (keyMask != null) for (int i = 0; i < masked.length; i++) masked[i] = keyMask.getFloat(i) == 0f;
        MemorySegment qs = q.segment(), ks = k.segment(), vs = v.segment(), os = out.segment();
        Parallel.forEach(b * heads, 4L * sq * sk * d, new Tensor[]{q, k, v, out, keyMask}, task -> {
            int bi = task / heads, h = task % heads;
            float[] p = new float[sk];
            for (int i = 0; i < sq; i++) {
                long qo = 4L * (((long) bi * sq + i) * hd + (long) h * d);
                int visible = causal ? queryOffset + i + 1 : sk;
                // Keys past the causal horizon get weight 0 without a score: a decode step against a cache of
                // 256 positions, 130 of them filled, scores 130 keys, not 256.
                scores(qs, qo, ks, 4L * ((long) bi * sk * kvd + (long) (h / group) * d), 4L * kvd, d, visible, scale, p);
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < visible; j++) {
                    // Like HF's additive mask with the float minimum: masked keys get the lowest score.
                    if (masked[bi * sk + j]) p[j] = -Float.MAX_VALUE;
                    max = Math.max(max, p[j]);
                }
                int weighted = visible;
                if (max == -Float.MAX_VALUE) {
                    // Every visible key masked: HF's float-minimum mask then weighs all sk keys alike, future ones too.
                    Arrays.fill(p, 0, sk, -Float.MAX_VALUE);
                    weighted = sk;
                } else {
                    Arrays.fill(p, visible, sk, 0f);
                }
                float sum = exp(p, weighted, max);
                float inv = 1f / sum;
                long oo = qo;
                int e = 0;
                for (int bound = S.loopBound(d); e < bound; e += S.length()) {
                    // Four keys at a time into four accumulators: one chain of FMAs would wait on its own latency.
                    FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                    long vo = 4L * ((long) bi * sk * kvd + (long) (h / group) * d + e), vr = 4L * kvd;
                    int j = 0;
                    for (; j + 4 <= weighted; j += 4, vo += 4 * vr) {
                        a0 = FloatVector.fromMemorySegment(S, vs, vo, LE).fma(FloatVector.broadcast(S, p[j]), a0);
                        a1 = FloatVector.fromMemorySegment(S, vs, vo + vr, LE).fma(FloatVector.broadcast(S, p[j + 1]), a1);
                        a2 = FloatVector.fromMemorySegment(S, vs, vo + 2 * vr, LE).fma(FloatVector.broadcast(S, p[j + 2]), a2);
                        a3 = FloatVector.fromMemorySegment(S, vs, vo + 3 * vr, LE).fma(FloatVector.broadcast(S, p[j + 3]), a3);
                    }
                    for (; j < weighted; j++, vo += vr) a0 = FloatVector.fromMemorySegment(S, vs, vo, LE).fma(FloatVector.broadcast(S, p[j]), a0);
                    a0.add(a1).add(a2.add(a3)).mul(inv).intoMemorySegment(os, oo + 4L * e, LE);
                }
                for (; e < d; e++) {
                    float acc = 0;
                    for (int j = 0; j < weighted; j++) acc = Math.fma(p[j], vs.get(Tensor.F32, 4L * (((long) bi * sk + j) * kvd + (long) (h / group) * d + e)), acc);
                    os.set(Tensor.F32, oo + 4L * e, acc * inv);
                }
            }
        });
    }

    /** {@code p[j] = exp(p[j] - max)} for {@code j < n}, vectorised with the Vector API's EXP (SVML-backed on x86; scalar {@code Math.exp} per key cost more than the dot products); returns their sum. */
    private static float exp(float[] p, int n, float max) {
        FloatVector sums = FloatVector.zero(S);
        int j = 0;
        for (int bound = S.loopBound(n); j < bound; j += S.length()) {
            FloatVector e = FloatVector.fromArray(S, p, j).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(p, j);
            sums = sums.add(e);
        }
        float sum = sums.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) {
            p[j] = (float) Math.exp(p[j] - max);
            sum += p[j];
        }
        return sum;
    }

    /**
     * {@code p[j] = scale · q·k_j} for the {@code n} keys from byte offset {@code k0}, {@code kr} bytes apart: four keys at
     * a time, so four dot products (and their horizontal sums) are in flight instead of one chain.
     */
    private static void scores(MemorySegment qs, long qo, MemorySegment ks, long k0, long kr, int d, int n, float scale, float[] p) {
        int dv = S.loopBound(d), j = 0;
        for (; j + 4 <= n; j += 4, k0 += 4 * kr) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int e = 0; e < dv; e += S.length()) {
                FloatVector q = FloatVector.fromMemorySegment(S, qs, qo + 4L * e, LE);
                a0 = q.fma(FloatVector.fromMemorySegment(S, ks, k0 + 4L * e, LE), a0);
                a1 = q.fma(FloatVector.fromMemorySegment(S, ks, k0 + kr + 4L * e, LE), a1);
                a2 = q.fma(FloatVector.fromMemorySegment(S, ks, k0 + 2 * kr + 4L * e, LE), a2);
                a3 = q.fma(FloatVector.fromMemorySegment(S, ks, k0 + 3 * kr + 4L * e, LE), a3);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
            float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
            for (int e = dv; e < d; e++) {
                float q = qs.get(Tensor.F32, qo + 4L * e);
                s0 = Math.fma(q, ks.get(Tensor.F32, k0 + 4L * e), s0);
                s1 = Math.fma(q, ks.get(Tensor.F32, k0 + kr + 4L * e), s1);
                s2 = Math.fma(q, ks.get(Tensor.F32, k0 + 2 * kr + 4L * e), s2);
                s3 = Math.fma(q, ks.get(Tensor.F32, k0 + 3 * kr + 4L * e), s3);
            }
            p[j] = s0 * scale;
            p[j + 1] = s1 * scale;
            p[j + 2] = s2 * scale;
            p[j + 3] = s3 * scale;
        }
        for (; j < n; j++, k0 += kr) p[j] = MatMul.dot(qs, qo, ks, k0, d) * scale;
    }
}
