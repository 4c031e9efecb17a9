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
