package dev.zq.quant.gpu;

import dev.zq.runtime.IntArray;
import dev.zq.tensor.Tensor;

/** An FP32 weight matrix as the FP16 kernels read it: each row's values rounded to halves, two per int, low half first. */
final class HalfRows {
    private HalfRows() {}

    /** Writes the {@code [rows, cols]} matrix {@code w} (cols even) into {@code out} from matrix row {@code firstRow} on. */
    static void pack(Tensor w, IntArray out, int firstRow) {
        int rows = w.dim(0), cols = w.dim(1);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c += 2) {
                long i = (long) r * cols + c;
                out.set((int) (((long) (firstRow + r) * cols + c) / 2),
                        (Float.floatToFloat16(w.getFloat(i)) & 0xFFFF) | (Float.floatToFloat16(w.getFloat(i + 1)) << 16));
            }
    }
}
