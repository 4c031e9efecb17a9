package dev.zq.runtime.cuda;

/** A device allocation; {@link CudaDevice#free} (or closing the device) releases it. */
public record DeviceMemory(long pointer, long bytes) {
}
