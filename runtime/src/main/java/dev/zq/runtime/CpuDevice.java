package dev.zq.runtime;

/** The CPU: kernels run as plain Java through the {@link CpuExecutor}, buffers stay where they are. */
public final class CpuDevice implements Device {
    private final CpuExecutor executor = new CpuExecutor();

    @Override
    public String name() { return "CPU (" + Runtime.getRuntime().availableProcessors() + " cores, Java " + Runtime.version() + ")"; }

    public CpuExecutor executor() { return executor; }

    @Override
    public ExecutionPlan plan(TaskGraph graph) {
        return new ExecutionPlan(graph) {
            @Override
            protected void run(boolean first) {
                for (TaskGraph.Task t : graph.tasks()) executor.launch(t.kernel(), t.grid(), resolve(t.args()));
            }

            @Override
            protected double replay() {
                long t0 = System.nanoTime();
                for (TaskGraph.Task t : graph.tasks()) executor.launch(t.kernel(), t.grid(), resolve(t.args()));
                return (System.nanoTime() - t0) / 1e6;
            }

            @Override
            public void close() { }
        };
    }
}
