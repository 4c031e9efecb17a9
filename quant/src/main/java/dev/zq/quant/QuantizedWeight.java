package dev.zq.quant;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;

/**
 * An integer weight matrix {@code [rows = out, cols = in]} with one scale per group of {@code groupSize}
 * consecutive inputs of a row: {@code w[r][c] ≈ code(r, c) · scales[r][c / groupSize]}. Codes of 5–8 bits
 * are stored as I8; 2–4-bit codes are packed two per byte (I4), which is how INT4 halves the memory of INT8.
 * A per-tensor scale is stored like per-row scales that all hold the same value.
 */
public record QuantizedWeight(int bits, int rows, int cols, int groupSize, Tensor codes, Tensor scales) {
    public QuantizedWeight {
        Symmetric.checkBits(bits);
        if (rows <= 0 || cols <= 0 || groupSize <= 0 || cols % groupSize != 0)
            throw new IllegalArgumentException("bad geometry " + rows + "x" + cols + " group " + groupSize);
        DType want = storageType(bits);
        if (codes.dtype() != want || codes.numel() != (long) rows * cols)
            throw new IllegalArgumentException("codes " + codes + " do not hold " + rows + "x" + cols + " " + want);
        if (scales.dtype() != DType.F32 || scales.numel() != (long) rows * groups(cols, groupSize))
            throw new IllegalArgumentException("scales " + scales + " do not hold " + rows + "x" + groups(cols, groupSize) + " F32");
    }

    public static DType storageType(int bits) { return bits <= 4 ? DType.I4 : DType.I8; }

    static int groups(int cols, int groupSize) { return cols / groupSize; }

    public int groupsPerRow() { return cols / groupSize; }

    public int code(int row, int col) {
        long i = (long) row * cols + col;
        return codes.dtype() == DType.I4 ? codes.getI4(i) : codes.getByte(i);
    }

    public float scale(int row, int group) { return scales.getFloat((long) row * groupsPerRow() + group); }

    /** {@code code · scale} as an F32 [rows, cols] tensor: what the fake-quant simulation computes with. */
    public Tensor dequantize(Arena arena) {
        Tensor w = Tensor.allocate(arena, DType.F32, rows, cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                w.setFloat((long) r * cols + c, code(r, c) * scale(r, c / groupSize));
        return w;
    }

    /** Bytes of codes and scales. */
    public long byteSize() { return codes.byteSize() + scales.byteSize(); }
}
