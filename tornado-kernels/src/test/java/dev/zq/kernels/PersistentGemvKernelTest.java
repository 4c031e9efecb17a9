package dev.zq.kernels;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link PersistentGemvKernel#int8Chain} and {@link PersistentGemvKernel#fp16Chain} on the CPU: a chain of projections in one launch, each reading what the one
 * before it wrote across a grid barrier, the weights passing through the ring of slots many times over.
 */
class PersistentGemvKernelTest {
    /**
     * Four projections on three blocks: rows of 1024, 8192 and 2048 inputs (32, 4 and 16 rows a slot of codes, half as many
     * of FP16 weights), a projection of two
     * outputs (one block takes none: its chunks skipped by the copies and the loop alike), and one that reads the first
     * row again. Equal bit for bit to {@link GemvChain#reference}; and within a quantization step of the exact products of
     * the same codes — so the reference is the arithmetic it says it is, not only the kernel's twin.
     */
    @Test
    void aChainInOneLaunchEqualsItsReference() throws Exception {
        for (int groupSize : new int[]{64, 32, 0}) {   // 0: FP16 weights (fp16Chain)
            boolean halves = groupSize == 0;
            try (Arena a = Arena.ofShared()) {
                GemvChain chain = new GemvChain(a, new int[]{8192, 2050, 2, 100}, new int[]{1024, 8192, 2048, 1024}, new int[]{-1, 0, 1, -1}, groupSize, halves,
                        51 + groupSize);
                float[] x = new float[chain.actLength()];
                for (int i = 0; i < x.length; i++) x[i] = chain.act.get(i);
                float[] expect = chain.reference(x);
                IntArray sync = IntArray.allocate(a, 2);
                new CpuExecutor().launch(KernelCompiler.find(PersistentGemvKernel.class, halves ? "fp16Chain" : "int8Chain"),
                        new Grid(3, 1, PersistentGemvKernel.THREADS, 1), sync, chain.plan, chain.phases, chain.act, chain.w, chain.sw, groupSize,
                        groupSize == 32 ? 2 : PersistentGemvKernel.SLOTS - 2);   // a ring refilled fewer slots ahead computes the same
                String what = halves ? "FP16" : "group size " + groupSize;
                for (int i = 0; i < x.length; i++)
                    assertEquals(Float.floatToRawIntBits(expect[i]), Float.floatToRawIntBits(chain.act.get(i)), "element " + i + " (" + what + ")");
                assertEquals(0, sync.get(0), "the grid barrier leaves its count at zero");
                // Every output against the products of the same codes (or halves) in doubles: a row's sum differs only by float rounding.
                for (int p = 0; p < chain.phases; p++) {
                    int in = chain.from[p] < 0 ? 0 : chain.outputOffset(chain.from[p]);
                    double m = 0;
                    for (int i = 0; i < chain.k[p]; i++) m = Math.max(m, Math.abs(expect[in + i]));
                    float s = (float) m / 127f;
                    double largest = 0, worst = 0;
                    for (int row = 0; row < chain.n[p]; row++) {
                        double exact = 0;
                        for (int i = 0; i < chain.k[p]; i++) {
                            int word = chain.w.get(wordOf(chain, p, row, i));
                            if (halves) exact += (double) Float.float16ToFloat(Float.floatToFloat16(expect[in + i])) * Float.float16ToFloat((short) (word >> (16 * (i & 1))));
                            else exact += (double) s * RowKernels.clampCode((float) Math.rint(expect[in + i] / s)) * (byte) (word >> (8 * (i & 3)))
                                    * chain.sw.get(scaleOf(chain, p, row, i));
                        }
                        float got = chain.act.get(chain.outputOffset(p) + row);
                        assertTrue(Float.isFinite(got) && got != 0f, "projection " + p + " row " + row + ": " + got);
                        largest = Math.max(largest, Math.abs(exact));
                        worst = Math.max(worst, Math.abs(got - exact));
                    }
                    assertTrue(worst <= 1e-5 * largest, what + ", projection " + p + ": off by " + worst + " of " + largest);
                }
            }
        }
    }

