package dev.zq.runtime;

import java.lang.classfile.ClassFile;
import java.lang.classfile.MethodModel;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs a kernel method as plain Java: the reference semantics. Kernels without block-level intrinsics
 * run thread after thread; kernels that use barriers, shared memory or shuffles run each block's threads
 * cooperatively, one virtual thread per GPU thread, meeting at a barrier object (their buffers must then
 * live in a shared or automatic arena, which other threads may touch).
 */
public final class CpuExecutor {
    private final Map<Method, Boolean> cooperative = new ConcurrentHashMap<>();

    public void launch(Method kernel, Grid grid, Object... args) {
        if (!kernel.isAnnotationPresent(Kernel.class)) throw new IllegalArgumentException(kernel + " is not annotated @Kernel");
        if (args.length != kernel.getParameterCount() - 1)
            throw new IllegalArgumentException(kernel.getName() + " takes " + (kernel.getParameterCount() - 1) + " arguments after the context, got " + args.length);
        MethodHandle mh;
        try {
            kernel.setAccessible(true);
            mh = MethodHandles.lookup().unreflect(kernel);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException("cannot call " + kernel + ": " + e.getMessage(), e);
        }
        mh = MethodHandles.insertArguments(mh, 1, args);
        boolean coop = cooperative.computeIfAbsent(kernel, CpuExecutor::usesBlockIntrinsics);
        for (int gy = 0; gy < grid.groupsY(); gy++)
            for (int gx = 0; gx < grid.groupsX(); gx++) {
                if (coop) runBlockCooperatively(mh, grid, gx, gy);
                else runBlockSequentially(mh, grid, gx, gy);
            }
    }

    private static KernelContext context(Grid g, int gx, int gy) {
        KernelContext c = new KernelContext();
        c.groupX = gx;
        c.groupY = gy;
        c.localSizeX = g.localX();
        c.localSizeY = g.localY();
        c.groupsX = g.groupsX();
        c.groupsY = g.groupsY();
        return c;
    }

    private static void runBlockSequentially(MethodHandle mh, Grid g, int gx, int gy) {
        KernelContext c = context(g, gx, gy);
        for (int ly = 0; ly < g.localY(); ly++)
            for (int lx = 0; lx < g.localX(); lx++) {
                c.localX = lx;
                c.localY = ly;
                c.startThread();
                call(mh, c);
            }
    }

    private static void runBlockCooperatively(MethodHandle mh, Grid g, int gx, int gy) {
        KernelContext.Block block = new KernelContext.Block(g.threadsPerBlock());
        List<Thread> threads = new ArrayList<>(g.threadsPerBlock());
        List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int ly = 0; ly < g.localY(); ly++)
            for (int lx = 0; lx < g.localX(); lx++) {
                KernelContext c = context(g, gx, gy);
                c.localX = lx;
                c.localY = ly;
                c.block = block;
                threads.add(Thread.ofVirtual().start(() -> {
                    try {
                        call(mh, c);
                    } catch (Throwable t) {
                        failures.add(t);
                        block.reset();   // release the others instead of leaving them waiting forever
                    }
                }));
            }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while running a block", e);
            }
        }
        if (!failures.isEmpty()) {
            RuntimeException e = new IllegalStateException("kernel failed in block (" + gx + ", " + gy + ")", failures.getFirst());
            throw e;
        }
    }

    private static void call(MethodHandle mh, KernelContext c) {
        try {
            mh.invoke(c);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Whether the kernel (or anything it calls directly) uses barrier, shared memory or shuffles. */
    static boolean usesBlockIntrinsics(Method kernel) {
        String res = "/" + kernel.getDeclaringClass().getName().replace('.', '/') + ".class";
        try (var in = kernel.getDeclaringClass().getResourceAsStream(res)) {
            var cm = ClassFile.of().parse(in.readAllBytes());
            for (MethodModel m : cm.methods())
                for (var e : m.code().map(c -> c.elementList()).orElse(List.of()))
                    if (e instanceof InvokeInstruction inv && inv.owner().asInternalName().equals("dev/zq/runtime/KernelContext")) {
                        String n = inv.name().stringValue();
                        if (n.equals("barrier") || n.startsWith("allocate") || n.startsWith("shfl") || n.startsWith("mma") || n.startsWith("ldmatrix")) return true;
                    }
            return false;
        } catch (Exception e) {
            return true;   // when unsure, the cooperative path is always correct
        }
    }
}
