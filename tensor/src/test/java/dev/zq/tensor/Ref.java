package dev.zq.tensor;

import java.lang.foreign.Arena;
import java.util.Random;

/** Straightforward double-precision references and random inputs for the kernel tests. */
final class Ref {
    private Ref() {}

    static Tensor randn(Arena arena, Random rnd, double scale, int... dims) {
        Tensor t = Tensor.allocate(arena, DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (rnd.nextGaussian() * scale));
        return t;
    }

    static Tensor randomInt8(Arena arena, Random rnd, int... dims) {
        Tensor t = Tensor.allocate(arena, DType.I8, dims);
        for (long i = 0; i < t.numel(); i++) t.setByte(i, (byte) (rnd.nextInt(256) - 128));
        return t;
    }

    /** Relative error ‖a − b‖₂ / ‖b‖₂. */
    static double relError(Tensor a, double[] b) {
        double d = 0, n = 0;
        for (int i = 0; i < b.length; i++) {
            double e = a.getFloat(i) - b[i];
            d += e * e;
            n += b[i] * b[i];
        }
        return Math.sqrt(d / Math.max(n, 1e-300));
    }

    static double maxAbsError(Tensor a, double[] b) {
        double m = 0;
        for (int i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a.getFloat(i) - b[i]));
        return m;
    }

    /** erf to ~1e-15: Taylor series for |x| < 3, asymptotic continued fraction beyond. */
    static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 3) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) (Lentz-free backward evaluation)
            double f = 0;
            for (int n = 60; n >= 1; n--) f = (n / 2.0) / (ax + f);
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return Math.copySign(r, x);
    }
}
