package dev.zq.lkd.autodiff;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.stream.IntStream;

/**
 * Masked multi-head scaled-dot-product attention as one differentiable op (BERT's self-attention core):
 * q, k, v [B, S, H·D] → softmax(q·kᵀ/√D + mask)·v per head. {@code keyMask} [B·S] marks padding with 0;
 * masked keys get the lowest score, as HF's additive float-min mask (a row with every key masked attends
 * uniformly). With {@code causal}, query i also sees only keys j ≤ i (a decoder's self-attention).
 * The probabilities are kept for the backward pass.
 */
public final class AttentionOp {
    private static final VectorSpecies<Double> V = DoubleVector.SPECIES_PREFERRED;

    private AttentionOp() {}

    public static Var attention(Var q, Var k, Var v, int[] keyMask, int heads) {
        return attention(q, k, v, keyMask, heads, false);
    }

    public static Var attention(Var q, Var k, Var v, int[] keyMask, int heads, boolean causal) {
        check(q, k, v, keyMask, heads);
        if (q == k || q == v || k == v) return reference(q, k, v, keyMask, heads, causal);
        int B = q.dim(0), S = q.dim(1), HD = q.dim(2);
        int D = HD / heads;
        double scale = 1 / Math.sqrt(D);
        double[] p = new double[B * heads * S * S];
        double[] out = new double[q.numel()];
        // One task a (window, head). Every sum runs in the reference's order with its roundings (a product, then an add), the
        // lanes of a vector being different keys or different features, never parts of one sum; terms whose probability is
        // an exact 0 (a causal row's future keys) are skipped, as adding them left every sum as it was.
        IntStream.range(0, B * heads).parallel().forEach(task -> {
            int b = task / heads, h = task % heads;
            double[] kT = transposeHead(k.data, b, h, S, HD, D);
            double[] row = new double[S];
            for (int i = 0; i < S; i++) {
                int po = (task * S + i) * S, qo = idx(b, i, h, 0, S, HD, D), end = causal ? i + 1 : S;
                dotsAcross(q.data, qo, kT, S, D, end, row);
                for (int j = 0; j < S; j++) {
                    boolean masked = j >= end || (keyMask != null && keyMask[b * S + j] == 0);
                    row[j] = masked ? -Double.MAX_VALUE : row[j] * scale;
                }
                int live = softmaxRow(row, p, po, S, end);
                for (int j = 0; j < live; j++)
                    if (p[po + j] != 0) addScaled(p[po + j], v.data, idx(b, j, h, 0, S, HD, D), out, qo, D);
            }
        });
        return Var.op(out, q.shape, new Var[]{q, k, v}, o -> {
            double[] g = o.grad();
            double[] gq = q.requiresGrad() ? q.grad() : null, gk = k.requiresGrad() ? k.grad() : null, gv = v.requiresGrad() ? v.grad() : null;
            // Tasks own disjoint (batch, head) slices of every gradient, so they can run in parallel.
            IntStream.range(0, B * heads).parallel().forEach(task -> {
                int b = task / heads, h = task % heads;
                double[] vT = transposeHead(v.data, b, h, S, HD, D);
                double[] dp = new double[S];
                for (int i = 0; i < S; i++) {
                    int po = (task * S + i) * S, io = idx(b, i, h, 0, S, HD, D);
                    int live = S;
                    while (live > 0 && p[po + live - 1] == 0) live--;   // the reference's terms past it add exact zeros
                    dotsAcross(g, io, vT, S, D, live, dp);
                    if (gv != null)
                        for (int j = 0; j < live; j++) if (p[po + j] != 0) addScaled(p[po + j], g, io, gv, idx(b, j, h, 0, S, HD, D), D);
                    double dot = 0;
                    for (int j = 0; j < live; j++) dot += dp[j] * p[po + j];
                    for (int j = 0; j < live; j++) {
                        double ds = p[po + j] * (dp[j] - dot) * scale;
                        if (ds == 0) continue;
                        int jo = idx(b, j, h, 0, S, HD, D);
                        if (gq != null) addScaled(ds, k.data, jo, gq, io, D);
                        if (gk != null) addScaled(ds, q.data, io, gk, jo, D);
                    }
                }
            });
        });
    }

