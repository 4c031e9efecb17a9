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
    /** The most threads a kernel with grid barriers may have on the CPU, where they all run at once. */
    public static final int MAX_GRID_THREADS = 1 << 20;
    private final Map<Method, Boolean> cooperative = new ConcurrentHashMap<>(), gridWide = new ConcurrentHashMap<>(), clustered = new ConcurrentHashMap<>();

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
        int clusterSize = KernelCompiler.clusterSize(kernel, grid);
        if (clusterSize > 1 || clustered.computeIfAbsent(kernel, CpuExecutor::usesClusterIntrinsics)) {
            for (int gy = 0; gy < grid.groupsY(); gy++)
                for (int gx = 0; gx < grid.groupsX(); gx += clusterSize) runCluster(mh, grid, gx, gy, clusterSize);
            return;
        }
        if (gridWide.computeIfAbsent(kernel, CpuExecutor::usesGridBarrier)) {
            runGridAtOnce(mh, grid);
            return;
        }
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
        startBlock(mh, g, gx, gy, block, null, null, 0, threads, failures);
        join(threads, failures, "block (" + gx + ", " + gy + ")", block::reset);
    }

    /** The {@code size} blocks of one cluster from block (gx, gy) at once, one virtual thread a GPU thread. */
    private static void runCluster(MethodHandle mh, Grid g, int gx, int gy, int size) {
        List<KernelContext.Block> blocks = new ArrayList<>(size);
        for (int r = 0; r < size; r++) blocks.add(new KernelContext.Block(g.threadsPerBlock()));
        KernelContext.Cluster cluster = new KernelContext.Cluster(List.copyOf(blocks), g.threadsPerBlock());
        List<Thread> threads = new ArrayList<>(size * g.threadsPerBlock());
        List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int r = 0; r < size; r++) startBlock(mh, g, gx + r, gy, blocks.get(r), null, cluster, r, threads, failures);
        join(threads, failures, "the cluster of blocks (" + gx + "…" + (gx + size - 1) + ", " + gy + ")", () -> {
            for (KernelContext.Block b : blocks) b.reset();
            cluster.phaser.forceTermination();
        });
    }

    /** Every thread of every block at once, one virtual thread each: what grid-wide barriers need. */
    private static void runGridAtOnce(MethodHandle mh, Grid g) {
        long total = (long) g.threadsPerBlock() * g.groupsX() * g.groupsY();
        if (total > MAX_GRID_THREADS) throw new IllegalArgumentException("a kernel with grid barriers runs all its " + total + " threads at once on the CPU: too many");
        java.util.concurrent.CyclicBarrier grid = new java.util.concurrent.CyclicBarrier((int) total);
        List<Thread> threads = new ArrayList<>((int) total);
        List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<KernelContext.Block> blocks = new ArrayList<>();
        for (int gy = 0; gy < g.groupsY(); gy++)
            for (int gx = 0; gx < g.groupsX(); gx++) {
                KernelContext.Block block = new KernelContext.Block(g.threadsPerBlock());
                blocks.add(block);
                startBlock(mh, g, gx, gy, block, grid, null, 0, threads, failures);
            }
        join(threads, failures, "a grid of " + g.groupsX() + " × " + g.groupsY() + " blocks", () -> {
            for (KernelContext.Block b : blocks) b.reset();
            grid.reset();
        });
    }

    private static void startBlock(MethodHandle mh, Grid g, int gx, int gy, KernelContext.Block block, java.util.concurrent.CyclicBarrier grid,
                                   KernelContext.Cluster cluster, int rank, List<Thread> threads, List<Throwable> failures) {
        for (int ly = 0; ly < g.localY(); ly++)
            for (int lx = 0; lx < g.localX(); lx++) {
                KernelContext c = context(g, gx, gy);
                c.localX = lx;
                c.localY = ly;
                c.block = block;
                c.grid = grid;
                c.cluster = cluster;
                c.clusterRank = rank;
                threads.add(Thread.ofVirtual().start(() -> {
                    try {
                        call(mh, c);
                    } catch (Throwable t) {
                        failures.add(t);
                        block.reset();   // release the others instead of leaving them waiting forever
                        if (grid != null) grid.reset();
                        if (cluster != null) cluster.phaser.forceTermination();
                    }
                }));
            }
    }

    /**
     * Waits for {@code threads}. Once one has failed, {@code breakBarriers} runs again every few milliseconds until all have
     * ended: the failed thread's own reset releases those already waiting, but a thread that reaches a barrier after it
     * waits on the barrier's next round, which the failed thread never joins (a hang, seen in CI, without this).
     */
    private static void join(List<Thread> threads, List<Throwable> failures, String where, Runnable breakBarriers) {
        for (Thread t : threads) {
            try {
                while (!t.join(java.time.Duration.ofMillis(10))) if (!failures.isEmpty()) breakBarriers.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while running a block", e);
            }
        }
        if (!failures.isEmpty()) {
            // The first failure is the cause; the others are threads released from their barriers by it.
            Throwable cause = failures.stream().filter(t -> !(t instanceof IllegalStateException e && e.getCause() instanceof java.util.concurrent.BrokenBarrierException))
                    .findFirst().orElse(failures.getFirst());
            throw new IllegalStateException("kernel failed in " + where, cause);
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

    /**
     * The {@link KernelContext} methods that {@code kernel} calls, itself or through the static methods it calls (as the
     * JIT inlines them); null when a class file cannot be read.
     */
    static java.util.Set<String> contextCalls(Method kernel) {
        java.util.Set<String> found = new java.util.HashSet<>(), seen = new java.util.HashSet<>();
        java.util.ArrayDeque<String[]> todo = new java.util.ArrayDeque<>();   // owner, name, descriptor
        todo.add(new String[]{kernel.getDeclaringClass().getName().replace('.', '/'), kernel.getName(),
                java.lang.invoke.MethodType.methodType(kernel.getReturnType(), kernel.getParameterTypes()).toMethodDescriptorString()});
        Map<String, java.lang.classfile.ClassModel> classes = new java.util.HashMap<>();
        ClassLoader loader = kernel.getDeclaringClass().getClassLoader();
        while (!todo.isEmpty()) {
            String[] m = todo.poll();
            if (!seen.add(m[0] + "." + m[1] + m[2])) continue;
            java.lang.classfile.ClassModel cm = classes.get(m[0]);
            if (cm == null) {
                try (var in = loader == null ? ClassLoader.getSystemResourceAsStream(m[0] + ".class") : loader.getResourceAsStream(m[0] + ".class")) {
                    if (in == null) return null;
                    cm = ClassFile.of().parse(in.readAllBytes());
                } catch (java.io.IOException | IllegalArgumentException e) {
                    return null;
                }
                classes.put(m[0], cm);
            }
            for (MethodModel mm : cm.methods()) {
                if (!mm.methodName().equalsString(m[1]) || !mm.methodType().equalsString(m[2])) continue;
                for (var e : mm.code().map(c -> c.elementList()).orElse(List.of()))
                    if (e instanceof InvokeInstruction inv) {
                        String owner = inv.owner().asInternalName();
                        if (owner.equals("dev/zq/runtime/KernelContext")) found.add(inv.name().stringValue());
                        else if (inv.opcode() == java.lang.classfile.Opcode.INVOKESTATIC && !owner.startsWith("java/"))
                            todo.add(new String[]{owner, inv.name().stringValue(), inv.type().stringValue()});
                    }
            }
        }
        return found;
    }

    /** Whether the kernel (or anything it calls) uses barriers, shared memory, shuffles or matrix fragments. */
    static boolean usesBlockIntrinsics(Method kernel) {
        java.util.Set<String> calls = contextCalls(kernel);
        if (calls == null) return true;   // when unsure, the cooperative path is always correct
        for (String n : calls)
            if (n.equals("barrier") || n.endsWith("Barrier") || n.equals("arriveLast") || n.startsWith("allocate") || n.startsWith("shfl") || n.startsWith("mma") || n.startsWith("ldmatrix"))
                return true;
        return false;
    }

    /** Whether the kernel (or anything it calls) uses a cluster's barrier, rank or shared memory. */
    static boolean usesClusterIntrinsics(Method kernel) {
        java.util.Set<String> calls = contextCalls(kernel);
        return calls != null && calls.stream().anyMatch(c -> c.startsWith("cluster"));
    }

    /** Whether the kernel (or anything it calls) has grid-wide barriers: then every block of the grid runs at once. */
    static boolean usesGridBarrier(Method kernel) {
        java.util.Set<String> calls = contextCalls(kernel);
        return calls != null && calls.contains("gridBarrier");
    }
}
