package dev.zq.runtime;

/**
 * A {@link TaskGraph} prepared for one device. {@link #execute} runs it; {@link #set} changes a
 * {@link TaskGraph.Scalar} for the next executions (on a GPU by updating the CUDA graph's kernel node,
 * without rebuilding the graph).
 */
public abstract class ExecutionPlan implements AutoCloseable {
    protected final TaskGraph graph;
    private boolean executed;

    protected ExecutionPlan(TaskGraph graph) { this.graph = graph; }

    public <T> void set(TaskGraph.Scalar<T> scalar, T value) {
        if (!scalar.type.isInstance(value)) throw new IllegalArgumentException(scalar.name + " takes " + scalar.type.getSimpleName());
        scalar.value = value;
        scalarChanged(scalar);
    }

    /** Hook for devices that cache argument values. */
    protected void scalarChanged(TaskGraph.Scalar<?> scalar) { }

    /** Transfers in, runs every task in order, transfers out, and waits for all of it. */
    public final void execute() throws Exception { execute(1); }

    /**
     * {@link #execute()} with the tasks run {@code times} times over, back to back: the inputs transferred once before, the
     * outputs once after, the host waiting only at the end (on a GPU, {@code times} CUDA graph launches in a row) — a loop
     * of decode steps whose next token never leaves the device.
     */
    public final void execute(int times) throws Exception {
        if (times <= 0) throw new IllegalArgumentException("times must be positive, got " + times);
        run(!executed, times);
        executed = true;
    }

    /** Transfers in, the tasks {@code times} times over, transfers out, then waits; {@code first}: the plan's first run. */
    protected abstract void run(boolean first, int times) throws Exception;

    /**
     * Runs the launches once more without any host transfer (the inputs as last copied) and returns how long the
     * device took, in milliseconds: CUDA events around the graph launch on a GPU, the wall clock on the CPU. For
     * benchmarks; {@link #execute} must have run first.
     */
    public final double replayMillis() throws Exception { return replayMillis(1); }

    /**
     * {@link #replayMillis()} for {@code times} replays launched back to back (one CUDA graph launch after the other,
     * the host not waiting in between), as a loop of decode steps runs: the device time of all of them, in ms.
     */
    public final double replayMillis(int times) throws Exception {
        if (!executed) throw new IllegalStateException("execute() the plan once before timing replays");
        if (times <= 0) throw new IllegalArgumentException("times must be positive, got " + times);
        return replay(times);
    }

    protected abstract double replay(int times) throws Exception;

    /**
     * Where a replay's time goes: the tasks launched one at a time (not as one graph), each timed on the device (CUDA
     * events around it; the wall clock on the CPU), summed per kernel ({@code Class.method}), largest first, in ms.
     * Separate launches add a little idle time between kernels that the graph does not have; the sum is an upper bound
     * of a replay. {@link #execute} must have run first.
     */
    public final java.util.Map<String, Double> profileMillis() throws Exception {
        return perKernel(profileTaskMillis());
    }

    /** {@link #profileTaskMillis}'s times summed per kernel, largest first. */
    public static java.util.Map<String, Double> perKernel(java.util.List<java.util.Map.Entry<String, Double>> tasks) {
        java.util.Map<String, Double> sums = new java.util.HashMap<>();
        for (var e : tasks) sums.merge(e.getKey(), e.getValue(), Double::sum);
        java.util.Map<String, Double> sorted = new java.util.LinkedHashMap<>();
        sums.entrySet().stream().sorted(java.util.Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /** {@link #profileMillis}'s measurement task by task, in task order: each task's kernel ({@code Class.method}) and ms. */
    public final java.util.List<java.util.Map.Entry<String, Double>> profileTaskMillis() throws Exception {
        if (!executed) throw new IllegalStateException("execute() the plan once before profiling it");
        double[] perTask = profile();
        java.util.List<java.util.Map.Entry<String, Double>> out = new java.util.ArrayList<>();
        for (int i = 0; i < perTask.length; i++) {
            java.lang.reflect.Method k = graph.tasks().get(i).kernel();
            out.add(java.util.Map.entry(k.getDeclaringClass().getSimpleName() + "." + k.getName(), perTask[i]));
        }
        return out;
    }

    /** The device time of each task, in task order, launched one at a time. */
    protected abstract double[] profile() throws Exception;

    /** Arguments with every {@link TaskGraph.Scalar} replaced by its current value. */
    protected static Object[] resolve(Object[] args) {
        Object[] out = args.clone();
        for (int i = 0; i < out.length; i++) if (out[i] instanceof TaskGraph.Scalar<?> s) out[i] = s.value;
        return out;
    }

    @Override
    public abstract void close() throws Exception;
}
