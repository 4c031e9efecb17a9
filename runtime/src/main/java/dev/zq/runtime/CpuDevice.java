package dev.zq.runtime;

import java.util.List;

/** The CPU: kernels run as plain Java through the {@link CpuExecutor}, buffers stay where they are. */
public final class CpuDevice implements Device {
    private final CpuExecutor executor = new CpuExecutor();

    @Override
    public String name() { return "CPU (" + Runtime.getRuntime().availableProcessors() + " cores, Java " + Runtime.version() + ")"; }

    public CpuExecutor executor() { return executor; }

    /** The CPU runs a grid-barrier kernel's threads all at once, one virtual thread each, up to {@link CpuExecutor#MAX_GRID_THREADS}. */
    @Override
    public int residentBlocks(java.lang.reflect.Method kernel, int threadsPerBlock) { return CpuExecutor.MAX_GRID_THREADS / threadsPerBlock; }

    @Override
    public ExecutionPlan plan(TaskGraph graph) {
        return new ExecutionPlan(graph) {
            @Override
            protected void run(boolean first, int times) {
                for (int i = 0; i < times; i++)
                    for (TaskGraph.Task t : graph.tasks()) executor.launch(t.kernel(), t.grid(), resolve(t.args()));
            }

            @Override
            protected double replay(int times) {
                long t0 = System.nanoTime();
                run(false, times);
                return (System.nanoTime() - t0) / 1e6;
            }

            @Override
            protected double[] profile() {
                List<TaskGraph.Task> tasks = graph.tasks();
                double[] ms = new double[tasks.size()];
                for (int i = 0; i < ms.length; i++) {
                    long t0 = System.nanoTime();
                    executor.launch(tasks.get(i).kernel(), tasks.get(i).grid(), resolve(tasks.get(i).args()));
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                return ms;
            }

            @Override
            public void close() { }
        };
    }
}
