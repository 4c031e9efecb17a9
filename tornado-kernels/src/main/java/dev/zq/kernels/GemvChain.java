package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;

import java.lang.foreign.Arena;
import java.util.Random;

/**
 * A chain of batch-1 projections laid out for {@link PersistentGemvKernel#int8Chain} (W8A8) or
 * {@link PersistentGemvKernel#fp16Chain} (W16A16, {@code halves}): every projection's codes (or FP16 weights) in one
 * {@code w}, its group scales in one {@code sw}, its input and output rows in one {@code act} (the first row at 0), and
 * the {@code plan} that says where each lies. Projection {@code p} reads the first {@code k_p} outputs of projection
 * {@code from_p} ({@code -1}: the first row). With random codes and scales ~1/(72·√k), or FP16 weights of standard
 * deviation 1/√k (about what keeps a row's spread from one projection to the next), it is what the tests and the
 * benchmark run; {@link #reference} is the kernel's arithmetic in plain Java, in its order, so the kernel's results equal
 * it bit for bit.
 */
public final class GemvChain {
    public final int[] n, k, from;
    public final int groupSize, phases;
    /** FP16 weights ({@link PersistentGemvKernel#fp16Chain}) rather than INT8 codes with group scales. */
    public final boolean halves;
    public final IntArray plan, w;
    public final FloatArray sw, act;
    private final int[] wOff, sOff, inOff, outOff;

    /** Projections {@code n[p] × k[p]} reading projection {@code from[p]}'s outputs, random codes and scales from {@code seed}. */
    public GemvChain(Arena arena, int[] n, int[] k, int[] from, int groupSize, long seed) {
        this(arena, n, k, from, groupSize, false, seed);
    }

    /** {@link #GemvChain(Arena, int[], int[], int[], int, long)}, with random FP16 weights where {@code halves} (then without scales). */
    public GemvChain(Arena arena, int[] n, int[] k, int[] from, int groupSize, boolean halves, long seed) {
        this.n = n.clone(); this.k = k.clone(); this.from = from.clone();
        this.groupSize = halves ? 0 : groupSize;
        this.halves = halves;
        phases = n.length;
        if (k.length != phases || from.length != phases || phases == 0) throw new IllegalArgumentException("n, k and from name each projection once");
        wOff = new int[phases]; sOff = new int[phases]; inOff = new int[phases]; outOff = new int[phases];
        int firstK = 0;
        for (int p = 0; p < phases; p++) if (from[p] < 0) firstK = Math.max(firstK, k[p]);
        long words = 0, scales = 0, floats = firstK;
        for (int p = 0; p < phases; p++) {
            if (!(halves ? PersistentGemvKernel.fitsHalves(k[p]) : PersistentGemvKernel.fits(k[p], groupSize)) || n[p] <= 0 || n[p] > PersistentGemvKernel.MAX_N)
                throw new IllegalArgumentException("projection " + p + ": " + n[p] + " × " + k[p] + (halves ? "" : " in groups of " + groupSize) + " does not fit the kernel");
            if (from[p] >= p || from[p] >= 0 && n[from[p]] < k[p])
                throw new IllegalArgumentException("projection " + p + " reads " + k[p] + " outputs of projection " + from[p] + ", which is not an earlier one that has them");
            wOff[p] = Math.toIntExact(words); sOff[p] = Math.toIntExact(scales);
            outOff[p] = Math.toIntExact(floats);
            inOff[p] = from[p] < 0 ? 0 : outOff[from[p]];
            words += (long) n[p] * k[p] / (halves ? 2 : 4); scales += halves ? 0 : (long) n[p] * (k[p] / groupSize); floats += n[p];
        }
        plan = IntArray.allocate(arena, phases * PersistentGemvKernel.PLAN_INTS);
        for (int p = 0; p < phases; p++) {
            int at = p * PersistentGemvKernel.PLAN_INTS;
            plan.set(at, n[p]); plan.set(at + 1, k[p]); plan.set(at + 2, wOff[p]); plan.set(at + 3, sOff[p]); plan.set(at + 4, inOff[p]); plan.set(at + 5, outOff[p]);
        }
        w = IntArray.allocate(arena, Math.toIntExact(words));
        sw = FloatArray.allocate(arena, Math.toIntExact(Math.max(1, scales)));
        act = FloatArray.allocate(arena, Math.toIntExact(floats));
        Random rnd = new Random(seed);
        if (halves) {   // two halves a word, from a table of 65536 normal draws a projection (the weights of a 1.3B model are ~10⁹)
            short[] table = new short[65536];
            for (int p = 0; p < phases; p++) {
                float sd = (float) (1 / Math.sqrt(k[p]));
                for (int i = 0; i < table.length; i++) table[i] = Float.floatToFloat16(sd * (float) rnd.nextGaussian());
                for (int i = wOff[p], end = wOff[p] + n[p] * (k[p] / 2); i < end; i++) {
                    int r = rnd.nextInt();
                    w.set(i, (table[r & 0xFFFF] & 0xFFFF) | (table[r >>> 16] << 16));
                }
            }
        } else for (int i = 0; i < words; i++) w.set(i, rnd.nextInt());   // four codes of −128 … 127
        for (int p = 0; p < phases && !halves; p++) {
            float unit = (float) (1 / (72 * Math.sqrt(k[p])));
            for (int i = 0; i < n[p] * (k[p] / groupSize); i++) sw.set(sOff[p] + i, unit * (0.5f + rnd.nextFloat()));
        }
        for (int i = 0; i < firstK; i++) act.set(i, (float) rnd.nextGaussian());
    }

