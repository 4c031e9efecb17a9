package dev.zq.runtime;

/**
 * Float math for kernels, the same bits on both sides: on the CPU these are the plain Java functions below; on the
 * GPU the JIT emits one correctly rounded PTX instruction for each ({@code sqrt.rn}, {@code div.rn}, {@code dp4a}, …)
 * or, for {@link #exp}, inlines the Java body itself. Bit equality matters beyond tidiness: a token-wise INT8
 * quantizer downstream turns a one-ulp difference into a flipped code now and then, and in a deep model those flips
 * multiply layer by layer until the GPU is an independent quantization of the model rather than the same one.
 */
public final class KernelMath {
    private KernelMath() {}

    private static final float LOG2E = 1.44269504f, LN2_HI = 0.693145752f, LN2_LO = 1.42860677e-6f;
    private static final float ROUNDER = 12582912f;   // 1.5·2^23: x + ROUNDER − ROUNDER rounds x to an integer, ties to even

    /**
     * e^x in float arithmetic only, so that the GPU (which compiles this very body: adds, multiplies and {@code fma.rn},
     * no {@code ex2.approx}) and the CPU give the same bits. Within 2 ulps of e^x; 0 below −104, +∞ above 88.72, NaN for
     * NaN. e^x = 2^j·e^r with j = round(x·log₂e), r = x − j·ln 2 (ln 2 in two parts, so r is nearly exact), e^r by a
     * degree-7 polynomial (Cephes' expf coefficients), and 2^j applied in two halves so that j down to −150 (a
     * subnormal or zero result) and up to 128 (+∞) need no special case.
     */
    public static float exp(float x) {
        x = Math.min(Math.max(x, -104f), 89f);   // beyond these e^x is 0 or +∞ in float; NaN stays NaN
        float j = (x * LOG2E + ROUNDER) - ROUNDER;
        float r = Math.fma(j, -LN2_HI, x);
        r = Math.fma(j, -LN2_LO, r);
        float p = Math.fma(1.9875691500e-4f, r, 1.3981999507e-3f);
        p = Math.fma(p, r, 8.3334519073e-3f);
        p = Math.fma(p, r, 4.1665795894e-2f);
        p = Math.fma(p, r, 1.6666665459e-1f);
        p = Math.fma(p, r, 5.0000001201e-1f);
        p = Math.fma(p, r * r, r) + 1f;
        int n = (int) j, half = n >> 1;   // NaN gives n = 0 on both sides and stays NaN through p
        return p * Float.intBitsToFloat((half + 127) << 23) * Float.intBitsToFloat((n - half + 127) << 23);
    }

    /**
     * {@code Math.rint} of a float (to the nearest integer, ties to even), in float on both sides ({@code cvt.rni.f32.f32}):
     * {@code (float) Math.rint(x)} of the same value, without the round trip through double that the JIT would emit for it.
     */
    public static float rint(float x) { return (float) Math.rint(x); }

    /** Correctly rounded square root on both sides ({@code sqrt.rn.f32}). */
    public static float sqrt(float x) { return (float) Math.sqrt(x); }

    /** 1/√x, correctly rounded square root then correctly rounded division on both sides ({@code sqrt.rn}, {@code div.rn}). */
    public static float rsqrt(float x) { return 1f / (float) Math.sqrt(x); }

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
