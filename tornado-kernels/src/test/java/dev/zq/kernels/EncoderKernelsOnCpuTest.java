package dev.zq.kernels;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import dev.zq.tensor.Attention;
import dev.zq.tensor.DType;
import dev.zq.tensor.Gelu;
import dev.zq.tensor.LayerNorm;
import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The encoder's kernels (GEMM tiles with fused epilogues, row kernels, FP16 attention) on the CPU executor, against
 * definitions computed independently here and with the {@code tensor} module's CPU math.
 */
class EncoderKernelsOnCpuTest {
    final CpuExecutor cpu = new CpuExecutor();
    static final double HALF_ULP = Math.pow(2, -10);   // relative spacing of FP16 values

    static float half(IntArray words, int i) {
        return Float.float16ToFloat((short) (words.get(i >> 1) >> (16 * (i & 1))));
    }

    /** Random values rounded to FP16, packed two per int; {@code values} receives them as floats. */
    static IntArray halves(Arena a, Random rnd, float[] values, double scale) {
        IntArray out = IntArray.allocate(a, values.length / 2);
        for (int i = 0; i < values.length; i++) values[i] = Float.float16ToFloat(Float.floatToFloat16((float) (rnd.nextGaussian() * scale)));
        for (int i = 0; i < values.length / 2; i++)
            out.set(i, (Float.floatToFloat16(values[2 * i]) & 0xFFFF) | (Float.floatToFloat16(values[2 * i + 1]) << 16));
        return out;
    }

