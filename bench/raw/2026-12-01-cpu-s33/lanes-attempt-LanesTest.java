package dev.zq.tensor;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link Lanes}: one fixed order of a vector's lanes' sum, and with it the same bits from the CPU kernels on every call. */
class LanesTest {
    /** The butterfly in scalars: lane i adds lane i ^ half, for half = n/2 … 1. */
    private static double butterfly(double[] x) {
        double[] v = x.clone();
        for (int half = v.length / 2; half >= 1; half /= 2) {
            double[] next = new double[v.length];
            for (int i = 0; i < v.length; i++) next[i] = v[i] + v[i ^ half];
            v = next;
        }
        return v[0];
    }

    @Test
    void sumsFollowTheButterflyOrder() {
        Random rnd = new Random(3);
        VectorSpecies<Float> fs = FloatVector.SPECIES_PREFERRED;
        VectorSpecies<Double> ds = DoubleVector.SPECIES_PREFERRED;
        for (int t = 0; t < 1000; t++) {
            // magnitudes far apart, so that another order of the same additions would round differently
            float[] f = new float[fs.length()];
            for (int i = 0; i < f.length; i++) f[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(9) - 4));
            float[] want = f.clone();
            for (int half = want.length / 2; half >= 1; half /= 2) {
                float[] next = new float[want.length];
                for (int i = 0; i < want.length; i++) next[i] = want[i] + want[i ^ half];
                want = next;
            }
            assertEquals(Float.floatToRawIntBits(want[0]), Float.floatToRawIntBits(Lanes.sum(FloatVector.fromArray(fs, f, 0))));
            double[] d = new double[ds.length()];
            for (int i = 0; i < d.length; i++) d[i] = rnd.nextGaussian() * Math.pow(10, rnd.nextInt(17) - 8);
            assertEquals(Double.doubleToRawLongBits(butterfly(d)), Double.doubleToRawLongBits(Lanes.sum(DoubleVector.fromArray(ds, d, 0))));
        }
        // Another species than the preferred one: lane by lane, in lane order.
        VectorSpecies<Float> other = fs.length() == 4 ? FloatVector.SPECIES_256 : FloatVector.SPECIES_128;
        float[] f = {1e8f, 1f, -1e8f, 1f, 2f, 3f, 4f, 5f};
        float want = 0;
        for (int i = 0; i < other.length(); i++) want += f[i];
        assertEquals(want, Lanes.sum(FloatVector.fromArray(other, f, 0)));
    }

    /**
     * The CPU kernels' dot products and LayerNorm sums give the same bits on every call, before and after the JIT compiles
     * them (with {@code reduceLanes(ADD)} most calls after the first few dozen came out with other last bits).
     */
    @Test
    void theKernelsSumsAreTheSameOnEveryCall() {
        try (Arena a = Arena.ofConfined()) {
            Random r = new Random(1);
            int n = 256;
            MemorySegment x = a.allocate(4L * n), y = a.allocate(4L * n);
            for (int i = 0; i < n; i++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
                y.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            }
            int d0 = Float.floatToRawIntBits(MatMul.dot(x, 0, y, 0, n));
            int s0 = Float.floatToRawIntBits(LayerNorm.sum(x, 0, n, 0.1f)), q0 = Float.floatToRawIntBits(LayerNorm.sumSquares(x, 0, n, 0.1f));
            for (int call = 0; call < 100_000; call++) {
                assertEquals(d0, Float.floatToRawIntBits(MatMul.dot(x, 0, y, 0, n)), "dot, call " + call);
                assertEquals(s0, Float.floatToRawIntBits(LayerNorm.sum(x, 0, n, 0.1f)), "LayerNorm sum, call " + call);
                assertEquals(q0, Float.floatToRawIntBits(LayerNorm.sumSquares(x, 0, n, 0.1f)), "LayerNorm sum of squares, call " + call);
            }
        }
    }
}
