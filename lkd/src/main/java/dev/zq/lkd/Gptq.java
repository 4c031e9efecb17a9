package dev.zq.lkd;

import dev.zq.quant.Symmetric;

import java.util.stream.IntStream;

/**
 * GPTQ's error-compensated rounding (Frantar et al. 2022) of one weight matrix, as a starting point for LKD: the columns
 * (inputs) are rounded one at a time, and each rounding error is spread over the not yet rounded columns of its row in the
 * proportions that minimise the layer's output error on the data, {@code ‖(W − Ŵ)·X‖²}, through the inverse of the
 * inputs' Gram matrix {@code H = Σ x·xᵀ}. The codes use zq's quantizer as it is — symmetric, a scale per group of
 * {@code group} consecutive inputs of a row, {@code scale = max|w| / Q} — so that the result survives export: each group's
 * scale is fixed where GPTQ enters the group, from the updated weights, and the element that set it is held where it is
 * (it takes no updates until it is rounded, to exactly ±Q), so the max-based quantizer of the exported weights finds the
 * same scale and the same codes.
 */
final class Gptq {
    /** GPTQ's damping: this share of the mean diagonal of H added to the diagonal. */
    static final double DAMPING = 0.01;

    private Gptq() {}

    /**
     * Rounds {@code w} [N, K] (row-major) to {@code bits}-bit codes in groups of {@code group} inputs, given the Gram matrix
     * {@code h} [K, K] of its inputs (changed: damped), and returns the rounded weights, {@code code · scale} in float. In
     * {@code w} it leaves the values GPTQ rounded — each weight as the error feedback of the columns before it left it,
     * clamped to its group's range — which zq's max-based quantizer takes to exactly the returned weights: a starting point
     * for LKD that keeps GPTQ's rounding and, unlike the rounded weights themselves (on the grid, half a step from the next
     * code), still lets small updates change it.
     */
    static double[] quantize(double[] w, int N, int K, double[] h, int bits, int group) {
        if (w.length != N * K || h.length != K * K) throw new IllegalArgumentException("weights [" + N + ", " + K + "] need a Gram matrix [" + K + ", " + K + "]");
        if (group <= 0 || K % group != 0) throw new IllegalArgumentException("GPTQ rounds a row's groups: a group of " + group + " does not divide " + K);
        for (double v : w) if (!Double.isFinite(v)) throw new IllegalArgumentException("non-finite weight " + v + " cannot be quantized");
        double mean = 0;
        for (int i = 0; i < K; i++) mean += h[i * K + i];
        mean /= K;
        if (!(mean > 0) || !Double.isFinite(mean)) throw new IllegalArgumentException("the inputs' Gram matrix has no positive finite diagonal (mean " + mean + ")");
        for (int i = 0; i < K; i++) {
            if (h[i * K + i] == 0) h[i * K + i] = mean;   // an input that was always 0: its error goes nowhere
            h[i * K + i] += DAMPING * mean;
        }
        double[] u = inverseUpperFactor(h, K);
        int Q = Symmetric.maxCode(bits);
        double[] rounded = new double[w.length];
        IntStream.range(0, N).parallel().forEach(r -> row(w, rounded, r * K, K, u, bits, Q, group));
        return rounded;
    }

    /** One row: the rows of W are independent given U. */
    private static void row(double[] w, double[] rounded, int o, int K, double[] u, int bits, int Q, int group) {
        float scale = 0, groupMax = 0;
        int held = -1;
        for (int j = 0; j < K; j++) {
            if (j % group == 0) {
                float absMax = 0;
                held = j;
                for (int k = j; k < j + group; k++) {
                    float a = Math.abs((float) w[o + k]);
                    if (a > absMax) { absMax = a; held = k; }
                }
                scale = Symmetric.scale(absMax, bits);
                groupMax = absMax;
            }
            double x = w[o + j];
            int code = j == held ? (int) Math.signum(x) * Q : scale == 0 ? 0 : Symmetric.quantize((float) x, scale, bits);
            double q = (float) (code * scale);
            rounded[o + j] = q;
            w[o + j] = Math.clamp(x, -groupMax, groupMax);   // the same code; the held element stays the group's max
            double err = (x - q) / u[j * K + j];
            if (err == 0 || j == K - 1) continue;
            double keep = held > j ? w[o + held] : 0;
            axpy(-err, u, j * K + j + 1, w, o + j + 1, K - j - 1);
            if (held > j) w[o + held] = keep;
        }
    }

    /**
     * The upper-triangular U with {@code H⁻¹ = Uᵀ·U}, which GPTQ's updates read row by row: H = R·Rᵀ with R upper
     * triangular (Cholesky from the last index backwards), then U = R⁻¹.
     */
    static double[] inverseUpperFactor(double[] h, int K) {
        double[] r = new double[K * K];
        for (int i = K - 1; i >= 0; i--) {
            double d = h[i * K + i] - dot(r, i * K + i + 1, r, i * K + i + 1, K - i - 1);
            if (!(d > 0)) throw new IllegalArgumentException("the inputs' Gram matrix is not positive definite at " + i + " even after damping");
            double rii = Math.sqrt(d);
            r[i * K + i] = rii;
            for (int j = 0; j < i; j++) r[j * K + i] = (h[j * K + i] - dot(r, j * K + i + 1, r, i * K + i + 1, K - i - 1)) / rii;
        }
        double[] u = new double[K * K];   // row i of R·U = e_i: U[i][·] = (e_i − Σ_{k>i} R[i][k]·U[k][·]) / R[i][i]
        for (int i = K - 1; i >= 0; i--) {
            int o = i * K;
            u[o + i] = 1;
            for (int k = i + 1; k < K; k++) axpy(-r[o + k], u, k * K + k, u, o + k, K - k);
            double inv = 1 / r[o + i];
            for (int k = i; k < K; k++) u[o + k] *= inv;
        }
        return u;
    }

    private static double dot(double[] a, int ao, double[] b, int bo, int n) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int k = 0;
        for (; k + 3 < n; k += 4) {
            s0 += a[ao + k] * b[bo + k];
            s1 += a[ao + k + 1] * b[bo + k + 1];
            s2 += a[ao + k + 2] * b[bo + k + 2];
            s3 += a[ao + k + 3] * b[bo + k + 3];
        }
        for (; k < n; k++) s0 += a[ao + k] * b[bo + k];
        return (s0 + s1) + (s2 + s3);
    }

    private static void axpy(double x, double[] v, int vo, double[] y, int yo, int n) {
        for (int k = 0; k < n; k++) y[yo + k] += x * v[vo + k];
    }
}
