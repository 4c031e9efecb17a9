import jdk.incubator.vector.*;
public class Mb {
  static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
  static float fdot(float[] a, float[] b, int n) {
    FloatVector acc0 = FloatVector.zero(F), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int i = 0; i < n; i += 32) {
      acc0 = FloatVector.fromArray(F, a, i).fma(FloatVector.fromArray(F, b, i), acc0);
      acc1 = FloatVector.fromArray(F, a, i + 8).fma(FloatVector.fromArray(F, b, i + 8), acc1);
      acc2 = FloatVector.fromArray(F, a, i + 16).fma(FloatVector.fromArray(F, b, i + 16), acc2);
      acc3 = FloatVector.fromArray(F, a, i + 24).fma(FloatVector.fromArray(F, b, i + 24), acc3);
    }
    return acc0.add(acc1).add(acc2).add(acc3).reduceLanes(VectorOperators.ADD);
  }
  // C2's MulAddS2I pattern: out[i] = a[2i]*b[2i] + a[2i+1]*b[2i+1]  (vpmaddwd where SuperWord matches it)
  static void pairs(short[] a, short[] b, int[] out, int n) {
    for (int i = 0; i < n / 2; i++) out[i] = a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1];
  }
  static int sdot(short[] a, short[] b, int[] tmp, int n) {
    pairs(a, b, tmp, n);
    int s = 0; for (int i = 0; i < n / 2; i++) s += tmp[i];
    return s;
  }
  static int adot(short[] a, short[] b, int[] acc, int n) {
    java.util.Arrays.fill(acc, 0);
    for (int base = 0; base < n; base += 128) addPairs(a, b, acc, base);
    int s = 0; for (int v : acc) s += v;
    return s;
  }
  static void addPairs(short[] a, short[] b, int[] acc, int base) {
    for (int j = 0; j < 64; j++) acc[j] += a[base + 2 * j] * b[base + 2 * j] + a[base + 2 * j + 1] * b[base + 2 * j + 1];
  }
  static int tdot(short[] a, short[] b, int[] acc, int[] t, int n) {
    java.util.Arrays.fill(acc, 0);
    for (int base = 0; base < n; base += 512) {
      for (int j = 0; j < 256; j++) t[j] = a[base + 2 * j] * b[base + 2 * j] + a[base + 2 * j + 1] * b[base + 2 * j + 1];
      for (int j = 0; j < 256; j++) acc[j] += t[j];
    }
    int s = 0; for (int v : acc) s += v;
    return s;
  }
  public static void main(String[] x) {
    int n = 4096, reps = 200000;
    float[] fa = new float[n], fb = new float[n]; short[] sa = new short[n], sb = new short[n]; int[] tmp = new int[n / 2];
    java.util.Random r = new java.util.Random(1);
    for (int i = 0; i < n; i++) { fa[i] = r.nextFloat(); fb[i] = r.nextFloat(); sa[i] = (short) (r.nextInt(255) - 127); sb[i] = (short) (r.nextInt(255) - 127); }
    for (int round = 0; round < 3; round++) {
      long t = System.nanoTime(); float fs = 0; for (int k = 0; k < reps; k++) fs += fdot(fa, fb, n);
      double fns = (System.nanoTime() - t) / (double) reps;
      t = System.nanoTime(); long ss = 0; for (int k = 0; k < reps; k++) ss += sdot(sa, sb, tmp, n);
      double sns = (System.nanoTime() - t) / (double) reps;
      t = System.nanoTime(); long ps = 0; for (int k = 0; k < reps; k++) { pairs(sa, sb, tmp, n); ps += tmp[k & 1023]; }
      double pns = (System.nanoTime() - t) / (double) reps;
      int[] acc = new int[64];
      t = System.nanoTime(); long as = 0; for (int k = 0; k < reps; k++) as += adot(sa, sb, acc, n);
      double ans = (System.nanoTime() - t) / (double) reps;
      int[] acc2 = new int[256], t2 = new int[256];
      t = System.nanoTime(); long ts = 0; for (int k = 0; k < reps; k++) ts += tdot(sa, sb, acc2, t2, n);
      double tns = (System.nanoTime() - t) / (double) reps;
      System.out.printf("two-pass dot %.0f ns (%.1f MAC/ns) %d%n", tns, n / tns, ts);
      System.out.printf("acc-pairs dot %.0f ns (%.1f MAC/ns) %d%n", ans, n / ans, as);
      System.out.printf("fp32 fma dot %.0f ns (%.1f MAC/ns) | short pairs+sum %.0f ns (%.1f MAC/ns) | pairs only %.0f ns (%.1f MAC/ns)  %s %d %d%n", fns, n / fns, sns, n / sns, pns, n / pns, fs > 0, ss, ps);
    }
  }
}
