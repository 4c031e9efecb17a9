package dev.zq.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class NormAndActivationTest {
    @Test
    void layerNormMatchesDoubleLoopEvenWithLargeMeans() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(1);
            int rows = 6, n = 389;
            Tensor x = Ref.randn(arena, rnd, 1, rows, n);
            for (int r = 0; r < rows; r++) for (int i = 0; i < n; i++) x.setFloat((long) r * n + i, x.getFloat((long) r * n + i) + r * 1000f);
            Tensor g = Ref.randn(arena, rnd, 1, n), b = Ref.randn(arena, rnd, 1, n);
            double[] ref = new double[rows * n];
            for (int r = 0; r < rows; r++) {
                double mean = 0, var = 0;
                for (int i = 0; i < n; i++) mean += x.getFloat((long) r * n + i);
                mean /= n;
                for (int i = 0; i < n; i++) var += Math.pow(x.getFloat((long) r * n + i) - mean, 2);
                var /= n;
                for (int i = 0; i < n; i++)
                    ref[r * n + i] = (x.getFloat((long) r * n + i) - mean) / Math.sqrt(var + 1e-5) * g.getFloat(i) + b.getFloat(i);
            }
            Tensor out = Tensor.allocate(arena, DType.F32, rows, n);
            LayerNorm.apply(x, g, b, 1e-5f, out);
            // The inputs (~5000) carry float rounding of 5000·2^-24 ≈ 3e-4 absolute, ~3e-4 after normalising by σ≈1.
            assertTrue(Ref.maxAbsError(out, ref) < 2e-3, "max abs error " + Ref.maxAbsError(out, ref));
            LayerNorm.apply(x, g, b, 1e-5f, x);   // in place
            assertArrayEquals(out.toFloatArray(), x.toFloatArray());
            // Rows without an offset must be accurate to float precision.
            Tensor y = Ref.randn(arena, rnd, 3, 2, 100), g1 = Ref.randn(arena, rnd, 1, 100), b1 = Ref.randn(arena, rnd, 1, 100);
            Tensor o = Tensor.allocate(arena, DType.F32, 2, 100);
            LayerNorm.apply(y, g1, b1, 1e-12f, o);
            for (int r = 0; r < 2; r++) {
                double mean = 0, var = 0;
                for (int i = 0; i < 100; i++) mean += y.getFloat(r * 100 + i);
                mean /= 100;
                for (int i = 0; i < 100; i++) var += Math.pow(y.getFloat(r * 100 + i) - mean, 2);
                var /= 100;
                for (int i = 0; i < 100; i++)
                    assertEquals((y.getFloat(r * 100 + i) - mean) / Math.sqrt(var + 1e-12) * g1.getFloat(i) + b1.getFloat(i), o.getFloat(r * 100 + i), 2e-6);
            }
        }
    }

    @Test
    void rmsNormMatchesDoubleLoop() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(2);
            int rows = 3, n = 77;
            Tensor x = Ref.randn(arena, rnd, 2, rows, n), w = Ref.randn(arena, rnd, 1, n), out = Tensor.allocate(arena, DType.F32, rows, n);
            RmsNorm.apply(x, w, 1e-6f, out);
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int i = 0; i < n; i++) ss += Math.pow(x.getFloat(r * n + i), 2);
                double inv = 1 / Math.sqrt(ss / n + 1e-6);
                for (int i = 0; i < n; i++) assertEquals(x.getFloat(r * n + i) * inv * w.getFloat(i), out.getFloat(r * n + i), 2e-6);
            }
        }
    }

    @Test
    void geluBothForms() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 10_001;
            Tensor x = Tensor.allocate(arena, DType.F32, n);
            Random rnd = new Random(3);
            for (int i = 0; i < n; i++) x.setFloat(i, (float) (i < 2000 ? (i - 1000) / 100.0 : rnd.nextGaussian() * 4));
            Tensor e = Tensor.allocate(arena, DType.F32, n), t = Tensor.allocate(arena, DType.F32, n);
            Gelu.erf(x, e);
            Gelu.tanh(x, t);
            for (int i = 0; i < n; i++) {
                double v = x.getFloat(i);
                double exact = 0.5 * v * (1 + Ref.erf(v / Math.sqrt(2)));
                double approx = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                // erf is evaluated in float: the formula's 1.5e-7 plus ~2 ulp of cancellation in 1 − P(t)·e^(−x²), so
                // |Δerf| < 3.5e-7 and |ΔGeLU| < 0.5·|x|·3.5e-7, plus float rounding of the product.
                assertEquals(exact, e.getFloat(i), 1.75e-7 * Math.abs(v) + 1.2e-7 * Math.abs(exact) + 1e-12, "erf GeLU at " + v);
                assertEquals(approx, t.getFloat(i), 4e-7 * Math.abs(v) + 1e-12, "tanh GeLU at " + v);
            }
            for (double v = -6; v <= 6; v += 0.01) assertEquals(Ref.erf(v), Gelu.erf((float) v), 2e-7, "erf(" + v + ")");
        }
    }

    @Test
    void softmaxRows() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(4);
            int rows = 5, n = 37;
            Tensor x = Ref.randn(arena, rnd, 10, rows, n);
            x.setFloat(3, 80f);   // large logits must not overflow
            Tensor out = Tensor.allocate(arena, DType.F32, rows, n);
            Softmax.rows(x, out);
            for (int r = 0; r < rows; r++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int i = 0; i < n; i++) max = Math.max(max, x.getFloat(r * n + i));
                for (int i = 0; i < n; i++) sum += Math.exp(x.getFloat(r * n + i) - max);
                for (int i = 0; i < n; i++)
                    assertEquals(Math.exp(x.getFloat(r * n + i) - max) / sum, out.getFloat(r * n + i), 1e-6);
            }
        }
    }

    @Test
    void elementwise() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(5);
            Tensor a = Ref.randn(arena, rnd, 1, 3, 23), b = Ref.randn(arena, rnd, 1, 3, 23), row = Ref.randn(arena, rnd, 1, 23);
            Tensor o = Tensor.allocate(arena, DType.F32, 3, 23);
            Elementwise.add(a, b, o);
            for (int i = 0; i < 69; i++) assertEquals(a.getFloat(i) + b.getFloat(i), o.getFloat(i));
            Elementwise.mul(a, b, o);
            for (int i = 0; i < 69; i++) assertEquals(a.getFloat(i) * b.getFloat(i), o.getFloat(i));
            Elementwise.addRowVector(a, row, o);
            for (int i = 0; i < 69; i++) assertEquals(a.getFloat(i) + row.getFloat(i % 23), o.getFloat(i));
            Elementwise.scale(a, 3f, o);
            for (int i = 0; i < 69; i++) assertEquals(a.getFloat(i) * 3f, o.getFloat(i));
            Elementwise.silu(a, o);
            for (int i = 0; i < 69; i++) assertEquals(a.getFloat(i) / (1 + Math.exp(-a.getFloat(i))), o.getFloat(i), 1e-6);
            assertThrows(IllegalArgumentException.class, () -> Elementwise.add(a, row, o));
            assertThrows(IllegalArgumentException.class, () -> Elementwise.addRowVector(a, b, o));
        }
    }
}
