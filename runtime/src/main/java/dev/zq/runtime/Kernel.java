package dev.zq.runtime;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a {@code static void} method as a GPU kernel. Its first parameter is a {@link KernelContext};
 * the others are buffers ({@link FloatArray}, {@link IntArray}, {@link ByteArray}, {@link HalfArray}) and
 * scalars ({@code int}, {@code long}, {@code float}). The same method runs as plain Java on the CPU (once
 * per thread, the reference) and, compiled to PTX by the project's JIT, on CUDA devices.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Kernel {
}
