package dev.zq.runtime.cuda;

import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.internal.SpinKernel;
import dev.zq.runtime.KernelBuffer;
import dev.zq.runtime.TaskGraph;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A task graph on a GPU. The first execution allocates device memory for every buffer, copies the inputs,
 * builds one CUDA graph whose kernel nodes form a chain in task order (an edge into a kernel that awaits its predecessor
 * itself is programmatic), instantiates and launches it; later
 * executions copy only the every-execution inputs, patch the kernel nodes whose {@link TaskGraph.Scalar}s
 * changed ({@code cuGraphExecKernelNodeSetParams}) and relaunch the same executable graph.
 */
final class CudaPlan extends ExecutionPlan {
    /**
     * Programmatic dependent launch between consecutive kernels that call {@code KernelContext.awaitPreviousKernel}; on by
     * default, {@code -Dzq.cuda.programmaticLaunch=false} turns it off (every edge a full dependency), e.g. to measure it.
     */
    static final boolean PROGRAMMATIC_LAUNCH = !"false".equals(System.getProperty("zq.cuda.programmaticLaunch"));

    private final CudaDevice gpu;
    private final CudaDriver d;
    private final Arena arena = Arena.ofShared();   // kernel argument values live as long as the graph
    private final Map<KernelBuffer, DeviceMemory> memory = new IdentityHashMap<>();
    private final CudaPlan resident;   // whose device memory this plan uses for the buffers it already holds, or null
    private final java.util.Set<KernelBuffer> borrowed = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<DeviceMemory> allocations = new ArrayList<>();
    private final List<MemorySegment> nodes = new ArrayList<>(), nodeParams = new ArrayList<>(), kernelParams = new ArrayList<>();
    private final List<MemorySegment[]> argSlots = new ArrayList<>();
    private final List<Integer> dirty = new ArrayList<>();
    private MemorySegment graphHandle, exec, start, end;

    CudaPlan(CudaDevice gpu, TaskGraph graph, CudaPlan resident) {
        super(graph);
        this.gpu = gpu;
        this.d = gpu.driver();
        this.resident = resident;
    }

    CudaDevice device() { return gpu; }

    @Override
    protected void scalarChanged(TaskGraph.Scalar<?> scalar) {
        List<TaskGraph.Task> tasks = graph.tasks();
        for (int i = 0; i < tasks.size(); i++)
            for (Object a : tasks.get(i).args()) if (a == scalar && !dirty.contains(i)) dirty.add(i);
    }

    @Override
    protected void run(boolean first, int times) throws Exception {
        if (first) {
            allocate();
            for (KernelBuffer b : graph.toDevice(TaskGraph.Transfer.FIRST_EXECUTION))
                if (!borrowed.contains(b)) gpu.copyIn(memory.get(b), b.segment());
        }
        for (KernelBuffer b : graph.toDevice(TaskGraph.Transfer.EVERY_EXECUTION)) gpu.copyIn(memory.get(b), b.segment());
        if (first) build();
        else {
            for (int i : dirty) {
                writeArgs(i);
                d.graphExecKernelNodeSetParams(exec, nodes.get(i), nodeParams.get(i));
            }
        }
        dirty.clear();
        for (int i = 0; i < times; i++) d.graphLaunch(exec, gpu.stream());
        gpu.synchronize();
        if (first) for (KernelBuffer b : graph.toHost(TaskGraph.Transfer.FIRST_EXECUTION)) gpu.copyOut(b.segment(), memory.get(b));
        for (KernelBuffer b : graph.toHost(TaskGraph.Transfer.EVERY_EXECUTION)) gpu.copyOut(b.segment(), memory.get(b));
    }

    @Override
    protected double replay(int times) throws CudaException {
        if (start == null) {
            start = d.eventCreate();
            end = d.eventCreate();
        }
        d.eventRecord(start, gpu.stream());
        for (int i = 0; i < times; i++) d.graphLaunch(exec, gpu.stream());
        d.eventRecord(end, gpu.stream());
        d.eventSynchronize(end);
        return d.eventElapsedMillis(start, end);
    }

    @Override
    protected double[] profile() throws Exception {
        List<TaskGraph.Task> tasks = graph.tasks();
        MemorySegment[] events = new MemorySegment[tasks.size() + 1];
        DeviceMemory spun = gpu.allocate(4);
        try {
            for (int i = 0; i < events.length; i++) events[i] = d.eventCreate();
            // The GPU spins (~40 µs a task) while the host enqueues every launch behind it: each interval is then one
            // kernel's device time (with the gap between two launches in a stream), not the host's time to enqueue it.
            Method spin = KernelCompiler.find(SpinKernel.class, "spin");
            gpu.launch(spin, Grid.of(1, 32), spun, 10_000 * tasks.size());
            d.eventRecord(events[0], gpu.stream());
            for (int i = 0; i < tasks.size(); i++) {
                TaskGraph.Task t = tasks.get(i);
                d.launchKernel(gpu.function(t.kernel()), t.grid().groupsX(), t.grid().groupsY(), 1, t.grid().localX(), t.grid().localY(), 1,
                        gpu.compiler().dynamicSharedBytes(t.kernel()), gpu.stream(), kernelParams.get(i));
                d.eventRecord(events[i + 1], gpu.stream());
            }
            d.eventSynchronize(events[tasks.size()]);
            double[] ms = new double[tasks.size()];
            for (int i = 0; i < ms.length; i++) ms[i] = d.eventElapsedMillis(events[i], events[i + 1]);
            return ms;
        } finally {
            for (MemorySegment e : events) if (e != null) d.eventDestroy(e);
            gpu.free(spun);
        }
    }

