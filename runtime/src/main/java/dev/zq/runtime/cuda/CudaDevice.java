package dev.zq.runtime.cuda;

import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelBuffer;
import dev.zq.runtime.KernelCompileException;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.internal.PtxTranslator;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One CUDA GPU: its primary context, a stream, the kernels loaded on it and the memory allocated through
 * it. Kernels are {@code @Kernel} Java methods compiled by the project's JIT and loaded as PTX; arguments
 * are {@link DeviceMemory} (device pointers), {@code int}, {@code long}, {@code float} or {@code double}.
 * Not thread-safe: one thread drives a device. Closing frees what is still allocated.
 */
public final class CudaDevice implements dev.zq.runtime.Device {
    /**
     * {@code -Dzq.cuda.carveout=P} (0–100): every kernel's preferred shared-memory carve-out, the same for all, so that
     * consecutive kernels of a graph never ask an SM for different L1/shared splits (an SM changes its split only when
     * idle, which would keep the next kernel's blocks off it). Unset (−1): the driver's choice per kernel, the default:
     * on the H200 a uniform 25% ran decode steps at the default's speed and 100% (the least L1) made GPT-3 1.3B's 0.5–3%
     * faster and GPT-2's 0.6–2.3% slower (bench/RESULTS.md, session 25).
     */
    static final int CARVEOUT = carveout(System.getProperty("zq.cuda.carveout"));

    static int carveout(String value) {
        if (value == null || value.isBlank()) return -1;
        int p;
        try {
            p = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("zq.cuda.carveout must be a percentage 0-100, not '" + value + "'");
        }
        if (p < 0 || p > 100) throw new IllegalArgumentException("zq.cuda.carveout must be a percentage 0-100, not " + p);
        return p;
    }

    private final CudaDriver driver;
    private final int device;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final KernelCompiler compiler = new KernelCompiler();
    private final Map<Method, MemorySegment> functions = new HashMap<>();
    private final List<MemorySegment> modules = new ArrayList<>();
    private final Map<Method, MemorySegment> tracedModules = new java.util.LinkedHashMap<>();
    private final Set<Long> allocations = new LinkedHashSet<>();
    private final String name;
    private boolean closed;
    private int multiprocessors;
    private final int computeCapability;

    private CudaDevice(CudaDriver driver, int device, int computeCapability) throws CudaException {
        this.driver = driver;
        this.device = device;
        this.computeCapability = computeCapability;
        this.context = driver.primaryContextRetain(device);
        driver.setCurrentContext(context);
        this.stream = driver.streamCreate();
        this.name = driver.deviceName(device);
    }

    /** The GPU with the given ordinal; a clear {@link CudaException} where there is no driver or no such GPU. */
    public static CudaDevice open(int ordinal) throws CudaException {
        CudaDriver d = CudaDriver.load();
        int n = d.deviceCount();
        if (ordinal < 0 || ordinal >= n) throw new CudaException("no CUDA device " + ordinal + " (" + n + " present)");
        int device = d.device(ordinal);
        int major = d.deviceAttribute(device, CudaDriver.COMPUTE_CAPABILITY_MAJOR), minor = d.deviceAttribute(device, CudaDriver.COMPUTE_CAPABILITY_MINOR);
        requireSupported(d.deviceName(device), major, minor);
        return new CudaDevice(d, device, 10 * major + minor);
    }

    /**
     * Refuses a GPU older than Hopper, before anything is loaded on it: the JIT's PTX targets {@code sm_90}, which the
     * driver cannot turn into code for an earlier GPU (every kernel's load would fail, each with the driver's error).
     */
    public static void requireSupported(String name, int major, int minor) throws CudaException {
        if (major < 9)
            throw new CudaException(name + " has compute capability " + major + "." + minor + ": zq's kernels are PTX for sm_90, "
                    + "which needs compute capability 9.0 or later (Hopper: H100, H200, GH200)");
    }

    /** The compute capability as major·10 + minor: 90 for Hopper. */
    public int computeCapability() { return computeCapability; }

    /**
     * Whether this GPU runs the warpgroup tensor-core kernels ({@code wgmma}, PTX target {@code sm_90a}, which only
     * compute capability 9.0 has: a later GPU JIT-compiles {@code sm_90} PTX, not {@code sm_90a}).
     */
    public boolean hasWarpgroupMma() { return computeCapability == 90; }

    public CudaDriver driver() { return driver; }

    @Override
    public dev.zq.runtime.ExecutionPlan plan(dev.zq.runtime.TaskGraph graph) { return new CudaPlan(this, graph, null); }

    @Override
    public dev.zq.runtime.ExecutionPlan plan(dev.zq.runtime.TaskGraph graph, dev.zq.runtime.ExecutionPlan residentWith) {
        if (!(residentWith instanceof CudaPlan p) || p.device() != this)
            throw new IllegalArgumentException("a plan can share device memory only with another plan of the same GPU");
        return new CudaPlan(this, graph, p);
    }
    public MemorySegment stream() { return stream; }
    @Override
    public String name() { return name; }
    public KernelCompiler compiler() { return compiler; }