    /** Where projection {@code p}'s outputs start in {@link #act}. */
    public int outputOffset(int p) { return outOff[p]; }

    /** {@link #act}'s length: the first row, then every projection's outputs. */
    public int actLength() { return act.length(); }

    /**
     * The whole chain from {@code x} (the first row, as in {@link #act}) in the kernel's arithmetic: each input row's
     * scale is its largest magnitude / 127 and its codes rounded half to even; a row's sum is, warp by warp (1024 inputs),
     * each lane's two 16-code chunks (integer sums times their group scales) reduced by the warps' butterfly
     * ({@link SkinnyGemmKernel#warpSum}), the warps added in order from 0, then times the row's scale.
     */
    public float[] reference(float[] x) {
        float[] out = new float[actLength()];
        System.arraycopy(x, 0, out, 0, Math.min(x.length, out.length));
        float[] lanes = new float[32], next = new float[32];
        for (int p = 0; p < phases; p++) {
            if (halves) { referenceHalves(p, out, lanes, next); continue; }
            int kk = k[p], groups = kk / groupSize;
            float m = 0f;
            for (int i = 0; i < kk; i++) m = Math.max(m, Math.abs(out[inOff[p] + i]));
            float s = m / 127f;
            int[] codes = new int[kk];
            for (int i = 0; i < kk; i++) codes[i] = s == 0f || !(s - s == 0f) ? 0 : RowKernels.clampCode((float) Math.rint(out[inOff[p] + i] / s));
            for (int row = 0; row < n[p]; row++) {
                float sum = 0f;
                for (int seg = 0; seg < kk >> 10; seg++) {
                    for (int lane = 0; lane < 32; lane++) {
                        int c0 = (seg << 6) + lane, c1 = c0 + 32;
                        lanes[lane] = chunk(p, row, c0, codes, groups) + chunk(p, row, c1, codes, groups);
                    }
                    for (int mask = 16; mask >= 1; mask >>= 1) {
                        for (int l = 0; l < 32; l++) next[l] = lanes[l] + lanes[l ^ mask];
                        float[] t = lanes; lanes = next; next = t;
                    }
                    sum += lanes[0];
                }
                out[outOff[p] + row] = s * sum;
            }
        }
        return out;
    }

    /** Projection {@code p} of FP16 weights: the input rounded to FP16, {@link PersistentGemvKernel#halvesDot}'s products, the same sums. */
    private void referenceHalves(int p, float[] out, float[] lanes, float[] next) {
        int kk = k[p];
        int[] xs = new int[PersistentGemvKernel.MAX_K];
        for (int i = 0; i < kk; i++) xs[WideGemvKernel.halfSlot(i)] = Float.floatToRawIntBits(Float.float16ToFloat(Float.floatToFloat16(out[inOff[p] + i])));
        for (int row = 0; row < n[p]; row++) {
            float sum = 0f;
            int base = wOff[p] + row * (kk >> 1);
            for (int seg = 0; seg < kk >> 9; seg++) {
                for (int lane = 0; lane < 32; lane++) {
                    int c0 = (seg << 6) + lane, c1 = c0 + 32, a0 = base + (c0 << 2), a1 = base + (c1 << 2);
                    lanes[lane] = PersistentGemvKernel.halvesDot(xs, c0, w.get(a0), w.get(a0 + 1), w.get(a0 + 2), w.get(a0 + 3))
                            + PersistentGemvKernel.halvesDot(xs, c1, w.get(a1), w.get(a1 + 1), w.get(a1 + 2), w.get(a1 + 3));
                }
                for (int mask = 16; mask >= 1; mask >>= 1) {
                    for (int l = 0; l < 32; l++) next[l] = lanes[l] + lanes[l ^ mask];
                    System.arraycopy(next, 0, lanes, 0, 32);
                }
                sum += lanes[0];
            }
            out[outOff[p] + row] = 1f * sum;
        }
    }

    /** Chunk {@code c} (16 codes) of row {@code row} of projection {@code p} against the row's codes: group scale × integer sum. */
    private float chunk(int p, int row, int c, int[] codes, int groups) {
        int base = wOff[p] + row * (k[p] >> 2) + (c << 2), d = 0;
        for (int j = 0; j < 4; j++) {
            int word = w.get(base + j);
            for (int b = 0; b < 4; b++) d += (byte) (word >> (8 * b)) * codes[(c << 4) + 4 * j + b];
        }
        return sw.get(sOff[p] + row * groups + (c << 4) / groupSize) * d;
    }
}