    /** Shapes the kernel cannot take are refused by {@link GemvChain} with the projection named, before any launch. */
    @Test
    void shapesItCannotTakeAreRefused() {
        try (Arena a = Arena.ofConfined()) {
            assertFalse(PersistentGemvKernel.fits(768, 64));     // a warp takes 1024 inputs
            assertFalse(PersistentGemvKernel.fits(16384, 64));   // past two staged pieces
            assertFalse(PersistentGemvKernel.fits(2048, 24));    // a group splits a chunk
            assertFalse(PersistentGemvKernel.fits(2048, 16));    // a slot's 2048 scales overflow a scales' slot
            assertFalse(PersistentGemvKernel.fits(1024, 512));   // two scales a row: not a 16-byte piece for the bulk copy
            assertTrue(PersistentGemvKernel.fits(8192, 2048));   // four groups a row
            assertTrue(PersistentGemvKernel.fitsHalves(8192));
            assertFalse(PersistentGemvKernel.fitsHalves(9216));
            var e = assertThrows(IllegalArgumentException.class, () -> new GemvChain(a, new int[]{64, 64}, new int[]{1024, 768}, new int[]{-1, 0}, 64, 1));
            assertTrue(e.getMessage().contains("projection 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new GemvChain(a, new int[]{64, 64}, new int[]{1024, 1024}, new int[]{-1, 0}, 64, 1));
            assertTrue(e.getMessage().contains("reads 1024 outputs of projection 0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new GemvChain(a, new int[]{PersistentGemvKernel.MAX_N + 1}, new int[]{1024}, new int[]{-1}, 64, 1));
            assertTrue(e.getMessage().contains("projection 0: 65537 × 1024"), e.getMessage());   // its rows' split would overflow an int
            e = assertThrows(IllegalArgumentException.class, () -> new GemvChain(a, new int[]{64}, new int[]{1024}, new int[]{0}, 64, 1));
            assertTrue(e.getMessage().contains("not an earlier one"), e.getMessage());
        }
    }

    private static int wordOf(GemvChain chain, int p, int row, int i) {
        int perWord = chain.halves ? 2 : 4;
        return chain.plan.get(p * PersistentGemvKernel.PLAN_INTS + 2) + row * (chain.k[p] / perWord) + i / perWord;
    }

    private static int scaleOf(GemvChain chain, int p, int row, int i) {
        return chain.plan.get(p * PersistentGemvKernel.PLAN_INTS + 3) + row * (chain.k[p] / chain.groupSize) + i / chain.groupSize;
    }

    /**
     * The chains' grid barriers count ({@code @Kernel(countingGridBarrier = true)}): a release-add to the 64-bit count with
     * no answer awaited, where an unmarked kernel's barrier awaits an atomic's answer and resets ({@code -Dzq.ptx.gridBarrier}
     * unset, as in CI).
     */
    @Test
    void theChainsGridBarriersCount() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("zq.ptx.gridBarrier") == null, "a barrier chosen for every kernel");
        KernelCompiler jit = new KernelCompiler();
        for (String chain : new String[]{"int8Chain", "fp16Chain"}) {
            String ptx = jit.ptx(KernelCompiler.find(PersistentGemvKernel.class, chain));
            assertTrue(ptx.contains("red.release.gpu.global.add.u64"), chain);
            assertFalse(ptx.contains("atom.acq_rel.gpu.global.add.u32"), chain);
        }
        String rounds = jit.ptx(KernelCompiler.find(BasicKernels.class, "shiftedHalfPlusOneRounds"));
        assertTrue(rounds.contains("atom.acq_rel.gpu.global.add.u32") && !rounds.contains("red.release.gpu.global.add.u64"), "an unmarked kernel keeps the resetting barrier");
    }
}
