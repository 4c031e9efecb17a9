package dev.zq.lkd.autodiff;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * A node of the reverse-mode tape: a row-major double array with its shape, the gradient of the final
 * scalar with respect to it, the inputs it was computed from, and how to push its gradient back to them.
 * Ops build Vars; {@link #backward()} on a scalar visits the graph in reverse topological order (micrograd's
 * scheme, over arrays instead of scalars). Doubles keep finite-difference checks meaningful.
 */
public final class Var {
    public final double[] data;
    public final int[] shape;
    private double[] grad;
    private final List<Var> parents;
    private final Runnable backward;
    private final boolean requiresGrad;

    private Var(double[] data, int[] shape, boolean requiresGrad, List<Var> parents, Runnable backward) {
        if (data.length != numel(shape)) throw new IllegalArgumentException(data.length + " values for shape " + Arrays.toString(shape));
        this.data = data;
        this.shape = shape.clone();
        this.requiresGrad = requiresGrad;
        this.parents = parents;
        this.backward = backward;
    }

    /** A leaf that collects gradients (a trainable parameter, or an input under a gradient check). */
    public static Var param(double[] data, int... shape) { return new Var(data, shape, true, List.of(), () -> {}); }

    /** A leaf that never needs a gradient (data, teacher outputs). */
    public static Var constant(double[] data, int... shape) { return new Var(data, shape, false, List.of(), () -> {}); }

    /** The result of an op: needs a gradient if any input does. {@code backward} reads {@code out.grad()}. */
    static Var op(double[] data, int[] shape, Var[] inputs, java.util.function.Consumer<Var> backward) {
        boolean needs = false;
        for (Var v : inputs) needs |= v.requiresGrad;
        Var[] out = new Var[1];
        out[0] = new Var(data, shape, needs, needs ? List.of(inputs) : List.of(), needs ? () -> backward.accept(out[0]) : () -> {});
        return out[0];
    }

    public static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n *= d;
        }
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " is too large");
        return (int) n;
    }

    public int numel() { return data.length; }
    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public int rank() { return shape.length; }
    public boolean requiresGrad() { return requiresGrad; }

    /** The gradient (allocated on first use; zeros until a backward pass reaches this node). */
    public double[] grad() {
        if (grad == null) grad = new double[data.length];
        return grad;
    }

    public void zeroGrad() { if (grad != null) Arrays.fill(grad, 0); }

    /** The value of a one-element Var. */
    public double item() {
        if (data.length != 1) throw new IllegalStateException("item() of a Var with " + data.length + " values");
        return data[0];
    }

    /** Back-propagates from this scalar: d(this)/d(this) = 1, then every node's backward in reverse topological order. */
    public void backward() {
        if (data.length != 1) throw new IllegalStateException("backward() starts from a scalar loss, this has shape " + Arrays.toString(shape));
        List<Var> order = topologicalOrder();
        grad()[0] = 1;
        for (int i = order.size() - 1; i >= 0; i--) order.get(i).backward.run();
    }

    private List<Var> topologicalOrder() {
        List<Var> order = new ArrayList<>();
        Set<Var> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        // Iterative DFS: a deep graph (many layers/steps) must not overflow the Java stack.
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[]{this, 0});
        seen.add(this);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Var v = (Var) top[0];
            int i = (int) top[1];
            if (i < v.parents.size()) {
                top[1] = i + 1;
                Var p = v.parents.get(i);
                if (p.requiresGrad && seen.add(p)) stack.push(new Object[]{p, 0});
            } else {
                stack.pop();
                order.add(v);
            }
        }
        return order;
    }

    @Override public String toString() { return "Var" + Arrays.toString(shape) + (requiresGrad ? " (grad)" : ""); }
}
