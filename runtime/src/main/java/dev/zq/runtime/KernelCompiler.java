package dev.zq.runtime;

import dev.zq.runtime.internal.PtxTranslator;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Compiles {@link Kernel} methods to PTX with the project's JIT and caches the text per method. The PTX
 * targets {@code sm_90} (Hopper) with PTX ISA 8.0, which the CUDA 12+ drivers load; a kernel that uses the warpgroup
 * tensor-core instruction ({@link KernelContext#wgmmaS8}) targets {@code sm_90a}, the only target that has it (its shared
 * arrays then start at 1024-byte boundaries, which wgmma's swizzles count from).
 */
public final class KernelCompiler {
    private final Map<Method, String> cache = new ConcurrentHashMap<>();
    private final Map<Method, Integer> dynamicShared = new ConcurrentHashMap<>();

    /** The PTX of {@code kernel}; its entry is named {@link #entryName}. */
    public String ptx(Method kernel) throws KernelCompileException {
        String cached = cache.get(kernel);
        if (cached != null) return cached;
        if (!kernel.isAnnotationPresent(Kernel.class))
            throw new KernelCompileException(kernel + " is not annotated @Kernel");
        String ptx = PtxTranslator.translate(kernel, entryName(kernel));
        cache.putIfAbsent(kernel, ptx);
        return ptx;
    }

    /**
     * Whether {@code kernel} waits for its predecessor itself ({@link KernelContext#awaitPreviousKernel}), so that a
     * CUDA graph may start it programmatically, overlapping the predecessor's end.
     */
    public boolean awaitsPreviousKernel(Method kernel) throws KernelCompileException {
        return ptx(kernel).contains("griddepcontrol.wait");
    }

    /** Whether {@code kernel} has grid-wide barriers ({@link KernelContext#gridBarrier}): its blocks must all be resident at once. */
    public boolean usesGridBarrier(Method kernel) throws KernelCompileException {
        return ptx(kernel).contains("// grid barrier");
    }

    /**
     * Bytes of dynamic shared memory {@code kernel} needs at launch: its shared arrays when they pass the 48 KiB a block
     * may declare statically (up to 227 KiB; the JIT then places them in one extern array), else 0.
     */
    public int dynamicSharedBytes(Method kernel) throws KernelCompileException {
        Integer cached = dynamicShared.get(kernel);
        if (cached != null) return cached;   // asked at every launch: the PTX is not searched again
        String ptx = ptx(kernel);
        var m = java.util.regex.Pattern.compile("// dynamic shared memory: (\\d+) bytes").matcher(ptx.substring(0, Math.min(ptx.length(), 4096)));
        int bytes = m.find() ? Integer.parseInt(m.group(1)) : 0;
        dynamicShared.put(kernel, bytes);
        return bytes;
    }

    /** A PTX-safe entry name: class and method, non-identifier characters replaced. */
    public static String entryName(Method kernel) {
        return (kernel.getDeclaringClass().getSimpleName() + "_" + kernel.getName()).replaceAll("[^A-Za-z0-9_]", "_");
    }

    /**
     * The blocks a cluster of {@code kernel} holds along x ({@link Kernel#cluster}, 1 to 16), once {@code grid} is checked
     * to be made of whole clusters: the one check, and message, of every device.
     */
    public static int clusterSize(Method kernel, Grid grid) {
        int size = kernel.getAnnotation(Kernel.class).cluster();
        if (size < 1 || size > 16) throw new IllegalArgumentException(kernel.getName() + ": clusters of 1 to 16 blocks, not " + size);
        if (grid.groupsX() % size != 0)
            throw new IllegalArgumentException(kernel.getName() + " runs in clusters of " + size + " blocks along x; the grid has " + grid.groupsX());
        return size;
    }

    /** The {@code @Kernel} method {@code name} of {@code owner} (kernels are not overloaded). */
    public static Method find(Class<?> owner, String name) {
        Method[] found = Arrays.stream(owner.getDeclaredMethods())
                .filter(m -> m.getName().equals(name) && m.isAnnotationPresent(Kernel.class)).toArray(Method[]::new);
        if (found.length != 1)
            throw new IllegalArgumentException(owner.getName() + " has " + found.length + " @Kernel methods named " + name);
        return found[0];
    }
}
