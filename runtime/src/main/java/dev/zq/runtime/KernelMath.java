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
}
