package dev.zq.cli;

import dev.zq.runtime.Device;
import dev.zq.runtime.cuda.CudaException;

/**
 * The {@code --device} of {@code zq embed} and {@code zq generate} (picocli rejects any other value): the CPU engine,
 * the model's task graphs on the first NVIDIA GPU, or those graphs' kernels as plain Java on the CPU (the executor, the
 * reference a GPU run must equal).
 */
enum DeviceChoice {
    cpu, gpu, executor;

    /** Where the task graphs run (not for {@link #cpu}, which runs the CPU engine); a GPU that cannot be used says why. */
    Device open() throws CudaException {
        if (this == cpu) throw new IllegalStateException("--device cpu runs the CPU engine, not the task graphs");
        return this == gpu ? Device.cuda() : Device.cpu();
    }
}