    // ------------------------------------------------------------------ memory

    public DeviceMemory allocate(long bytes) throws CudaException {
        long p = driver.memAlloc(Math.max(1, bytes));
        allocations.add(p);
        return new DeviceMemory(p, bytes);
    }

    public void free(DeviceMemory m) throws CudaException {
        if (allocations.remove(m.pointer())) driver.memFree(m.pointer());
    }

    public void copyIn(DeviceMemory dst, MemorySegment src) throws CudaException {
        check(dst, src.byteSize());
        driver.memcpyHtoD(dst.pointer(), src, src.byteSize());
    }

    public void copyOut(MemorySegment dst, DeviceMemory src) throws CudaException {
        check(src, dst.byteSize());
        driver.memcpyDtoH(dst, src.pointer(), dst.byteSize());
    }

    private static void check(DeviceMemory m, long bytes) {
        if (bytes > m.bytes()) throw new IllegalArgumentException(bytes + " bytes do not fit a device allocation of " + m.bytes());
    }

    // ------------------------------------------------------------------ kernels

    /** Compiles (once) and loads (once) a kernel; the driver's JIT log is in the exception if it refuses the PTX. */
    public MemorySegment function(Method kernel) throws KernelCompileException, CudaException {
        MemorySegment f = functions.get(kernel);
        if (f != null) return f;
        String ptx = compiler.ptx(kernel);
        MemorySegment module;
        try {
            module = driver.moduleLoadPtx(ptx);
        } catch (CudaException e) {
            throw new KernelCompileException("the driver rejected the PTX of " + kernel.getName() + ": " + e.getMessage(), e);
        }
        modules.add(module);
        if (PtxTranslator.TRACE) tracedModules.put(kernel, module);
        f = driver.moduleFunction(module, KernelCompiler.entryName(kernel));
        int dynamic = compiler.dynamicSharedBytes(kernel);
        if (dynamic > 0) driver.allowDynamicShared(f, dynamic);
        if (CARVEOUT >= 0) driver.preferSharedCarveout(f, CARVEOUT);
        if (kernel.getAnnotation(dev.zq.runtime.Kernel.class).cluster() > 8) driver.allowNonPortableClusterSize(f);
        functions.put(kernel, f);
        return f;
    }

    /** One record of {@link PtxTranslator#TRACE}: {@code kernel}'s block {@code block} (of {@code blocks}) at {@code event}, {@code %globaltimer} ns. */
    public record TraceRecord(String kernel, long timeNs, int event, int block, int blocks) {}

