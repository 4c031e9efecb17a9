package dev.zq.runtime;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A fixed sequence of kernel launches and the data they move, declared once and executed many times
 * (TornadoVM's task graph): what goes to the device on the first execution only (weights), what goes
 * every execution (inputs), what comes back every execution (outputs). Buffers that no transfer names
 * stay on the device (intermediates). On a GPU the launches become one CUDA graph; a {@link Scalar}
 * argument may change between executions without rebuilding it.
 */
public final class TaskGraph {
    public enum Transfer { FIRST_EXECUTION, EVERY_EXECUTION }

    /** A scalar kernel argument whose value may change between executions. */
    public static final class Scalar<T> {
        final String name;
        final Class<T> type;
        T value;

        private Scalar(String name, Class<T> type, T value) {
            this.name = name;
            this.type = type;
            this.value = value;
        }

        public T value() { return value; }
        public String name() { return name; }
    }

    public record Task(Method kernel, Grid grid, Object[] args) {}

    private final String name;
    private final List<Task> tasks = new ArrayList<>();
    private final Set<KernelBuffer> inFirst = new LinkedHashSet<>(), inEvery = new LinkedHashSet<>();
    private final Set<KernelBuffer> outFirst = new LinkedHashSet<>(), outEvery = new LinkedHashSet<>();

    public TaskGraph(String name) { this.name = name; }

    public String name() { return name; }

    public static Scalar<Integer> intScalar(String name, int value) { return new Scalar<>(name, Integer.class, value); }
    public static Scalar<Float> floatScalar(String name, float value) { return new Scalar<>(name, Float.class, value); }

    public TaskGraph transferToDevice(Transfer mode, KernelBuffer... buffers) {
        (mode == Transfer.FIRST_EXECUTION ? inFirst : inEvery).addAll(List.of(buffers));
        return this;
    }

    public TaskGraph transferToHost(Transfer mode, KernelBuffer... buffers) {
        (mode == Transfer.FIRST_EXECUTION ? outFirst : outEvery).addAll(List.of(buffers));
        return this;
    }

    /** Adds a launch; {@code args} follow the kernel's parameters after the context (buffers, scalars, {@link Scalar}s). */
    public TaskGraph task(Method kernel, Grid grid, Object... args) {
        if (!kernel.isAnnotationPresent(Kernel.class)) throw new IllegalArgumentException(kernel + " is not a @Kernel");
        if (args.length != kernel.getParameterCount() - 1)
            throw new IllegalArgumentException(kernel.getName() + " takes " + (kernel.getParameterCount() - 1) + " arguments, got " + args.length);
        Class<?>[] types = kernel.getParameterTypes();
        for (int i = 0; i < args.length; i++) {
            Class<?> t = types[i + 1];
            Object a = args[i] instanceof Scalar<?> s ? s.value : args[i];
            boolean ok = KernelBuffer.class.isAssignableFrom(t) ? t.isInstance(a)
                    : (t == int.class && a instanceof Integer) || (t == long.class && a instanceof Long)
                    || (t == float.class && a instanceof Float) || (t == double.class && a instanceof Double);
            if (!ok) throw new IllegalArgumentException("argument " + i + " of " + kernel.getName() + " must be " + t.getSimpleName()
                    + ", got " + (a == null ? "null" : a.getClass().getSimpleName()));
        }
        tasks.add(new Task(kernel, grid, args.clone()));
        return this;
    }

    public List<Task> tasks() { return List.copyOf(tasks); }

    /** Takes back the last task added: for measurements that leave a launch out (a graph's time without it). */
    public Task removeLast() {
        if (tasks.isEmpty()) throw new IllegalStateException("graph " + name + " has no task to remove");
        return tasks.removeLast();
    }
    public Set<KernelBuffer> toDevice(Transfer mode) { return mode == Transfer.FIRST_EXECUTION ? inFirst : inEvery; }
    public Set<KernelBuffer> toHost(Transfer mode) { return mode == Transfer.FIRST_EXECUTION ? outFirst : outEvery; }

    /** Every buffer the graph touches, in first-use order. */
    public Set<KernelBuffer> buffers() {
        Set<KernelBuffer> all = new LinkedHashSet<>(inFirst);
        all.addAll(inEvery);
        for (Task t : tasks) for (Object a : t.args()) if (a instanceof KernelBuffer b) all.add(b);
        all.addAll(outFirst);
        all.addAll(outEvery);
        return all;
    }
}
