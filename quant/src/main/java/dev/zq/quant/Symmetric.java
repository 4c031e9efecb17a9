package dev.zq.quant;

/**
 * Symmetric uniform quantization, the paper's Eq. (1): {@code q = round(clamp(x / S, -2^(b-1), 2^(b-1)-1))}
 * with {@code S = max|x| / (2^(b-1) - 1)}. The max is the absolute maximum of the values that share the
 * scale (a group, a token row, a tensor, or a calibrated clip value), so the largest value maps exactly to
 * {@code ±(2^(b-1)-1)}. A range of all zeros has {@code S = 0} and quantizes to 0 without dividing by 0.
 * Rounding is to nearest, ties to even, as {@code torch.round}.
 */
public final class Symmetric {
    private Symmetric() {}

    /** Largest positive code for {@code bits}: 127 for INT8, 7 for INT4. */
    public static int maxCode(int bits) {
        checkBits(bits);
        return (1 << (bits - 1)) - 1;
    }

    public static int minCode(int bits) {
        checkBits(bits);
        return -(1 << (bits - 1));
    }

    public static void checkBits(int bits) {
        if (bits < 2 || bits > 8) throw new IllegalArgumentException("bits must be in [2, 8], got " + bits);
    }

    /** Scale for a range whose absolute maximum is {@code absMax} (0 for an all-zero range; NaN stays NaN). */
    public static float scale(float absMax, int bits) {
        return absMax / maxCode(bits);
    }

    /** Code of {@code x} under {@code scale}; a zero scale gives 0. */
    public static int quantize(float x, float scale, int bits) {
        if (scale == 0f) return 0;
        float r = (float) Math.rint(x / scale);
        int lo = minCode(bits), hi = maxCode(bits);
        return r <= lo ? lo : r >= hi ? hi : (int) r;
    }
}
