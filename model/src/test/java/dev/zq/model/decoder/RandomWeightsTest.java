package dev.zq.model.decoder;

import dev.zq.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link RandomWeights}: SplittableRandom's numbers, computed out of order and on several threads. */
class RandomWeightsTest {

    @Test
    void theKthDoubleIsSplittableRandomsKth() {
        for (long seed : new long[]{0, 1, 42, -7, Long.MAX_VALUE}) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int k = 0; k < 20_000; k++) {
                double want = r.nextDouble();
                assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(RandomWeights.doubleAt(seed, k)), "seed " + seed + " k " + k);
            }
        }
    }

    /**
     * Tensors one after another, the first larger than a parallel chunk (so several threads fill it in a shared arena), equal
     * bit for bit to drawing two doubles a weight from one SplittableRandom in order (DecoderModel.random's former loop),
     * in a shared and in a confined arena.
     */
    @Test
    void tensorsEqualDrawingTheNumbersOneByOne() {
        for (boolean shared : new boolean[]{true, false})
            try (Arena arena = shared ? Arena.ofShared() : Arena.ofConfined()) {
                RandomWeights rnd = new RandomWeights(5);
                Tensor a = rnd.gaussian(arena, 3, 50_001, 0.02), b = rnd.gaussian(arena, 7, 5, 0.5);
                SplittableRandom r = new SplittableRandom(5);
                for (Tensor t : new Tensor[]{a, b}) {
                    double std = t == a ? 0.02 : 0.5;
                    for (long i = 0; i < t.numel(); i++) {
                        double u = r.nextDouble(), w = r.nextDouble();
                        float want = (float) (std * (Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * w)));
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(t.getFloat(i)), (shared ? "shared" : "confined") + " weight " + i);
                    }
                }
            }
    }
}
