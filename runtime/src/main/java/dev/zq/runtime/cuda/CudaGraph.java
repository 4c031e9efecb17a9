package dev.zq.runtime.cuda;

import java.lang.foreign.MemorySegment;

/** An instantiated CUDA graph: a recorded sequence of launches and copies, replayed with one call. */
public final class CudaGraph implements AutoCloseable {
    private final CudaDevice device;
    private final MemorySegment graph, exec;

    CudaGraph(CudaDevice device, MemorySegment graph, MemorySegment exec) {
        this.device = device;
        this.graph = graph;
        this.exec = exec;
    }

    /** Enqueues the whole graph on the device's stream. */
    public void launch() throws CudaException {
        device.driver().graphLaunch(exec, device.stream());
    }

    @Override
    public void close() throws CudaException {
        device.driver().graphExecDestroy(exec);
        device.driver().graphDestroy(graph);
    }
}
