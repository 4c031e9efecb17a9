package dev.zq.runtime;

import java.lang.foreign.MemorySegment;

/** A buffer a kernel reads or writes: host memory that a device mirrors while the kernel runs. */
public sealed interface KernelBuffer permits FloatArray, IntArray, ByteArray, HalfArray {
    MemorySegment segment();
}
