package dev.zq.lkd.autodiff;

import dev.zq.quant.Symmetric;

/**
 * Learned rounding (AdaRound, Nagel et al. 2020) for weights in groups that share a max-based scale
 * {@code s = max|w| / Q}: a weight's code is {@code floor(w/s) + h(v)}, with {@code h(v) = clamp(σ(v)·(ζ−γ)+γ, 0, 1)}
 * while training (soft) and {@code [v ≥ 0]} once done (hard). The weights stay fixed; only {@code v}, one per
 * weight, trains, so each weight can only round up or down: the straight-through estimator's weight updates, which
 * keep crossing rounding boundaries back and forth, are avoided. {@link #regularizer} pushes every {@code h} to 0 or 1
 * as its exponent anneals. A group's largest-magnitude weight keeps its code ±Q, so the group's max, and with it the
 * scale zq's quantizer computes, is unchanged: {@link #exported} weights quantize to exactly the learned codes.
 */
public final class AdaRound {
    static final double ZETA = 1.1, GAMMA = -0.1;
    private final double[] w;
    private final int bits;
    private final int[] shape;
    private final int group, lo, hi;
    private final float[] scale;
    private final int[] base;
    private final boolean[] pinned;
    private final float[] groupMax;
    /** The rounding logits, one per weight: the only trainable part. */
    public final Var v;

    /** {@code w} (any shape, row-major) in groups of {@code group} consecutive values; v starts at round-to-nearest. */
    public AdaRound(Var w, int bits, int group) {
        int n = w.numel();
        if (group <= 0 || n % group != 0) throw new IllegalArgumentException("group size " + group + " does not divide " + w);
        this.w = w.data.clone();
        this.bits = bits;
        this.shape = w.shape.clone();
        this.group = group;
        this.lo = Symmetric.minCode(bits);
        this.hi = Symmetric.maxCode(bits);
        this.scale = new float[n / group];
        this.base = new int[n];
        this.pinned = new boolean[n];
        this.groupMax = new float[n / group];
        double[] logits = new double[n];
        for (int g = 0; g < scale.length; g++) {
            float absMax = 0;
            int at = -1;
            for (int i = g * group; i < (g + 1) * group; i++) {
                float x = (float) this.w[i];
                if (!Float.isFinite(x)) throw new IllegalArgumentException("non-finite weight " + x + " at " + i + " cannot be quantized");
                if (Math.abs(x) > absMax) { absMax = Math.abs(x); at = i; }
            }
            groupMax[g] = absMax;
            scale[g] = Symmetric.scale(absMax, bits);
            for (int i = g * group; i < (g + 1) * group; i++) {
                if (scale[g] == 0f) { pinned[i] = true; continue; }      // an all-zero group: codes 0
                float r = (float) this.w[i] / scale[g];
                base[i] = (int) Math.floor(r);
                if (i == at) { base[i] = Symmetric.quantize((float) this.w[i], scale[g], bits); pinned[i] = true; continue; }
                double p = ((r - base[i]) - GAMMA) / (ZETA - GAMMA);    // h = the fractional part: round to nearest
                logits[i] = Math.log(p / (1 - p));
            }
        }
        this.v = Var.param(logits, n);
    }

    private static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    private double h(int i) { return Math.clamp(sigmoid(v.data[i]) * (ZETA - GAMMA) + GAMMA, 0, 1); }

    private int code(int i) {
        if (pinned[i]) return base[i];
        return Math.clamp(base[i] + (v.data[i] >= 0 ? 1 : 0), lo, hi);
    }

    /** The quantize-dequantized weights: soft (differentiable in v) for training, hard (zq's exact values) otherwise. */
    public Var quantized(boolean hard) {
        double[] y = new double[w.length];
        for (int i = 0; i < y.length; i++) {
            float s = scale[i / group];
            if (hard || pinned[i]) y[i] = (float) (code(i) * s);
            else y[i] = s * Math.clamp(base[i] + h(i), lo, hi);
        }
        if (hard) return Var.constant(y, shape);
        return Var.op(y, shape, new Var[]{v}, out -> {
            double[] g = out.grad(), gv = v.grad();
            for (int i = 0; i < g.length; i++) {
                if (pinned[i]) continue;
                double sg = sigmoid(v.data[i]), raw = sg * (ZETA - GAMMA) + GAMMA, t = base[i] + Math.clamp(raw, 0, 1);
                if (raw <= 0 || raw >= 1 || t <= lo || t >= hi) continue;
                gv[i] += g[i] * scale[i / group] * sg * (1 - sg) * (ZETA - GAMMA);
            }
        });
    }

    /** {@code weight · mean(1 − |2h − 1|^β)} over the free weights: 0 when every h is 0 or 1. */
    public Var regularizer(double beta, double weight) {
        double sum = 0;
        int free = 0;
        for (int i = 0; i < w.length; i++) {
            if (pinned[i]) continue;
            sum += 1 - Math.pow(Math.abs(2 * h(i) - 1), beta);
            free++;
        }
        int n = Math.max(1, free);
        return Var.op(new double[]{weight * sum / n}, new int[0], new Var[]{v}, out -> {
            double g = out.grad()[0] * weight / n;
            double[] gv = v.grad();
            for (int i = 0; i < w.length; i++) {
                if (pinned[i]) continue;
                double sg = sigmoid(v.data[i]), raw = sg * (ZETA - GAMMA) + GAMMA;
                if (raw <= 0 || raw >= 1) continue;
                double d = 2 * raw - 1;
                gv[i] -= g * beta * Math.pow(Math.abs(d), beta - 1) * Math.signum(d) * 2 * sg * (1 - sg) * (ZETA - GAMMA);
            }
        });
    }

    /** Share of free weights whose soft h is within 0.01 of 0 or 1. */
    public double settled() {
        int free = 0, done = 0;
        for (int i = 0; i < w.length; i++) {
            if (pinned[i]) continue;
            free++;
            double h = h(i);
            if (h < 0.01 || h > 0.99) done++;
        }
        return free == 0 ? 1 : (double) done / free;
    }

    /**
     * FP weights whose max-based quantization gives exactly the hard codes: {@code code · s} for free weights (within
     * the group's max), each group's pinned maximum as it was, so the recomputed scale is {@code s} to the bit.
     */
    public float[] exported() {
        float[] out = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            float s = scale[i / group], m = groupMax[i / group];
            out[i] = pinned[i] ? (float) w[i] : Math.clamp((float) (code(i) * s), -m, m);
        }
        return out;
    }

    /** The same kind of rounding over new weights (e.g. ones loaded from a checkpoint). */
    public AdaRound restarted(Var weights) {
        return new AdaRound(weights, bits, group);
    }
}
