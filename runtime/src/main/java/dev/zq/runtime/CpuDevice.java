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
            public void close() { }
        };
    }
}
