package dev.zq.tensor;

/**
 * Element types a tensor can hold. {@code I4} packs two signed 4-bit values per byte, the element with
 * the even index in the low nibble, so its storage size is rounded up to whole bytes.
 */
public enum DType {
    F32(32), F16(16), BF16(16), F64(64), I8(8), I32(32), I64(64), I4(4);

    private final int bits;

    DType(int bits) { this.bits = bits; }

    /** Bits one element takes in storage. */
    public int bits() { return bits; }

    /** Bytes that {@code elements} values of this type occupy (I4 rounds up to a whole byte). */
    public long byteSize(long elements) {
        if (elements < 0) throw new IllegalArgumentException("negative element count " + elements);
        return Math.ceilDiv(Math.multiplyExact(elements, (long) bits), 8L);
    }

    public boolean isFloatingPoint() { return this == F32 || this == F16 || this == BF16 || this == F64; }
}
