package dev.zq.runtime;

/**
 * Float math for kernels. On the CPU these are the plain Java functions below; on the GPU the JIT emits
 * PTX with at most a few float ulps of difference (documented per function), so GPU/CPU comparisons of
 * kernels that use them need a tolerance, not bit equality.
 */
public final class KernelMath {
    private KernelMath() {}

    /** e^x. GPU: range reduction by ln 2 with FMA, then {@code ex2.approx}; relative error below 1e-6. */
    public static float exp(float x) { return (float) Math.exp(x); }

    /** Correctly rounded square root on both sides ({@code sqrt.rn.f32}). */
    public static float sqrt(float x) { return (float) Math.sqrt(x); }

    /** 1/√x. GPU: {@code rsqrt.approx.f32}, relative error below 1e-6 for normal inputs. */
    public static float rsqrt(float x) { return (float) (1.0 / Math.sqrt(x)); }

    /**
     * {@code c + Σ a_i·b_i} over the four signed bytes of {@code a} and {@code b} (PTX {@code dp4a.s32.s32}): INT8 dot
     * products four at a time on the CUDA cores, exact on both sides (wrapping like Java's int arithmetic).
     */
    public static int dp4a(int a, int b, int c) {
        return c + (byte) a * (byte) b + (byte) (a >> 8) * (byte) (b >> 8) + (byte) (a >> 16) * (byte) (b >> 16) + (a >> 24) * (b >> 24);
    }

    /**
     * PTX {@code prmt.b32 d, a, b, selector} (generic mode): the eight bytes of {@code b:a} (a's bytes 0–3, b's 4–7) are
     * numbered 0–7; byte {@code i} of the result is the byte named by bits {@code 4i..4i+2} of {@code selector}, or, where
     * bit {@code 4i+3} is set, that byte's sign bit replicated. Exact on both sides: the cheap way to assemble bytes, e.g.
     * INT8 codes into the mantissas of halves.
     */
    public static int bytePermute(int a, int b, int selector) {
        long bytes = (a & 0xFFFFFFFFL) | ((long) b << 32);
        int r = 0;
        for (int i = 0; i < 4; i++) {
            int sel = selector >>> (4 * i), v = (int) (bytes >>> (8 * (sel & 7))) & 0xFF;
            if ((sel & 8) != 0) v = (v & 0x80) != 0 ? 0xFF : 0;
            r |= v << (8 * i);
        }
        return r;
    }

    /**
     * {@code a − b} on two pairs of halves packed in ints (low half = first), PTX {@code sub.rn.f16x2}, each difference
     * rounded to the nearest half. The CPU computes each difference exactly in double and rounds through float, which
     * can differ from one correct rounding only for differences that need more than 24 significant bits — never for
     * the integer-valued halves the kernels subtract (their differences are exact halves).
     */
    public static int subHalf2(int a, int b) {
        int lo = Float.floatToFloat16((float) ((double) Float.float16ToFloat((short) a) - Float.float16ToFloat((short) b)));
        int hi = Float.floatToFloat16((float) ((double) Float.float16ToFloat((short) (a >>> 16)) - Float.float16ToFloat((short) (b >>> 16))));
        return (lo & 0xFFFF) | (hi << 16);
    }
}
