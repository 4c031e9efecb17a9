package dev.zq.runtime.internal;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.Device;
import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.KernelCompileException;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.TaskGraph;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A device that runs each task of a graph as the JIT's PTX on the CPU ({@link PtxInterpreter}), buffers in host memory
 * as on the CPU device: for tests without a GPU that a whole graph's PTX — a decoder's prefill and decode steps — computes
 * what the same graph computes on the CPU executor. Slow, and only for that. Kernels with grid barriers (their blocks
 * wait for each other, and the interpreter runs blocks one after another) and with instructions the interpreter does not
 * run are refused by name.
 */
public final class PtxDevice implements Device {
    private final KernelCompiler compiler = new KernelCompiler();
    private final Map<Method, PtxInterpreter> interpreters = new ConcurrentHashMap<>();

    @Override
    public String name() { return "the JIT's PTX, interpreted on the CPU"; }

    /** The CPU device's answer, so that graphs are built as there (a kernel with grid barriers is refused when it runs). */
    @Override
    public int residentBlocks(Method kernel, int threadsPerBlock) { return CpuExecutor.MAX_GRID_THREADS / threadsPerBlock; }

    private PtxInterpreter interpreter(Method kernel) throws KernelCompileException {
        PtxInterpreter p = interpreters.get(kernel);
        if (p != null) return p;
        if (compiler.usesGridBarrier(kernel))
            throw new IllegalArgumentException(kernel.getName() + " waits for all its blocks (a grid barrier): the PTX interpreter runs one block at a time");
        p = new PtxInterpreter(compiler.ptx(kernel), KernelCompiler.entryName(kernel));
        interpreters.put(kernel, p);
        return p;
    }

    @Override
    public ExecutionPlan plan(TaskGraph graph) {
        return new ExecutionPlan(graph) {
            @Override
            protected void run(boolean first, int times) throws Exception {
                for (int i = 0; i < times; i++)
                    for (TaskGraph.Task t : graph.tasks()) interpreter(t.kernel()).launch(t.grid(), resolve(t.args()));
            }

            @Override
            protected double replay(int times) throws Exception {
                long t0 = System.nanoTime();
                run(false, times);
                return (System.nanoTime() - t0) / 1e6;
            }

            @Override
            protected double[] profile() throws Exception {
                List<TaskGraph.Task> tasks = graph.tasks();
                double[] ms = new double[tasks.size()];
                for (int i = 0; i < ms.length; i++) {
                    long t0 = System.nanoTime();
                    interpreter(tasks.get(i).kernel()).launch(tasks.get(i).grid(), resolve(tasks.get(i).args()));
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                return ms;
            }

            @Override
            public void close() { }
        };
    }

    @Override
    public void close() { }
}
