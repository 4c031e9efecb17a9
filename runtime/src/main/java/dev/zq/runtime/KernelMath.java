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
}
