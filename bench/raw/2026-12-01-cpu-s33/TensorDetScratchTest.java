package dev.zq.tensor;

import org.junit.jupiter.api.Test;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

class DetScratchTest {
    @Test
    void scratch() {
        try (Arena a = Arena.ofConfined()) {
            Random r = new Random(1);
            int n = 256;
            MemorySegment x = a.allocate(4L * n), y = a.allocate(4L * n);
            for (int i = 0; i < n; i++) { x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian()); y.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian()); }
            float d0 = MatMul.dot(x, 0, y, 0, n), s0 = LayerNorm.sum(x, 0, n, 0.1f), q0 = LayerNorm.sumSquares(x, 0, n, 0.1f);
            int dd = 0, ds = 0, dq = 0;
            for (int it = 0; it < 200000; it++) {
                if (Float.floatToRawIntBits(MatMul.dot(x, 0, y, 0, n)) != Float.floatToRawIntBits(d0)) dd++;
                if (Float.floatToRawIntBits(LayerNorm.sum(x, 0, n, 0.1f)) != Float.floatToRawIntBits(s0)) ds++;
                if (Float.floatToRawIntBits(LayerNorm.sumSquares(x, 0, n, 0.1f)) != Float.floatToRawIntBits(q0)) dq++;
            }
            System.out.println("differing calls: dot " + dd + ", sum " + ds + ", sumSquares " + dq);
        }
    }
}
