package dev.zq.kernels;

import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelContext;

/**
 * The asynchronous shared-memory staging of the tiled GEMMs: one 64-byte slice of K (16 words) of the block's A
 * and W rows per call, rows padded to 20 words, closed as one {@code cp.async} group. Each thread moves one 16-byte
 * chunk of two rows of each operand, {@code half} rows apart ({@code dst}, {@code srcA}, {@code srcW}: its chunk in
 * the first row; {@code kw}: words per global row; {@code k0}: the slice's first word).
 */
final class Staging {
    private Staging() {}

    /** 64 rows of A and of W (128 threads). */
    static void copy64(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0) {
        ctx.copyAsync16(as, dst, a, srcA + k0);
        ctx.copyAsync16(as, dst + 640, a, srcA + 32 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 640, w, srcW + 32 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /** 128 rows of A and of W (256 threads). */
    static void copy128(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0) {
        ctx.copyAsync16(as, dst, a, srcA + k0);
        ctx.copyAsync16(as, dst + 1280, a, srcA + 64 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 1280, w, srcW + 64 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /**
     * 128 rows of A and of W for {@code gemm128w} (128 threads): four rows per thread, 32 apart, unpadded 16-word rows
     * ({@code dst} already holds the thread's swizzled chunk position in its first row).
     */
    static void copy128x16(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0) {
        ctx.copyAsync16(as, dst, a, srcA + k0);
        ctx.copyAsync16(as, dst + 512, a, srcA + 32 * kw + k0);
        ctx.copyAsync16(as, dst + 1024, a, srcA + 64 * kw + k0);
        ctx.copyAsync16(as, dst + 1536, a, srcA + 96 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 512, w, srcW + 32 * kw + k0);
        ctx.copyAsync16(ws, dst + 1024, w, srcW + 64 * kw + k0);
        ctx.copyAsync16(ws, dst + 1536, w, srcW + 96 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /** 64 rows of A and of W for {@code gemm64w} (128 threads): two rows per thread, 32 apart, unpadded 16-word rows. */
    static void copy64x16(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0) {
        ctx.copyAsync16(as, dst, a, srcA + k0);
        ctx.copyAsync16(as, dst + 512, a, srcA + 32 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 512, w, srcW + 32 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /** One 64-byte slice of K of the block's 128 rows of A and of W for the wgmma tiles ({@code gemm128g}; {@code dst}: the thread's chunk, already swizzled): two rows per thread, 64 apart (1024 words). */
    static void copySwizzled64(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0) {
        ctx.copyAsync16(as, dst, a, srcA + k0);
        ctx.copyAsync16(as, dst + 1024, a, srcA + 64 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 1024, w, srcW + 64 * kw + k0);
        ctx.copyAsyncCommit();
    }

    /**
     * One 128-byte slice of K of the block's 128 rows of A and of W (64 rows of W where {@code narrow} is 1: a 128×64
     * tile) for the 128-byte-swizzled wgmma tiles ({@code gemm128s}, {@code gemm128h}; {@code dst}: the thread's chunk,
     * already swizzled): four rows per thread, 32 apart (1024 words).
     */
    static void copySwizzled128(KernelContext ctx, int[] as, int[] ws, IntArray a, IntArray w, int dst, int srcA, int srcW, int kw, int k0,
                                int narrow) {
        ctx.copyAsync16(as, dst, a, srcA + k0);
        ctx.copyAsync16(as, dst + 1024, a, srcA + 32 * kw + k0);
        ctx.copyAsync16(as, dst + 2048, a, srcA + 64 * kw + k0);
        ctx.copyAsync16(as, dst + 3072, a, srcA + 96 * kw + k0);
        ctx.copyAsync16(ws, dst, w, srcW + k0);
        ctx.copyAsync16(ws, dst + 1024, w, srcW + 32 * kw + k0);
        if (narrow == 0) {
            ctx.copyAsync16(ws, dst + 2048, w, srcW + 64 * kw + k0);
            ctx.copyAsync16(ws, dst + 3072, w, srcW + 96 * kw + k0);
        }
        ctx.copyAsyncCommit();
    }

}