    /**
     * The records that the kernels loaded so far have traced since the last call (with {@code -Dzq.ptx.trace=true};
     * none without), their buffers and counters set back to zero. Call it with the stream idle.
     */
    public List<TraceRecord> takeTrace() throws CudaException {
        List<TraceRecord> all = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(4);
            for (var e : tracedModules.entrySet()) {
                long at = driver.moduleGlobal(e.getValue(), PtxTranslator.TRACE_COUNT);
                driver.memcpyDtoH(count, at, 4);
                int n = Math.min(count.get(ValueLayout.JAVA_INT, 0), PtxTranslator.TRACE_CAPACITY);
                if (n > 0) {
                    MemorySegment records = a.allocate(16L * n);
                    driver.memcpyDtoH(records, driver.moduleGlobal(e.getValue(), PtxTranslator.TRACE_BUFFER), 16L * n);
                    String name = e.getKey().getDeclaringClass().getSimpleName() + "." + e.getKey().getName();
                    for (int i = 0; i < n; i++) {
                        int lo = records.getAtIndex(ValueLayout.JAVA_INT, 4L * i), hi = records.getAtIndex(ValueLayout.JAVA_INT, 4L * i + 1);
                        int tag = records.getAtIndex(ValueLayout.JAVA_INT, 4L * i + 2), blocks = records.getAtIndex(ValueLayout.JAVA_INT, 4L * i + 3);
                        if (lo != 0 || hi != 0) all.add(new TraceRecord(name, (long) hi << 32 | (lo & 0xFFFFFFFFL), tag >>> 28, tag & 0x0FFFFFFF, blocks));
                    }
                }
                driver.memsetD8(at, (byte) 0, 4);
                if (n > 0) driver.memsetD8(driver.moduleGlobal(e.getValue(), PtxTranslator.TRACE_BUFFER), (byte) 0, 16L * n);   // slots left unused read as zeros
            }
        }
        return all;
    }

    @Override
    public int residentBlocks(Method kernel, int threadsPerBlock) {
        try {
            return multiprocessors() * driver.maxActiveBlocksPerMultiprocessor(function(kernel), threadsPerBlock, compiler.dynamicSharedBytes(kernel));
        } catch (KernelCompileException | CudaException e) {
            throw new IllegalArgumentException("cannot tell how many blocks of " + kernel.getName() + " fit: " + e.getMessage(), e);
        }
    }

    /** The device's streaming multiprocessors (SMs): 132 on an H100 or H200 SXM. */
    public int multiprocessors() throws CudaException {
        if (multiprocessors == 0) multiprocessors = driver.deviceAttribute(device, CudaDriver.MULTIPROCESSOR_COUNT);
        return multiprocessors;
    }

    /**
     * Refuses a grid that is not made of whole clusters of a kernel launched in clusters, and a grid of a kernel with
     * grid barriers that the device cannot hold at once: its resident blocks would wait
     * forever for the others.
     */
    void checkResident(Method kernel, Grid grid) throws KernelCompileException {
        KernelCompiler.clusterSize(kernel, grid);
        if (!compiler.usesGridBarrier(kernel)) return;
        long blocks = (long) grid.groupsX() * grid.groupsY();
        int resident = residentBlocks(kernel, grid.threadsPerBlock());
        if (blocks > resident)
            throw new IllegalArgumentException(kernel.getName() + " has grid barriers, so all its blocks must run at once, but " + name + " holds "
                    + resident + " blocks of " + grid.threadsPerBlock() + " threads of it, not " + blocks);
    }

    /** Launches asynchronously on this device's stream; {@code args} exclude the KernelContext. */
    public void launch(Method kernel, Grid grid, Object... args) throws KernelCompileException, CudaException {
        MemorySegment f = function(kernel);
        checkResident(kernel, grid);
        if (args.length != kernel.getParameterCount() - 1)
            throw new IllegalArgumentException(kernel.getName() + " takes " + (kernel.getParameterCount() - 1) + " arguments, got " + args.length);
        Class<?>[] types = kernel.getParameterTypes();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = a.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                Class<?> t = types[i + 1];
                Object v = args[i];
                MemorySegment slot = switch (v) {
                    case DeviceMemory m when KernelBuffer.class.isAssignableFrom(t) -> a.allocateFrom(ValueLayout.JAVA_LONG, m.pointer());
                    case Integer x when t == int.class -> a.allocateFrom(ValueLayout.JAVA_INT, x);
                    case Long x when t == long.class -> a.allocateFrom(ValueLayout.JAVA_LONG, x);
                    case Float x when t == float.class -> a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
                    case Double x when t == double.class -> a.allocateFrom(ValueLayout.JAVA_DOUBLE, x);
                    default -> throw new IllegalArgumentException("argument " + i + " of " + kernel.getName() + " is "
                            + (v == null ? "null" : v.getClass().getSimpleName()) + ", the kernel wants " + t.getSimpleName()
                            + (KernelBuffer.class.isAssignableFrom(t) ? " (pass DeviceMemory)" : ""));
                };
                params.setAtIndex(ValueLayout.ADDRESS, i, slot);
            }
            driver.launchKernel(f, grid.groupsX(), grid.groupsY(), 1, grid.localX(), grid.localY(), 1, compiler.dynamicSharedBytes(kernel), stream, params);
        }
    }

    /**
     * Runs a kernel on host buffers: copies every buffer argument to the device, launches, waits, and
     * copies every buffer back. The simple path for tests; task graphs keep data on the device instead.
     */
    public void run(Method kernel, Grid grid, Object... hostArgs) throws KernelCompileException, CudaException {
        Object[] args = hostArgs.clone();
        List<DeviceMemory> temp = new ArrayList<>();
        try {
            for (int i = 0; i < args.length; i++)
                if (args[i] instanceof KernelBuffer b) {
                    DeviceMemory m = allocate(b.segment().byteSize());
                    temp.add(m);
                    copyIn(m, b.segment());
                    args[i] = m;
                }
            launch(kernel, grid, args);
            synchronize();
            int k = 0;
            for (Object h : hostArgs) if (h instanceof KernelBuffer b) copyOut(b.segment(), temp.get(k++));
        } finally {
            for (DeviceMemory m : temp) free(m);
        }
    }

    public void synchronize() throws CudaException { driver.streamSynchronize(stream); }

    // ------------------------------------------------------------------ graphs

    /** Work recorded once and replayed with one driver call. */
    public interface Recording { void record() throws KernelCompileException, CudaException; }

    /** Captures what {@code work} enqueues on this device's stream into an executable CUDA graph. */
    public CudaGraph capture(Recording work) throws KernelCompileException, CudaException {
        driver.streamBeginCapture(stream);
        MemorySegment graph;
        try {
            work.record();
        } finally {
            graph = driver.streamEndCapture(stream);
        }
        MemorySegment exec = driver.graphInstantiate(graph);
        return new CudaGraph(this, graph, exec);
    }

    @Override
    public void close() throws CudaException {
        if (closed) return;
        closed = true;
        for (long p : allocations) driver.memFree(p);
        allocations.clear();
        for (MemorySegment m : modules) driver.moduleUnload(m);
        driver.streamDestroy(stream);
        driver.primaryContextRelease(device);
    }
}
