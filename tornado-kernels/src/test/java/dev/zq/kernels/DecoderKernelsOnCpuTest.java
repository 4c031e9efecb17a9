package dev.zq.kernels;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.HalfArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.KernelMath;
import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The decoder's kernels on the CPU executor against definitions written out here: the few-row GEMMs (FP16, INT8 and
 * INT4 weights with group scales, token-wise INT8 activations quantized inside the kernel, three epilogues), the
 * {@code dp4a} intrinsic and INT4 unpacking, and greedy arg-max. Attention over the KV cache is checked end to end
 * against the CPU decoder in {@code DecoderTaskGraphTest}.
 */
class DecoderKernelsOnCpuTest {
    final CpuExecutor cpu = new CpuExecutor();

    /** The few-row kernels' group index: a shift for power-of-two groups, the division otherwise, the same either way. */
    @Test
    void groupIndicesByShiftEqualTheDivision() {
        for (int groupSize : new int[]{1, 4, 12, 16, 32, 48, 64, 100, 128, 768, 4096, 1 << 30, Integer.MAX_VALUE}) {
            int shift = SkinnyGemmKernel.groupShift(groupSize);
            assertEquals(Integer.bitCount(groupSize) == 1, shift >= 0, "group size " + groupSize);
            for (int e : new int[]{0, 1, 3, 15, 16, 63, 64, 65, 767, 768, 8191, 1 << 20, Integer.MAX_VALUE})
                assertEquals(e / groupSize, SkinnyGemmKernel.groupOf(e, groupSize, shift), "element " + e + ", group size " + groupSize);
        }
    }

    @Test
    void dp4aIsTheDotProductOfSignedBytes() {
        Random rnd = new Random(3);
        int[] edge = {0, -1, 0x80808080, 0x7F7F7F7F, 0x807F01FF};
        for (int i = 0; i < 2000; i++) {
            int a = i < 25 ? edge[i % 5] : rnd.nextInt(), b = i < 25 ? edge[i / 5] : rnd.nextInt(), c = rnd.nextInt(1000) - 500;
            int want = c;
            for (int j = 0; j < 4; j++) want += (byte) (a >> (8 * j)) * (byte) (b >> (8 * j));
            assertEquals(want, KernelMath.dp4a(a, b, c), Integer.toHexString(a) + " · " + Integer.toHexString(b));
        }
    }

    @Test
    void int4NibblesUnpackToSignedBytes() {
        for (int v = 0; v < 16; v++)
            for (int byteAt = 0; byteAt < 4; byteAt++) {
                int word = v << (8 * byteAt), got = (byte) (SkinnyGemmKernel.signedNibbles(word) >> (8 * byteAt));
                assertEquals(v < 8 ? v : v - 16, got, "nibble " + v + " in byte " + byteAt);
            }
    }

    /** {@code x} as a kernel buffer. */
    static FloatArray floats(Arena a, float[] x) {
        FloatArray f = FloatArray.allocate(a, x.length);
        for (int i = 0; i < x.length; i++) f.set(i, x[i]);
        return f;
    }

    /** Token-wise codes of row {@code r}: {@code dev.zq.quant.Symmetric}'s definition, written out. */
    static int[] codes(float[] x, int r, int k, float[] scaleOut) {
        float max = 0f;
        for (int j = 0; j < k; j++) max = Math.max(max, Math.abs(x[r * k + j]));
        float s = max / 127f;
        scaleOut[r] = s;
        int[] q = new int[k];
        for (int j = 0; j < k; j++) q[j] = s == 0f ? 0 : (int) Math.max(-128, Math.min(127, Math.rint(x[r * k + j] / s)));
        return q;
    }

