package dev.zq.lkd.autodiff;

import java.util.Arrays;

/**
 * The differentiable ops a transformer layer needs. Each method computes its forward value and registers,
 * right beside it, the backward rule that adds its output's gradient into its inputs' gradients.
 */
public final class Ops {
    private Ops() {}

    static int rows(Var x, int cols) { return x.numel() / cols; }

    private static void sameShape(Var a, Var b, String op) {
        if (!Arrays.equals(a.shape, b.shape))
            throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a.shape) + " and " + Arrays.toString(b.shape) + " differ");
    }

    /** y = x·Wᵀ + b over the last dimension: x [..., K], w [N, K], b [N] or null → [..., N]. */
    public static Var linear(Var x, Var w, Var b) {
        int K = w.dim(1), N = w.dim(0);
        if (w.rank() != 2 || x.dim(-1) != K) throw new IllegalArgumentException("linear: x " + x + " does not end in " + K + " (w " + w + ")");
        if (b != null && b.numel() != N) throw new IllegalArgumentException("linear: bias " + b + " for " + N + " outputs");
        int R = rows(x, K);
        double[] y = new double[R * N];
        DMath.mulNT(x.data, w.data, y, R, K, N, false);
        if (b != null) for (int r = 0; r < R; r++) for (int n = 0; n < N; n++) y[r * N + n] += b.data[n];
        int[] shape = x.shape.clone();
        shape[shape.length - 1] = N;
        Var[] in = b == null ? new Var[]{x, w} : new Var[]{x, w, b};
        return Var.op(y, shape, in, out -> {
            double[] g = out.grad();
            if (x.requiresGrad()) DMath.mulNN(g, w.data, x.grad(), R, N, K);      // dx = dy · W
            if (w.requiresGrad()) DMath.mulTN(g, x.data, w.grad(), R, N, K);      // dW = dyᵀ · x
            if (b != null && b.requiresGrad()) {
                double[] gb = b.grad();
                for (int r = 0; r < R; r++) for (int n = 0; n < N; n++) gb[n] += g[r * N + n];
            }
        });
    }

    public static Var add(Var a, Var b) {
        sameShape(a, b, "add");
        double[] y = new double[a.numel()];
        for (int i = 0; i < y.length; i++) y[i] = a.data[i] + b.data[i];
        return Var.op(y, a.shape, new Var[]{a, b}, out -> {
            double[] g = out.grad();
            if (a.requiresGrad()) { double[] ga = a.grad(); for (int i = 0; i < g.length; i++) ga[i] += g[i]; }
            if (b.requiresGrad()) { double[] gb = b.grad(); for (int i = 0; i < g.length; i++) gb[i] += g[i]; }
        });
    }

    public static Var mul(Var a, Var b) {
        sameShape(a, b, "mul");
        double[] y = new double[a.numel()];
        for (int i = 0; i < y.length; i++) y[i] = a.data[i] * b.data[i];
        return Var.op(y, a.shape, new Var[]{a, b}, out -> {
            double[] g = out.grad();
            if (a.requiresGrad()) { double[] ga = a.grad(); for (int i = 0; i < g.length; i++) ga[i] += g[i] * b.data[i]; }
            if (b.requiresGrad()) { double[] gb = b.grad(); for (int i = 0; i < g.length; i++) gb[i] += g[i] * a.data[i]; }
        });
    }

    /** The same values under another shape (row-major order unchanged). */
    public static Var reshape(Var x, int... shape) {
        if (Var.numel(shape) != x.numel()) throw new IllegalArgumentException("reshape " + x + " to " + Arrays.toString(shape));
        return Var.op(x.data.clone(), shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int i = 0; i < g.length; i++) gx[i] += g[i];
        });
    }

    /** [M, N] → [N, M]. */
    public static Var transpose(Var x) {
        if (x.rank() != 2) throw new IllegalArgumentException("transpose of " + x + ": only 2-D");
        int M = x.dim(0), N = x.dim(1);
        double[] y = new double[M * N];
        for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) y[j * M + i] = x.data[i * N + j];
        return Var.op(y, new int[]{N, M}, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) gx[i * N + j] += g[j * M + i];
        });
    }

    /** Rows {@code ids} of {@code table} [V, H] → [ids.length, H]; gradients scatter-add back into the rows. */
    public static Var embedding(Var table, int[] ids) {
        int V = table.dim(0), H = table.dim(1);
        double[] y = new double[ids.length * H];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= V) throw new IllegalArgumentException("id " + ids[i] + " outside a table of " + V);
            System.arraycopy(table.data, ids[i] * H, y, i * H, H);
        }
        return Var.op(y, new int[]{ids.length, H}, new Var[]{table}, out -> {
            double[] g = out.grad(), gt = table.grad();
            for (int i = 0; i < ids.length; i++) for (int h = 0; h < H; h++) gt[ids[i] * H + h] += g[i * H + h];
        });
    }

    /** LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) · gamma + beta (biased variance, as PyTorch). */
    public static Var layerNorm(Var x, Var gamma, Var beta, double eps) {
        int H = x.dim(-1), R = rows(x, H);
        if (gamma.numel() != H || beta.numel() != H) throw new IllegalArgumentException("layerNorm: gamma/beta must have " + H + " values");
        double[] y = new double[x.numel()], xhat = new double[x.numel()], inv = new double[R];
        for (int r = 0; r < R; r++) {
            double mean = 0, var = 0;
            for (int h = 0; h < H; h++) mean += x.data[r * H + h];
            mean /= H;
            for (int h = 0; h < H; h++) { double d = x.data[r * H + h] - mean; var += d * d; }
            inv[r] = 1 / Math.sqrt(var / H + eps);
            for (int h = 0; h < H; h++) {
                xhat[r * H + h] = (x.data[r * H + h] - mean) * inv[r];
                y[r * H + h] = xhat[r * H + h] * gamma.data[h] + beta.data[h];
            }
        }
        return Var.op(y, x.shape, new Var[]{x, gamma, beta}, out -> {
            double[] g = out.grad();
            if (gamma.requiresGrad() || beta.requiresGrad()) {
                double[] gg = gamma.grad(), gb = beta.grad();
                for (int r = 0; r < R; r++) for (int h = 0; h < H; h++) { gg[h] += g[r * H + h] * xhat[r * H + h]; gb[h] += g[r * H + h]; }
            }
            if (x.requiresGrad()) {
                double[] gx = x.grad();
                for (int r = 0; r < R; r++) {
                    // dx = inv/H · (H·dxhat - Σ dxhat - xhat·Σ dxhat·xhat), dxhat = dy·gamma
                    double s1 = 0, s2 = 0;
                    for (int h = 0; h < H; h++) {
                        double d = g[r * H + h] * gamma.data[h];
                        s1 += d;
                        s2 += d * xhat[r * H + h];
                    }
                    for (int h = 0; h < H; h++) {
                        double d = g[r * H + h] * gamma.data[h];
                        gx[r * H + h] += inv[r] / H * (H * d - s1 - xhat[r * H + h] * s2);
                    }
                }
            }
        });
    }

    /** RMSNorm over the last dimension (LLaMA): x / sqrt(mean(x²) + eps) · gamma. */
    public static Var rmsNorm(Var x, Var gamma, double eps) {
        int H = x.dim(-1), R = rows(x, H);
        if (gamma.numel() != H) throw new IllegalArgumentException("rmsNorm: gamma must have " + H + " values");
        double[] y = new double[x.numel()], xhat = new double[x.numel()], inv = new double[R];
        for (int r = 0; r < R; r++) {
            double sq = 0;
            for (int h = 0; h < H; h++) sq += x.data[r * H + h] * x.data[r * H + h];
            inv[r] = 1 / Math.sqrt(sq / H + eps);
            for (int h = 0; h < H; h++) {
                xhat[r * H + h] = x.data[r * H + h] * inv[r];
                y[r * H + h] = xhat[r * H + h] * gamma.data[h];
            }
        }
        return Var.op(y, x.shape, new Var[]{x, gamma}, out -> {
            double[] g = out.grad();
            if (gamma.requiresGrad()) {
                double[] gg = gamma.grad();
                for (int r = 0; r < R; r++) for (int h = 0; h < H; h++) gg[h] += g[r * H + h] * xhat[r * H + h];
            }
            if (x.requiresGrad()) {
                double[] gx = x.grad();
                for (int r = 0; r < R; r++) {
                    // dx = inv · (dxhat − xhat · mean(dxhat · xhat)), dxhat = dy·gamma
                    double s = 0;
                    for (int h = 0; h < H; h++) s += g[r * H + h] * gamma.data[h] * xhat[r * H + h];
                    for (int h = 0; h < H; h++) gx[r * H + h] += inv[r] * (g[r * H + h] * gamma.data[h] - xhat[r * H + h] * s / H);
                }
            }
        });
    }

    /** SiLU x·σ(x) (LLaMA's gate activation). */
    public static Var silu(Var x) {
        double[] y = new double[x.numel()];
        for (int i = 0; i < y.length; i++) y[i] = x.data[i] / (1 + Math.exp(-x.data[i]));
        return Var.op(y, x.shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int i = 0; i < g.length; i++) {
                double sig = 1 / (1 + Math.exp(-x.data[i]));
                gx[i] += g[i] * sig * (1 + x.data[i] * (1 - sig));
            }
        });
    }

    /**
     * Rotary positions in Hugging Face LLaMA's "rotate half" form on x [B, S, heads·d], row s at position s: feature
     * i < d/2 of each head paired with i + d/2 and the pair rotated by s·θ^(-2i/d), the angles in float as
     * {@code dev.zq.tensor.Rope} computes them. A rotation's backward is the rotation by the opposite angle.
     */
    public static Var rope(Var x, int heads, double theta) {
        if (x.rank() != 3) throw new IllegalArgumentException("rope needs [B, S, heads*d], got " + x);
        int B = x.dim(0), S = x.dim(1), HD = x.dim(2);
        if (heads <= 0 || HD % heads != 0 || (HD / heads) % 2 != 0)
            throw new IllegalArgumentException(HD + " features cannot be split into " + heads + " heads of even size");
        int d = HD / heads, half = d / 2;
        double[] cos = new double[S * half], sin = new double[S * half];
        for (int i = 0; i < half; i++) {
            float inv = (float) (1.0 / (float) Math.pow((float) theta, (float) (2 * i) / d));
            for (int p = 0; p < S; p++) {
                float angle = (float) p * inv;
                cos[p * half + i] = Math.cos(angle);
                sin[p * half + i] = Math.sin(angle);
            }
        }
        double[] y = new double[x.numel()];
        rotate(x.data, y, B, S, heads, d, cos, sin, 1);
        return Var.op(y, x.shape, new Var[]{x}, out -> rotate(out.grad(), x.grad(), B, S, heads, d, cos, sin, -1));
    }

    /** {@code to += rotation of from} by the angles' cos and {@code sign}·sin, head by head. */
    private static void rotate(double[] from, double[] to, int B, int S, int heads, int d, double[] cos, double[] sin, int sign) {
        int half = d / 2, HD = heads * d;
        for (int row = 0; row < B * S; row++) {
            int p = row % S;
            for (int h = 0; h < heads; h++) {
                int base = row * HD + h * d;
                for (int i = 0; i < half; i++) {
                    double x1 = from[base + i], x2 = from[base + i + half], c = cos[p * half + i], sn = sign * sin[p * half + i];
                    to[base + i] += x1 * c - x2 * sn;
                    to[base + i + half] += x2 * c + x1 * sn;
                }
            }
        }
    }

    /**
     * Grouped-query attention's key/value heads shared out: x [..., kvHeads·d] → [..., heads·d], query head h reading
     * kv head h / (heads / kvHeads); the backward sums each kv head's copies.
     */
    public static Var repeatKv(Var x, int kvHeads, int heads) {
        int KD = x.dim(-1), R = rows(x, KD);
        if (kvHeads <= 0 || heads % kvHeads != 0 || KD % kvHeads != 0)
            throw new IllegalArgumentException(heads + " query heads cannot share " + kvHeads + " kv heads of " + x);
        int d = KD / kvHeads, group = heads / kvHeads, HD = heads * d;
        double[] y = new double[R * HD];
        for (int r = 0; r < R; r++)
            for (int h = 0; h < heads; h++) System.arraycopy(x.data, r * KD + (h / group) * d, y, r * HD + h * d, d);
        int[] shape = x.shape.clone();
        shape[shape.length - 1] = HD;
        return Var.op(y, shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int r = 0; r < R; r++)
                for (int h = 0; h < heads; h++)
                    for (int j = 0; j < d; j++) gx[r * KD + (h / group) * d + j] += g[r * HD + h * d + j];
        });
    }

    /** Exact GeLU x·Φ(x), Φ from a double-precision erf. */
    public static Var gelu(Var x) {
        double[] y = new double[x.numel()];
        for (int i = 0; i < y.length; i++) y[i] = x.data[i] * 0.5 * (1 + erf(x.data[i] / Math.sqrt(2)));
        return Var.op(y, x.shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int i = 0; i < g.length; i++) {
                double v = x.data[i];
                double cdf = 0.5 * (1 + erf(v / Math.sqrt(2))), pdf = Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
                gx[i] += g[i] * (cdf + v * pdf);
            }
        });
    }

    /** GPT-2's GeLU, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) ("gelu_new"). */
    public static Var geluTanh(Var x) {
        final double c = Math.sqrt(2 / Math.PI);
        double[] y = new double[x.numel()];
        for (int i = 0; i < y.length; i++) {
            double v = x.data[i];
            y[i] = 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v)));
        }
        return Var.op(y, x.shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int i = 0; i < g.length; i++) {
                double v = x.data[i], t = Math.tanh(c * (v + 0.044715 * v * v * v));
                gx[i] += g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v));
            }
        });
    }

    /** Columns {@code [from, from + len)} of the last dimension (e.g. q, k, v out of a fused projection). */
    public static Var narrow(Var x, int from, int len) {
        int H = x.dim(-1), R = rows(x, H);
        if (from < 0 || len <= 0 || from + len > H) throw new IllegalArgumentException("narrow [" + from + ", " + (from + len) + ") of " + x);
        double[] y = new double[R * len];
        for (int r = 0; r < R; r++) System.arraycopy(x.data, r * H + from, y, r * len, len);
        int[] shape = x.shape.clone();
        shape[shape.length - 1] = len;
        return Var.op(y, shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int r = 0; r < R; r++) for (int c = 0; c < len; c++) gx[r * H + from + c] += g[r * len + c];
        });
    }

    /** Softmax over the last dimension. */
    public static Var softmax(Var x) {
        int H = x.dim(-1), R = rows(x, H);
        double[] y = new double[x.numel()];
        for (int r = 0; r < R; r++) softmaxRow(x.data, y, r * H, H);
        return Var.op(y, x.shape, new Var[]{x}, out -> {
            double[] g = out.grad(), gx = x.grad();
            for (int r = 0; r < R; r++) {
                double dot = 0;
                for (int h = 0; h < H; h++) dot += g[r * H + h] * y[r * H + h];
                for (int h = 0; h < H; h++) gx[r * H + h] += y[r * H + h] * (g[r * H + h] - dot);
            }
        });
    }

    /** {@code y[off …] = softmax(x[off …])} over {@code n} elements; returns their log-sum-exp, {@code max + log Σ exp(x − max)}. */
    static double softmaxRow(double[] x, double[] y, int off, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) { y[off + i] = Math.exp(x[off + i] - max); sum += y[off + i]; }
        for (int i = 0; i < n; i++) y[off + i] /= sum;
        return max + Math.log(sum);
    }

    /** Mean squared error, a scalar: mean((a - b)²). */
    public static Var mse(Var a, Var b) {
        return rowWeightedMse(a, b, null);
    }

    /**
     * Mean squared error with a weight per row (the last dimension is a row): {@code Σ_r w_r Σ_j (a − b)² / numel}; null
     * weights are all 1 ({@link #mse}). With weights of mean 1 some rows count more than others.
     */
    public static Var rowWeightedMse(Var a, Var b, double[] rowWeights) {
        String name = rowWeights == null ? "mse" : "rowWeightedMse";
        sameShape(a, b, name);
        int n = a.numel(), d = a.shape.length == 0 ? 1 : a.shape[a.shape.length - 1];
        if (rowWeights != null && rowWeights.length * d != n)
            throw new IllegalArgumentException(name + ": " + rowWeights.length + " weights for " + n / d + " rows");
        return weightedMse(a, b, rowWeights == null ? i -> 1 : i -> rowWeights[i / d]);
    }

    /** Mean squared error with a weight per element ({@code weights} as long as a): {@code Σ w_i (a_i − b_i)² / numel}. */
    public static Var elementWeightedMse(Var a, Var b, double[] weights) {
        sameShape(a, b, "elementWeightedMse");
        if (weights.length != a.numel()) throw new IllegalArgumentException("elementWeightedMse: " + weights.length + " weights for " + a.numel() + " elements");
        return weightedMse(a, b, i -> weights[i]);
    }

    /** {@code Σ_i w(i)·(a_i − b_i)² / numel} and its gradient, a and b of one shape: the body of every MSE above. */
    private static Var weightedMse(Var a, Var b, java.util.function.IntToDoubleFunction w) {
        int n = a.numel();
        double s = 0;
        for (int i = 0; i < n; i++) { double e = a.data[i] - b.data[i]; s += w.applyAsDouble(i) * e * e; }
        return Var.op(new double[]{s / n}, new int[0], new Var[]{a, b}, out -> {
            double g = out.grad()[0] * 2 / n;
            if (a.requiresGrad()) { double[] ga = a.grad(); for (int i = 0; i < n; i++) ga[i] += g * w.applyAsDouble(i) * (a.data[i] - b.data[i]); }
            if (b.requiresGrad()) { double[] gb = b.grad(); for (int i = 0; i < n; i++) gb[i] -= g * w.applyAsDouble(i) * (a.data[i] - b.data[i]); }
        });
    }

    /**
     * Mean cross-entropy of the rows of {@code logits} [..., V] against one label per row, a scalar:
     * {@code mean_r (logsumexp(z_r) − z_r[label_r])}; the gradient is {@code (softmax(z_r) − onehot(label_r)) / rows}.
     */
    public static Var crossEntropy(Var logits, int[] labels) {
        int V = logits.dim(-1), R = rows(logits, V);
        if (labels.length != R) throw new IllegalArgumentException("crossEntropy: " + labels.length + " labels for " + R + " rows");
        double[] p = new double[R * V];
        double loss = 0;
        for (int r = 0; r < R; r++) {
            if (labels[r] < 0 || labels[r] >= V) throw new IllegalArgumentException("crossEntropy: label " + labels[r] + " outside 0.." + (V - 1));
            loss += softmaxRow(logits.data, p, r * V, V) - logits.data[r * V + labels[r]];
        }
        return Var.op(new double[]{loss / R}, new int[0], new Var[]{logits}, out -> {
            double g = out.grad()[0] / R;
            double[] gl = logits.grad();
            for (int r = 0; r < R; r++) {
                for (int v = 0; v < V; v++) gl[r * V + v] += g * p[r * V + v];
                gl[r * V + labels[r]] -= g;
            }
        });
    }

    /**
     * KL divergence of softmax(logits) from a target distribution, a row each (the last dimension), averaged over the
     * rows: {@code Σ_v t_v (log t_v − log softmax(logits)_v) / rows}; {@code target} as long as logits, each row summing
     * to 1 (zeros allowed). Its gradient, {@code (softmax − t) / rows}, is the soft-label cross-entropy's: the target's
     * entropy is a constant that only makes the value read as a divergence (0 when the two agree).
     */
    public static Var klDivergence(Var logits, double[] target) {
        int V = logits.dim(-1), R = rows(logits, V);
        if (target.length != R * V) throw new IllegalArgumentException("klDivergence: " + target.length + " target probabilities for " + R + " rows of " + V);
        double[] p = new double[R * V];
        double loss = 0;
        for (int r = 0; r < R; r++) {
            double logSum = softmaxRow(logits.data, p, r * V, V);
            for (int v = 0; v < V; v++) {
                double t = target[r * V + v];
                if (t > 0) loss += t * (Math.log(t) - (logits.data[r * V + v] - logSum));
            }
        }
        return Var.op(new double[]{loss / R}, new int[0], new Var[]{logits}, out -> {
            double g = out.grad()[0] / R;
            double[] gl = logits.grad();
            for (int j = 0; j < R * V; j++) gl[j] += g * (p[j] - target[j]);
        });
    }

    /** erf in double: Maclaurin series for |z| ≤ 3 (error ~1e-13), an asymptotic erfc beyond. */
    public static double erf(double z) {
        double a = Math.abs(z);
        double r;
        if (a <= 3) {
            double term = a, sum = a, z2 = a * a;
            for (int n = 1; n < 80; n++) {
                term *= -z2 / n;
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double z2 = a * a, s = 1, term = 1;
            for (int n = 1; n < 12; n++) { term *= -(2 * n - 1) / (2 * z2); s += term; }
            r = 1 - Math.exp(-z2) / (a * Math.sqrt(Math.PI)) * s;
        }
        return z < 0 ? -r : r;
    }
}
