package dev.zq.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

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
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < sk; j++) {
                    boolean hidden = j >= visible || masked[bi * sk + j];
                    // Like HF's additive mask with the float minimum: masked keys get the lowest score.
                    p[j] = hidden ? -Float.MAX_VALUE : MatMul.dot(qs, qo, ks, 4L * (((long) bi * sk + j) * kvd + (long) (h / group) * d), d) * scale;
                    max = Math.max(max, p[j]);
                }
                float sum = 0;
                for (int j = 0; j < sk; j++) {
                    p[j] = (float) Math.exp(p[j] - max);
                    sum += p[j];
                }
                float inv = 1f / sum;
                long oo = qo;
                int e = 0;
                for (int bound = S.loopBound(d); e < bound; e += S.length()) {
                    FloatVector acc = FloatVector.zero(S);
                    for (int j = 0; j < sk; j++) {
                        if (p[j] == 0f) continue;
                        long vo = 4L * (((long) bi * sk + j) * kvd + (long) (h / group) * d + e);
                        acc = FloatVector.fromMemorySegment(S, vs, vo, LE).fma(FloatVector.broadcast(S, p[j]), acc);
                    }
                    acc.mul(inv).intoMemorySegment(os, oo + 4L * e, LE);
                }
                for (; e < d; e++) {
                    float acc = 0;
                    for (int j = 0; j < sk; j++) acc = Math.fma(p[j], vs.get(Tensor.F32, 4L * (((long) bi * sk + j) * kvd + (long) (h / group) * d + e)), acc);
                    os.set(Tensor.F32, oo + 4L * e, acc * inv);
                }
            }
        });
    }
}
