package dev.zq.runtime.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CUDA driver API ({@code libcuda.so.1}) called through {@code java.lang.foreign}: no JNI, no toolkit.
 * Each method is one driver entry point; every result is checked and a failure becomes a
 * {@link CudaException} naming the call and the driver's error name. Handles ({@code CUcontext},
 * {@code CUmodule}, …) are opaque pointers, device pointers are {@code long}s.
 */
public final class CudaDriver {
    private static final Linker LINKER = Linker.nativeLinker();
    private final SymbolLookup lib;
    private final Map<String, MethodHandle> handles = new ConcurrentHashMap<>();

    private CudaDriver(SymbolLookup lib) { this.lib = lib; }

    /** Loads the driver and calls {@code cuInit}; says clearly when there is no NVIDIA driver. */
    public static CudaDriver load() throws CudaException {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
        } catch (IllegalArgumentException e) {
            throw new CudaException("no NVIDIA driver: libcuda.so.1 could not be loaded (" + e.getMessage() + ")", e);
        }
        CudaDriver d = new CudaDriver(lib);
        d.check("cuInit", d.call("cuInit", FunctionDescriptor.of(JAVA_INT, JAVA_INT), 0));
        return d;
    }

    private MethodHandle handle(String name, FunctionDescriptor fd) {
        return handles.computeIfAbsent(name, n -> LINKER.downcallHandle(lib.find(n)
                .or(() -> n.endsWith("_v2") ? lib.find(n.substring(0, n.length() - 3)) : java.util.Optional.empty())
                .orElseThrow(() -> new IllegalStateException("libcuda.so.1 has no symbol " + n)), fd));
    }

    /** Calls entry point {@code name}; text after a '(' in it only describes the call in error messages. */
    private int call(String name, FunctionDescriptor fd, Object... args) throws CudaException {
        int paren = name.indexOf('(');
        String symbol = paren < 0 ? name : name.substring(0, paren);
        try {
            return (int) handle(symbol, fd).invokeWithArguments(args);
        } catch (CudaException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(name + " could not be called: " + t, t);
        }
    }

    void check(String call, int result) throws CudaException {
        if (result != 0) throw new CudaException(call, result, errorName(result));
    }

    /** The driver's name for a result code ({@code CUDA_ERROR_OUT_OF_MEMORY}, …). */
    public String errorName(int result) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int r = (int) handle("cuGetErrorName", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS)).invokeExact(result, p);
            if (r != 0) return "CUDA error " + result;
            return p.get(ADDRESS, 0).reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "CUDA error " + result;
        }
    }

    private int checked(String name, FunctionDescriptor fd, Object... args) throws CudaException {
        int r = call(name, fd, args);
        check(name, r);
        return r;
    }

    // ------------------------------------------------------------------ devices and contexts

    public int deviceCount() throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            checked("cuDeviceGetCount", FunctionDescriptor.of(JAVA_INT, ADDRESS), n);
            return n.get(JAVA_INT, 0);
        }
    }

    public int device(int ordinal) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(JAVA_INT);
            checked("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), d, ordinal);
            return d.get(JAVA_INT, 0);
        }
    }

    public String deviceName(int device) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(256);
            checked("cuDeviceGetName", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), s, 256, device);
            return s.getString(0);
        }
    }

    public int deviceAttribute(int device, int attribute) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            checked("cuDeviceGetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), v, attribute, device);
            return v.get(JAVA_INT, 0);
        }
    }

    /** {@code CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR} and {@code _MINOR}. */
    public static final int COMPUTE_CAPABILITY_MAJOR = 75, COMPUTE_CAPABILITY_MINOR = 76;
    /** {@code CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT}. */
    public static final int MULTIPROCESSOR_COUNT = 16;

    /** How many blocks of {@code blockSize} threads of {@code function} one multiprocessor holds at once (cuOccupancyMaxActiveBlocksPerMultiprocessor). */
    public int maxActiveBlocksPerMultiprocessor(MemorySegment function, int blockSize, long dynamicSharedBytes) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            checked("cuOccupancyMaxActiveBlocksPerMultiprocessor", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG), v, function,
                    blockSize, dynamicSharedBytes);
            return v.get(JAVA_INT, 0);
        }
    }

    public long totalMemory(int device) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            checked("cuDeviceTotalMem_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), v, device);
            return v.get(JAVA_LONG, 0);
        }
    }

    public MemorySegment primaryContextRetain(int device) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(ADDRESS);
            checked("cuDevicePrimaryCtxRetain", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), c, device);
            return c.get(ADDRESS, 0);
        }
    }

    public void primaryContextRelease(int device) throws CudaException {
        checked("cuDevicePrimaryCtxRelease_v2", FunctionDescriptor.of(JAVA_INT, JAVA_INT), device);
    }

    public void setCurrentContext(MemorySegment ctx) throws CudaException {
        checked("cuCtxSetCurrent", FunctionDescriptor.of(JAVA_INT, ADDRESS), ctx);
    }

    public void synchronize() throws CudaException {
        checked("cuCtxSynchronize", FunctionDescriptor.of(JAVA_INT));
    }

    // ------------------------------------------------------------------ memory

    public long memAlloc(long bytes) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            checked("cuMemAlloc_v2(" + bytes + " bytes)", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), p, bytes);
            return p.get(JAVA_LONG, 0);
        }
    }

    public void memFree(long ptr) throws CudaException {
        checked("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG), ptr);
    }

    public void memcpyHtoD(long dst, MemorySegment src, long bytes) throws CudaException {
        checked("cuMemcpyHtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG), dst, src, bytes);
    }

    public void memcpyDtoH(MemorySegment dst, long src, long bytes) throws CudaException {
        checked("cuMemcpyDtoH_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), dst, src, bytes);
    }

    public void memcpyDtoD(long dst, long src, long bytes) throws CudaException {
        checked("cuMemcpyDtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG), dst, src, bytes);
    }

    public void memcpyDtoDAsync(long dst, long src, long bytes, MemorySegment stream) throws CudaException {
        checked("cuMemcpyDtoDAsync_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS), dst, src, bytes, stream);
    }

    public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) throws CudaException {
        checked("cuMemcpyHtoDAsync_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS), dst, src, bytes, stream);
    }

    public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) throws CudaException {
        checked("cuMemcpyDtoHAsync_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS), dst, src, bytes, stream);
    }

    public void memsetD8(long dst, byte value, long bytes) throws CudaException {
        checked("cuMemsetD8_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ValueLayout.JAVA_BYTE, JAVA_LONG), dst, value, bytes);
    }

    /** Page-locked host memory of {@code bytes}, for asynchronous copies; free with {@link #memFreeHost}. */
    public MemorySegment memAllocHost(long bytes) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            checked("cuMemAllocHost_v2(" + bytes + " bytes)", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), p, bytes);
            return p.get(ADDRESS, 0).reinterpret(bytes);
        }
    }

    public void memFreeHost(MemorySegment p) throws CudaException {
        checked("cuMemFreeHost", FunctionDescriptor.of(JAVA_INT, ADDRESS), p);
    }

    // ------------------------------------------------------------------ modules and launches

    /**
     * Loads PTX text; the driver JIT-compiles it. On failure the exception carries the JIT's error log,
     * which names the PTX line that the driver rejected.
     */
    public MemorySegment moduleLoadPtx(String ptx) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            int logSize = 16 << 10;
            MemorySegment errLog = a.allocate(logSize), infoLog = a.allocate(logSize);
            // CU_JIT_INFO_LOG_BUFFER = 3, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4, CU_JIT_ERROR_LOG_BUFFER = 5, …_SIZE_BYTES = 6
            MemorySegment opts = a.allocateFrom(JAVA_INT, 3, 4, 5, 6);
            MemorySegment vals = a.allocate(ADDRESS, 4);
            vals.setAtIndex(ADDRESS, 0, infoLog);
            vals.setAtIndex(ADDRESS, 1, MemorySegment.ofAddress(logSize));
            vals.setAtIndex(ADDRESS, 2, errLog);
            vals.setAtIndex(ADDRESS, 3, MemorySegment.ofAddress(logSize));
            MemorySegment mod = a.allocate(ADDRESS);
            int r = call("cuModuleLoadDataEx", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS),
                    mod, a.allocateFrom(ptx), 4, opts, vals);
            if (r != 0) {
                String log = errLog.getString(0);
                throw new CudaException("cuModuleLoadDataEx", r, errorName(r) + (log.isBlank() ? "" : "; JIT log: " + log.strip()));
            }
            return mod.get(ADDRESS, 0);
        }
    }

    public MemorySegment moduleFunction(MemorySegment module, String name) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ADDRESS);
            checked("cuModuleGetFunction(" + name + ")", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), f, module, a.allocateFrom(name));
            return f.get(ADDRESS, 0);
        }
    }

    /** {@code cuModuleGetGlobal}: the device address of a module's {@code .global} variable {@code name}. */
    public long moduleGlobal(MemorySegment module, String name) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ptr = a.allocate(JAVA_LONG), bytes = a.allocate(JAVA_LONG);
            checked("cuModuleGetGlobal_v2(" + name + ")", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS), ptr, bytes, module,
                    a.allocateFrom(name));
            return ptr.get(JAVA_LONG, 0);
        }
    }

    /** {@code cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)}: lets launches of {@code function} ask for that many bytes. */
    public void allowDynamicShared(MemorySegment function, int bytes) throws CudaException {
        checked("cuFuncSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), function, 8, bytes);
    }

    /**
     * {@code cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)}: the share (0–100 %) of the SM's
     * L1/shared array that {@code function}'s launches would like as shared memory; the driver takes it as a hint.
     */
    public void preferSharedCarveout(MemorySegment function, int percent) throws CudaException {
        checked("cuFuncSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), function, 9, percent);
    }

    /**
     * {@code cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1)}: lets {@code function} run in
     * clusters of more than 8 blocks (up to 16 on Hopper), which its PTX asks for with {@code .reqnctapercluster}.
     */
    public void allowNonPortableClusterSize(MemorySegment function) throws CudaException {
        checked("cuFuncSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), function, 14, 1);
    }

    public void moduleUnload(MemorySegment module) throws CudaException {
        checked("cuModuleUnload", FunctionDescriptor.of(JAVA_INT, ADDRESS), module);
    }

    /** {@code params}: an array of pointers, one per kernel parameter, each pointing at the argument's value. */
    public void launchKernel(MemorySegment function, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                             MemorySegment stream, MemorySegment params) throws CudaException {
        checked("cuLaunchKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS, ADDRESS), function, gx, gy, gz, bx, by, bz, sharedBytes, stream, params, MemorySegment.NULL);
    }

    // ------------------------------------------------------------------ streams, events, graphs

    public MemorySegment streamCreate() throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(ADDRESS);
            checked("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), s, 1 /* CU_STREAM_NON_BLOCKING */);
            return s.get(ADDRESS, 0);
        }
    }

    public void streamSynchronize(MemorySegment stream) throws CudaException {
        checked("cuStreamSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS), stream);
    }

    public void streamDestroy(MemorySegment stream) throws CudaException {
        checked("cuStreamDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS), stream);
    }

    public MemorySegment eventCreate() throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(ADDRESS);
            checked("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), e, 0);
            return e.get(ADDRESS, 0);
        }
    }

    public void eventRecord(MemorySegment event, MemorySegment stream) throws CudaException {
        checked("cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), event, stream);
    }

    public void eventSynchronize(MemorySegment event) throws CudaException {
        checked("cuEventSynchronize", FunctionDescriptor.of(JAVA_INT, ADDRESS), event);
    }

    /** Milliseconds between two recorded events. */
    public float eventElapsedMillis(MemorySegment start, MemorySegment end) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocate(JAVA_FLOAT);
            checked("cuEventElapsedTime", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), ms, start, end);
            return ms.get(JAVA_FLOAT, 0);
        }
    }

    public void eventDestroy(MemorySegment event) throws CudaException {
        checked("cuEventDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS), event);
    }

    /** Starts recording the stream's work into a graph (CU_STREAM_CAPTURE_MODE_THREAD_LOCAL). */
    public void streamBeginCapture(MemorySegment stream) throws CudaException {
        checked("cuStreamBeginCapture_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), stream, 1);
    }

    public MemorySegment streamEndCapture(MemorySegment stream) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(ADDRESS);
            checked("cuStreamEndCapture", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), stream, g);
            return g.get(ADDRESS, 0);
        }
    }

    public MemorySegment graphInstantiate(MemorySegment graph) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment e = a.allocate(ADDRESS);
            checked("cuGraphInstantiateWithFlags", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), e, graph, 0L);
            return e.get(ADDRESS, 0);
        }
    }

    public MemorySegment graphCreate() throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(ADDRESS);
            checked("cuGraphCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), g, 0);
            return g.get(ADDRESS, 0);
        }
    }

    /**
     * {@code CUDA_KERNEL_NODE_PARAMS_v2}: function, grid and block dims, shared bytes, the kernel parameter
     * pointer array, extra (null), kernel and context handles (null: the function's own context).
     */
    public static MemorySegment kernelNodeParams(Arena a, MemorySegment function, int gx, int gy, int bx, int by, int sharedBytes, MemorySegment params) {
        MemorySegment p = a.allocate(72, 8);
        p.set(ADDRESS, 0, function);
        p.set(JAVA_INT, 8, gx);
        p.set(JAVA_INT, 12, gy);
        p.set(JAVA_INT, 16, 1);
        p.set(JAVA_INT, 20, bx);
        p.set(JAVA_INT, 24, by);
        p.set(JAVA_INT, 28, 1);
        p.set(JAVA_INT, 32, sharedBytes);
        p.set(ADDRESS, 40, params);
        return p;
    }

    /** Adds a kernel node depending on {@code dependency} (or on nothing when it is NULL). */
    public MemorySegment graphAddKernelNode(MemorySegment graph, MemorySegment dependency, MemorySegment nodeParams) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment node = a.allocate(ADDRESS);
            MemorySegment deps = a.allocate(ADDRESS);
            deps.set(ADDRESS, 0, dependency);
            long n = dependency.equals(MemorySegment.NULL) ? 0 : 1;
            checked("cuGraphAddKernelNode_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS),
                    node, graph, n == 0 ? MemorySegment.NULL : deps, n, nodeParams);
            return node.get(ADDRESS, 0);
        }
    }

    /** Whether the driver can annotate graph edges (CUDA 12.3+), which programmatic dependent launches need. */
    public boolean hasEdgeData() { return lib.find("cuGraphAddDependencies_v2").isPresent(); }

    /**
     * Makes kernel node {@code to} a programmatic dependent of kernel node {@code from}: {@code to} may launch once every
     * block of {@code from} has run {@code griddepcontrol.launch_dependents} (or exited), and its own
     * {@code griddepcontrol.wait} waits for {@code from} to finish ({@code CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC},
     * {@code CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC}).
     */
    public void graphAddProgrammaticDependency(MemorySegment graph, MemorySegment from, MemorySegment to) throws CudaException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ADDRESS), t = a.allocate(ADDRESS), edge = a.allocate(8, 8);   // CUgraphEdgeData
            f.set(ADDRESS, 0, from);
            t.set(ADDRESS, 0, to);
            edge.fill((byte) 0);
            edge.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);   // from_port: CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC
            edge.set(ValueLayout.JAVA_BYTE, 2, (byte) 1);   // type: CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC
            checked("cuGraphAddDependencies_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG), graph, f, t, edge, 1L);
        }
    }

    /** Changes the arguments of one kernel node of an instantiated graph, without rebuilding it. */
    public void graphExecKernelNodeSetParams(MemorySegment exec, MemorySegment node, MemorySegment nodeParams) throws CudaException {
        checked("cuGraphExecKernelNodeSetParams_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), exec, node, nodeParams);
    }

    public void graphLaunch(MemorySegment exec, MemorySegment stream) throws CudaException {
        checked("cuGraphLaunch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), exec, stream);
    }

    public void graphExecDestroy(MemorySegment exec) throws CudaException {
        checked("cuGraphExecDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), exec);
    }

    public void graphDestroy(MemorySegment graph) throws CudaException {
        checked("cuGraphDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), graph);
    }
}
