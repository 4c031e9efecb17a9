package dev.zq.kernels;

import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelMath;

/**
 * What the GEMM kernels do with a finished output pair before it leaves the chip: an optional exact (erf) GeLU,
 * then rounding to FP16 and one 32-bit store of the two halves (columns {@code c} and {@code c + 1}). Plain Java
 * that the JIT inlines; on the CPU the same code is the reference.
 */
final class Epilogue {
    private Epilogue() {}

    /** Writes {@code v0, v1} (GeLU'd when {@code gelu != 0}) as the half pair at word {@code word} of {@code y} (elements 2·word, 2·word + 1). */
    static void pairWord(IntArray y, int word, float v0, float v1, int gelu) {
        y.set(word, pair(v0, v1, gelu));
    }

    /** {@code v0, v1} (GeLU'd when {@code gelu != 0}) as a half pair, as {@link #pairWord} writes it. */
    static int pair(float v0, float v1, int gelu) {
        if (gelu != 0) {
            v0 = gelu(v0);
            v1 = gelu(v1);
        }
        return packHalves(v0, v1);
    }

    /** Two floats rounded to FP16 (nearest even) in one int, the first in the low half. */
    static int packHalves(float lo, float hi) {
        return (Float.floatToFloat16(lo) & 0xFFFF) | (Float.floatToFloat16(hi) << 16);
    }

    static float lowHalf(int word) { return Float.float16ToFloat((short) word); }

    static float highHalf(int word) { return Float.float16ToFloat((short) (word >> 16)); }

    /** Exact GeLU {@code x·Φ(x)} as BERT uses it, through {@link #erf}. */
    static float gelu(float x) {
        return 0.5f * x * (1f + erf(x * 0.70710677f));
    }

    /**
     * erf(x) by Abramowitz &amp; Stegun 7.1.26 (absolute error below 1.5e-7, the same formula as the CPU's
     * {@code dev.zq.tensor.Gelu.erf}, here in float with the GPU's fast exponential).
     */
    static float erf(float x) {
        float ax = Math.abs(x);
        float t = 1f / (1f + 0.3275911f * ax);
        float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
        float y = 1f - poly * KernelMath.exp(-ax * ax);
        return x < 0f ? -y : y;
    }
}
