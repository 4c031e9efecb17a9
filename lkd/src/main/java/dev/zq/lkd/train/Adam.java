package dev.zq.lkd.train;

import dev.zq.lkd.autodiff.Var;

import java.util.List;

/**
 * Adam (Kingma & Ba) with bias correction, an optional linear warm-up then cosine decay of the learning rate
 * over a fixed number of steps (LKD runs short schedules), and clipping of the global gradient norm.
 */
public final class Adam {
    private final List<Var> params;
    private final double[][] m, v;
    private final double[] lrScale;   // per parameter: a multiple of the schedule's learning rate
    private final double lr, beta1, beta2, eps, clipNorm;
    private final int totalSteps, warmupSteps;
    private int step;

    public Adam(List<Var> params, double lr, int totalSteps, int warmupSteps, double clipNorm) {
        if (!(lr > 0) || totalSteps <= 0 || warmupSteps < 0 || warmupSteps > totalSteps || !(clipNorm > 0))
            throw new IllegalArgumentException("need lr > 0, steps > 0, 0 <= warm-up <= steps, clip > 0");
        for (Var p : params) if (!p.requiresGrad()) throw new IllegalArgumentException(p + " is not trainable");
        this.params = List.copyOf(params);
        this.lr = lr;
        this.beta1 = 0.9;
        this.beta2 = 0.999;
        this.eps = 1e-8;
        this.clipNorm = clipNorm;
        this.totalSteps = totalSteps;
        this.warmupSteps = warmupSteps;
        lrScale = new double[params.size()];
        java.util.Arrays.fill(lrScale, 1);
        m = new double[params.size()][];
        v = new double[params.size()][];
        for (int i = 0; i < params.size(); i++) {
            m[i] = new double[params.get(i).numel()];
            v[i] = new double[params.get(i).numel()];
        }
    }

    public int step() { return step; }

    /** Trains {@code p} (one of the parameters) at {@code factor} times the learning rate, e.g. thresholds beside weights. */
    public Adam scaleLearningRate(Var p, double factor) {
        if (!(factor > 0)) throw new IllegalArgumentException("a learning-rate factor must be positive, not " + factor);
        for (int i = 0; i < params.size(); i++)
            if (params.get(i) == p) {
                lrScale[i] = factor;
                return this;
            }
        throw new IllegalArgumentException(p + " is not one of this optimizer's parameters");
    }

    /** The learning rate the next update uses. */
    public double currentLr() {
        if (step < warmupSteps) return lr * (step + 1) / warmupSteps;
        double t = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        return lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
    }

    /** One update from the parameters' gradients (clipped to the global norm), then zeroes them. Returns the norm before clipping. */
    public double update() {
        double sq = 0;
        for (Var p : params) for (double g : p.grad()) sq += g * g;
        double norm = Math.sqrt(sq);
        if (!Double.isFinite(norm)) throw new IllegalStateException("gradient norm is " + norm + " at step " + step);
        double clip = norm > clipNorm ? clipNorm / norm : 1;
        double a = currentLr();
        step++;
        double c1 = 1 - Math.pow(beta1, step), c2 = 1 - Math.pow(beta2, step);
        for (int i = 0; i < params.size(); i++) {
            Var p = params.get(i);
            double[] g = p.grad(), w = p.data, mi = m[i], vi = v[i];
            double ai = a * lrScale[i];
            for (int j = 0; j < w.length; j++) {
                double gj = g[j] * clip;
                mi[j] = beta1 * mi[j] + (1 - beta1) * gj;
                vi[j] = beta2 * vi[j] + (1 - beta2) * gj * gj;
                w[j] -= ai * (mi[j] / c1) / (Math.sqrt(vi[j] / c2) + eps);
            }
            p.zeroGrad();
        }
        return norm;
    }
}
