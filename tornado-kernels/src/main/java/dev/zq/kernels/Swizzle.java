package dev.zq.kernels;

/**
 * Shared-memory addresses of the {@code ldmatrix} GEMM tiles ({@code gemm64w}, {@code gemm128w}, {@link PrefillGemmKernel}):
 * rows of 16 words (one 64-byte slice of K), the 16-byte chunk {@code c} of row {@code r} stored at chunk
 * {@code c ^ ((r >> 1) & 3)}, so that the 8 rows one {@code ldmatrix} phase reads hit 32 different banks. Word offsets;
 * plain Java that the JIT inlines.
 */
final class Swizzle {
    private Swizzle() {}

    /** Start of the A row this lane hands to {@code ldmatrix.x4}: rows {@code wm + (lane & 7) + 8·((lane >> 3) & 1)}. */
    static int aRow(int wm, int lane) { return (wm + (lane & 7) + ((lane >> 3) & 1) * 8) << 4; }

    /** Start of the B (weight) row: rows {@code wn + 8·((lane >> 4) & 1) + (lane & 7)}, two n-tiles per {@code ldmatrix.x4}. */
    static int bRow(int wn, int lane) { return (wn + ((lane >> 4) & 1) * 8 + (lane & 7)) << 4; }

    /** The lane's A chunk within its row for k32 step {@code step} (0 or 1) of the slice: chunk {@code 2·step + (lane >> 4)}. */
    static int aChunk(int lane, int step) { return ((2 * step + (lane >> 4)) ^ ((lane >> 1) & 3)) << 2; }

    /** The lane's B chunk for k32 step {@code step}: chunk {@code 2·step + ((lane >> 3) & 1)}. */
    static int bChunk(int lane, int step) { return ((2 * step + ((lane >> 3) & 1)) ^ ((lane >> 1) & 3)) << 2; }

    /**
     * Where thread {@code tid}'s 16-byte copy lands in its first row: chunk {@code tid & 3} of row {@code tid >> 2} (the
     * rows 32 apart that it also copies share the swizzle).
     */
    static int copyTarget(int tid) { return ((tid >> 2) << 4) + (((tid & 3) ^ ((tid >> 3) & 3)) << 2); }
}
