package dev.zq.kernels;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.KernelMath;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
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

    /** Runs one skinny kernel for every epilogue and compares with {@code reference[m][n]} (before the epilogue). */
    void checkEpilogues(String kernel, Object[] operands, FloatArray bias, int m, int n, int k, double[][] reference, double tol) {
        try (Arena a = Arena.ofShared()) {
            for (int mode : new int[]{SkinnyGemmKernel.STORE, SkinnyGemmKernel.GELU_TANH, SkinnyGemmKernel.ADD}) {
                FloatArray y = FloatArray.allocate(a, m * n);
                for (int i = 0; i < m * n; i++) y.set(i, mode == SkinnyGemmKernel.ADD ? i * 0.01f : 0f);
                Object[] args = new Object[operands.length + 6];
                args[0] = operands[0];
                args[1] = operands[1];
                int at = 2;
                if (operands.length == 4) args[at++] = operands[2];   // weight scales
                args[at++] = bias;
                args[at++] = y;
                args[at++] = m;
                args[at++] = n;
                args[at++] = k;
                if (operands.length == 4) args[at++] = operands[3];   // group size
                args[at] = mode;
                cpu.launch(KernelCompiler.find(SkinnyGemmKernel.class, kernel), SkinnyGemmKernel.grid(m, n),
                        java.util.Arrays.copyOf(args, at + 1));
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double v = reference[i][j] + bias.get(j);
                        double want = switch (mode) {
                            case SkinnyGemmKernel.GELU_TANH -> geluTanh(v);
                            case SkinnyGemmKernel.ADD -> v + (i * n + j) * 0.01f;
                            default -> v;
                        };
                        assertEquals(want, y.get(i * n + j), tol * (1 + Math.abs(want)), kernel + " mode " + mode + " y[" + i + "][" + j + "]");
                    }
            }
        }
    }

    @Test
    void int8AndInt4SkinnyGemmsQuantizeTheirRowsAndApplyGroupScales() {
        try (Arena a = Arena.ofShared()) {
            Random rnd = new Random(5);
            int m = 11, n = 20, k = 4352, gs = 64, groups = k / gs;   // two row blocks, a partial block of features, two K tiles
            float[] x = new float[m * k];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            x[3 * k + 7] = 40f;                     // an outlier token
            for (int j = 0; j < k; j++) x[5 * k + j] = 0f;   // an all-zero row: scale 0, output = bias
            FloatArray xs = FloatArray.allocate(a, m * k);
            for (int i = 0; i < x.length; i++) xs.set(i, x[i]);
            float[] sx = new float[m];
            int[][] q = new int[m][];
            for (int r = 0; r < m; r++) q[r] = codes(x, r, k, sx);
            FloatArray sw = KernelsOnCpuTest.randomFloats(a, rnd, n * groups, 0.01), bias = KernelsOnCpuTest.randomFloats(a, rnd, n, 0.5);
            for (int bits : new int[]{8, 4}) {
                int[][] w = new int[n][k];
                int lo = bits == 8 ? -128 : -8, span = bits == 8 ? 256 : 16;
                for (int j = 0; j < n; j++) for (int c = 0; c < k; c++) w[j][c] = lo + rnd.nextInt(span);
                IntArray packed = IntArray.allocate(a, n * k * bits / 32);
                for (int j = 0; j < n; j++)
                    for (int c = 0; c < k; c++) {
                        int e = j * k + c, word = e * bits / 32, shift = (e * bits) % 32;
                        packed.set(word, packed.get(word) | ((w[j][c] & (bits == 8 ? 0xFF : 0xF)) << shift));
                    }
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
                checkEpilogues(bits == 8 ? "int8" : "int4", new Object[]{xs, packed, sw, gs}, bias, m, n, k, ref, 2e-5);
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
            double[][] ref = new double[m][n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int c = 0; c < k; c++) s += (double) Float.float16ToFloat(Float.floatToFloat16(x[i * k + c])) * w[j * k + c];
                    ref[i][j] = s;
                }
            checkEpilogues("fp16", new Object[]{xs, wh}, bias, m, n, k, ref, 2e-5);
        }
    }

    @Test
    void argmaxTakesTheLowestIndexOfTheLargestFiniteLogitAndRecordsTheStep() {
        try (Arena a = Arena.ofShared()) {
            int vocab = 3000, batch = 3, maxNew = 4, promptLen = 5;
            FloatArray logits = FloatArray.allocate(a, batch * vocab);
            for (int i = 0; i < batch * vocab; i++) logits.set(i, (i % 97) * 0.01f);
            logits.set(2500, 7f);            // row 0: a tie between 2500 and 2999, and a NaN elsewhere
            logits.set(2999, 7f);
            logits.set(10, Float.NaN);
            logits.set(vocab + 1234, 3f);    // row 1: a single maximum
            for (int i = 0; i < vocab; i++) logits.set(2 * vocab + i, i % 2 == 0 ? Float.NaN : Float.NEGATIVE_INFINITY);   // row 2: nothing
            IntArray next = IntArray.allocate(a, batch), generated = IntArray.allocate(a, batch * maxNew), pos = IntArray.allocate(a, 1);
            pos.set(0, promptLen + 2);       // the step that produced new token 2
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "argmax"), DecoderRowKernels.argmaxGrid(batch), logits, next, generated, pos,
                    vocab, promptLen, maxNew);
            assertArrayEquals(new int[]{2500, 1234, 0}, new int[]{next.get(0), next.get(1), next.get(2)});
            assertEquals(2500, generated.get(2));
            assertEquals(1234, generated.get(maxNew + 2));
            assertEquals(-1, generated.get(2 * maxNew + 2));
            assertEquals(0, generated.get(0));   // other steps untouched
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
            cpu.launch(KernelCompiler.find(DecoderRowKernels.class, "lastTokenNorm"), RowKernels.grid(1, n), x, gamma, beta, out, pos, batch, seq, n, 1e-5f);
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

    @Test
    void skinnyGridCoversRowsAndFeatures() {
        Grid g = SkinnyGemmKernel.grid(17, 50257);
        assertEquals(Math.ceilDiv(50257, 8), g.groupsX());
        assertEquals(3, g.groupsY());
        assertEquals(256, g.localX());
    }
}
