package dev.zq.runtime;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a {@code static void} method as a GPU kernel. Its first parameter is a {@link KernelContext};
 * the others are buffers ({@link FloatArray}, {@link IntArray}, {@link ByteArray}, {@link HalfArray}) and
 * scalars ({@code int}, {@code long}, {@code float}). The same method runs as plain Java on the CPU (once
 * per thread, the reference) and, compiled to PTX by the project's JIT, on CUDA devices.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Kernel {
    /**
     * At most this many registers a thread (PTX {@code .maxnreg}); 0 leaves it to {@code ptxas}. For kernels whose grid
     * is sized to what the GPU holds at once: the cap keeps that many blocks resident (256 threads at 64 registers: four
     * blocks an SM), where a few more registers would push the last blocks into a second wave. Nothing on the CPU.
     */
    int maxRegisters() default 0;

    /**
     * Blocks a thread-block cluster along x (Hopper; PTX {@code .reqnctapercluster}): each run of {@code cluster}
     * consecutive blocks of a row of the grid runs at once, its threads meet at {@link KernelContext#clusterBarrier} and
     * read one another's shared memory ({@link KernelContext#clusterLoad}). 1 to 16 (past 8 the runtime allows the
     * non-portable sizes); the grid's blocks along x must be a multiple. On the CPU each cluster's blocks run together.
     */
    int cluster() default 1;

    /**
     * For a traced run ({@code -Dzq.ptx.trace=true}) of a kernel whose {@link KernelContext#traceMark}s sit in a loop (a
     * persistent kernel passes its marks once a phase): each block records its first {@code traceMarks} passes of any mark,
     * each in a record of its own, in order; past that it records no more marks. 0 (the default): each mark has one
     * record a block, which its last pass fills. Nothing untraced, nothing on the CPU.
     */
    int traceMarks() default 0;

    /**
     * The kernel's {@link KernelContext#gridBarrier}s count on the GPU rather than reset: each block adds its arrival to a
     * 64-bit count in {@code sync[0 … 1]} that is never reset, with no answer to await, and waits for the count its barrier
     * completes — one trip to L2 fewer on the last block's path than the default barrier's (measured, session 53: ~0.5 µs
     * a barrier at 132 blocks, on an H100 and an H200). A launch leaves the count a multiple of its grid's blocks, so a
     * {@code sync} buffer serves grids of one size (zeroed before its first launch). Nothing on the CPU.
     */
    boolean countingGridBarrier() default false;
}
