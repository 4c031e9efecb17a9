package dev.zq.tensor;

import java.util.Arrays;

/** Dimensions of a row-major, contiguous tensor. Immutable; every dimension is at least 0. */
public final class Shape {
    private final int[] dims;
    private final long numel;

    private Shape(int[] dims) {
        long n = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
            n = Math.multiplyExact(n, d);
        }
        this.dims = dims;
        this.numel = n;
    }

    public static Shape of(int... dims) { return new Shape(dims.clone()); }

    /** Shape from 64-bit dimensions (as file formats store them); fails clearly past {@code Integer.MAX_VALUE}. */
    public static Shape ofLongs(long... dims) {
        int[] d = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] < 0 || dims[i] > Integer.MAX_VALUE)
                throw new IllegalArgumentException("dimension " + dims[i] + " out of range in " + Arrays.toString(dims));
            d[i] = (int) dims[i];
        }
        return new Shape(d);
    }

    public int rank() { return dims.length; }
    public int dim(int i) { return dims[i < 0 ? dims.length + i : i]; }
    public int[] dims() { return dims.clone(); }
    public long numel() { return numel; }

    /** Elements per step of dimension {@code i} (row-major). */
    public long stride(int i) {
        long s = 1;
        for (int k = dims.length - 1; k > i; k--) s *= dims[k];
        return s;
    }

    /** The indices of flat (row-major) element {@code i}, as {@code [3, 17]}. */
    public String indexOf(long i) {
        if (i < 0 || i >= numel) throw new IndexOutOfBoundsException(i + " outside " + this);
        long[] at = new long[dims.length];
        for (int d = dims.length - 1; d >= 0; d--) {
            at[d] = i % dims[d];
            i /= dims[d];
        }
        return Arrays.toString(at);
    }

    @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }
    @Override public int hashCode() { return Arrays.hashCode(dims); }
    @Override public String toString() { return Arrays.toString(dims); }
}