    static double geluTanh(double v) { return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))); }

    /** What an epilogue makes of {@code v} at output index {@code at}, {@code y} having held {@code at·0.01} for ADD. */
    static double expected(int mode, double v, int at) {
        return switch (mode) {
            case SkinnyGemmKernel.GELU_TANH -> geluTanh(v);
            case SkinnyGemmKernel.ADD -> v + at * 0.01f;
            default -> v;
        };
    }

    /** Weight-only (W8A16, W4A16): FP16-rounded activations times codes under their group scales, in double. */
    static double[][] weightOnly(float[] x, int[][] w, FloatArray sw, int gs) {
        int n = w.length, k = w[0].length, m = x.length / k, groups = k / gs;
        double[][] ref = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int c = 0; c < k; c++)
                    sum += (double) Float.float16ToFloat(Float.floatToFloat16(x[i * k + c])) * w[j][c] * sw.get(j * groups + c / gs);
                ref[i][j] = sum;
            }
        return ref;
    }

    /** {@code ref[i][j] = sx[i]·Σ_g sw[j][g]·(Σ_{c in g} q[i][c]·w[j][c])}: group-wise W8A8/W4A8, the integer sums exact. */
    static double[][] groupwise(int[][] q, int[][] w, FloatArray sw, float[] sx, int gs) {
        int m = q.length, n = w.length, groups = w[0].length / gs;
        double[][] ref = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int g = 0; g < groups; g++) {
                    long acc = 0;
                    for (int c = g * gs; c < (g + 1) * gs; c++) acc += (long) q[i][c] * w[j][c];
                    sum += (double) sw.get(j * groups + g) * acc;
                }
                ref[i][j] = sx[i] * sum;
            }
        return ref;
    }

    /** W16A16: the rows {@code x[m][k]} rounded to FP16 times the weights {@code wf[n][k]} (FP16 values), in double. */
    static double[][] halfProducts(float[] x, float[] wf, int m, int n, int k) {
        double[][] ref = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int c = 0; c < k; c++) s += (double) Float.float16ToFloat(Float.floatToFloat16(x[i * k + c])) * wf[j * k + c];
                ref[i][j] = s;
            }
        return ref;
    }

    static float[] scales(FloatArray sx, int m) {
        float[] out = new float[m];
        for (int i = 0; i < m; i++) out[i] = sx.get(i);
        return out;
    }

    /** Runs one skinny kernel for every epilogue and compares with {@code reference[m][n]} (before the epilogue). */
    void checkEpilogues(String kernel, Object[] operands, FloatArray bias, int m, int n, int k, double[][] reference, double tol) {
        checkEpilogues(kernel, operands, null, bias, m, n, k, reference, tol);
    }

    /** As above, the kernel normalising its rows first with {@code norm = {γ, β}} (eps 1e-5) when it is not null. */
    void checkEpilogues(String kernel, Object[] operands, FloatArray[] norm, FloatArray bias, int m, int n, int k, double[][] reference, double tol) {
        // A warp per feature, and two blocks of features whose warps loop over the rest (the decoder's launch).
        List<Grid> grids = List.of(SkinnyGemmKernel.grid(m, n), SkinnyGemmKernel.grid(m, n, 2));
        try (Arena a = Arena.ofShared()) {
            for (Grid grid : grids)
            for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD}) {
                FloatArray y = FloatArray.allocate(a, m * n);
                for (int i = 0; i < m * n; i++) y.set(i, mode == SkinnyGemmKernel.ADD ? i * 0.01f : 0f);
                Object[] args = new Object[operands.length + 10];
                args[0] = operands[0];
                args[1] = norm == null ? 0 : 1;   // the fused LayerNorm, or none (then γ and β are never read)
                args[2] = norm == null ? bias : norm[0];
                args[3] = norm == null ? bias : norm[1];
                args[4] = 1e-5f;
                args[5] = operands[1];
                int at = 6;
                if (operands.length == 4) args[at++] = operands[2];   // weight scales
                args[at++] = bias;
                args[at++] = y;
                args[at++] = m;
                args[at++] = n;
                args[at++] = k;
                if (operands.length == 4) args[at++] = operands[3];   // group size
                args[at] = mode;
                cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, kernel), grid, java.util.Arrays.copyOf(args, at + 1));
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double v = reference[i][j] + bias.get(j);
                        double want = expected(mode, v, i * n + j);
                        assertEquals(want, y.get(i * n + j), tol * (1 + Math.abs(want)), kernel + " on " + grid + " mode " + mode + " y[" + i + "][" + j + "]");
                    }
            }
        }
    }

    @Test
    void int8AndInt4SkinnyGemmsQuantizeTheirRowsAndApplyGroupScales() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(5);
            int m = 9, n = 20, k = 4352, gs = 64, groups = k / gs;   // two row blocks (the second of one row: the batch-1 path), a partial block of features, two K tiles
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            x[3 * k + 7] = 40f;                     // an outlier token
            for (int j = 0; j < k; j++) x[5 * k + j] = 0f;   // an all-zero row: scale 0, output = bias
            FloatArray xs = floats(a, x);
            float[] sx = new float[m];
            int[][] q = new int[m][];
            for (int r = 0; r < m; r++) q[r] = codes(x, r, k, sx);
            FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            for (int bits : new int[]{8, 4}) {
                int[][] w = new int[n][k];
                int lo = bits == 8 ? -128 : -8, span = bits == 8 ? 256 : 16;
                for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = lo + rnd.nextInt(span);
                IntArray packed = packWeights(a, w, bits);
                double[][] ref = groupwise(q, w, sw, sx, gs);
                checkEpilogues(bits == 8 ? "int8" : "int4", new Object[]{xs, packed, sw, gs}, bias, m, n, k, ref, 2e-5);
            }
        }
    }

    /** A group size that splits the INT8 kernel's 16-code chunks (12): each of a chunk's words takes its own group's scale. */
    @Test
    void int8SkinnyGemmWithGroupsSmallerThanItsChunks() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(6);
            int m = 3, n = 11, k = 768, gs = 12, groups = k / gs;
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            FloatArray xs = floats(a, x);
            float[] sx = new float[m];
            int[][] q = new int[m][];
            for (int r = 0; r < m; r++) q[r] = codes(x, r, k, sx);
            FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            int[][] w = new int[n][k];
            for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = -128 + rnd.nextInt(256);
            checkEpilogues("int8", new Object[]{xs, packWeights(a, w, 8), sw, gs}, bias, m, n, k, groupwise(q, w, sw, sx, gs), 2e-5);
        }
    }

    /** {@code w[n][k]} as the GPU kernels read it: INT8 codes four per int in K order, INT4 codes in {@link Int4Words}' order. */
    static IntArray packWeights(Arena a, int[][] w, int bits) {
        int n = w.length, k = w[0].length;
        IntArray packed = IntArray.allocate(a, n * k * bits / 32);
        if (bits == 8) {
            for (int j = 0; j < n; j++)
                for (int c = 0; c < k; c++) {
                    int e = j * k + c;
                    packed.set(e >> 2, packed.get(e >> 2) | ((w[j][c] & 0xFF) << (8 * (e & 3))));
                }
            return packed;
        }
        Tensor codes = Tensor.allocate(a, DType.I4, n, k);   // Tensor's I4, as QuantizedWeight stores INT4 codes
        for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) codes.setI4((long) j * k + c, w[j][c]);
        Int4Words.pack(codes, packed);
        return packed;
    }

    @Test
    void kIsSplitForEveryEpilogueOfOneRowOfTilesAndForTheAccumulatingOneBeyond() {
        // One row of tiles (a decode step of a batch): split until about FEW_ROW_BLOCKS blocks (at most 16 slices), any epilogue.
        assertEquals(256, PrefillGemmKernel.FEW_ROW_BLOCKS, "the default (these cases assume it)");
        assertEquals(8, PrefillGemmKernel.splits(16, 2048, 8192, SkinnyGemmKernel.ADD));          // 1.3B down: 32 tiles → 256 blocks
        assertEquals(4, PrefillGemmKernel.splits(16, 6144, 2048, SkinnyGemmKernel.STORE));        // 1.3B qkv: 96 tiles → 384
        assertEquals(2, PrefillGemmKernel.splits(16, 8192, 2048, SkinnyGemmKernel.GELU_TANH));    // 1.3B up: 128 tiles → 256
        assertEquals(8, PrefillGemmKernel.splits(16, 768, 3072, SkinnyGemmKernel.ADD));           // GPT-2 down: slices of 384
        assertEquals(2, PrefillGemmKernel.splits(64, 768, 768, SkinnyGemmKernel.STORE));          // 192 would be shorter than 256
        assertEquals(1, PrefillGemmKernel.splits(16, 768, 384, SkinnyGemmKernel.ADD));            // slices would be shorter than 256
        assertEquals(16, PrefillGemmKernel.splits(16, 2048, 8192, SkinnyGemmKernel.ADD, 512));    // at most 16 slices
        // More rows (or -Dzq.prefill.fewRowBlocks=0): the accumulating epilogue only, until about 128 blocks.
        assertEquals(1, PrefillGemmKernel.splits(128, 2048, 8192, SkinnyGemmKernel.STORE));
        assertEquals(2, PrefillGemmKernel.splits(128, 2048, 8192, SkinnyGemmKernel.ADD));         // 64 tiles → 128 blocks
        assertEquals(1, PrefillGemmKernel.splits(512, 2048, 8192, SkinnyGemmKernel.ADD));         // 256 tiles already
        assertEquals(1, PrefillGemmKernel.splits(16, 2048, 8192, SkinnyGemmKernel.STORE, 0));
        assertEquals(4, PrefillGemmKernel.splits(16, 2048, 8192, SkinnyGemmKernel.ADD, 0));       // 32 tiles → 128 blocks
        // An encoder's (splitsToFill): every epilogue as the accumulating one at more rows — bert-base at one sequence of 128.
        assertEquals(8, PrefillGemmKernel.splitsToFill(128, 768, 3072));    // down: 24 tiles → 192 blocks (at most 8 slices)
        assertEquals(2, PrefillGemmKernel.splitsToFill(128, 2304, 768));    // q, k, v: 72 tiles → 144
        assertEquals(2, PrefillGemmKernel.splitsToFill(128, 768, 768));     // out: 24 tiles → 48 (slices of 192 would be too short)
        for (int s : new int[]{2, 4, 8}) assertEquals(0, (3072 / s) % 64);
    }

    @Test
    void exactFloatConvertsGroupSumsBelowTwoToThe22() {
        Random rnd = new Random(4);
        int limit = (1 << 22) - 1;
        for (int c : new int[]{0, 1, -1, 16384, -16384, 64 * 16384, -128 * 16384, limit, -limit})
            assertEquals((float) c, PrefillGemmKernel.exactFloat(c), 0f, "c = " + c);
        for (int i = 0; i < 100_000; i++) {
            int c = rnd.nextInt(2 * limit + 1) - limit;
            assertEquals((float) c, PrefillGemmKernel.exactFloat(c), 0f, "c = " + c);
        }
    }

    @Test
    void int4WordsHoldTheMmaFragmentsOfEachLane() {
        try (Arena a = Arena.ofShared()) {
            int[][] w = new int[1][64];
            for (int c = 0; c < 64; c++) w[0][c] = (c % 16) - 8;
            IntArray packed = packWeights(a, w, 4);
            for (int chunk = 0; chunk < 2; chunk++)
                for (int t = 0; t < 4; t++) {
                    int word = packed.get(4 * chunk + t);
                    int lo = SkinnyGemmKernel.signedNibbles(word & 0x0F0F0F0F), hi = SkinnyGemmKernel.signedNibbles((word >>> 4) & 0x0F0F0F0F);
                    for (int i = 0; i < 4; i++) {
                        assertEquals(w[0][32 * chunk + 4 * t + i], (byte) (lo >> (8 * i)), "b0 of lane t=" + t + ", byte " + i);
                        assertEquals(w[0][32 * chunk + 16 + 4 * t + i], (byte) (hi >> (8 * i)), "b1 of lane t=" + t + ", byte " + i);
                    }
                }
            assertThrows(IllegalArgumentException.class, () -> Int4Words.pack(Tensor.allocate(a, DType.I4, 1, 16), IntArray.allocate(a, 2)));
            assertThrows(IllegalArgumentException.class, () -> Int4Words.pack(Tensor.allocate(a, DType.I8, 1, 32), IntArray.allocate(a, 4)));
        }
    }

    /**
     * The tensor-core prompt GEMMs: 70 rows (a partial second row tile, never stored past row 70), 128 features, K = 384
     * (six stages through the four-slot ring), every epilogue, group sizes 32 (a fold per {@code mma} step), 128 (a fold
     * every two stages) and K (per-row); the activations quantized or halved by their row kernels first.
     */
    @Test
    void prefillGemmsOnTensorCoresMatchTheGroupwiseDefinition() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(9);
            int m = 70, n = 128, k = 384, rows = PrefillGemmKernel.paddedRows(m);
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            x[4 * k + 9] = -30f;                              // an outlier token
            for (int j = 0; j < k; j++) x[6 * k + j] = 0f;    // a zero row
            FloatArray xs = floats(a, x);
            IntArray codes = IntArray.allocate(a, rows * k / 4);
            FloatArray sx = FloatArray.allocate(a, rows);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRows"), DecoderRowKernels.rowsGrid(m), xs, 0, xs, xs, 1e-5f, codes, sx, k);
            float[] want = new float[m];
            int[][] q = new int[m][];
            for (int r = 0; r < m; r++) q[r] = codes(x, r, k, want);
            for (int r = 0; r < m; r++) {
                assertEquals(want[r], sx.get(r), 0f, "scale of row " + r);
                for (int c = 0; c < k; c++) assertEquals(q[r][c], (byte) (codes.get((r * k + c) >> 2) >> (8 * (c & 3))), "code " + r + "," + c);
            }
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            for (int bits : new int[]{8, 4})
                for (int gs : new int[]{32, 128, k}) {
                    int groups = k / gs;
                    int[][] w = new int[n][k];
                    for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = bits == 8 ? rnd.nextInt(256) - 128 : rnd.nextInt(16) - 8;
                    IntArray packed = packWeights(a, w, bits);
                    FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01);
                    double[][] ref = groupwise(q, w, sw, scales(sx, m), gs);
                    checkPrefill(bits == 8 ? "int8" : "int4", new Object[]{codes, sx, packed, sw}, gs, bias, m, n, k, ref, 2e-5);
                }
            IntArray halves = IntArray.allocate(a, rows * k / 2);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(m), xs, 0, xs, xs, 1e-5f, halves, k,
                    DecoderRowKernels.NATURAL);
            float[] wf = new float[n * k];
            IntArray wh = EncoderKernelsOnCpuTest.halves(a, rnd, wf, 0.05);
            checkPrefill("fp16", new Object[]{halves, wh}, 0, bias, m, n, k, halfProducts(x, wf, m, n, k), 1e-4);

            // Weight-only: the same halves in the mma order, INT8 and INT4 codes under group scales.
            IntArray ordered = IntArray.allocate(a, rows * k / 2);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(m), xs, 0, xs, xs, 1e-5f, ordered, k,
                    DecoderRowKernels.MMA_ORDER);
            for (int bits : new int[]{8, 4})
                for (int gs : new int[]{32, 128, k}) {
                    int groups = k / gs;
                    int[][] w = new int[n][k];
                    for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = bits == 8 ? rnd.nextInt(256) - 128 : rnd.nextInt(16) - 8;
                    w[3][5] = bits == 8 ? -128 : -8;   // the extreme codes convert exactly too
                    w[3][6] = bits == 8 ? 127 : 7;
                    FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01);
                    checkPrefill(bits == 8 ? "int8a16" : "int4a16", new Object[]{ordered, packWeights(a, w, bits), sw}, gs, bias, m, n, k,
                            weightOnly(x, w, sw, gs), 2e-5);
                }
        }
    }

    /**
     * The 1024-thread staging kernels (a row in registers) against the 256-thread ones that loop over it: without a
     * LayerNorm (or RMSNorm) the same codes, scales and halves to the bit (in both orders); with it, whose sums they take in another
     * order, scales within 1e-5, codes within one (rarely off), halves within FP16's rounding. Rows of one piece, of two
     * (4160: the second holds 64 inputs), of the most (8192), with an outlier and an all-zero row.
     */
    @Test
    void wideStagingKernelsStageWhatTheLoopingOnesDo() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(34);
            int m = 3;
            for (int k : new int[]{384, 2048, 4160, 8192}) {
                assertTrue(DecoderRowKernels.fitsWide(k));
                float[] x = new float[m * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() + 0.5);
                x[k + 17] = -40f;                              // an outlier in row 1
                for (int j = 0; j < k; j++) x[2 * k + j] = 0f;   // an all-zero row
                FloatArray xs = floats(a, x), gamma = KernelsOnCpuTest.randomFloats(a, rnd, k, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, k, 0.3);
                for (int norm : new int[]{SkinnyGemmKernel.NO_NORM, SkinnyGemmKernel.LAYER_NORM, SkinnyGemmKernel.RMS_NORM}) {
                    IntArray want = IntArray.allocate(a, m * k / 4), got = IntArray.allocate(a, m * k / 4);
                    FloatArray wantScales = FloatArray.allocate(a, m), gotScales = FloatArray.allocate(a, m);
                    cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRows"), DecoderRowKernels.rowsGrid(m), xs, norm, gamma, beta, 1e-5f,
                            want, wantScales, k);
                    cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRowsWide"), DecoderRowKernels.wideRowsGrid(m), xs, norm, gamma, beta,
                            1e-5f, got, gotScales, k, DecoderRowKernels.NATURAL, 0);
                    if (k % 128 == 0) {   // SkinnyMmaKernel.int4's order: the same words, each where piece4Word says
                        IntArray permuted = IntArray.allocate(a, m * k / 4);
                        cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRowsWide"), DecoderRowKernels.wideRowsGrid(m), xs, norm, gamma,
                                beta, 1e-5f, permuted, FloatArray.allocate(a, m), k, DecoderRowKernels.PIECE4_ORDER, 1);
                        for (int r = 0; r < m; r++)
                            for (int j = 0; j < k / 4; j++)
                                assertEquals(got.get(r * k / 4 + j), permuted.get(r * k / 4 + piece4Word(j)), "K " + k + " row " + r + " word " + j);
                    }
                    int off = 0;
                    for (int r = 0; r < m; r++) {
                        String what = "K " + k + " norm " + norm + " row " + r;
                        if (norm == 0) assertEquals(Float.floatToRawIntBits(wantScales.get(r)), Float.floatToRawIntBits(gotScales.get(r)), "scale, " + what);
                        else assertEquals(wantScales.get(r), gotScales.get(r), 1e-5 * wantScales.get(r), "scale, " + what);
                        for (int c = 0; c < k; c++) {
                            int w = (byte) (want.get((r * k + c) >> 2) >> (8 * (c & 3))), g = (byte) (got.get((r * k + c) >> 2) >> (8 * (c & 3)));
                            if (norm == 0) assertEquals(w, g, "code " + c + ", " + what);
                            else assertTrue(Math.abs(w - g) <= 1, "code " + c + ", " + what + ": " + g + " vs " + w);
                            if (w != g) off++;
                        }
                    }
                    assertTrue(off <= m * k / 500, off + " codes off by one, K " + k);
                    for (int order : new int[]{DecoderRowKernels.NATURAL, DecoderRowKernels.MMA_ORDER}) {
                        IntArray wantHalves = IntArray.allocate(a, m * k / 2), gotHalves = IntArray.allocate(a, m * k / 2);
                        cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(m), xs, norm, gamma, beta, 1e-5f,
                                wantHalves, k, order);
                        cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRowsWide"), DecoderRowKernels.wideRowsGrid(m), xs, norm, gamma, beta,
                                1e-5f, gotHalves, k, order, order);   // early release too (1) with MMA_ORDER: the same halves
                        for (int i = 0; i < m * k / 2; i++) {
                            String what = "K " + k + " norm " + norm + " order " + order + " pair " + i;
                            if (norm == 0) assertEquals(wantHalves.get(i), gotHalves.get(i), what);
                            else {
                                float w0 = Epilogue.lowHalf(wantHalves.get(i)), w1 = Epilogue.highHalf(wantHalves.get(i));
                                assertEquals(w0, Epilogue.lowHalf(gotHalves.get(i)), 1e-3 * (1 + Math.abs(w0)), what);
                                assertEquals(w1, Epilogue.highHalf(gotHalves.get(i)), 1e-3 * (1 + Math.abs(w1)), what);
                            }
                        }
                    }
                }
            }
            assertFalse(DecoderRowKernels.fitsWide(8224));   // nine elements a thread
            assertFalse(DecoderRowKernels.fitsWide(400));    // not whole groups of 32 (the mma order's)
        }
    }

    /**
     * {@code norm = SWIGLU}: the wide staging kernels' gated entries read rows of a LLaMA's gates and ups side by side ({@code 2k} a row)
     * and stage {@code silu(gate)·up} — the same codes, scales and halves, to the bit, as the looping kernels staging what
     * {@link LlamaRowKernels#swiglu} wrote (the same function, and no sums). Rows of one piece and of two.
     */
    @Test
    void wideStagingGatesRowsAsTheSwigluLaunchDoes() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(35);
            int m = 3;
            for (int k : new int[]{704, 5632}) {
                FloatArray gu = KernelsOnCpuTest.randomFloats(a, rnd, m * 2 * k, 3), gated = FloatArray.allocate(a, m * k), none = FloatArray.allocate(a, k);
                cpu.launch(KernelCompiler.find(LlamaRowKernels.class, "swiglu"), LlamaRowKernels.swigluGrid(m, k), gu, gated, m, k);
                IntArray want = IntArray.allocate(a, m * k / 4), got = IntArray.allocate(a, m * k / 4);
                FloatArray wantScales = FloatArray.allocate(a, m), gotScales = FloatArray.allocate(a, m);
                cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRows"), DecoderRowKernels.rowsGrid(m), gated, SkinnyGemmKernel.NO_NORM,
                        none, none, 1e-5f, want, wantScales, k);
                cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRowsWideGated"), DecoderRowKernels.wideRowsGrid(m), gu, SkinnyGemmKernel.SWIGLU,
                        none, none, 1e-5f, got, gotScales, k, DecoderRowKernels.NATURAL, 0);
                for (int r = 0; r < m; r++) assertEquals(Float.floatToRawIntBits(wantScales.get(r)), Float.floatToRawIntBits(gotScales.get(r)), "K " + k + " scale " + r);
                for (int i = 0; i < m * k / 4; i++) assertEquals(want.get(i), got.get(i), "K " + k + " code word " + i);
                IntArray wantHalves = IntArray.allocate(a, m * k / 2), gotHalves = IntArray.allocate(a, m * k / 2);
                cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(m), gated, SkinnyGemmKernel.NO_NORM, none,
                        none, 1e-5f, wantHalves, k, DecoderRowKernels.NATURAL);
                cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRowsWideGated"), DecoderRowKernels.wideRowsGrid(m), gu, SkinnyGemmKernel.SWIGLU,
                        none, none, 1e-5f, gotHalves, k, DecoderRowKernels.NATURAL, 0);
                for (int i = 0; i < m * k / 2; i++) assertEquals(wantHalves.get(i), gotHalves.get(i), "K " + k + " halves " + i);
            }
        }
    }

    /** MMA_ORDER permutes the pairs of each 32 halves and nothing else: every element appears once, rounded to FP16. */
    @Test
    void mmaOrderPermutesPairsWithinEach32Halves() {
        try (Arena a = Arena.ofShared()) {
            int m = 2, k = 96;
            FloatArray xs = FloatArray.allocate(a, m * k);
            for (int i = 0; i < m * k; i++) xs.set(i, i);   // element index = value (exact in FP16 up to 2048)
            IntArray out = IntArray.allocate(a, m * k / 2);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(m), xs, 0, xs, xs, 1e-5f, out, k,
                    DecoderRowKernels.MMA_ORDER);
            for (int r = 0; r < m; r++)
                for (int p = 0; p < k / 2; p++) {
                    int s = (p >> 3) & 1, u = (p >> 2) & 1, t = p & 3, want = r * k + (p >> 4) * 32 + 16 * s + 4 * t + 2 * u;
                    int word = out.get(r * k / 2 + p);
                    assertEquals(want, Float.float16ToFloat((short) word), 0f, "row " + r + " pair " + p + " low");
                    assertEquals(want + 1, Float.float16ToFloat((short) (word >>> 16)), 0f, "row " + r + " pair " + p + " high");
                }
        }
    }

    @Test
    void bytePermuteFollowsPtxPrmt() {
        int a = 0x83828180, b = 0x07060504;   // bytes 0..3 = 0x80.., 4..7 = 0x04..
        assertEquals(0x04800581, KernelMath.bytePermute(a, b, 0x4051));
        assertEquals(0x83828180, KernelMath.bytePermute(a, b, 0x3210));
        assertEquals(0x07060504, KernelMath.bytePermute(a, b, 0x7654));
        assertEquals(0xFF0004FF, KernelMath.bytePermute(a, b, 0x8C48));   // bit 3 of a nibble: the byte's sign replicated
    }

    @Test
    void everyInt8AndInt4CodeBecomesItsHalfExactly() {
        for (int c = -128; c < 128; c++) {
            int u = (c + 128) * 0x01010101;   // the code in all four bytes, biased
            int lo = PrefillGemmKernel.halvesOfBytes(u, 0x4140, 0x64806480), hi = PrefillGemmKernel.halvesOfBytes(u, 0x4342, 0x64806480);
            for (int h : new int[]{lo, hi, lo >>> 16, hi >>> 16}) assertEquals(c, Float.float16ToFloat((short) h), 0f, "INT8 code " + c);
        }
        for (int c = -8; c < 8; c++) {
            int u = (c + 8) * 0x01010101;
            int lo = PrefillGemmKernel.halvesOfBytes(u, 0x4140, 0x64086408);
            assertEquals(c, Float.float16ToFloat((short) lo), 0f, "INT4 code " + c);
            assertEquals(c, Float.float16ToFloat((short) (lo >>> 16)), 0f, "INT4 code " + c);
        }
        assertEquals(0x4000_C000, KernelMath.subHalf2(0x4200_3C00, 0x3C00_4200));   // (1, 3) − (3, 1) = (−2, 2), low half first
    }

    /**
     * Split K adds the slices' parts in slice order whoever finishes last (so the sum is the same bits every run), and on
     * the CPU a launch over arrival counts that cannot be (not zeroed memory) fails with the reason.
     */
    @Test
    void splitSlicesAddInSliceOrderAndStaleCountsFailClearly() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(31);
            int m = 16, n = 64, k = 1024, splits = 4;
            IntArray codes = IntArray.allocate(a, 64 * k / 4), w = IntArray.allocate(a, n * k / 4);
            for (int i = 0; i < codes.length(); i++) codes.set(i, rnd.nextInt());
            for (int i = 0; i < w.length(); i++) w.set(i, rnd.nextInt());
            FloatArray sx = KernelsOnCpuTest.randomFloats(a, rnd, 64, 0.01), sw = KernelsOnCpuTest.randomFloats(a, rnd, n * (k / 64), 0.01);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5), y = KernelsOnCpuTest.randomFloats(a, rnd, m * n, 1), y0 = FloatArray.allocate(a, m * n);
            for (int i = 0; i < m * n; i++) y0.set(i, y.get(i));
            FloatArray partials = FloatArray.allocate(a, PrefillGemmKernel.grid(m, n, splits).groupsX() * 4096);
            IntArray arrivals = IntArray.allocate(a, 1);
            var kernel = KernelCompiler.find(PrefillGemmKernel.class, "int8");
            cpu.launch(kernel, PrefillGemmKernel.grid(m, n, splits), codes, sx, w, sw, bias, y, m, n, k, 64, SkinnyGemmKernel.ADD, splits, partials, arrivals);
            assertEquals(0, arrivals.get(0));
            for (int r = 0; r < m; r++)
                for (int c = 0; c < n; c++) {
                    float sum = partials.get((r << 6) + c);   // slice 0, with the bias
                    for (int s = 1; s < splits; s++) sum += partials.get((s << 12) + (r << 6) + c);
                    assertEquals(Float.floatToRawIntBits(y0.get(r * n + c) + sum), Float.floatToRawIntBits(y.get(r * n + c)), "y[" + r + "][" + c + "]");
                }
            arrivals.set(0, splits + 1);   // garbage: counts are left zeroed, and no count reaches the number of slices
            var e = assertThrows(RuntimeException.class, () -> cpu.launch(kernel, PrefillGemmKernel.grid(m, n, splits), codes, sx, w, sw, bias, y, m, n, k,
                    64, SkinnyGemmKernel.ADD, splits, partials, arrivals));
            StringBuilder why = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) why.append(t.getMessage()).append(" / ");
            assertTrue(why.toString().contains("not zeroed"), why.toString());
        }
    }

    /**
     * The batch-decode tensor-core kernels ({@link SkinnyMmaKernel}): 1, 5, 8, 9, 13 and 16 rows (one or two B tiles,
     * rows past m garbage the kernel must not use), 40 features (a partial tile of 16), every epilogue; INT8 at K = 384
     * (six pieces: batches of one, or of four, the second short) in groups of 64, 128 and K, and K = 8512 (34 batches of
     * four over 32 warps: two loop, the last batch of one piece); INT4 (W4A8) on the same rows where K is a multiple of
     * 128, in groups of 32 to K, and at K = 16512 (129 pieces of 128, 65 batches of two: warps loop); FP16 at K = 160 (five
     * pieces), 1088 (34) and 2048 (64: on the one-wave grid its warps loop). Each on three grids ({@link #checkSkinny}).
     * Against the definitions in double; rows past m stay untouched.
     */
    @Test
    void skinnyMmaGemmsMatchTheDefinitions() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(35);
            int n = 40;
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            for (int[] shape : new int[][]{{5, 384, 64}, {16, 384, 128}, {9, 384, 384}, {8, 384, 64}, {1, 384, 128}, {13, 8512, 64}, {11, 16512, 64}}) {
                int m = shape[0], k = shape[1], gs = shape[2], groups = k / gs;
                float[] x = new float[m * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                if (m > 4) x[4 * k + 9] = -30f;   // an outlier token
                float[] sxs = new float[m];
                int[][] q = new int[m][];
                for (int r = 0; r < m; r++) q[r] = codes(x, r, k, sxs);
                IntArray codes = IntArray.allocate(a, SkinnyMmaKernel.MAX_ROWS * k / 4);
                for (int r = 0; r < m; r++) for (int c = 0; c < k; c++) { int e = r * k + c; codes.set(e >> 2, codes.get(e >> 2) | ((q[r][c] & 0xFF) << (8 * (e & 3)))); }
                for (int e = m * k / 4; e < codes.length(); e++) codes.set(e, rnd.nextInt());   // rows past m: garbage the kernel must not use
                FloatArray sx = floats(a, sxs);
                int[][] w = new int[n][k];
                for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = rnd.nextInt(256) - 128;
                FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01);
                assertTrue(SkinnyMmaKernel.fits(8, m, k, gs));
                if (k < 16384) checkSkinny("int8", new Object[]{codes, sx, packWeights(a, w, 8), sw, bias}, new Object[]{gs}, m, n, k,
                        groupwise(q, w, sw, sxs, gs), bias, 2e-5);
                if (k % 128 != 0) continue;
                for (int g4 : gs == 64 ? new int[]{32, 64} : new int[]{gs}) {   // INT4 (W4A8) on the same rows
                    int[][] w4 = new int[n][k];
                    for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w4[j][c] = rnd.nextInt(16) - 8;
                    FloatArray sw4 = KernelsOnCpuTest.randomFloats(a, rnd, n * (k / g4), 0.01);
                    assertTrue(SkinnyMmaKernel.fits(4, m, k, g4));
                    checkSkinny("int4", new Object[]{piece4Order(a, codes, k), sx, packWeights(a, w4, 4), sw4, bias}, new Object[]{g4}, m, n, k,
                            groupwise(q, w4, sw4, sxs, g4), bias, 2e-5);
                }
            }
            for (int[] shape : new int[][]{{3, 160}, {16, 160}, {11, 1088}, {16, 2048}}) {
                int m = shape[0], k = shape[1];
                float[] x = new float[m * k];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                IntArray halves = IntArray.allocate(a, SkinnyMmaKernel.MAX_ROWS * k / 2);
                for (int i = 0; i < m * k; i += 2) halves.set(i >> 1, Epilogue.packHalves(x[i], x[i + 1]));
                float[] wf = new float[n * k];
                IntArray wh = EncoderKernelsOnCpuTest.halves(a, rnd, wf, 0.05);
                assertTrue(SkinnyMmaKernel.fits(16, m, k, 0));
                checkSkinny("fp16", new Object[]{halves, wh, bias}, new Object[0], m, n, k, halfProducts(x, wf, m, n, k), bias, 1e-4);
            }
            assertFalse(SkinnyMmaKernel.fits(8, 17, 384, 64), "17 rows");
            assertFalse(SkinnyMmaKernel.fits(8, 16, 384, 32), "groups of 32 split a piece");
            assertFalse(SkinnyMmaKernel.fits(16, 16, 144, 0), "FP16 K of whole pieces of 32");
            assertFalse(SkinnyMmaKernel.fits(4, 16, 320, 32), "INT4 K of whole pieces of 128");
            assertFalse(SkinnyMmaKernel.fits(4, 16, 384, 16), "INT4 groups of whole chunks of 32");
            assertEquals(32, SkinnyMmaKernel.slices(8, 40, 8512, 4224));                      // 133 pieces in 34 batches of 4: a warp loops
            assertEquals(6, SkinnyMmaKernel.slices(8, 40, 384, 4224));                         // batches of 1 piece
            assertEquals(2, SkinnyMmaKernel.slices(8, 40, 384, 3));                            // of 4, the second short
            assertEquals(new dev.zq.runtime.Grid(384, 1, 256, 1), SkinnyMmaKernel.grid(8, 6144, 2048, 4224));   // GPT-3 1.3B qkv: batches of 4
            assertEquals(new dev.zq.runtime.Grid(128, 1, 1024, 1), SkinnyMmaKernel.grid(8, 2048, 2048, 4224));  // its out projection: of 1
            assertEquals(new dev.zq.runtime.Grid(128, 1, 1024, 1), SkinnyMmaKernel.grid(8, 2048, 8192, 4224));  // its down projection: of 4
            assertEquals(new dev.zq.runtime.Grid(48, 1, 384, 1), SkinnyMmaKernel.grid(8, 768, 768, 4224));   // GPT-2 out projection: 12 pieces, 12 warps
            assertEquals(new dev.zq.runtime.Grid(384, 1, 512, 1), SkinnyMmaKernel.grid(16, 6144, 2048, 4224));  // 1.3B FP16 qkv: 6144 warps
            assertEquals(new dev.zq.runtime.Grid(384, 1, 320, 1), SkinnyMmaKernel.grid(16, 6144, 2048, 4224, true));   // one wave: 3 blocks an SM
            assertEquals(new dev.zq.runtime.Grid(512, 1, 256, 1), SkinnyMmaKernel.grid(16, 8192, 2048, 4224, true));    // its up projection: 4
            assertEquals(new dev.zq.runtime.Grid(144, 1, 512, 1), SkinnyMmaKernel.grid(16, 2304, 768, 4224, true));     // GPT-2's qkv: 24 → 16 slices
            assertEquals(SkinnyMmaKernel.grid(8, 6144, 2048, 4224), SkinnyMmaKernel.grid(8, 6144, 2048, 4224, true));   // INT8's fits already
            assertEquals(SkinnyMmaKernel.grid(8, 50257, 2048, 4224), SkinnyMmaKernel.grid(8, 50257, 2048, 4224, true)); // the head: would take 1 slice
            assertEquals(new dev.zq.runtime.Grid(3, 1, 320, 1), SkinnyMmaKernel.grid(16, 40, 2048, 32, true));           // checkSkinny's one SM: 16 → 10
        }
    }

    /**
     * Where {@link DecoderRowKernels#PIECE4_ORDER} puts word {@code j} of a row, from its definition: chunk {@code c}'s
     * word {@code t + 4h} of each 32-word piece goes to {@code 8t + 2c + h}.
     */
    static int piece4Word(int j) {
        int w = j % 32, c = w / 8, s = w % 8;
        return j - w + 8 * (s % 4) + 2 * c + s / 4;
    }

    /** Rows of {@code k} codes ({@code k / 4} words each) moved into {@link DecoderRowKernels#PIECE4_ORDER}. */
    static IntArray piece4Order(Arena a, IntArray codes, int k) {
        IntArray out = IntArray.allocate(a, codes.length());
        for (int i = 0; i < codes.length(); i++) out.set(i / (k / 4) * (k / 4) + piece4Word(i % (k / 4)), codes.get(i));
        return out;
    }

    /** One {@link SkinnyMmaKernel} launch per epilogue; {@code y} has rows past m that must stay untouched. */
    void checkSkinny(String kernel, Object[] operands, Object[] after, int m, int n, int k, double[][] reference, FloatArray bias, double tol) {
        int bits = kernel.equals("fp16") ? 16 : kernel.equals("int4") ? 4 : 8;
        try (Arena a = Arena.ofShared()) {
            // As many warps as pieces allow (batches of 1 piece here); with few warps at once, batches of 4 pieces; and the
            // one-wave grid of a GPU of one SM (32 warps), fewer slices than pieces ask for where blocks would not fit it
            // (K = 2048: 10 slices for 64 FP16 pieces, as 1.3B's qkv on 132 SMs, the warps looping over batches of 4).
            for (int warpsAtOnce : new int[]{4224, 3, -32})
            for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD}) {
                FloatArray y = FloatArray.allocate(a, (m + 8) * n);
                for (int i = 0; i < (m + 8) * n; i++) y.set(i, mode == SkinnyGemmKernel.ADD || i >= m * n ? i * 0.01f : 0f);
                java.util.List<Object> args = new java.util.ArrayList<>(java.util.List.of(operands));
                args.add(y);
                args.addAll(java.util.List.of(m, n, k));
                args.addAll(java.util.List.of(after));
                args.add(mode);
                if (bits != 16) args.add(1);   // the scales and the bias asked into L1 ahead (hints: nothing on the CPU)
                cpu.launch(KernelCompiler.find(SkinnyMmaKernel.class, kernel), SkinnyMmaKernel.grid(bits, n, k, Math.abs(warpsAtOnce), warpsAtOnce < 0),
                        args.toArray());
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double want = expected(mode, reference[i][j] + bias.get(j), i * n + j);
                        assertEquals(want, y.get(i * n + j), tol * (1 + Math.abs(want)), kernel + " m " + m + " k " + k + " mode " + mode + " warps " + warpsAtOnce + " y[" + i + "][" + j + "]");
                    }
                for (int i = m * n; i < (m + 8) * n; i++) assertEquals(i * 0.01f, y.get(i), 0f, kernel + ": a row past m was written");
            }
        }
    }

    /** Runs one prompt GEMM for every epilogue; {@code y} has rows past m that must stay untouched. */
    void checkPrefill(String kernel, Object[] operands, int groupSize, FloatArray bias, int m, int n, int k, double[][] reference, double tol) {
        try (Arena a = Arena.ofShared()) {
            // Every epilogue also with K split over 2 or 3 blocks (slices of 192 and 128: some end inside a group).
            int[][] runs = {{SkinnyGemmKernel.STORE, 1}, {SkinnyGemmKernel.GELU_TANH, 1}, {SkinnyGemmKernel.ADD, 1}, {SkinnyGemmKernel.ADD, 2},
                    {SkinnyGemmKernel.ADD, 3}, {SkinnyGemmKernel.STORE, 3}, {SkinnyGemmKernel.GELU_TANH, 2}};
            for (int[] run : runs) {
                int mode = run[0], splits = run[1];
                FloatArray y = FloatArray.allocate(a, (m + 8) * n);
                for (int i = 0; i < (m + 8) * n; i++) y.set(i, mode == SkinnyGemmKernel.ADD || i >= m * n ? i * 0.01f : 0f);
                java.util.List<Object> args = new java.util.ArrayList<>(java.util.List.of(operands));
                IntArray arrivals = IntArray.allocate(a, PrefillGemmKernel.paddedRows(m) / 64 * n / 64);
                FloatArray partials = FloatArray.allocate(a, PrefillGemmKernel.grid(m, n, splits).groupsX() * 4096);
                if (groupSize == 0) args.addAll(java.util.List.of(bias, y, m, n, k, mode, splits, partials, arrivals));
                else args.addAll(java.util.List.of(bias, y, m, n, k, groupSize, mode, splits, partials, arrivals));
                cpu.launch(KernelCompiler.find(PrefillGemmKernel.class, kernel), PrefillGemmKernel.grid(m, n, splits), args.toArray());
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double v = reference[i][j] + bias.get(j);
                        double want = expected(mode, v, i * n + j);
                        assertEquals(want, y.get(i * n + j), tol * (1 + Math.abs(want)),
                                kernel + " group " + groupSize + " mode " + mode + " K in " + splits + " y[" + i + "][" + j + "]");
                    }
                for (int i = m * n; i < (m + 8) * n; i++) assertEquals(i * 0.01f, y.get(i), 0f, kernel + ": a row past m was written");
            }
        }
    }

    /** {@code LayerNorm(x)} row by row in double, PyTorch's definition (biased variance), eps 1e-5. */
    static float[] layerNorm(float[] x, int m, int k, FloatArray gamma, FloatArray beta) {
        float[] out = new float[m * k];
        for (int r = 0; r < m; r++) {
            double mean = 0, var = 0;
            for (int j = 0; j < k; j++) mean += x[r * k + j];
            mean /= k;
            for (int j = 0; j < k; j++) var += (x[r * k + j] - mean) * (x[r * k + j] - mean);
            var /= k;
            for (int j = 0; j < k; j++) out[r * k + j] = (float) ((x[r * k + j] - mean) / Math.sqrt(var + 1e-5) * gamma.get(j) + beta.get(j));
        }
        return out;
    }

    /**
     * The pre-norm LayerNorm fused into its consumers: the few-row GEMMs normalise their rows before quantizing (or
     * rounding) them, and the prompt path's row kernels before staging them; both against LayerNorm computed here.
     * Rows have a large common offset (as a residual stream does), which a one-pass variance would lose.
     */
    @Test
    void fusedLayerNormFeedsTheGemmsTheNormalisedRows() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(12);
            int m = 9, n = 24, k = 1024, gs = 64, groups = k / gs;
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = 30f + (float) rnd.nextGaussian() * (1 + i / k);
            FloatArray xs = floats(a, x);
            FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, k, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, k, 0.5);
            FloatArray[] norm = {gamma, beta};
            float[] ln = layerNorm(x, m, k, gamma, beta);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            // INT8: the codes of the normalised rows must be the reference's (up to a code at a rounding tie, which the
            // float LayerNorm may land on either side of): compare the outputs against codes of the double LayerNorm.
            float[] sx = new float[m];
            int[][] q = new int[m][];
            for (int r = 0; r < m; r++) q[r] = codes(ln, r, k, sx);
            int[][] w = new int[n][k];
            for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = rnd.nextInt(256) - 128;
            IntArray packed = packWeights(a, w, 8);
            FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01);
            double[][] ref = groupwise(q, w, sw, sx, gs);
            checkEpilogues("int8", new Object[]{xs, packed, sw, gs}, norm, bias, m, n, k, ref, 2e-3);
            // FP16: the normalised rows rounded to halves.
            float[] wf = new float[n * k];
            IntArray wh = EncoderKernelsOnCpuTest.halves(a, rnd, wf, 0.05);
            checkEpilogues("fp16", new Object[]{xs, wh}, norm, bias, m, n, k, halfProducts(ln, wf, m, n, k), 2e-3);
            // The prompt path's staging kernels.
            IntArray codes = IntArray.allocate(a, m * k / 4), halves = IntArray.allocate(a, m * k / 2);
            FloatArray scales = FloatArray.allocate(a, m);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "quantizeRows"), DecoderRowKernels.rowsGrid(m), xs, 1, gamma, beta, 1e-5f, codes,
                    scales, k);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "halfRows"), DecoderRowKernels.rowsGrid(m), xs, 1, gamma, beta, 1e-5f, halves, k,
                    DecoderRowKernels.NATURAL);
            int off = 0;
            for (int r = 0; r < m; r++) {
                assertEquals(sx[r], scales.get(r), 1e-5 * sx[r], "scale of row " + r);
                for (int c = 0; c < k; c++) {
                    int got = (byte) (codes.get((r * k + c) >> 2) >> (8 * (c & 3)));
                    assertTrue(Math.abs(got - q[r][c]) <= 1, "code " + r + "," + c + ": " + got + " vs " + q[r][c]);
                    if (got != q[r][c]) off++;
                    float h = (c & 1) == 0 ? Epilogue.lowHalf(halves.get((r * k + c) >> 1)) : Epilogue.highHalf(halves.get((r * k + c) >> 1));
                    assertEquals(ln[r * k + c], h, 2e-3 * (1 + Math.abs(ln[r * k + c])), "half " + r + "," + c);
                }
            }
            assertTrue(off < m * k / 1000, off + " codes off by one");
        }
    }

    /**
     * A single row (a batch-1 decode step) that is not a whole number of the kernel's 1024-element register tiles: the
     * INT8 kernel holds it in registers, normalises and quantizes it from there; plain and under a LayerNorm.
     */
    @Test
    void int8SkinnyGemmOnOneRowFromRegisters() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(13);
            int m = 1, n = 13, k = 3968, gs = 64, groups = k / gs;
            float[] x = new float[k];
            for (int i = 0; i < k; i++) x[i] = 20f + (float) rnd.nextGaussian() * 3;
            x[k - 1] = -90f;   // the largest magnitude in the last, partial register tile
            FloatArray xs = floats(a, x);
            int[][] w = new int[n][k];
            for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = rnd.nextInt(256) - 128;
            IntArray packed = packWeights(a, w, 8);
            FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            float[] sx = new float[1];
            checkEpilogues("int8", new Object[]{xs, packed, sw, gs}, bias, m, n, k, groupwise(new int[][]{codes(x, 0, k, sx)}, w, sw, sx, gs), 2e-5);
            FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, k, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, k, 0.5);
            float[] ln = layerNorm(x, m, k, gamma, beta);
            checkEpilogues("int8", new Object[]{xs, packed, sw, gs}, new FloatArray[]{gamma, beta}, bias, m, n, k,
                    groupwise(new int[][]{codes(ln, 0, k, sx)}, w, sw, sx, gs), 2e-3);
        }
    }

    /** W8A16 and W4A16: FP16-rounded activations times the dequantized weights {@code code·S_w[group]}, every epilogue. */
    @Test
    void weightOnlySkinnyGemmsDequantizeTheirGroups() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(13);
            int m = 9, n = 13, gs = 64;   // two row blocks (the second of one row, staged whole), a partial feature block
            // K = 1088: two pieces of 1024, the second partial; K = 512: one piece, staged once for every feature pass.
            for (int k : new int[]{1088, 512}) {
                int groups = k / gs;
                float[] x = new float[m * k];
                FloatArray xs = FloatArray.allocate(a, m * k);
                for (int i = 0; i < x.length; i++) xs.set(i, x[i] = (float) rnd.nextGaussian());
                FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
                FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, k, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, k, 0.5);
                float[] ln = layerNorm(x, m, k, gamma, beta);
                for (int bits : new int[]{8, 4}) {
                    int[][] w = new int[n][k];
                    for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = bits == 8 ? rnd.nextInt(256) - 128 : rnd.nextInt(16) - 8;
                    IntArray packed = packWeights(a, w, bits);
                    String kernel = bits == 8 ? "int8a16" : "int4a16";
                    checkEpilogues(kernel, new Object[]{xs, packed, sw, gs}, bias, m, n, k, weightOnly(x, w, sw, gs), 2e-5);
                    // The pre-norm LayerNorm fused in (the decoder's batch-1 path): FP32 statistics, a few ulps from the reference's.
                    checkEpilogues(kernel, new Object[]{xs, packed, sw, gs}, new FloatArray[]{gamma, beta}, bias, m, n, k, weightOnly(ln, w, sw, gs), 2e-3);
                }
            }
        }
    }

    @Test
    void fp16SkinnyGemmRoundsActivationsToHalves() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(6);
            int m = 9, n = 13, k = 1088;   // two row blocks, partial feature block, two K tiles
            float[] x = new float[m * k], w = new float[n * k];
            FloatArray xs = FloatArray.allocate(a, m * k);
            for (int i = 0; i < x.length; i++) xs.set(i, x[i] = (float) rnd.nextGaussian());
            IntArray wh = EncoderKernelsOnCpuTest.halves(a, rnd, w, 0.05);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            checkEpilogues("fp16", new Object[]{xs, wh}, bias, m, n, k, halfProducts(x, w, m, n, k), 2e-5);
        }
    }

    /**
     * The arg-max on one block a row and split over 2, 3 and 7 (a tie across blocks: the lower index wins), twice each (the
     * arrival counts left at 0); and how many blocks a row gets.
     */
    @Test
    void argmaxTakesTheLowestIndexOfTheLargestFiniteLogitAndRecordsTheStep() {
        try (Arena a = Arena.ofShared()) {
            int vocab = 3000, batch = 3, maxNew = 4, promptLen = 5;
            FloatArray logits = FloatArray.allocate(a, batch * vocab);
            for (int i = 0; i < batch * vocab; i++) logits.set(i, (i % 97) * 0.01f);
            logits.set(1500, 7f);            // row 0: a tie between 1500 and 2999 (another block's when split), and a NaN elsewhere
            logits.set(2999, 7f);
            logits.set(10, Float.NaN);
            logits.set(vocab + 1234, 3f);    // row 1: a single maximum
            for (int i = 0; i < vocab; i++) logits.set(2 * vocab + i, i % 2 == 0 ? Float.NaN : Float.NEGATIVE_INFINITY);   // row 2: nothing
            for (int parts : new int[]{1, 2, 3, 7}) {
                IntArray next = IntArray.allocate(a, batch), generated = IntArray.allocate(a, batch * maxNew), pos = IntArray.allocate(a, 1);
                FloatArray best = FloatArray.allocate(a, batch * parts);
                IntArray bestAt = IntArray.allocate(a, batch * parts), arrivals = IntArray.allocate(a, batch);
                for (int launch = 0; launch < 2; launch++) {
                    pos.set(0, promptLen + 2 + launch);       // the step that produced new token 2, then 3
                    cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "argmax"), DecoderRowKernels.argmaxGrid(batch, parts), logits, next, generated,
                            pos, vocab, promptLen, maxNew, parts, best, bestAt, arrivals);
                    String what = parts + " blocks a row, launch " + launch;
                    assertArrayEquals(new int[]{1500, 1234, 0}, new int[]{next.get(0), next.get(1), next.get(2)}, what);
                    assertEquals(1500, generated.get(2 + launch), what);
                    assertEquals(1234, generated.get(maxNew + 2 + launch), what);
                    assertEquals(-1, generated.get(2 * maxNew + 2 + launch), what);
                    assertEquals(0, generated.get(0), what);   // other steps untouched
                    for (int b = 0; b < batch; b++) assertEquals(0, arrivals.get(b), what + ": arrivals left at 0");
                }
            }
            assertEquals(7, DecoderRowKernels.argmaxParts(16, 50257, 132));   // a pass of 8,192 logits a block
            assertEquals(7, DecoderRowKernels.argmaxParts(1, 50257, 132));
            assertEquals(4, DecoderRowKernels.argmaxParts(32, 50257, 132));   // the SMs shared by the rows
            assertEquals(1, DecoderRowKernels.argmaxParts(200, 50257, 132));
            assertEquals(1, DecoderRowKernels.argmaxParts(16, 3000, 132));
            assertThrows(IllegalArgumentException.class, () -> DecoderRowKernels.argmaxParts(0, 50257, 132));
        }
    }

    @Test
    void lastTokenNormNormalisesEachSequencesLastRowAndAdvancesThePosition() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(8);
            int batch = 2, seq = 3, n = 40;
            FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, batch * seq * n, 2), gamma = KernelsOnCpuTest.randomFloats(a, rnd, n, 1),
                    beta = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), out = FloatArray.allocate(a, batch * n);
            IntArray pos = IntArray.allocate(a, 1);
            pos.set(0, 4);
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "lastTokenNorm"), RowKernels.grid(batch, n), x, SkinnyGemmKernel.LAYER_NORM, gamma, beta, out, pos, seq,
                    n, 1e-5f);
            assertEquals(4 + seq, pos.get(0));
            for (int b = 0; b < batch; b++) {
                int row = b * seq + seq - 1;
                double mean = 0, var = 0;
                for (int e = 0; e < n; e++) mean += x.get(row * n + e);
                mean /= n;
                for (int e = 0; e < n; e++) var += Math.pow(x.get(row * n + e) - mean, 2);
                var /= n;
                for (int e = 0; e < n; e++) {
                    double want = (x.get(row * n + e) - mean) / Math.sqrt(var + 1e-5) * gamma.get(e) + beta.get(e);
                    assertEquals(want, out.get(b * n + e), 1e-5 * (1 + Math.abs(want)), "sequence " + b + " element " + e);
                }
            }
        }
    }

    /**
     * A layer's worth of one-row kernel inputs for {@code n} outputs of {@code k} inputs: LayerNorm γ and β, bias, group
     * scales (groups of {@code gs}), random INT8 and INT4 codes packed as the kernels read them, FP16 weights in pairs.
     */
    record OneRowWeights(FloatArray gamma, FloatArray beta, FloatArray bias, FloatArray sw, IntArray q8, IntArray q4, IntArray h) {
        static OneRowWeights random(Arena a, Random rnd, int n, int k, int gs) {
            FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, k, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, k, 0.5),
                    bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5), sw = KernelsOnCpuTest.randomFloats(a, rnd, n * (k / gs), 0.01);
            int[][] w8 = new int[n][k], w4 = new int[n][k];
            for (int[] row : w8) for (int c = 0; c < k; c++) row[c] = rnd.nextInt(256) - 128;
            for (int[] row : w4) for (int c = 0; c < k; c++) row[c] = rnd.nextInt(16) - 8;
            IntArray q8 = packWeights(a, w8, 8), q4 = packWeights(a, w4, 4), h = IntArray.allocate(a, n * k / 2);
            for (int i = 0; i < h.length(); i++)
                h.set(i, Float.floatToFloat16((float) rnd.nextGaussian() * 0.05f) & 0xFFFF | Float.floatToFloat16((float) rnd.nextGaussian() * 0.05f) << 16);
            return new OneRowWeights(gamma, beta, bias, sw, q8, q4, h);
        }
    }

    /**
     * The batch-1 kernels ({@link GemvKernel}) are the few-row kernels' one-row paths on their own: the same bits as
     * {@link SkinnyGemmKernel}'s {@code int8}, {@code int4} and {@code fp16} on one row, for K of one and more pieces
     * (768, 3072, 3968, 4096; FP16 also 8192), groups from one chunk to the whole row, with and without the LayerNorm
     * (the INT4 batch-1 kernel takes its statistics from the one read of the row as the INT8 kernels do, the few-row INT4
     * kernel in passes of its own: the same formula with the sums in another order, so there within 2e-3), every epilogue, a warp per feature and warps looping over features (the first pass's weights loaded before
     * the wait, the others in the loop), an all-zero row.
     */
    @Test
    void gemvEqualsTheFewRowKernelsOnOneRowBitForBit() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(31);
            int n = 21;
            for (int[] shape : new int[][]{{768, 64}, {768, 32}, {3072, 128}, {3968, 3968}, {4096, 32}, {8192, 64}}) {
                int k = shape[0], gs = shape[1];
                OneRowWeights r = OneRowWeights.random(a, rnd, n, k, gs);
                FloatArray gamma = r.gamma(), beta = r.beta(), bias = r.bias(), sw = r.sw();
                IntArray q8 = r.q8(), q4 = r.q4(), h = r.h();
                for (boolean zero : new boolean[]{false, true}) {
                    FloatArray x = zero ? FloatArray.allocate(a, k) : KernelsOnCpuTest.randomFloats(a, rnd, k, 3);
                    for (int norm = 0; norm < 2; norm++)
                        for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD})
                            for (Grid grid : List.of(SkinnyGemmKernel.grid(1, n), SkinnyGemmKernel.grid(1, n, 2))) {
                                String what = "K " + k + " group " + gs + (zero ? " zero row" : "") + " norm " + norm + " mode " + mode + " " + grid;
                                for (int bits : new int[]{8, 4, 16}) {
                                    if (!GemvKernel.fits(bits, k, gs)) continue;
                                    FloatArray want = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), got = FloatArray.allocate(a, n);
                                    for (int i = 0; i < n; i++) got.set(i, want.get(i));
                                    String name = bits == 8 ? "int8" : bits == 4 ? "int4" : "fp16";
                                    IntArray wq = bits == 8 ? q8 : bits == 4 ? q4 : h;
                                    if (bits == 16) {
                                        cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, name), grid, x, norm, gamma, beta, 1e-5f, wq, bias, want, 1, n, k, mode);
                                        cpu.launch(KernelCompiler.find(GemvKernel.class, name), grid, x, norm, gamma, beta, 1e-5f, wq, bias, got, n, k, mode);
                                    } else {
                                        cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, name), grid, x, norm, gamma, beta, 1e-5f, wq, sw, bias, want, 1, n, k, gs, mode);
                                        cpu.launch(KernelCompiler.find(GemvKernel.class, name), grid, x, norm, gamma, beta, 1e-5f, wq, sw, bias, got, n, k, gs, mode);
                                    }
                                    for (int i = 0; i < n; i++)
                                        if (bits == 4 && norm != 0)   // statistics summed in another order: a code may move by one
                                            assertEquals(want.get(i), got.get(i), 2e-3 * (1 + Math.abs(want.get(i))), name + " " + what + ": y[" + i + "]");
                                        else
                                            assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)),
                                                    name + " " + what + ": y[" + i + "] " + got.get(i) + " against " + want.get(i));
                                }
                            }
                }
            }
        }
        assertTrue(GemvKernel.fits(8, 4096, 16) && GemvKernel.fits(4, 4096, 32) && GemvKernel.fits(16, 8192, 1));
        assertFalse(GemvKernel.fits(8, 4112, 16));   // past the row held in registers
        assertFalse(GemvKernel.fits(8, 768, 12));    // a group splits a chunk
        assertFalse(GemvKernel.fits(8, 760, 8));     // not whole chunks
        assertFalse(GemvKernel.fits(4, 768, 16));    // a group splits an INT4 word
        assertFalse(GemvKernel.fits(16, 8200, 1));   // past the staged row
        assertFalse(GemvKernel.fits(2, 768, 64));    // no INT2 kernel
    }

    /**
     * The batch-1 kernels of blocks of 1024 threads ({@link WideGemvKernel}) against {@link SkinnyGemmKernel} on one row:
     * the same bits without the LayerNorm and with one slice (FP16: the same products in the same order; INT8 and INT4 within
     * 1e-5, their float sums taken a chunk of 16 or a piece of 32 codes at a time); with the LayerNorm
     * (its sums over 32 warps in another order: a code may move by one) or a row split over slices (their sums added at the
     * end) within 2e-3. K from one batch to 8192 (two staged pieces), groups from one chunk to the whole row, every
     * epilogue, 1 to 4 slices, one and two blocks (passes over the outputs, the first batch before the wait), an all-zero row.
     */
    @Test
    void wideGemvAgreesWithTheFewRowKernelsOnOneRow() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(37);
            int n = 40;
            for (int[] shape : new int[][]{{768, 64}, {3072, 32}, {4096, 4096}, {6144, 128}, {8192, 64}}) {
                int k = shape[0], gs = shape[1];
                OneRowWeights r = OneRowWeights.random(a, rnd, n, k, gs);
                FloatArray gamma = r.gamma(), beta = r.beta(), bias = r.bias(), sw = r.sw();
                IntArray q8 = r.q8(), q4 = r.q4(), h = r.h();
                for (boolean zero : new boolean[]{false, true}) {
                    FloatArray x = zero ? FloatArray.allocate(a, k) : KernelsOnCpuTest.randomFloats(a, rnd, k, 3);
                    for (int norm = 0; norm < 2; norm++)
                        for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD})
                            for (int bits : new int[]{8, 4, 16, 108, 104, 208, 308}) {   // 108, 104: INT8, INT4 weights with FP16 activations; 208: int8Bulk; 308: int8Half
                                boolean a16 = bits > 100 && bits < 200, bulk = bits == 208, half = bits == 308;
                                if (a16) bits -= 100;
                                if (bulk || half) bits = 8;
                                if (!WideGemvKernel.fits(bits, k, gs) || half && k > WideGemvKernel.HALF_MAX_K) continue;
                                int batches = Math.ceilDiv(k, WideGemvKernel.batchInputs(bits));
                                String name = (bits == 8 ? "int8" : bits == 4 ? "int4" : "fp16") + (a16 ? "a16" : "") + (bulk ? "Bulk" : "") + (half ? "Half" : "");
                                IntArray wq = bits == 8 ? q8 : bits == 4 ? q4 : h;
                                for (int slices = 1; slices <= Math.min(4, Math.max(2, batches)); slices *= 2)   // 2 of 1 batch: a warp with none
                                    for (int blocks = 1; blocks <= 2; blocks++) {
                                        if (mode != SkinnyGemmKernel.ADD && (slices > 1 || blocks > 1)) continue;   // fewer CPU launches
                                        String what = name + " K " + k + " group " + gs + (zero ? " zero row" : "") + " norm " + norm + " mode " + mode
                                                + " slices " + slices + " blocks " + blocks;
                                        FloatArray want = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), got = FloatArray.allocate(a, n);   // ADD adds to them
                                        for (int i = 0; i < n; i++) got.set(i, want.get(i));
                                        Grid few = SkinnyGemmKernel.grid(1, n), wide = WideGemvKernel.grid(n, slices, blocks, half ? 512 : 1024);
                                        if (bits == 16) {
                                            cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, name), few, x, norm, gamma, beta, 1e-5f, wq, bias, want, 1, n, k, mode);
                                            cpu.launch(KernelCompiler.find(WideGemvKernel.class, name), wide, x, norm, gamma, beta, 1e-5f, wq, bias, got, n, k, mode, slices,
                                                    got, got, got, 0, got);
                                        } else {
                                            cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, bulk || half ? "int8" : name), few, x, norm, gamma, beta, 1e-5f, wq, sw, bias, want,
                                                    1, n, k, gs, mode);
                                            if (name.equals("int4a16"))
                                                cpu.launch(KernelCompiler.find(WideGemvKernel.class, name), wide, x, norm, gamma, beta, 1e-5f, wq, sw, bias, got, n, k, gs,
                                                        mode, slices, got, got, got, 0, got);
                                            else
                                                cpu.launch(KernelCompiler.find(WideGemvKernel.class, name), wide, x, norm, gamma, beta, 1e-5f, wq, sw, bias, got, n, k, gs,
                                                        mode, slices);
                                        }
                                        for (int i = 0; i < n; i++)
                                            if (norm != 0 || slices > 1 || a16)   // the A16 kernels: their products in another order
                                                assertEquals(want.get(i), got.get(i), 2e-3 * (1 + Math.abs(want.get(i))), what + ": y[" + i + "]");
                                            else if (bits != 16)   // int8, int4: the same codes and integer products, their float sums a chunk (16 codes) or a piece (32) at a time
                                                assertEquals(want.get(i), got.get(i), 1e-5 * (1 + Math.abs(want.get(i))), what + ": y[" + i + "]");
                                            else
                                                assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)),
                                                        what + ": y[" + i + "] " + got.get(i) + " against " + want.get(i));
                                    }
                            }
                }
            }
        }
        assertTrue(WideGemvKernel.fits(8, 8192, 16) && WideGemvKernel.fits(4, 8192, 32) && WideGemvKernel.fits(16, 8192, 1));
        assertFalse(WideGemvKernel.fits(8, 8208, 16));   // past two staged pieces
        assertFalse(WideGemvKernel.fits(8, 768, 12));    // a group splits a chunk
        assertFalse(WideGemvKernel.fits(4, 768, 16));    // a group splits an INT4 word
        assertFalse(WideGemvKernel.fits(16, 8200, 1));
        // GPT-3 1.3B on 132 blocks: qkv one slice; the down projection (2048 outputs, 4224 warps) two
        assertEquals(1, WideGemvKernel.slices(8, 6144, 2048, 132));
        assertEquals(2, WideGemvKernel.slices(8, 2048, 8192, 132));
        assertEquals(2, WideGemvKernel.slices(16, 2048, 8192, 132));
        assertEquals(2, WideGemvKernel.slices(16, 768, 3072, 132));   // GPT-2's: 3 batches, so at most 2
        assertThrows(IllegalArgumentException.class, () -> WideGemvKernel.grid(10, 3, 132));
        assertEquals(new Grid(24, 1, 1024, 1), WideGemvKernel.grid(768, 1, 132));   // GPT-2's out projection: 24 SMs
        // Blocks of 512 (int8Half): 16 warps a block, so half the outputs a pass and fewer slices where the warps run short
        assertEquals(new Grid(48, 1, 512, 1), WideGemvKernel.grid(768, 1, 132, 512));
        assertEquals(1, WideGemvKernel.slices(8, 2048, 8192, 132, 512));   // 2048 outputs on 2112 warps
        assertEquals(2, WideGemvKernel.slices(8, 768, 3072, 132, 512));
        assertThrows(IllegalArgumentException.class, () -> WideGemvKernel.grid(768, 32, 132, 512));   // more slices than warps
        assertThrows(IllegalArgumentException.class, () -> WideGemvKernel.grid(768, 1, 132, 256));
    }

    /**
     * {@link MmaGemvKernel#int8a16} (W8A16 on the tensor cores) is {@link SkinnyGemmKernel#int8a16} on one row within float
     * rounding (the same exact products summed in another order): K of one block past a batch (192), GPT-2's and GPT-3
     * 1.3B's (768, 3072 — groups of 64 and 128 —, 8192: two staged pieces), outputs that fill their tiles and not (40,
     * 37, 90), with and without the LayerNorm, every epilogue, one and several slices (3, 5: warps left over in a block)
     * and blocks (passes over the tiles), of 1024 and of 512 threads, an all-zero row; shapes it cannot take are refused
     * by {@code fits}, slice and block counts from {@code slices} and {@code grid}.
     */
    @Test
    void mmaGemvAgreesWithTheFewRowKernelOnOneRow() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(41);
            for (int[] shape : new int[][]{{192, 64, 37}, {768, 64, 90}, {3072, 128, 37}, {8192, 64, 40}}) {
                int k = shape[0], gs = shape[1], n = shape[2];
                OneRowWeights r = OneRowWeights.random(a, rnd, n, k, gs);
                int batches = Math.ceilDiv(k, MmaGemvKernel.BATCH);
                for (boolean zero : new boolean[]{false, true}) {
                    FloatArray x = zero ? FloatArray.allocate(a, k) : KernelsOnCpuTest.randomFloats(a, rnd, k, 3);
                    for (int norm = 0; norm < 2; norm++)
                        for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD})
                            for (int slices : new int[]{1, 2, 3, 5})
                                for (int blocks = 1; blocks <= 2; blocks++) {
                                    if (slices > batches || mode != SkinnyGemmKernel.ADD && (slices > 1 || blocks > 1)) continue;   // fewer CPU launches
                                    if (k == 8192 && (zero || norm == 0 || blocks > 1)) continue;
                                    String what = "K " + k + " group " + gs + " n " + n + (zero ? " zero row" : "") + " norm " + norm + " mode " + mode
                                            + " slices " + slices + " blocks " + blocks + (blocks == 2 && k <= 4096 ? " of 512" : "");
                                    FloatArray want = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), got = FloatArray.allocate(a, n);   // ADD adds to them
                                    for (int i = 0; i < n; i++) got.set(i, want.get(i));
                                    int threads = blocks == 2 && k <= 4096 ? 512 : 1024;   // two blocks: of 512 threads where they take the row
                                    for (int bits : new int[]{8, 4}) {   // INT4: the same against the few-row INT4 kernel
                                        if (bits == 4 && !MmaGemvKernel.fits4(k, gs)) continue;
                                        String name = bits == 8 ? "int8a16" : "int4a16";
                                        IntArray codes = bits == 8 ? r.q8() : r.q4();
                                        FloatArray wantB = copyOf(a, want), gotB = copyOf(a, got);
                                        cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, name), SkinnyGemmKernel.grid(1, n), x, norm, r.gamma(), r.beta(), 1e-5f,
                                                codes, r.sw(), r.bias(), wantB, 1, n, k, gs, mode);
                                        cpu.launch(KernelCompiler.find(MmaGemvKernel.class, name), MmaGemvKernel.grid(n, slices, blocks, threads), x, norm, r.gamma(),
                                                r.beta(), 1e-5f, codes, r.sw(), r.bias(), gotB, n, k, gs, mode, slices, gotB, gotB, gotB, 0, gotB);
                                        for (int i = 0; i < n; i++)
                                            assertEquals(wantB.get(i), gotB.get(i), 2e-3 * (1 + Math.abs(wantB.get(i))), name + " " + what + ": y[" + i + "]");
                                    }
                                }
                }
            }
        }
        assertTrue(MmaGemvKernel.fits(768, 64) && MmaGemvKernel.fits(8192, 128) && MmaGemvKernel.fits(192, 64));
        assertTrue(MmaGemvKernel.fits4(768, 64) && MmaGemvKernel.fits4(3072, 32) && !MmaGemvKernel.fits4(192, 64) && !MmaGemvKernel.fits4(768, 48));
        // one batch a warp: GPT-2's up (3072 × 768) and down (768 × 3072) projections, not GPT-3 1.3B's (8192 × 2048, 2048 × 8192)
        assertTrue(MmaGemvKernel.oneBatchAWarp(3072, 768, 132, 1024) && MmaGemvKernel.oneBatchAWarp(768, 3072, 132, 1024));
        assertFalse(MmaGemvKernel.oneBatchAWarp(8192, 2048, 132, 1024) || MmaGemvKernel.oneBatchAWarp(2048, 8192, 132, 1024));
        assertFalse(MmaGemvKernel.fits(768, 32));    // a group splits a block of 64
        assertFalse(MmaGemvKernel.fits(800, 32));
        assertFalse(MmaGemvKernel.fits(8256, 64));   // past two staged pieces
        // GPT-2 on 132 blocks: a slice a batch (qkv: 288 tiles, 6 batches; down: 96 tiles, 24 batches); GPT-3 1.3B's qkv
        // (768 tiles, 16 batches) as many as fit, 5; a row of more than 32 batches at most a block's warps
        assertEquals(6, MmaGemvKernel.slices(2304, 768, 132, 1024));
        assertEquals(24, MmaGemvKernel.slices(768, 3072, 132, 1024));
        assertEquals(16, MmaGemvKernel.slices(768, 3072, 132, 512));
        assertEquals(5, MmaGemvKernel.slices(6144, 2048, 132, 1024));
        assertEquals(32, MmaGemvKernel.slices(8, 8192, 132, 1024));
        assertEquals(1, MmaGemvKernel.slices(50257, 768, 132, 1024));
        // as few blocks as hold the tiles' slices: qkv five tiles a block of 1024, three of 512; out (96 tiles) 20
        assertEquals(new Grid(58, 1, 1024, 1), MmaGemvKernel.grid(2304, 6, 132, 1024));
        assertEquals(5, MmaGemvKernel.slices(2304, 768, 132, 512));   // 6 would leave 2 tiles a block of 512: 264 < 288
        assertEquals(new Grid(96, 1, 512, 1), MmaGemvKernel.grid(2304, 5, 132, 512));
        assertEquals(new Grid(20, 1, 1024, 1), MmaGemvKernel.grid(768, 6, 132, 1024));
        assertEquals(512, MmaGemvKernel.threads(4096, 512));
        assertEquals(1024, MmaGemvKernel.threads(8192, 512));
        assertThrows(IllegalArgumentException.class, () -> MmaGemvKernel.grid(10, 17, 132, 512));
        assertThrows(IllegalArgumentException.class, () -> MmaGemvKernel.threads(768, 256));
        assertThrows(IllegalArgumentException.class, () -> MmaGemvKernel.grid(10, 33, 132, 1024));
    }

    /**
     * {@link GreedyHeadKernel} is the three kernels it replaces at batch 1: its logits the bits of
     * {@link WideGemvKernel#fp16} with the LayerNorm fused (the same staging and products), its token {@code argmax}'s over
     * them, the position moved on by one and the token recorded as {@code lastTokenNorm} and {@code argmax} do. Rows of one
     * batch taken two a warp (K = 64, 768) and one (1024; 1536: two batches), one to three blocks (several passes, the last
     * partial), a tie between rows of different blocks and passes (the lower wins), the best row the very last, a NaN logit
     * (never chosen), and a row of all NaN (−1 recorded, token 0 fed on); a step past {@code maxNew} records nothing.
     */
    @Test
    void greedyHeadIsTheLastNormTheHeadAndTheArgmaxInOneLaunch() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(43);
            int n = 301, promptLen = 5, maxNew = 4, capacity = promptLen + maxNew;   // blocks = 3 moves to 9: past the cache, nothing embedded
            for (int k : new int[]{64, 768, 1024, 1536}) {
                OneRowWeights r = OneRowWeights.random(a, rnd, n, k, k);
                FloatArray gamma = r.gamma(), beta = r.beta(), bias = r.bias();
                FloatArray wte = KernelsOnCpuTest.randomFloats(a, rnd, n * k, 1), wpe = KernelsOnCpuTest.randomFloats(a, rnd, capacity * k, 1);
                IntArray h = r.h();
                for (int i = 0; i < k / 2; i++) h.set(250 * (k / 2) + i, h.get(7 * (k / 2) + i));   // rows 7 and 250: the same weights
                for (String kind : new String[]{"tie", "last", "nan", "none"}) {
                    FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, k, 3);
                    for (int i = 0; i < n; i++) bias.set(i, (float) rnd.nextGaussian() * 0.5f);
                    switch (kind) {
                        case "tie" -> { bias.set(7, 100f); bias.set(250, 100f); }
                        case "last" -> { bias.set(n - 1, 100f); bias.set(3, Float.NaN); }
                        case "none" -> x.set(k / 3, Float.NaN);   // the LayerNorm spreads it: every logit NaN
                        default -> bias.set(n / 2, Float.NaN);
                    }
                    for (int blocks = 1; blocks <= 3; blocks++) {
                        int p0 = promptLen + blocks;   // the step that makes new token blocks + 1 (3 + 1 = maxNew: not recorded)
                        String what = "K " + k + " " + kind + " blocks " + blocks;
                        FloatArray want = FloatArray.allocate(a, n), got = FloatArray.allocate(a, n);
                        IntArray wantNext = IntArray.allocate(a, 1), wantGen = IntArray.allocate(a, maxNew), wantPos = IntArray.allocate(a, 1);
                        IntArray next = IntArray.allocate(a, 1), gen = IntArray.allocate(a, maxNew), pos = IntArray.allocate(a, 1);
                        IntArray bestAt = IntArray.allocate(a, blocks), arrivals = IntArray.allocate(a, 1);
                        FloatArray best = FloatArray.allocate(a, blocks);
                        wantPos.set(0, p0 + 1);   // lastTokenNorm's move, before the arg-max
                        pos.set(0, p0);
                        cpu.launch(KernelCompiler.find(WideGemvKernel.class, "fp16"), WideGemvKernel.grid(n, 1, 132), x, 1, gamma, beta, 1e-5f, h,
                                bias, want, n, k, SkinnyGemmKernel.STORE, 1, want, want, want, 0, want);
                        cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "argmax"), DecoderRowKernels.argmaxGrid(1, 1), want, wantNext, wantGen,
                                wantPos, n, promptLen, maxNew, 1, best, bestAt, arrivals);
                        FloatArray xr = copyOf(a, x);   // the kernel embeds the next token into it (embed = 1 but for one block)
                        int embed = blocks == 1 ? 0 : 1;
                        cpu.launch(KernelCompiler.find(GreedyHeadKernel.class, "fp16"), GreedyHeadKernel.grid(n, k, blocks), xr, gamma, beta, 1e-5f, SkinnyGemmKernel.LAYER_NORM, h,
                                bias, got, n, k, GreedyHeadKernel.pair(k), best, bestAt, arrivals, next, gen, pos, promptLen, maxNew, wte, wpe, capacity, embed);
                        checkEmbedded(what, x, xr, wte, wpe, next.get(0), pos.get(0), k, capacity, embed);
                        for (int i = 0; i < n; i++)
                            assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)), what + ": logit " + i);
                        assertPicked(what, kind, n, maxNew, wantNext, wantGen, wantPos, next, gen, pos, arrivals);
                        if (kind.equals("none") && blocks < 3) assertEquals(-1, gen.get(blocks + 1), what + ": no logit above -inf");
                        if (blocks == 3) assertEquals(0, gen.get(maxNew - 1), what + ": past maxNew, nothing recorded");
                    }
                }
            }
        }
        assertEquals(1, GreedyHeadKernel.pair(768));
        assertEquals(0, GreedyHeadKernel.pair(1024));
        assertEquals(new Grid(132, 1, 1024, 1), GreedyHeadKernel.grid(50257, 768, 132));
        assertEquals(new Grid(2, 1, 1024, 1), GreedyHeadKernel.grid(96, 64, 132));
        assertTrue(GreedyHeadKernel.fits(8192) && !GreedyHeadKernel.fits(8200) && !GreedyHeadKernel.fits(772));
    }

    /**
     * A greedy head's choice against {@code argmax}'s ({@code want*}): the token, the position, what was recorded, the
     * arrival count left at 0, and the token the test's {@code kind} of logits forces (a tie of rows 7 and 250, the last row
     * above a NaN, every logit NaN).
     */
    static void assertPicked(String what, String kind, int n, int maxNew, IntArray wantNext, IntArray wantGen, IntArray wantPos, IntArray next,
                             IntArray gen, IntArray pos, IntArray arrivals) {
        assertEquals(wantNext.get(0), next.get(0), what + ": the next token");
        assertEquals(wantPos.get(0), pos.get(0), what + ": the position");
        for (int i = 0; i < maxNew; i++) assertEquals(wantGen.get(i), gen.get(i), what + ": generated[" + i + "]");
        assertEquals(0, arrivals.get(0), what + ": the count left for the next launch");
        int expected = switch (kind) { case "tie" -> 7; case "last" -> n - 1; case "none" -> 0; default -> -2; };
        if (expected >= 0) assertEquals(expected, next.get(0), what);
    }

    static FloatArray copyOf(Arena a, FloatArray x) {
        FloatArray c = FloatArray.allocate(a, x.length());
        for (int i = 0; i < x.length(); i++) c.set(i, x.get(i));
        return c;
    }

    /**
     * After a greedy head with {@code embed}: the row holds {@code wte[token] + wpe[p]} (DecoderRowKernels.embed's sums) where
     * the new position is inside the cache, else it is as it was.
     */
    static void checkEmbedded(String what, FloatArray before, FloatArray after, FloatArray wte, FloatArray wpe, int token, int p, int k,
                              int capacity, int embed) {
        for (int e = 0; e < k; e++) {
            float want = embed != 0 && p < capacity ? wte.get(token * k + e) + wpe.get(p * k + e) : before.get(e);
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(after.get(e)), what + " embed " + embed + ": x[" + e + "]");
        }
    }

    /**
     * {@link GreedyHeadKernel#int8} (an INT8 head, one scale a row): its logits are {@link WideGemvKernel#int8}'s over the
     * same staged codes within float rounding (it sums integers, then scales once), and its token is {@code argmax}'s over
     * its own logits — ties across warps and blocks (two rows of the same codes, scale and bias), the last row, NaN, all
     * NaN; K from one slot a row (4 rows a warp) to four (one), a partial last pass, 1 to 3 blocks and a full grid.
     */
    @Test
    void int8GreedyHeadIsTheInt8GemvAndTheArgmax() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(47);
            int n = 301, promptLen = 5, maxNew = 4, capacity = promptLen + maxNew;
            for (int k : new int[]{64, 512, 768, 1024, 1536, 2048}) {
                OneRowWeights r = OneRowWeights.random(a, rnd, n, k, k);
                FloatArray gamma = r.gamma(), beta = r.beta(), bias = r.bias(), sw = r.sw();
                FloatArray wte = KernelsOnCpuTest.randomFloats(a, rnd, n * k, 1), wpe = KernelsOnCpuTest.randomFloats(a, rnd, capacity * k, 1);
                IntArray q8 = r.q8();
                for (int i = 0; i < k / 4; i++) q8.set(250 * (k / 4) + i, q8.get(7 * (k / 4) + i));   // rows 7 and 250: the same codes
                sw.set(250, sw.get(7));
                for (String kind : new String[]{"tie", "last", "nan", "none"}) {
                    FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, k, 3);
                    for (int i = 0; i < n; i++) bias.set(i, (float) rnd.nextGaussian() * 0.5f);
                    switch (kind) {
                        case "tie" -> { bias.set(7, 1e4f); bias.set(250, 1e4f); }   // the products reach ±100 here
                        case "last" -> { bias.set(n - 1, 1e4f); bias.set(3, Float.NaN); }
                        case "none" -> x.set(k / 3, Float.NaN);
                        default -> bias.set(n / 2, Float.NaN);
                    }
                    FloatArray want = FloatArray.allocate(a, n);
                    cpu.launch(KernelCompiler.find(WideGemvKernel.class, "int8"), WideGemvKernel.grid(n, 1, 132), x, 1, gamma, beta, 1e-5f, q8, sw,
                            bias, want, n, k, k, SkinnyGemmKernel.STORE, 1);
                    double scale = 0;
                    for (int i = 0; i < n; i++) if (Float.isFinite(want.get(i))) scale = Math.max(scale, Math.abs(want.get(i)));
                    for (int blocks : new int[]{1, 2, 3, 132}) {
                        Grid grid = GreedyHeadKernel.int8Grid(n, k, blocks);
                        int p0 = promptLen + Math.min(blocks, 3);
                        String what = "K " + k + " " + kind + " " + grid;
                        FloatArray got = FloatArray.allocate(a, n), best = FloatArray.allocate(a, grid.groupsX());
                        IntArray wantNext = IntArray.allocate(a, 1), wantGen = IntArray.allocate(a, maxNew), wantPos = IntArray.allocate(a, 1);
                        IntArray next = IntArray.allocate(a, 1), gen = IntArray.allocate(a, maxNew), pos = IntArray.allocate(a, 1);
                        IntArray bestAt = IntArray.allocate(a, grid.groupsX()), arrivals = IntArray.allocate(a, 1);
                        wantPos.set(0, p0 + 1);
                        pos.set(0, p0);
                        FloatArray xr = copyOf(a, x);
                        int embed = blocks == 2 ? 0 : 1;
                        cpu.launch(KernelCompiler.find(GreedyHeadKernel.class, "int8"), grid, xr, gamma, beta, 1e-5f, SkinnyGemmKernel.LAYER_NORM, q8, sw, bias, got, n, k,
                                GreedyHeadKernel.int8Rows(k), best, bestAt, arrivals, next, gen, pos, promptLen, maxNew, wte, wpe, capacity, embed);
                        checkEmbedded(what, x, xr, wte, wpe, next.get(0), pos.get(0), k, capacity, embed);
                        for (int i = 0; i < n; i++) {
                            float g = got.get(i), w = want.get(i);
                            if (Float.isNaN(w)) assertTrue(Float.isNaN(g), what + ": logit " + i + " should be NaN, is " + g);
                            else assertEquals(w, g, 1e-5 * scale, what + ": logit " + i);
                        }
                        cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "argmax"), DecoderRowKernels.argmaxGrid(1, 1), got, wantNext, wantGen,
                                wantPos, n, promptLen, maxNew, 1, best, bestAt, arrivals);
                        assertPicked(what, kind, n, maxNew, wantNext, wantGen, wantPos, next, gen, pos, arrivals);
                    }
                }
            }
        }
        assertEquals(4, GreedyHeadKernel.int8Rows(512));
        assertEquals(3, GreedyHeadKernel.int8Rows(768));
        assertEquals(1, GreedyHeadKernel.int8Rows(2048));
        assertEquals(new Grid(99, 1, 1024, 1), GreedyHeadKernel.int8Grid(50257, 768, 99));
        assertEquals(new Grid(4, 1, 1024, 1), GreedyHeadKernel.int8Grid(301, 768, 132));
        assertTrue(GreedyHeadKernel.fitsInt8(768, 768) && GreedyHeadKernel.fitsInt8(2048, 2048) && !GreedyHeadKernel.fitsInt8(768, 64)
                && !GreedyHeadKernel.fitsInt8(4096, 4096) && !GreedyHeadKernel.fitsInt8(776, 776));
    }

    /**
     * A decode step's attention ({@link CachedAttentionKernel#attendStep16}, {@link CachedAttentionKernel#attendStepRotated16}) against {@link CachedAttentionKernel#attend16}
     * run with {@code seq = 1} on copies of the same cache: the same appended key and value (bit for bit) and the same
     * context within float rounding (the sums are taken in another order); head sizes 8 to 128, cached positions from none
     * to more than a block's threads, two sequences, and a replay past the cache that reads and writes nothing; GPT-2's
     * heads on the first, and on the second a LLaMA's grouped-query heads (4 query heads on 2 or 1 key/value heads, and 3 on
     * 3) with rotary angles.
     */
    @Test
    void attendStepEqualsTheGeneralCachedAttention() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(41);
            int batch = 2, capacity = 300;
            for (int[] hk : new int[][]{{3, 3, 0}, {3, 3, 1}, {4, 2, 1}, {4, 1, 1}})   // heads, key/value heads, rotate
            for (int hd : new int[]{64, 128, 16, 8})
                for (int p : new int[]{0, 1, 37, 255, 256, 299, 300}) {
                    int heads = hk[0], kvHeads = hk[1], rotate = hk[2], hidden = heads * hd;
                    FloatArray qkv = KernelsOnCpuTest.randomFloats(a, rnd, batch * (hidden + 2 * kvHeads * hd), 2);
                    FloatArray cos = KernelsOnCpuTest.randomFloats(a, rnd, capacity * hd / 2, 1), sin = KernelsOnCpuTest.randomFloats(a, rnd, capacity * hd / 2, 1);
                    TwinCaches caches = TwinCaches.random(a, rnd, batch * kvHeads * capacity * hd);
                    HalfArray k1 = caches.k1(), v1 = caches.v1(), k2 = caches.k2(), v2 = caches.v2();
                    IntArray pos = IntArray.allocate(a, 1);
                    pos.set(0, p);
                    FloatArray want = KernelsOnCpuTest.randomFloats(a, rnd, batch * hidden, 1), got = FloatArray.allocate(a, batch * hidden);
                    for (int i = 0; i < want.length(); i++) got.set(i, want.get(i));
                    float scale = (float) (1 / Math.sqrt(hd));
                    cpu.launch(KernelCompiler.find(CachedAttentionKernel.class, "attend16"), CachedAttentionKernel.attendGrid(batch, heads), qkv, pos, k1,
                            v1, want, 1, heads, kvHeads, hd, capacity, scale, 1, cos, sin, rotate);
                    if (rotate == 0 && kvHeads == heads)   // GPT-2's entry
                        cpu.launch(KernelCompiler.find(CachedAttentionKernel.class, "attendStep16"), CachedAttentionKernel.attendGrid(batch, heads), qkv, pos,
                                k2, v2, got, heads, hd, capacity, scale, pos, got, got, 0, 1, 1);
                    else
                        cpu.launch(KernelCompiler.find(CachedAttentionKernel.class, "attendStepRotated16"), CachedAttentionKernel.attendGrid(batch, heads), qkv,
                                pos, k2, v2, got, heads, kvHeads, hd, capacity, scale, pos, got, got, 0, 1, 1, cos, sin);
                    String what = heads + " heads on " + kvHeads + (rotate != 0 ? ", rotated" : "") + ", head size " + hd + ", position " + p;
                    for (int i = 0; i < k1.length(); i++) {
                        assertEquals(Float.floatToRawIntBits(k1.get(i)), Float.floatToRawIntBits(k2.get(i)), what + ": key cache " + i);
                        assertEquals(Float.floatToRawIntBits(v1.get(i)), Float.floatToRawIntBits(v2.get(i)), what + ": value cache " + i);
                    }
                    for (int i = 0; i < want.length(); i++)
                        if (p >= capacity) assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)), what + ": untouched " + i);
                        else assertEquals(want.get(i), got.get(i), 2e-5 * (1 + Math.abs(want.get(i))), what + ": context " + i);
                }
        }
    }

    /**
     * {@code attendStep16} with the out projection ({@code outRows > 0}): each head's blocks write that head's parts
     * {@code Σ_d half(ctx[d])·W[o, head·hd + d]·s[o, group]} for every row, which summed over the heads are the projection
     * of the context the plain kernel writes (rounded to FP16, as a W8A16 projection stages it), within float rounding;
     * the cache is written as by the plain kernel (once, by the head's first block), whatever the blocks a head; past the
     * cache's end the parts are zeros.
     */
    @Test
    void attentionWritesItsHeadsPartsOfTheOutProjection() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(59);
            int capacity = 40;
            for (int[] shape : new int[][]{{4, 16, 16}, {12, 64, 64}, {4, 128, 128}, {4, 64, 256}, {12, 64, 0}, {4, 32, 0}})
                for (int p : new int[]{0, 17, capacity}) {
                    int heads = shape[0], hd = shape[1], gs = shape[2], hidden = heads * hd, splits = CachedAttentionKernel.outSplits(hidden, hd, gs);
                    assertTrue(CachedAttentionKernel.fitsOut(hidden, heads, gs));
                    String what = heads + " heads of " + hd + (gs == 0 ? ", FP16" : ", groups of " + gs) + ", " + splits + " blocks a head, position " + p;
                    OneRowWeights r = OneRowWeights.random(a, rnd, hidden, hidden, gs == 0 ? 16 : gs);
                    FloatArray qkv = KernelsOnCpuTest.randomFloats(a, rnd, 3 * hidden, 2);
                    TwinCaches caches = TwinCaches.random(a, rnd, heads * capacity * hd);
                    HalfArray k1 = caches.k1(), v1 = caches.v1(), k2 = caches.k2(), v2 = caches.v2();
                    IntArray pos = IntArray.allocate(a, 1);
                    pos.set(0, p);
                    FloatArray context = FloatArray.allocate(a, hidden), parts = KernelsOnCpuTest.randomFloats(a, rnd, heads * hidden, 1);
                    float scale = (float) (1 / Math.sqrt(hd));
                    var attend = KernelCompiler.find(CachedAttentionKernel.class, "attendStep16");
                    cpu.launch(attend, CachedAttentionKernel.attendGrid(1, heads), qkv, pos, k1, v1, context, heads, hd, capacity, scale, pos, context, context,
                            0, 1, 1);
                    cpu.launch(attend, CachedAttentionKernel.attendGrid(1, heads, splits), qkv, pos, k2, v2, context, heads, hd, capacity, scale,
                            gs == 0 ? r.h() : r.q8(), r.sw(), parts, hidden, splits, gs);
                    for (int i = 0; i < k1.length(); i++) {
                        assertEquals(Float.floatToRawIntBits(k1.get(i)), Float.floatToRawIntBits(k2.get(i)), what + ": key cache " + i);
                        assertEquals(Float.floatToRawIntBits(v1.get(i)), Float.floatToRawIntBits(v2.get(i)), what + ": value cache " + i);
                    }
                    for (int o = 0; o < hidden; o++) {
                        double want = 0, size = 0, got = 0;
                        for (int i = 0; i < hidden; i++) {
                            double weight = gs == 0 ? Float.float16ToFloat((short) (r.h().get(o * (hidden / 2) + i / 2) >>> (16 * (i % 2))))
                                    : ((r.q8().get(o * (hidden / 4) + i / 4) << (24 - 8 * (i % 4))) >> 24) * (double) r.sw().get(o * (hidden / gs) + i / gs);
                            double term = p < capacity ? Float.float16ToFloat(Float.floatToFloat16(context.get(i))) * weight : 0;
                            want += term;
                            size += Math.abs(term);
                        }
                        for (int h = 0; h < heads; h++) got += parts.get(h * hidden + o);
                        assertEquals(want, got, 1e-5 * (size + 1e-6), what + ": row " + o);
                        if (p >= capacity) for (int h = 0; h < heads; h++) assertTrue(parts.get(h * hidden + o) == 0f, what + ": nothing attended");
                    }
                }
            assertEquals(4, CachedAttentionKernel.outSplits(768, 64, 64));   // GPT-2: 48 blocks, INT8
            assertEquals(8, CachedAttentionKernel.outSplits(768, 64, 0));    // and 96, FP16
            assertFalse(CachedAttentionKernel.fitsOut(2048, 16, 128));   // GPT-3 1.3B: 22 blocks a head
            assertFalse(CachedAttentionKernel.fitsOut(768, 12, 8));      // a group splits a thread's 16 codes
            assertFalse(CachedAttentionKernel.fitsOut(768, 16, 64));     // heads of 48: a row's 3 threads are no butterfly
        }
    }

    /**
     * The batch-1 kernels that add the attention's parts ({@link MmaGemvKernel#int8a16}, {@link WideGemvKernel#fp16},
     * {@link WideGemvKernel#int4a16}): the same bits as the kernel without them on the row
     * {@code x + (bias + part₀ + part₁ + …)} summed in that order beforehand, which block 0 also writes out; with and
     * without the LayerNorm, every epilogue, several blocks; and {@link SkinnyGemmKernel#ADD} adding to another buffer
     * than its output.
     */
    @Test
    void batchOneKernelsAddTheAttentionsPartsToTheirRow() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(61);
            for (int[] shape : new int[][]{{768, 12, 90, 1024}, {192, 3, 37, 512}, {64, 1, 16, 1024}}) {
                int k = shape[0], count = shape[1], n = shape[2], threads = shape[3];
                assertTrue(WideGemvKernel.fitsParts(k, count, threads));
                OneRowWeights r = OneRowWeights.random(a, rnd, n, k, 64);
                FloatArray x = KernelsOnCpuTest.randomFloats(a, rnd, k, 3), parts = KernelsOnCpuTest.randomFloats(a, rnd, count * k, 2);
                FloatArray partBias = KernelsOnCpuTest.randomFloats(a, rnd, k, 1), summed = FloatArray.allocate(a, k);
                for (int i = 0; i < k; i++) {
                    float s = partBias.get(i) + parts.get(i);
                    for (int h = 1; h < count; h++) s += parts.get(h * k + i);
                    summed.set(i, x.get(i) + s);
                }
                for (String kernel : new String[]{"MmaGemvKernel.int8a16", "MmaGemvKernel.int4a16", "WideGemvKernel.fp16", "WideGemvKernel.int4a16"})
                    for (int norm = 0; norm < 2; norm++)
                        for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD})
                            for (int blocks = 1; blocks <= 2; blocks++) {
                                if (kernel.equals("MmaGemvKernel.int4a16") && !MmaGemvKernel.fits4(k, 64)) continue;
                                String what = kernel + ", K " + k + ", " + count + " parts, n " + n + ", norm " + norm + ", mode " + mode + ", blocks " + blocks;
                                FloatArray residual = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), want = FloatArray.allocate(a, n), got = FloatArray.allocate(a, n);
                                FloatArray sum = FloatArray.allocate(a, k);
                                for (int i = 0; i < n; i++) want.set(i, residual.get(i));   // the plain kernel adds to its output
                                boolean mma = kernel.startsWith("Mma"), fp16 = kernel.endsWith("fp16");
                                var method = KernelCompiler.find(mma ? MmaGemvKernel.class : WideGemvKernel.class, kernel.substring(kernel.indexOf('.') + 1));
                                Grid grid = mma ? MmaGemvKernel.grid(n, 1, blocks, threads) : WideGemvKernel.grid(n, 1, blocks);
                                Object[] weights = kernel.endsWith("int8a16") ? new Object[]{r.q8(), r.sw()} : fp16 ? new Object[]{r.h()} : new Object[]{r.q4(), r.sw()};
                                Object[] shapes = fp16 ? new Object[]{n, k, mode, 1} : new Object[]{n, k, 64, mode, 1};
                                cpu.launch(method, grid, args(new Object[]{summed, norm, r.gamma(), r.beta(), 1e-5f}, weights, new Object[]{r.bias(), want}, shapes,
                                        new Object[]{want, want, want, 0, want}));
                                cpu.launch(method, grid, args(new Object[]{x, norm, r.gamma(), r.beta(), 1e-5f}, weights, new Object[]{r.bias(), got}, shapes,
                                        new Object[]{residual, parts, partBias, count, sum}));
                                for (int i = 0; i < n; i++)
                                    assertEquals(Float.floatToRawIntBits(want.get(i)), Float.floatToRawIntBits(got.get(i)), what + ": y[" + i + "] " + got.get(i) + " against " + want.get(i));
                                for (int i = 0; i < k; i++) assertEquals(Float.floatToRawIntBits(summed.get(i)), Float.floatToRawIntBits(sum.get(i)), what + ": the summed row " + i);
                            }
            }
            assertFalse(WideGemvKernel.fitsParts(2048, 16, 1024));   // an input a thread
            assertFalse(WideGemvKernel.fitsParts(768, 17, 1024));
        }
    }

    /** Two copies of one random FP16 key cache and value cache, {@code length} halves each: one for each of two kernels to write. */
    record TwinCaches(HalfArray k1, HalfArray v1, HalfArray k2, HalfArray v2) {
        static TwinCaches random(Arena a, Random rnd, int length) {
            TwinCaches c = new TwinCaches(HalfArray.allocate(a, length), HalfArray.allocate(a, length), HalfArray.allocate(a, length), HalfArray.allocate(a, length));
            for (int i = 0; i < length; i++) {
                float kv = (float) rnd.nextGaussian(), vv = (float) rnd.nextGaussian();
                c.k1.set(i, kv); c.k2.set(i, kv); c.v1.set(i, vv); c.v2.set(i, vv);
            }
            return c;
        }
    }

    /** The pieces one after another: a kernel's arguments. */
    static Object[] args(Object[]... pieces) {
        return java.util.Arrays.stream(pieces).flatMap(java.util.Arrays::stream).toArray();
    }

    @Test
    void skinnyGridCoversRowsAndFeatures() {
        Grid g = SkinnyGemmKernel.grid(17, 50257);
        assertEquals(Math.ceilDiv(50257, 8), g.groupsX());
        assertEquals(3, g.groupsY());
        assertEquals(256, g.localX());
    }
}
