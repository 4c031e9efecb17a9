package dev.zq.kernels;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link KernelContext#wgmmaS8}'s CPU semantics against its documentation: operands placed in shared memory by the
 * layout formulas written out here (unswizzled core matrices, 32-, 64- and 128-byte swizzles, a later 32 bytes of K), each
 * thread's 64 sums against the product of the logical matrices at the documented fragment places. The GPU runs of
 * {@code Int8GemmKernel.gemm128g} (KernelsOnCudaTest) tie the same semantics to the hardware.
 */
class WgmmaLayoutTest {
    /** A 64×64-byte and a 128×64-byte K-major operand, placed with {@code swizzle}; each thread's sums over K bytes 32–63 into {@code out}. */
    @Kernel
    public static void product(KernelContext ctx, IntArray a, IntArray b, IntArray out, int swizzle) {
        int[] as = ctx.allocateIntShared(2048), bs = ctx.allocateIntShared(4096);   // 64 and 128 rows of up to 128 bytes
        int tid = ctx.localIdx();
        for (int r = tid; r < 128; r += 128)
            for (int c = 0; c < 64; c++) {
                if (r < 64) put(as, place(r, c, swizzle, 64), (byte) (a.get((r * 64 + c) >> 2) >> (8 * (c & 3))));
                put(bs, place(r, c, swizzle, 128), (byte) (b.get((r * 64 + c) >> 2) >> (8 * (c & 3))));
            }
        ctx.barrier();
        int[] acc = new int[64];
        // K bytes 32–63: the third and fourth core matrices unswizzled, the second half (rows × 32 bytes in) with 32-byte
        // rows, 32 bytes into each 64- or 128-byte row.
        int aK = swizzle == 0 ? 64 : swizzle == 32 ? 64 * 8 : 8, bK = swizzle == 0 ? 64 : swizzle == 32 ? 128 * 8 : 8;
        int stride = swizzle == 0 ? 512 : 8 * swizzle;
        ctx.wgmmaS8(acc, as, aK, stride, bs, bK, stride, swizzle);
        for (int i = 0; i < 64; i++) out.set(tid * 64 + i, acc[i]);
    }

    /** Byte offset of row r, byte c of K (0–63) of an operand of {@code rows} rows. */
    static int place(int r, int c, int swizzle, int rows) {
        if (swizzle == 0) return (r / 8) * 512 + (c / 16) * 128 + (r % 8) * 16 + c % 16;   // core matrices, K-adjacent 128 bytes apart
        if (swizzle == 32) {   // 32-byte rows: K bytes 0–31 of all rows, then bytes 32–63 of all rows
            int half = c / 32, cc = c % 32, chunk = (cc / 16) ^ ((r >> 2) & 1);
            return half * rows * 32 + r * 32 + chunk * 16 + cc % 16;
        }
        if (swizzle == 64) {
            int chunk = (c / 16) ^ ((r >> 1) & 3);   // 64-byte rows
            return r * 64 + chunk * 16 + c % 16;
        }
        int chunk = (c / 16) ^ (r & 7);   // 128-byte rows (bytes 64–127 of K unused here)
        return r * 128 + chunk * 16 + c % 16;
    }

    static void put(int[] shared, int at, byte v) {
        int w = at >> 2, sh = 8 * (at & 3);
        shared[w] = (shared[w] & ~(0xFF << sh)) | ((v & 0xFF) << sh);
    }

    @Test
    void everyLayoutGivesTheDocumentedFragments() throws Exception {
        CpuExecutor cpu = new CpuExecutor();
        Random rnd = new Random(5);
        byte[] av = new byte[64 * 64], bv = new byte[128 * 64];
        rnd.nextBytes(av);
        rnd.nextBytes(bv);
        av[0] = -128;
        try (Arena arena = Arena.ofShared()) {
            for (int swizzle : new int[]{0, 32, 64, 128}) {
                IntArray a = KernelsOnCpuTest.packed(arena, av), b = KernelsOnCpuTest.packed(arena, bv), out = IntArray.allocate(arena, 128 * 64);
                cpu.launch(WgmmaLayoutTest.class.getMethod("product", KernelContext.class, IntArray.class, IntArray.class, IntArray.class, int.class),
                        Grid.of(1, 128), a, b, out, swizzle);
                for (int tid = 0; tid < 128; tid++) {
                    int w = tid >> 5, g = (tid & 31) >> 2, t = tid & 3;
                    for (int i = 0; i < 64; i++) {
                        int row = 16 * w + g + 8 * ((i & 3) >> 1), col = 8 * (i >> 2) + 2 * t + (i & 1), s = 0;
                        for (int c = 32; c < 64; c++) s += av[row * 64 + c] * bv[col * 64 + c];
                        assertEquals(s, out.get(tid * 64 + i), "swizzle " + swizzle + ", thread " + tid + ", acc[" + i + "]");
                    }
                }
            }
        }
    }

    /** One warpgroup's wgmma with a swizzle, a word offset and an accumulator size from the arguments. */
    @Kernel
    public static void refused(KernelContext ctx, int swizzle, int aWord, int accSize) {
        int[] as = ctx.allocateIntShared(2048), bs = ctx.allocateIntShared(4096);
        ctx.wgmmaS8(new int[accSize], as, aWord, 512, bs, 0, 512, swizzle);
    }

    @Test
    void unsupportedSwizzlesMisalignedOperandsAndSmallAccumulatorsAreRefused() throws Exception {
        CpuExecutor cpu = new CpuExecutor();
        var m = WgmmaLayoutTest.class.getMethod("refused", KernelContext.class, int.class, int.class, int.class);
        cpu.launch(m, Grid.of(1, 128), 64, 8, 64);   // fine
        for (Object[] bad : new Object[][]{{96, 8, 64}, {64, 2, 64}, {64, 8, 16}}) {
            var e = assertThrows(RuntimeException.class, () -> cpu.launch(m, Grid.of(1, 128), bad));
            Throwable cause = e;
            while (cause.getCause() != null && !(cause instanceof IllegalArgumentException)) cause = cause.getCause();
            assertEquals(IllegalArgumentException.class, cause.getClass(), java.util.Arrays.toString(bad));
        }
    }
}