    /**
     * One device allocation per stretch of host memory: buffers whose host segments overlap (two views of one tensor,
     * or a view of a slice of another) share device memory at the same offsets, as they share host memory, so what
     * one kernel writes through one of them the next reads through the other.
     */
    private void allocate() throws CudaException {
        if (resident != null && resident.memory.isEmpty())
            throw new IllegalStateException("execute the plan of " + resident.graph.name() + " before a plan that shares its device memory");
        List<KernelBuffer> byAddress = new ArrayList<>();
        for (KernelBuffer b : graph.buffers()) {
            DeviceMemory there = resident == null ? null : resident.memory.get(b);
            if (there == null) byAddress.add(b);
            else {
                memory.put(b, there);
                borrowed.add(b);
            }
        }
        byAddress.sort(java.util.Comparator.comparingLong(b -> b.segment().address()));
        int i = 0;
        while (i < byAddress.size()) {
            long start = byAddress.get(i).segment().address(), end = start + byAddress.get(i).segment().byteSize();
            int j = i + 1;
            while (j < byAddress.size() && byAddress.get(j).segment().address() < end) {
                end = Math.max(end, byAddress.get(j).segment().address() + byAddress.get(j).segment().byteSize());
                j++;
            }
            DeviceMemory region = gpu.allocate(end - start);
            allocations.add(region);
            for (KernelBuffer b : byAddress.subList(i, j)) {
                long offset = b.segment().address() - start;
                memory.put(b, new DeviceMemory(region.pointer() + offset, b.segment().byteSize()));
            }
            i = j;
        }
    }

    private void build() throws Exception {
        graphHandle = d.graphCreate();
        MemorySegment previous = MemorySegment.NULL;
        boolean programmatic = PROGRAMMATIC_LAUNCH && d.hasEdgeData();
        List<TaskGraph.Task> tasks = graph.tasks();
        for (int i = 0; i < tasks.size(); i++) {
            TaskGraph.Task t = tasks.get(i);
            Object[] args = t.args();
            MemorySegment params = arena.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
            MemorySegment[] slots = new MemorySegment[args.length];
            for (int k = 0; k < args.length; k++) {
                slots[k] = arena.allocate(8, 8);
                params.setAtIndex(ValueLayout.ADDRESS, k, slots[k]);
            }
            argSlots.add(slots);
            kernelParams.add(params);
            writeArgs(i);
            gpu.checkResident(t.kernel(), t.grid());
            MemorySegment np = CudaDriver.kernelNodeParams(arena, gpu.function(t.kernel()), t.grid().groupsX(), t.grid().groupsY(),
                    t.grid().localX(), t.grid().localY(), gpu.compiler().dynamicSharedBytes(t.kernel()), params);
            nodeParams.add(np);
            // A kernel that waits for its predecessor itself starts programmatically: its launch overlaps the predecessor's end.
            boolean overlap = i > 0 && programmatic && gpu.compiler().awaitsPreviousKernel(t.kernel());
            MemorySegment node = d.graphAddKernelNode(graphHandle, overlap ? MemorySegment.NULL : previous, np);
            if (overlap) d.graphAddProgrammaticDependency(graphHandle, previous, node);
            previous = node;
            nodes.add(node);
        }
        exec = d.graphInstantiate(graphHandle);
    }

    /** Writes task {@code i}'s current argument values into its parameter slots. */
    private void writeArgs(int i) {
        Object[] args = resolve(graph.tasks().get(i).args());
        MemorySegment[] slots = argSlots.get(i);
        for (int k = 0; k < args.length; k++) {
            switch (args[k]) {
                case KernelBuffer b -> slots[k].set(ValueLayout.JAVA_LONG, 0, memory.get(b).pointer());
                case Integer v -> slots[k].set(ValueLayout.JAVA_INT, 0, v);
                case Long v -> slots[k].set(ValueLayout.JAVA_LONG, 0, v);
                case Float v -> slots[k].set(ValueLayout.JAVA_FLOAT, 0, v);
                case Double v -> slots[k].set(ValueLayout.JAVA_DOUBLE, 0, v);
                default -> throw new IllegalStateException("unexpected argument " + args[k]);
            }
        }
    }

    @Override
    public void close() throws Exception {
        if (start != null) {
            d.eventDestroy(start);
            d.eventDestroy(end);
        }
        if (exec != null) d.graphExecDestroy(exec);
        if (graphHandle != null) d.graphDestroy(graphHandle);
        for (DeviceMemory m : allocations) gpu.free(m);
        arena.close();
    }
}
