package dev.zq.runtime.internal;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * Keeps one warp of the GPU busy for a while ({@code iterations} dependent multiply-adds, about 4 ns each on an
 * H100/H200): a per-kernel profile launches it first and enqueues the kernels it times behind it, so that the events
 * between them measure the device, not how fast the host enqueues (about 9 µs a launch from Java, longer than many
 * decode kernels run).
 */
public final class SpinKernel {
    private SpinKernel() {}

    @Kernel
    public static void spin(KernelContext ctx, FloatArray out, int iterations) {
        float v = 1f;
        for (int i = 0; i < iterations; i++) v = v * 0.9999999f + 1e-7f;
        if (ctx.globalIdx() == 0) out.set(0, v);
    }
}