    /**
     * p[po + j] = softmax(row)[j] over the row's S scores, where the scores from {@code end} on are −MAX (masked); returns how
     * many leading entries can be non-zero: exp(−MAX − max) is exactly 0 unless every key is masked (max = −MAX), and only
     * then do the keys past {@code end} count. Those past the answer are left as they were (0 in a fresh array).
     */
    private static int softmaxRow(double[] row, double[] p, int po, int S, int end) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < S; j++) max = Math.max(max, row[j]);
        int live = max == -Double.MAX_VALUE ? S : end;
        for (int j = 0; j < live; j++) { p[po + j] = Math.exp(row[j] - max); sum += p[po + j]; }
        for (int j = 0; j < live; j++) p[po + j] /= sum;
        return live;
    }

    private static void check(Var q, Var k, Var v, int[] keyMask, int heads) {
        if (q.rank() != 3 || !java.util.Arrays.equals(q.shape, k.shape) || !java.util.Arrays.equals(q.shape, v.shape))
            throw new IllegalArgumentException("attention needs q, k, v of one shape [B, S, H*D]: " + q + " " + k + " " + v);
        int B = q.dim(0), S = q.dim(1), HD = q.dim(2);
        if (heads <= 0 || HD % heads != 0) throw new IllegalArgumentException(HD + " features cannot be split into " + heads + " heads");
        if (keyMask != null && keyMask.length != B * S) throw new IllegalArgumentException("mask of " + keyMask.length + " for " + B + " x " + S);
    }

    /** Head h of window b of x [B, S, H·D] as [D, S]: a feature's values over the keys, contiguous, for {@link #dotsAcross}. */
    private static double[] transposeHead(double[] x, int b, int h, int S, int HD, int D) {
        double[] t = new double[D * S];
        for (int j = 0; j < S; j++) {
            int o = idx(b, j, h, 0, S, HD, D);
            for (int d = 0; d < D; d++) t[d * S + j] = x[o + d];
        }
        return t;
    }

    /** s[j] = Σ_d a[ao + d]·t[d·S + j] for j < n, each summed over d in order, a product then an add; lanes are keys. */
    private static void dotsAcross(double[] a, int ao, double[] t, int S, int D, int n, double[] s) {
        int j = 0, L = V.length();
        for (; j + 4 * L <= n; j += 4 * L) {
            DoubleVector s0 = DoubleVector.zero(V), s1 = s0, s2 = s0, s3 = s0;
            for (int d = 0, to = j; d < D; d++, to += S) {
                double x = a[ao + d];
                s0 = s0.add(DoubleVector.fromArray(V, t, to).mul(x));
                s1 = s1.add(DoubleVector.fromArray(V, t, to + L).mul(x));
                s2 = s2.add(DoubleVector.fromArray(V, t, to + 2 * L).mul(x));
                s3 = s3.add(DoubleVector.fromArray(V, t, to + 3 * L).mul(x));
            }
            s0.intoArray(s, j);
            s1.intoArray(s, j + L);
            s2.intoArray(s, j + 2 * L);
            s3.intoArray(s, j + 3 * L);
        }
        for (; j + L <= n; j += L) {
            DoubleVector s0 = DoubleVector.zero(V);
            for (int d = 0; d < D; d++) s0 = s0.add(DoubleVector.fromArray(V, t, d * S + j).mul(a[ao + d]));
            s0.intoArray(s, j);
        }
        for (; j < n; j++) {
            double x = 0;
            for (int d = 0; d < D; d++) x += a[ao + d] * t[d * S + j];
            s[j] = x;
        }
    }

    /** y[yo + d] += x·src[so + d] for d < n (a product, then an add, as the reference's scalar update); lanes are features. */
    private static void addScaled(double x, double[] src, int so, double[] y, int yo, int n) {
        int d = 0;
        for (int bound = V.loopBound(n); d < bound; d += V.length())
            DoubleVector.fromArray(V, y, yo + d).add(DoubleVector.fromArray(V, src, so + d).mul(x)).intoArray(y, yo + d);
        for (; d < n; d++) y[yo + d] += x * src[so + d];
    }

    /**
     * The op as first written: scalar loops in the textbook order. {@link #attention} computes every value in the same order
     * of the same roundings (the tests check it bit for bit); this one stays as that check's reference and for inputs that
     * share one Var (there the order of the gradients' updates to one array matters).
     */
    static Var reference(Var q, Var k, Var v, int[] keyMask, int heads, boolean causal) {
        check(q, k, v, keyMask, heads);
        int B = q.dim(0), S = q.dim(1), HD = q.dim(2);
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
                softmaxRow(row, p, po, S, S);
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
