// Session 27 probe (not part of the build): FMA throughput of 4x2, 6x2 and 4x3 register tiles of FP32 outer products over
// L1-resident weights, activations from a float[] or (s42, s62) from a MemorySegment, one thread. Run from this folder:
//   javac --add-modules jdk.incubator.vector TileProbe.java && java --add-modules jdk.incubator.vector TileProbe
// (JDK 25). Output of the run quoted in bench/RESULTS.md: tile-probe.txt.
import jdk.incubator.vector.*;
import java.lang.foreign.*;
public class TileProbe {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int P = S.length(), KC = 128;
    public static void main(String[] a) {
        float[] wb = new float[KC * 3 * P], x = new float[8 * KC], acc = new float[8 * 3 * P];
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < wb.length; i++) wb[i] = r.nextInt(255) - 127;
        for (int i = 0; i < x.length; i++) x[i] = r.nextInt(255) - 127;
        MemorySegment xs = Arena.ofAuto().allocate(4L * x.length, 64);
        for (int i = 0; i < x.length; i++) xs.setAtIndex(ValueLayout.JAVA_FLOAT, i, x[i]);
        for (int round = 0; round < 6; round++) {
            System.out.printf("4x2 %.1f  6x2 %.1f  4x3 %.1f | segment x: 4x2 %.1f 6x2 %.1f GFLOP/s%n", t(() -> r42(wb, x, acc)), t(() -> r62(wb, x, acc)), t(() -> r43(wb, x, acc)),
                t(() -> s42(wb, xs, acc)), t(() -> s62(wb, xs, acc)));
        }
    }
    interface F { long run(); }
    static double t(F f) { long best = Long.MAX_VALUE; long flops = 0; for (int i = 0; i < 200; i++) { long t0 = System.nanoTime(); flops = f.run(); best = Math.min(best, System.nanoTime() - t0); } return (double) flops / best; }
    static long r42(float[] wb, float[] x, float[] acc) {
        long n = 0;
        for (int rep = 0; rep < 200; rep++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int k = 0; k < KC; k++) {
                FloatVector w0 = FloatVector.fromArray(S, wb, k * 2 * P), w1 = FloatVector.fromArray(S, wb, k * 2 * P + P);
                FloatVector b = FloatVector.broadcast(S, x[k]); a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, x[KC + k]); a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, x[2 * KC + k]); a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, x[3 * KC + k]); a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
            }
            a00.add(a01).add(a10).add(a11).add(a20).add(a21).add(a30).add(a31).intoArray(acc, 0);
            n += 2L * KC * 8 * P;
        }
        return n;
    }
    static long r62(float[] wb, float[] x, float[] acc) {
        long n = 0;
        for (int rep = 0; rep < 200; rep++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
            for (int k = 0; k < KC; k++) {
                FloatVector w0 = FloatVector.fromArray(S, wb, k * 2 * P), w1 = FloatVector.fromArray(S, wb, k * 2 * P + P);
                FloatVector b = FloatVector.broadcast(S, x[k]); a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, x[KC + k]); a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, x[2 * KC + k]); a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, x[3 * KC + k]); a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
                b = FloatVector.broadcast(S, x[4 * KC + k]); a40 = b.fma(w0, a40); a41 = b.fma(w1, a41);
                b = FloatVector.broadcast(S, x[5 * KC + k]); a50 = b.fma(w0, a50); a51 = b.fma(w1, a51);
            }
            a00.add(a01).add(a10).add(a11).add(a20).add(a21).add(a30).add(a31).add(a40).add(a41).add(a50).add(a51).intoArray(acc, 0);
            n += 2L * KC * 12 * P;
        }
        return n;
    }
    static long s42(float[] wb, MemorySegment x, float[] acc) {
        long n = 0;
        for (int rep = 0; rep < 200; rep++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int k = 0; k < KC; k++) {
                FloatVector w0 = FloatVector.fromArray(S, wb, k * 2 * P), w1 = FloatVector.fromArray(S, wb, k * 2 * P + P);
                FloatVector b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * k)); a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (KC + k))); a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (2 * KC + k))); a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (3 * KC + k))); a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
            }
            a00.add(a01).add(a10).add(a11).add(a20).add(a21).add(a30).add(a31).intoArray(acc, 0);
            n += 2L * KC * 8 * P;
        }
        return n;
    }
    static long s62(float[] wb, MemorySegment x, float[] acc) {
        long n = 0;
        for (int rep = 0; rep < 200; rep++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
            for (int k = 0; k < KC; k++) {
                FloatVector w0 = FloatVector.fromArray(S, wb, k * 2 * P), w1 = FloatVector.fromArray(S, wb, k * 2 * P + P);
                FloatVector b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * k)); a00 = b.fma(w0, a00); a01 = b.fma(w1, a01);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (KC + k))); a10 = b.fma(w0, a10); a11 = b.fma(w1, a11);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (2 * KC + k))); a20 = b.fma(w0, a20); a21 = b.fma(w1, a21);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (3 * KC + k))); a30 = b.fma(w0, a30); a31 = b.fma(w1, a31);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (4 * KC + k))); a40 = b.fma(w0, a40); a41 = b.fma(w1, a41);
                b = FloatVector.broadcast(S, x.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * (5 * KC + k))); a50 = b.fma(w0, a50); a51 = b.fma(w1, a51);
            }
            a00.add(a01).add(a10).add(a11).add(a20).add(a21).add(a30).add(a31).add(a40).add(a41).add(a50).add(a51).intoArray(acc, 0);
            n += 2L * KC * 12 * P;
        }
        return n;
    }
    static long r43(float[] wb, float[] x, float[] acc) {
        long n = 0;
        for (int rep = 0; rep < 200; rep++) {
            FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            for (int k = 0; k < KC; k++) {
                FloatVector w0 = FloatVector.fromArray(S, wb, k * 3 * P), w1 = FloatVector.fromArray(S, wb, k * 3 * P + P), w2 = FloatVector.fromArray(S, wb, k * 3 * P + 2 * P);
                FloatVector b = FloatVector.broadcast(S, x[k]); a00 = b.fma(w0, a00); a01 = b.fma(w1, a01); a02 = b.fma(w2, a02);
                b = FloatVector.broadcast(S, x[KC + k]); a10 = b.fma(w0, a10); a11 = b.fma(w1, a11); a12 = b.fma(w2, a12);
                b = FloatVector.broadcast(S, x[2 * KC + k]); a20 = b.fma(w0, a20); a21 = b.fma(w1, a21); a22 = b.fma(w2, a22);
                b = FloatVector.broadcast(S, x[3 * KC + k]); a30 = b.fma(w0, a30); a31 = b.fma(w1, a31); a32 = b.fma(w2, a32);
            }
            a00.add(a01).add(a02).add(a10).add(a11).add(a12).add(a20).add(a21).add(a22).add(a30).add(a31).add(a32).intoArray(acc, 0);
            n += 2L * KC * 12 * P;
        }
        return n;
    }
}