    /**
     * The magnitude table that {@link TokenwiseGemmKernel}'s writers make of FP16 rows: {@code rows} rows of {@code cols}
     * halves in {@code words}, the largest FP16 magnitude bits of each {@code part} columns at {@code [r·stride + c/part]}
     * (parts past the row 0).
     */
    static IntArray magnitudes(Arena a, IntArray words, int rows, int cols, int part, int stride) {
        IntArray mags = IntArray.allocate(a, rows * stride);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int at = r * stride + c / part, bits = Short.toUnsignedInt(Float.floatToFloat16(Math.abs(half(words, r * cols + c))));
                mags.set(at, Math.max(mags.get(at), bits));
            }
        return mags;
    }

    static double geluRef(double v) { return 0.5 * v * (1 + Gelu.erf((float) (v / Math.sqrt(2)))); }

    /**
     * The group-wise prompt GEMMs' FP16 outputs ({@link PrefillGemmKernel#int8Halves}, {@link PrefillGemmKernel#int4Halves}: a
     * BERT encoder's group-wise projections) are their FP32 outputs ({@link PrefillGemmKernel#int8}, {@code int4}, whose sums
     * {@code DecoderKernelsOnCpuTest} checks against the definition) rounded to FP16 — GeLU'd first by BERT's exact GeLU where
     * asked — to the bit: 70 rows (a partial row tile whose rows past 70 stay untouched), K in 1, 2 and 3 slices, groups
     * of 32 and 128.
     */
    @Test
    void groupwiseGemmsWriteTheirFp32OutputsAsHalves() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(55);
            int m = 70, n = 128, k = 384, rows = PrefillGemmKernel.paddedRows(m);
            IntArray codes = IntArray.allocate(a, rows * k / 4);
            for (int i = 0; i < codes.length(); i++) codes.set(i, rnd.nextInt());
            FloatArray sx = KernelsOnCpuTest.randomFloats(a, rnd, rows, 0.02), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            for (int bits : new int[]{8, 4})
                for (int gs : new int[]{32, 128})
                    for (int splits : new int[]{1, 2, 3}) {
                        IntArray w = IntArray.allocate(a, n * k * bits / 32);
                        for (int i = 0; i < w.length(); i++) w.set(i, rnd.nextInt());
                        FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * (k / gs), 0.01);
                        FloatArray partials = FloatArray.allocate(a, PrefillGemmKernel.grid(m, n, splits).groupsX() * 4096);
                        IntArray arrivals = IntArray.allocate(a, PrefillGemmKernel.grid(m, n, 1).groupsX());
                        FloatArray y = FloatArray.allocate(a, m * n);
                        String name = bits == 8 ? "int8" : "int4";
                        cpu.launch(KernelCompiler.find(PrefillGemmKernel.class, name), PrefillGemmKernel.grid(m, n, splits), codes, sx, w, sw, bias, y,
                                m, n, k, gs, SkinnyGemmKernel.STORE, splits, partials, arrivals);
                        for (int gelu : new int[]{0, 1}) {
                            IntArray yh = IntArray.allocate(a, rows * n / 2);
                            for (int i = m * n / 2; i < yh.length(); i++) yh.set(i, 0x7E007E00);   // rows past m: must stay
                            cpu.launch(KernelCompiler.find(PrefillGemmKernel.class, name + "Halves"), PrefillGemmKernel.grid(m, n, splits), codes, sx, w,
                                    sw, bias, yh, m, n, k, gs, gelu, splits, partials, arrivals);
                            assertEquals(0, arrivals.get(0), "arrival counts left zeroed");
                            String what = name + "Halves, groups of " + gs + ", " + splits + " slice(s), gelu " + gelu;
                            for (int i = 0; i < m * n; i++) {
                                float v = gelu == 1 ? Epilogue.gelu(y.get(i)) : y.get(i);
                                assertEquals(Float.floatToFloat16(v), (short) (yh.get(i >> 1) >> (16 * (i & 1))), what + ", element " + i);
                            }
                            for (int i = m * n / 2; i < yh.length(); i++) assertEquals(0x7E007E00, yh.get(i), what + ": a row past m was written");
                        }
                    }
        }
    }

    /** Every INT8 tile, and the split-K one with K in 1, 2, 3 and 6 slices, against integer sums, dequantized in FP32. */
    @Test
    void int8GemmTilesDequantizeAddBiasAndGeluInTheirEpilogue() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(11);
            int m = 128, n = 256, k = 384;
            byte[] ab = new byte[m * k], wb = new byte[n * k];
            rnd.nextBytes(ab);
            rnd.nextBytes(wb);
            ab[0] = -128;
            wb[0] = -128;
            FloatArray sx = KernelsOnCpuTest.randomFloats(a, rnd, m, 0.01), sw = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.01);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
            IntArray arrivals = IntArray.allocate(a, (m / 64) * (n / 64));
            for (String tile : new String[]{"gemm64", "gemm64w", "gemm128", "gemm128w", "gemm128g", "gemm128s", "gemm64k/1", "gemm64k/2", "gemm64k/3", "gemm64k/6",
                    "gemm64kd/1", "gemm64kd/2", "gemm64kd/3", "gemm64kd/6", "gemm128h@0", "gemm128h@1", "gemm128h@2"})
                for (int gelu = 0; gelu < 2; gelu++) {
                    IntArray y = IntArray.allocate(a, m * n / 2);
                    int t = tile.startsWith("gemm64") ? 64 : 128;
                    Object[] args = {KernelsOnCpuTest.packed(a, ab), KernelsOnCpuTest.packed(a, wb), sx, sw, bias, y, m, n, k, gelu};
                    if (tile.startsWith("gemm64k")) {   // K in 1 to 6 slices; gemm64kd's 6 stages of K: fewer than its 8 in flight
                        int splits = Integer.parseInt(tile.substring(tile.indexOf('/') + 1));
                        IntArray partials = IntArray.allocate(a, (m / 64) * (n / 64) * splits * 4096);
                        cpu.launch(KernelCompiler.find(Int8GemmKernel.class, tile.substring(0, tile.indexOf('/'))), Grid.of((m / 64) * (n / 64) * splits, 128),
                                GemmTiles.concat(args, new Object[]{splits, partials, arrivals}));
                        for (int i = 0; i < arrivals.length(); i++) assertEquals(0, arrivals.get(i), tile + ": arrival count " + i + " left behind");
                    } else if (tile.startsWith("gemm128h")) {   // the first `whole` tiles whole, the others in two halves
                        int whole = Integer.parseInt(tile.substring(9)), tiles = (m / 128) * (n / 128);
                        cpu.launch(KernelCompiler.find(Int8GemmKernel.class, "gemm128h"), Grid.of(whole + 2 * (tiles - whole), 256),
                                GemmTiles.concat(args, new Object[]{whole}));
                    } else
                        cpu.launch(KernelCompiler.find(Int8GemmKernel.class, tile), Grid.of((m / t) * (n / t),
                                tile.equals("gemm128") || tile.equals("gemm128g") || tile.equals("gemm128s") ? 256 : 128), args);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            int s = 0;
                            for (int p = 0; p < k; p++) s += ab[i * k + p] * wb[j * k + p];
                            float v = sx.get(i) * sw.get(j) * s + bias.get(j);
                            float got = half(y, i * n + j);
                            String what = tile + " gelu " + gelu + " y[" + i + "][" + j + "]";
                            if (gelu == 0) assertEquals(Float.float16ToFloat(Float.floatToFloat16(v)), got, what);
                            else assertEquals(geluRef(v), got, HALF_ULP * Math.abs(geluRef(v)) + 1e-6, what);
                        }
                }
        }
    }

    /**
     * {@link TokenwiseGemmKernel#gemm64kdq}, which quantizes its FP16 rows itself from a table of the rows' magnitudes,
     * against {@link RowKernels#quantizeRows} followed by {@link Int8GemmKernel#gemm64kd}: the same bits, for K of 5
     * slices (fewer than a prologue step's four, then one), 12 (bert-base's 768) and 16 (the most a block holds), whole and
     * split, GeLU'd or not, with a row of zeros and a row holding infinity. And {@link TokenwiseGemmKernel#gemm64kdm}:
     * {@code gemm64kd}'s outputs, with the magnitudes of each 32 columns of each row.
     */
    @Test
    void tokenwiseGemmsGiveTheBitsOfTheSeparateQuantization() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(21);
            int m = 128, n = 128;
            IntArray w = KernelsOnCpuTest.randomPacked(a, rnd, n * 1024);
            FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.01), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
            int tiles = (m / 64) * (n / 64);
            for (int k : new int[]{320, 768, 1024})
                for (int splits : k == 1024 ? new int[]{1, 2} : k == 768 ? new int[]{1, 4} : new int[]{1}) {
                    float[] v = new float[m * k];
                    IntArray x = halves(a, rnd, v, 3);
                    for (int c = 0; c < k; c += 2) {
                        x.set((5 * k + c) / 2, 0);                  // row 5: zeros (scale 0, codes 0)
                        if (c == 40) x.set((70 * k + c) / 2, 0x7C00);   // row 70: one +∞ (a non-finite scale, codes 0)
                    }
                    // The producer's table: parts of 32 inputs, as gemm64kdm writes it (stride(k / 32) ints a row).
                    int stride = TokenwiseGemmKernel.stride(k / 32);
                    IntArray mags = magnitudes(a, x, m, k, 32, stride);
                    IntArray codes = IntArray.allocate(a, m * k / 4);
                    FloatArray scales = FloatArray.allocate(a, m);
                    cpu.launch(KernelCompiler.find(RowKernels.class, "quantizeRows"), RowKernels.grid(m, k), x, codes, scales, m, k);
                    for (int gelu = 0; gelu < 2; gelu++) {
                        String what = "K " + k + " in " + splits + ", gelu " + gelu;
                        IntArray ref = IntArray.allocate(a, m * n / 2), y = IntArray.allocate(a, m * n / 2), ym = IntArray.allocate(a, m * n / 2);
                        IntArray yMags = IntArray.allocate(a, m * TokenwiseGemmKernel.stride(n / 32));
                        cpu.launch(KernelCompiler.find(Int8GemmKernel.class, "gemm64kd"), Grid.of(tiles * splits, 128), codes, w, scales, sw, bias, ref,
                                m, n, k, gelu, splits, IntArray.allocate(a, tiles * splits * 4096), IntArray.allocate(a, tiles));
                        cpu.launch(KernelCompiler.find(TokenwiseGemmKernel.class, "gemm64kdq"), TokenwiseGemmKernel.grid(m, n, k, splits), x, mags, stride,
                                w, sw, bias, y, m, n, k, gelu, splits, IntArray.allocate(a, tiles * splits * 4096), IntArray.allocate(a, tiles));
                        cpu.launch(KernelCompiler.find(TokenwiseGemmKernel.class, "gemm64kdm"), Grid.of(tiles * splits, 128), codes, w, scales, sw, bias,
                                ym, yMags, TokenwiseGemmKernel.stride(n / 32), m, n, k, gelu, splits, IntArray.allocate(a, tiles * splits * 4096),
                                IntArray.allocate(a, tiles));
                        for (int i = 0; i < m * n / 2; i++) {
                            assertEquals(ref.get(i), y.get(i), what + ": gemm64kdq word " + i);
                            assertEquals(ref.get(i), ym.get(i), what + ": gemm64kdm word " + i);
                        }
                        assertTrue(Float.isNaN(half(y, 70 * n)), what + ": a row with ∞ gives NaN, as on the CPU");
                        IntArray want = magnitudes(a, ref, m, n, 32, TokenwiseGemmKernel.stride(n / 32));
                        for (int i = 0; i < want.length(); i++)
                            assertEquals(want.get(i), yMags.get(i), what + ": magnitude " + i + " (row, part) of " + TokenwiseGemmKernel.stride(n / 32) + " a row");
                    }
                }
            assertThrows(IllegalArgumentException.class, () -> TokenwiseGemmKernel.grid(128, 768, 3072, 2), "a block holds 1024 inputs of K");
            assertThrows(IllegalArgumentException.class, () -> TokenwiseGemmKernel.grid(100, 768, 768, 1), "rows in whole tiles");
        }
    }

    /**
     * {@link Int8GemmKernel#gemm64kd} over more slices of K than it keeps in flight (16 of 64 bytes: its ring of 8 goes
     * round twice), whole and split in 2 and 4, GeLU'd or not: the bits of {@link Int8GemmKernel#gemm64w}.
     */
    @Test
    void deepPipelineGivesTheBitsOfTheFourSliceOne() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(5);
            int m = 128, n = 128, k = 1024;
            IntArray x = KernelsOnCpuTest.randomPacked(a, rnd, m * k), w = KernelsOnCpuTest.randomPacked(a, rnd, n * k);
            FloatArray sx = KernelsOnCpuTest.randomFloats(a, rnd, m, 0.01), sw = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.01);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
            int tiles = (m / 64) * (n / 64);
            for (int gelu = 0; gelu < 2; gelu++) {
                IntArray ref = IntArray.allocate(a, m * n / 2);
                cpu.launch(KernelCompiler.find(Int8GemmKernel.class, "gemm64w"), Grid.of(tiles, 128), x, w, sx, sw, bias, ref, m, n, k, gelu);
                for (int splits : new int[]{1, 2, 4}) {
                    IntArray y = IntArray.allocate(a, m * n / 2), arrivals = IntArray.allocate(a, tiles);
                    cpu.launch(KernelCompiler.find(Int8GemmKernel.class, "gemm64kd"), Grid.of(tiles * splits, 128), x, w, sx, sw, bias, y, m, n, k, gelu,
                            splits, IntArray.allocate(a, tiles * splits * 4096), arrivals);
                    for (int i = 0; i < m * n / 2; i++) assertEquals(ref.get(i), y.get(i), "K in " + splits + ", gelu " + gelu + ", word " + i);
                }
            }
        }
    }

    /**
     * {@link Int8GemmNormKernel}: the GEMM, residual, LayerNorm and token-wise codes of one cluster launch against the two
     * launches they replace ({@link Int8GemmKernel#gemm64kd} then {@link RowKernels#residualLayerNorm}), at bert-base's
     * and bert-large's widths (clusters of 12 and 16 tiles), two row tiles. The row sums add in another order, so the
     * FP16 outputs may differ by an FP16 rounding step, the scales by float rounding and a few codes by one.
     */
    @Test
    void layerNormInTheClusterOfARowMatchesTheTwoLaunches() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(29);
            for (int n : new int[]{768, 1024}) {
                int m = 128, k = 128, blocks = (m / 64) * (n / 64);
                IntArray x = KernelsOnCpuTest.randomPacked(a, rnd, m * k), w = KernelsOnCpuTest.randomPacked(a, rnd, n * k);
                FloatArray sx = KernelsOnCpuTest.randomFloats(a, rnd, m, 0.001), sw = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.001);
                FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5), gamma = KernelsOnCpuTest.randomFloats(a, rnd, n, 1),
                        beta = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.2);
                IntArray residual = halves(a, rnd, new float[m * n], 1);
                IntArray projected = IntArray.allocate(a, m * n / 2), out1 = IntArray.allocate(a, m * n / 2), codes1 = IntArray.allocate(a, m * n / 4);
                FloatArray scales1 = FloatArray.allocate(a, m);
                cpu.launch(KernelCompiler.find(Int8GemmKernel.class, "gemm64kd"), Grid.of(blocks, 128), x, w, sx, sw, bias, projected, m, n, k, 0,
                        1, IntArray.allocate(a, 1), IntArray.allocate(a, blocks));
                cpu.launch(KernelCompiler.find(RowKernels.class, "residualLayerNorm"), RowKernels.grid(m, n), projected, residual, gamma, beta,
                        out1, codes1, scales1, m, n, 1e-12f, 1);
                IntArray out2 = IntArray.allocate(a, m * n / 2), codes2 = IntArray.allocate(a, m * n / 4);
                FloatArray scales2 = FloatArray.allocate(a, m);
                cpu.launch(KernelCompiler.find(Int8GemmNormKernel.class, "gemm64ln" + n / 64), Grid.of(blocks, Int8GemmNormKernel.THREADS), x, w, sx, sw, bias, residual,
                        gamma, beta, out2, codes2, scales2, m, n, k, 1e-12f);
                int off = 0;
                for (int r = 0; r < m; r++) {
                    assertEquals(scales1.get(r), scales2.get(r), 1e-5 * scales1.get(r), "n " + n + ": scale of row " + r);
                    for (int c = 0; c < n; c++) {
                        float e = half(out1, r * n + c), g = half(out2, r * n + c);
                        assertEquals(e, g, HALF_ULP * Math.abs(e) + 1e-6, "n " + n + ": row " + r + " col " + c);
                        int d = Math.abs(code(codes1, r * n + c) - code(codes2, r * n + c));
                        assertTrue(d <= 1, "n " + n + ": code of row " + r + " col " + c);
                        off += d;
                    }
                }
                assertTrue(off <= m * n / 200, off + " codes one step off");
                assertTrue(scales2.get(0) > 0, "rows were written");
            }
        }
    }

    /**
     * {@link Fp16GemmKernel#gemm64kd} over 16 slices of 32 halves (its ring of 8 goes round twice): {@link Fp16GemmKernel#gemm64w}'s
     * bits whole, and {@link Fp16GemmKernel#gemm64k}'s with K in 2 and 4 (the same products in the same order), GeLU'd or not.
     */
    @Test
    void fp16DeepPipelineGivesTheBitsOfTheFourSliceOnes() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(6);
            int m = 128, n = 128, k = 512;
            IntArray x = halves(a, rnd, new float[m * k], 1), w = halves(a, rnd, new float[n * k], 0.05);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
            int tiles = (m / 64) * (n / 64);
            for (int gelu = 0; gelu < 2; gelu++)
                for (int splits : new int[]{1, 2, 4}) {
                    IntArray ref = IntArray.allocate(a, m * n / 2), y = IntArray.allocate(a, m * n / 2);
                    if (splits == 1) cpu.launch(KernelCompiler.find(Fp16GemmKernel.class, "gemm64w"), Grid.of(tiles, 128), x, w, bias, ref, m, n, k, gelu);
                    else cpu.launch(KernelCompiler.find(Fp16GemmKernel.class, "gemm64k"), Grid.of(tiles * splits, 128), x, w, bias, ref, m, n, k, gelu,
                            splits, IntArray.allocate(a, tiles * splits * 4096), IntArray.allocate(a, tiles));
                    cpu.launch(KernelCompiler.find(Fp16GemmKernel.class, "gemm64kd"), Grid.of(tiles * splits, 128), x, w, bias, y, m, n, k, gelu,
                            splits, IntArray.allocate(a, tiles * splits * 4096), IntArray.allocate(a, tiles));
                    for (int i = 0; i < m * n / 2; i++) assertEquals(ref.get(i), y.get(i), "K in " + splits + ", gelu " + gelu + ", word " + i);
                }
        }
    }

    /** The tile candidates for a product of few output tiles include K split in 2, 4 and 8 where K allows it, INT8 and FP16. */
    @Test
    void smallProductsMayHaveKSplit() {
        var names = GemmTiles.candidates(GemmTiles.Precision.INT8, 128, 768, 3072).stream().map(GemmTiles.Choice::name).toList();
        assertEquals(java.util.List.of("gemm128w", "gemm128g", "gemm128s", "gemm128h@6", "gemm128", "gemm64w", "gemm64", "gemm64k/2", "gemm64k/4", "gemm64k/8",
                "gemm64kd/1", "gemm64kd/2", "gemm64kd/4", "gemm64kd/8"), names);
        var split = GemmTiles.candidates(GemmTiles.Precision.INT8, 128, 768, 3072).getLast();
        assertEquals(24 * 8 * 4096L, split.partialInts());
        assertEquals(24, split.arrivalInts());
        var whole = GemmTiles.candidates(GemmTiles.Precision.INT8, 128, 768, 3072).stream().filter(c -> c.name().equals("gemm64kd/1")).findFirst().orElseThrow();
        assertEquals(0, whole.partialInts(), "K in one slice needs no partial sums");
        assertEquals(0, whole.arrivalInts());
        assertEquals(java.util.List.of("gemm128w", "gemm128g", "gemm128s", "gemm128h@192", "gemm128", "gemm64w", "gemm64"),
                GemmTiles.candidates(GemmTiles.Precision.INT8, 4096, 768, 3072).stream().map(GemmTiles.Choice::name).toList());
        assertEquals(java.util.List.of("gemm128w", "gemm128g", "gemm128s", "gemm128h@6", "gemm128", "gemm64w", "gemm64", "gemm64k/2",
                        "gemm64kd/1", "gemm64kd/2"),
                GemmTiles.candidates(GemmTiles.Precision.INT8, 128, 768, 384).stream().map(GemmTiles.Choice::name).toList());
        assertEquals(java.util.List.of("gemm64k/2", "gemm64k/4", "gemm64k/8", "gemm64kd/1", "gemm64kd/2", "gemm64kd/4", "gemm64kd/8"),
                GemmTiles.candidates(GemmTiles.Precision.FP16, 128, 768, 3072).stream().filter(c -> c.splits() > 0).map(GemmTiles.Choice::name).toList());
        // FP16 stages hold 32 halves: K = 96 is three of them, which 2, 4 or 8 slices would cut; whole, it fits.
        assertEquals(java.util.List.of("gemm64kd/1"), GemmTiles.candidates(GemmTiles.Precision.FP16, 128, 768, 96).stream().filter(c -> c.splits() > 0)
                .map(GemmTiles.Choice::name).toList());
    }

    /**
     * Without Hopper's warpgroup instruction (a GPU of compute capability past 9.0, which JIT-compiles {@code sm_90} PTX
     * but not {@code sm_90a}) the candidates are the tiles whose PTX targets plain {@code sm_90}; with it, the
     * {@code sm_90a} ones are among them (so this test tells the two apart).
     */
    @Test
    void withoutWarpgroupMmaEveryCandidateIsPlainSm90Ptx() throws Exception {
        var compiler = new dev.zq.runtime.KernelCompiler();
        for (GemmTiles.Precision p : GemmTiles.Precision.values())
            for (int[] mnk : new int[][]{{128, 768, 3072}, {2048, 3072, 768}, {256, 256, 64}}) {
                var plain = GemmTiles.candidates(p, mnk[0], mnk[1], mnk[2], 264, false);
                assertFalse(plain.isEmpty());
                for (GemmTiles.Choice c : plain)
                    assertTrue(compiler.ptx(c.kernel()).contains(".target sm_90\n"), p + " " + c.name() + " is not plain sm_90 PTX");
                long hopperOnly = GemmTiles.candidates(p, mnk[0], mnk[1], mnk[2], 264, true).stream()
                        .filter(c -> { try { return compiler.ptx(c.kernel()).contains(".target sm_90a\n"); } catch (Exception e) { throw new AssertionError(e); } })
                        .count();
                if (mnk[0] % 128 == 0 && mnk[1] % 128 == 0) assertTrue(hopperOnly > 0, p + " " + java.util.Arrays.toString(mnk) + ": no sm_90a candidate");
            }
    }

    /**
     * Where the GPU holds {@code slots} blocks at once and the 128×128 grid's last wave is at most half full, the
     * candidates include {@code gemm128h} with that wave's tiles in halves; elsewhere, for FP16 and on the CPU, not.
     */
    @Test
    void int8ProductsWithAShortLastWaveMayHaveItInHalves() {
        java.util.function.BiFunction<int[], Integer, java.util.List<String>> halves = (mnk, slots) ->
                GemmTiles.candidates(GemmTiles.Precision.INT8, mnk[0], mnk[1], mnk[2], slots).stream()
                        .filter(c -> c.whole() >= 0 && c.grid().groupsX() > c.whole()).map(c -> c.name() + " " + c.grid().groupsX()).toList();
        // 384 tiles on 264 slots: 264 whole, the last 120 in 240 halves.
        assertEquals(java.util.List.of("gemm128h@264 504"), halves.apply(new int[]{2048, 3072, 768}, 264));
        // 6 tiles: all in halves. 3072 tiles leave 168 > 132 for the last wave: none. 1408×3072: 264 tiles, a full wave: none.
        assertEquals(java.util.List.of("gemm128h@0 12"), halves.apply(new int[]{128, 768, 3072}, 264));
        assertEquals(java.util.List.of(), halves.apply(new int[]{16384, 3072, 768}, 264));
        assertEquals(java.util.List.of(), halves.apply(new int[]{1408, 3072, 768}, 264));
        assertEquals(java.util.List.of(), halves.apply(new int[]{2048, 3072, 768}, 0));
        assertEquals(java.util.List.of(), halves.apply(new int[]{2048, 3072, 704}, 264));   // K not in 128-byte stages
        assertEquals(0, GemmTiles.candidates(GemmTiles.Precision.FP16, 2048, 3072, 768, 264).stream().filter(c -> c.whole() >= 0).count());
        // And gemm128h with every tile whole (384) is a candidate wherever K allows, slots known or not.
        assertEquals(java.util.List.of(384, 264), GemmTiles.candidates(GemmTiles.Precision.INT8, 2048, 3072, 768, 264).stream()
                .filter(c -> c.whole() >= 0).map(c -> (Integer) c.splitArgs(null, null)[0]).toList());
    }

    @Test
    void fp16GemmTilesAddBiasAndGelu() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(12);
            int m = 128, n = 128, k = 192;   // 6 stages of 32 halves, 3 of 64
            float[] av = new float[m * k], wv = new float[n * k];
            IntArray ah = halves(a, rnd, av, 1), wh = halves(a, rnd, wv, 1);
            FloatArray bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 1);
            IntArray arrivals = IntArray.allocate(a, (m / 64) * (n / 64));
            for (String tile : new String[]{"gemm64", "gemm64w", "gemm128", "gemm128w", "gemm128g", "gemm128s", "gemm64k/1", "gemm64k/2", "gemm64k/3", "gemm64k/6"})
                for (int gelu = 0; gelu < 2; gelu++) {
                    IntArray y = IntArray.allocate(a, m * n / 2);
                    int t = tile.startsWith("gemm64") ? 64 : 128;
                    if (tile.startsWith("gemm64k")) {   // K = 192 in 1, 2, 3 and 6 slices of 32 halves a stage
                        int splits = Integer.parseInt(tile.substring(8));
                        IntArray partials = IntArray.allocate(a, (m / 64) * (n / 64) * splits * 4096);
                        cpu.launch(KernelCompiler.find(Fp16GemmKernel.class, "gemm64k"), Grid.of((m / 64) * (n / 64) * splits, 128),
                                ah, wh, bias, y, m, n, k, gelu, splits, partials, arrivals);
                        for (int i = 0; i < arrivals.length(); i++) assertEquals(0, arrivals.get(i), tile + ": arrival count " + i + " left behind");
                    } else
                        cpu.launch(KernelCompiler.find(Fp16GemmKernel.class, tile), Grid.of((m / t) * (n / t), tile.equals("gemm128") || tile.startsWith("gemm128g") || tile.equals("gemm128s") ? 256 : 128),
                                ah, wh, bias, y, m, n, k, gelu);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            double s = bias.get(j), mag = Math.abs(bias.get(j));
                            for (int p = 0; p < k; p++) {
                                s += (double) av[i * k + p] * wv[j * k + p];
                                mag += Math.abs((double) av[i * k + p] * wv[j * k + p]);
                            }
                            double expect = gelu == 1 ? geluRef(s) : s;
                            assertEquals(expect, half(y, i * n + j), HALF_ULP * Math.abs(expect) + 1e-6 * mag,
                                    tile + " gelu " + gelu + " y[" + i + "][" + j + "]");
                        }
                }
        }
    }

    /** Codes and scale of one row under {@code dev.zq.quant}'s definition: max|x|/127, rint, clamp. */
    static int[] quantized(double[] row, float[] scaleOut) {
        float max = 0;
        for (double v : row) max = Math.max(max, Math.abs((float) v));
        float scale = max / 127f;
        scaleOut[0] = scale;
        int[] q = new int[row.length];
        for (int i = 0; i < row.length; i++) q[i] = scale == 0 ? 0 : (int) Math.max(-128, Math.min(127, Math.rint((float) row[i] / scale)));
        return q;
    }

    static int code(IntArray codes, int i) { return (byte) (codes.get(i >> 2) >> (8 * (i & 3))); }

    @Test
    void embeddingsAndResidualLayerNormWithFusedQuantization() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(13);
            int rows = 10, seq = 5, n = 192, vocab = 30;
            FloatArray words = KernelsOnCpuTest.randomFloats(a, rnd, vocab * n, 1), pos = KernelsOnCpuTest.randomFloats(a, rnd, seq * n, 0.3);
            FloatArray typeTable = KernelsOnCpuTest.randomFloats(a, rnd, 2 * n, 0.1);
            FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.2);
            IntArray ids = IntArray.allocate(a, rows), types = IntArray.allocate(a, rows);
            for (int r = 0; r < rows; r++) { ids.set(r, rnd.nextInt(vocab)); types.set(r, r % 2); }
            IntArray out = IntArray.allocate(a, rows * n / 2), codes = IntArray.allocate(a, rows * n / 4);
            FloatArray scales = FloatArray.allocate(a, rows);
            cpu.launch(KernelCompiler.find(RowKernels.class, "embedLayerNorm"), RowKernels.grid(rows, n), ids, types, words, pos,
                    typeTable, gamma, beta, out, codes, scales, rows, seq, n, 1e-12f, 1);
            Tensor x = Tensor.allocate(a, DType.F32, rows, n);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < n; c++)
                    x.setFloat((long) r * n + c, words.get(ids.get(r) * n + c) + pos.get((r % seq) * n + c) + typeTable.get(types.get(r) * n + c));
            checkNormAndCodes(a, x, gamma, beta, 1e-12f, out, codes, scales, rows, n);

            // residual + LayerNorm on FP16 rows
            float[] xv = new float[rows * n], rv = new float[rows * n];
            IntArray xh = halves(a, rnd, xv, 2), rh = halves(a, rnd, rv, 2);
            for (int i = 0; i < rows * n; i++) x.setFloat(i, xv[i] + rv[i]);
            cpu.launch(KernelCompiler.find(RowKernels.class, "residualLayerNorm"), RowKernels.grid(rows, n), xh, rh, gamma, beta,
                    out, codes, scales, rows, n, 1e-5f, 1);
            checkNormAndCodes(a, x, gamma, beta, 1e-5f, out, codes, scales, rows, n);
        }
    }

    /**
     * The warp-per-row residual LayerNorm against the definition (as the block kernel is checked above): rows of 768 and
     * 1024 (three and four chunks a lane), 200 and 8 (lanes without a chunk), 1 to 8 rows a block with a partial last
     * block; the output may be its input; a row holding NaN gets NaN outputs, codes 0 and a NaN scale, as the block
     * kernel's; rows past 1024 elements are refused.
     */
    @Test
    void residualLayerNormByWarpEqualsTheDefinition() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(16);
            for (int n : new int[]{768, 1024, 200, 8})
                for (int perBlock : new int[]{1, 3, 8}) {
                    int rows = 11;
                    FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.2);
                    float[] xv = new float[rows * n], rv = new float[rows * n];
                    IntArray xh = halves(a, rnd, xv, 2), rh = halves(a, rnd, rv, 2);
                    Tensor x = Tensor.allocate(a, DType.F32, rows, n);
                    for (int i = 0; i < rows * n; i++) x.setFloat(i, xv[i] + rv[i]);
                    IntArray codes = IntArray.allocate(a, rows * n / 4);
                    FloatArray scales = FloatArray.allocate(a, rows);
                    IntArray out = perBlock == 3 ? xh : IntArray.allocate(a, rows * n / 2);   // in place once
                    cpu.launch(KernelCompiler.find(RowKernels.class, "residualLayerNormByWarp"), RowKernels.warpNormGrid(rows, n, perBlock), xh, rh,
                            gamma, beta, out, codes, scales, rows, n, 1e-5f, 1, perBlock);
                    checkNormAndCodes(a, x, gamma, beta, 1e-5f, out, codes, scales, rows, n);
                }
            int n = 768, rows = 3;
            FloatArray gamma = KernelsOnCpuTest.randomFloats(a, rnd, n, 1), beta = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.2);
            IntArray xh = halves(a, rnd, new float[rows * n], 2), rh = halves(a, rnd, new float[rows * n], 2);
            xh.set((n + 10) / 2, 0x7E00);   // a NaN in row 1
            IntArray out = IntArray.allocate(a, rows * n / 2), codes = IntArray.allocate(a, rows * n / 4);
            FloatArray scales = FloatArray.allocate(a, rows);
            cpu.launch(KernelCompiler.find(RowKernels.class, "residualLayerNormByWarp"), RowKernels.warpNormGrid(rows, n, 2), xh, rh,
                    gamma, beta, out, codes, scales, rows, n, 1e-5f, 1, 2);
            assertTrue(Float.isNaN(scales.get(1)) && Float.isFinite(scales.get(0)) && Float.isFinite(scales.get(2)));
            for (int c = 0; c < n; c++) {
                assertTrue(Double.isNaN(half(out, n + c)), "col " + c);
                assertEquals(0, code(codes, n + c));
            }
            assertThrows(IllegalArgumentException.class, () -> RowKernels.warpNormGrid(4, 1032, 1));
        }
    }

    private static void checkNormAndCodes(Arena a, Tensor x, FloatArray gamma, FloatArray beta, float eps, IntArray out, IntArray codes,
                                          FloatArray scales, int rows, int n) {
        Tensor y = Tensor.allocate(a, DType.F32, rows, n);
        LayerNorm.apply(x, gamma.asTensor(), beta.asTensor(), eps, y);
        int off = 0;
        for (int r = 0; r < rows; r++) {
            double[] row = new double[n];
            for (int c = 0; c < n; c++) {
                double expect = y.getFloat((long) r * n + c);
                row[c] = expect;
                assertEquals(expect, half(out, r * n + c), HALF_ULP * Math.abs(expect) + 1e-5, "LayerNorm row " + r + " col " + c);
            }
            float[] s = new float[1];
            int[] q = quantized(row, s);
            assertEquals(s[0], scales.get(r), 1e-5 * s[0], "scale of row " + r);
            for (int c = 0; c < n; c++) {
                int d = Math.abs(q[c] - code(codes, r * n + c));
                assertTrue(d <= 1, "code of row " + r + " col " + c + ": " + code(codes, r * n + c) + " vs " + q[c]);
                off += d;
            }
        }
        assertTrue(off <= rows * n / 200, off + " codes one step off (FP32 LayerNorm rounding at a .5 boundary)");
    }

    @Test
    void quantizeRowsEqualsTheDefinitionExactly() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(14);
            int rows = 6, n = 320;
            float[] v = new float[rows * n];
            IntArray x = halves(a, rnd, v, 3);
            for (int c = 0; c < n; c += 2) x.set((2 * n + c) / 2, 0);   // an all-zero row
            for (int c = 0; c < n; c++) v[2 * n + c] = 0f;
            IntArray codes = IntArray.allocate(a, rows * n / 4);
            FloatArray scales = FloatArray.allocate(a, rows);
            cpu.launch(KernelCompiler.find(RowKernels.class, "quantizeRows"), RowKernels.grid(rows, n), x, codes, scales, rows, n);
            for (int r = 0; r < rows; r++) {
                double[] row = new double[n];
                for (int c = 0; c < n; c++) row[c] = v[r * n + c];
                float[] s = new float[1];
                int[] q = quantized(row, s);
                assertEquals(s[0], scales.get(r), "scale of row " + r);
                for (int c = 0; c < n; c++) assertEquals(q[c], code(codes, r * n + c), "row " + r + " col " + c);
            }
            assertEquals(0f, scales.get(2));
        }
    }

    /** The warp-per-row quantization gives the block-per-row one's codes and scales, zero, NaN and partial blocks included. */
    @Test
    void quantizeRowsByWarpEqualsQuantizeRows() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(15);
            for (int n : new int[]{320, 1024, 1032, 3072})   // the row in registers (up to 1024), or read twice
                for (int perBlock : new int[]{1, 3, 8}) {
                    int rows = 11;
                    IntArray x = halves(a, rnd, new float[rows * n], 3);
                    for (int c = 0; c < n; c += 2) x.set((2 * n + c) / 2, 0);   // an all-zero row
                    x.set((5 * n + 6) / 2, 0x7E00);                              // a NaN in row 5
                    IntArray want = IntArray.allocate(a, rows * n / 4), got = IntArray.allocate(a, rows * n / 4);
                    FloatArray wantScales = FloatArray.allocate(a, rows), gotScales = FloatArray.allocate(a, rows);
                    cpu.launch(KernelCompiler.find(RowKernels.class, "quantizeRows"), RowKernels.grid(rows, n), x, want, wantScales, rows, n);
                    cpu.launch(KernelCompiler.find(RowKernels.class, "quantizeRowsByWarp"), RowKernels.warpGrid(rows, n, perBlock), x, got, gotScales,
                            rows, n, perBlock);
                    for (int r = 0; r < rows; r++)
                        assertEquals(Float.floatToRawIntBits(wantScales.get(r)), Float.floatToRawIntBits(gotScales.get(r)), n + "/" + perBlock + ": scale of row " + r);
                    for (int i = 0; i < rows * n / 4; i++) assertEquals(want.get(i), got.get(i), n + "/" + perBlock + ": code word " + i);
                    assertTrue(Float.isNaN(gotScales.get(5)));
                    assertEquals(0f, gotScales.get(2));
                }
            assertThrows(IllegalArgumentException.class, () -> RowKernels.warpGrid(4, 12, 1));
            assertThrows(IllegalArgumentException.class, () -> RowKernels.warpGrid(4, 64, 0));
        }
    }

    @Test
    void fp16AttentionMatchesTheCpuAttention() {
        checkAttention(false);
    }

    /**
     * The exact attention (CUDA cores, FP32 exponentials in P·V) against the CPU's: only the FP16 output rounds (within
     * 2^-11 of values of a few units), with heads of 64, 32 and 16 on sequences that need not be multiples of its 16-query tiles, a key-less third sequence included
     * (every key masked: it attends uniformly, as the CPU's does).
     */
    @Test
    void exactAttentionMatchesTheCpuAttention() {
        checkAttention(true);
    }

    void checkAttention(boolean exact) {
        for (int d : exact ? new int[]{64, 32, 16} : new int[]{64, 32})
            for (int causal = 0; causal < 2; causal++)
                try (Arena a = Arena.ofShared()) {
                    Random rnd = new Random(15 + d + causal);
                    int batch = exact ? 3 : 2, seq = exact ? (d == 64 ? 300 : 90) : 256, heads = 2, hidden = heads * d;   // 4 chunks of keys: both buffers reused
                    float[] v = new float[batch * seq * 3 * hidden];
                    IntArray qkv = halves(a, rnd, v, 1);
                    IntArray mask = IntArray.allocate(a, batch * seq);
                    for (int i = 0; i < batch * seq; i++) mask.set(i, i % seq < (i < seq ? 70 : 128) && i % 7 != 3 && i < 2 * seq ? 1 : 0);
                    IntArray out = IntArray.allocate(a, batch * seq * hidden / 2), mags = IntArray.allocate(a, batch * seq * 16);
                    if (exact)
                        cpu.launch(KernelCompiler.find(ExactAttentionKernel.class, "attention"), ExactAttentionKernel.grid(batch, seq, heads),
                                qkv, mask, out, seq, heads, d, (float) (1 / Math.sqrt(d)), causal, mags, 16);
                    else
                        cpu.launch(KernelCompiler.find(AttentionKernel.class, "attention" + d), Grid.of((seq / 64) * heads * batch, 128),
                                qkv, mask, out, seq, heads, (float) (1 / Math.sqrt(d)), causal, mags, 16);
                    // The magnitudes for the next GEMM's token-wise codes: each row's largest |output| of each head, as FP16 bits.
                    IntArray want = magnitudes(a, out, batch * seq, hidden, d, 16);
                    for (int i = 0; i < want.length(); i++) assertEquals(want.get(i), mags.get(i), "row " + i / 16 + ", head " + i % 16);
                    Tensor q = Tensor.allocate(a, DType.F32, batch, seq, hidden), k = Tensor.allocate(a, DType.F32, batch, seq, hidden);
                    Tensor vv = Tensor.allocate(a, DType.F32, batch, seq, hidden), ref = Tensor.allocate(a, DType.F32, batch, seq, hidden);
                    Tensor km = Tensor.allocate(a, DType.I32, batch, seq);
                    for (int r = 0; r < batch * seq; r++) {
                        km.setInt(r, mask.get(r));
                        for (int c = 0; c < hidden; c++) {
                            q.setFloat((long) r * hidden + c, v[r * 3 * hidden + c]);
                            k.setFloat((long) r * hidden + c, v[r * 3 * hidden + hidden + c]);
                            vv.setFloat((long) r * hidden + c, v[r * 3 * hidden + 2 * hidden + c]);
                        }
                    }
                    Attention.forward(q, k, vv, km, heads, causal == 1, 0, ref);
                    double worst = 0;
                    for (int i = 0; i < batch * seq * hidden; i++)
                        worst = Math.max(worst, Math.abs(ref.getFloat(i) - half(out, i)));
                    // Exponentials enter P·V rounded to FP16 (2^-11 relative) and the output is FP16: a few 1e-3; FP32 ones: the output's rounding.
                    assertTrue(worst < (exact ? 2e-3 : 4e-3), "head size " + d + (causal == 1 ? " causal" : "") + ": worst |GPU kernel − CPU attention| = " + worst);
                }
    }
}
