package dev.zq.lkd.autodiff;

import java.util.stream.IntStream;

/**
 * Masked multi-head scaled-dot-product attention as one differentiable op (BERT's self-attention core):
 * q, k, v [B, S, H·D] → softmax(q·kᵀ/√D + mask)·v per head. {@code keyMask} [B·S] marks padding with 0;
 * masked keys get the lowest score, as HF's additive float-min mask (a row with every key masked attends
 * uniformly). With {@code causal}, query i also sees only keys j ≤ i (a decoder's self-attention).
 * The probabilities are kept for the backward pass.
 */
public final class AttentionOp {
    private AttentionOp() {}

    public static Var attention(Var q, Var k, Var v, int[] keyMask, int heads) {
        return attention(q, k, v, keyMask, heads, false);
    }

    public static Var attention(Var q, Var k, Var v, int[] keyMask, int heads, boolean causal) {
        if (q.rank() != 3 || !java.util.Arrays.equals(q.shape, k.shape) || !java.util.Arrays.equals(q.shape, v.shape))
            throw new IllegalArgumentException("attention needs q, k, v of one shape [B, S, H*D]: " + q + " " + k + " " + v);
        int B = q.dim(0), S = q.dim(1), HD = q.dim(2);
        if (heads <= 0 || HD % heads != 0) throw new IllegalArgumentException(HD + " features cannot be split into " + heads + " heads");
        if (keyMask != null && keyMask.length != B * S) throw new IllegalArgumentException("mask of " + keyMask.length + " for " + B + " x " + S);
        int D = HD / heads;
        double scale = 1 / Math.sqrt(D);
        double[] p = new double[B * heads * S * S];
        double[] out = new double[q.numel()];
        IntStream.range(0, B * heads).parallel().forEach(task -> {
            int b = task / heads, h = task % heads;
            double[] row = new double[S];
            for (int i = 0; i < S; i++) {
                int po = (task * S + i) * S;
                for (int j = 0; j < S; j++) {
                    boolean masked = (causal && j > i) || (keyMask != null && keyMask[b * S + j] == 0);
                    double s = 0;
                    if (!masked) for (int d = 0; d < D; d++) s += q.data[idx(b, i, h, d, S, HD, D)] * k.data[idx(b, j, h, d, S, HD, D)];
                    row[j] = masked ? -Double.MAX_VALUE : s * scale;
                }
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < S; j++) max = Math.max(max, row[j]);
                for (int j = 0; j < S; j++) { p[po + j] = Math.exp(row[j] - max); sum += p[po + j]; }
                for (int j = 0; j < S; j++) p[po + j] /= sum;
            }
        });
        IntStream.range(0, B * heads).parallel().forEach(task -> {
            int b = task / heads, h = task % heads;
            for (int i = 0; i < S; i++) {
                int po = (task * S + i) * S;
                for (int d = 0; d < D; d++) {
                    double s = 0;
                    for (int j = 0; j < S; j++) s += p[po + j] * v.data[idx(b, j, h, d, S, HD, D)];
                    out[idx(b, i, h, d, S, HD, D)] = s;
                }
            }
        });
        return Var.op(out, q.shape, new Var[]{q, k, v}, o -> {
            double[] g = o.grad();
            double[] gq = q.requiresGrad() ? q.grad() : null, gk = k.requiresGrad() ? k.grad() : null, gv = v.requiresGrad() ? v.grad() : null;
            // Tasks own disjoint (batch, head) slices of every gradient, so they can run in parallel.
            IntStream.range(0, B * heads).parallel().forEach(task -> {
                int b = task / heads, h = task % heads;
                double[] dp = new double[S];
                for (int i = 0; i < S; i++) {
                    int po = (task * S + i) * S;
                    for (int j = 0; j < S; j++) {
                        double s = 0;
                        for (int d = 0; d < D; d++) s += g[idx(b, i, h, d, S, HD, D)] * v.data[idx(b, j, h, d, S, HD, D)];
                        dp[j] = s;
                        if (gv != null) for (int d = 0; d < D; d++) gv[idx(b, j, h, d, S, HD, D)] += p[po + j] * g[idx(b, i, h, d, S, HD, D)];
                    }
                    double dot = 0;
                    for (int j = 0; j < S; j++) dot += dp[j] * p[po + j];
                    for (int j = 0; j < S; j++) {
                        double ds = p[po + j] * (dp[j] - dot) * scale;
                        if (ds == 0) continue;
                        for (int d = 0; d < D; d++) {
                            if (gq != null) gq[idx(b, i, h, d, S, HD, D)] += ds * k.data[idx(b, j, h, d, S, HD, D)];
                            if (gk != null) gk[idx(b, j, h, d, S, HD, D)] += ds * q.data[idx(b, i, h, d, S, HD, D)];
                        }
                    }
                }
            });
        });
    }

    private static int idx(int b, int s, int h, int d, int S, int HD, int D) { return (b * S + s) * HD + h * D + d; }
}
