package dev.zq.runtime;

import dev.zq.runtime.cuda.CudaDevice;
import dev.zq.runtime.cuda.CudaException;

/**
 * Where kernels run: the CPU (the reference executor) or a CUDA GPU. {@link #best()} takes the first GPU
 * and falls back to the CPU, saying why, where there is no driver or no GPU.
 */
public interface Device extends AutoCloseable {
    String name();

    /** Prepares {@code graph} for repeated execution on this device. */
    ExecutionPlan plan(TaskGraph graph);

    /**
     * Like {@link #plan(TaskGraph)}, but the buffers that {@code residentWith} already holds on the device are used
     * where they are, neither allocated nor copied again: two graphs over one model (a prefill and a decode step
     * sharing the weights and the KV cache) see each other's writes. {@code residentWith} must have executed once
     * and must outlive this plan. On the CPU, where buffers are host memory, every plan shares them anyway.
     */
    default ExecutionPlan plan(TaskGraph graph, ExecutionPlan residentWith) { return plan(graph); }

    /**
     * How many blocks of {@code threadsPerBlock} threads of {@code kernel} this device runs at once: the largest grid that a
     * kernel with {@link KernelContext#gridBarrier grid barriers} may have (all its blocks wait for each other).
     */
    int residentBlocks(java.lang.reflect.Method kernel, int threadsPerBlock);

    static Device cpu() { return new CpuDevice(); }

    /** The first CUDA GPU; a {@link CudaException} that says why where there is none. */
    static CudaDevice cuda() throws CudaException { return CudaDevice.open(0); }

    /** The first CUDA GPU, or the CPU when none can be used; {@code why} receives the reason for a fallback. */
    static Device best(java.util.function.Consumer<String> why) {
        try {
            return cuda();
        } catch (CudaException e) {
            why.accept(e.getMessage() + "; running on the CPU");
            return cpu();
        }
    }

    @Override
    default void close() throws Exception { }
}
