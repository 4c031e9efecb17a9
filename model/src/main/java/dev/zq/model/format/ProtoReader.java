package dev.zq.model.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A protobuf wire-format cursor over {@code [pos, end)} of a memory segment: just what reading ONNX needs.
 * Every length is checked against the end of the enclosing message before it is used, so a corrupt or
 * hostile file fails with {@link ProtoException} instead of reading out of bounds or allocating wildly.
 */
final class ProtoReader {
    static final int VARINT = 0, FIXED64 = 1, LENGTH_DELIMITED = 2, START_GROUP = 3, END_GROUP = 4, FIXED32 = 5;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A malformed message; {@link OnnxModel} turns it into a ModelFormatException naming the file. */
    static final class ProtoException extends Exception {
        ProtoException(String message) { super(message); }
    }

    private final MemorySegment data;
    private long pos;
    private final long end;
    private int tag;

    ProtoReader(MemorySegment data, long pos, long end) {
        this.data = data;
        this.pos = pos;
        this.end = end;
    }

    boolean hasMore() { return pos < end; }
    long position() { return pos; }
    int field() { return tag >>> 3; }
    int wireType() { return tag & 7; }

    /** Reads the next tag; returns false at the end of the message. */
    boolean next() throws ProtoException {
        if (pos >= end) return false;
        long t = varint();
        if (t >>> 32 != 0 || (t >>> 3) == 0) throw new ProtoException("invalid field tag " + t + " at byte " + (pos - 1));
        tag = (int) t;
        return true;
    }

    long varint() throws ProtoException {
        long result = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (pos >= end) throw new ProtoException("varint runs past the end of its message at byte " + pos);
            byte b = data.get(ValueLayout.JAVA_BYTE, pos++);
            if (shift == 63 && (b & 0xFE) != 0) throw new ProtoException("varint longer than 64 bits at byte " + (pos - 1));
            result |= (long) (b & 0x7F) << shift;
            if (b >= 0) return result;
        }
        throw new ProtoException("varint longer than 10 bytes at byte " + pos);
    }

    int int32() throws ProtoException { return (int) varint(); }

    int fixed32() throws ProtoException {
        need(4);
        int v = data.get(I32, pos);
        pos += 4;
        return v;
    }

    long fixed64() throws ProtoException {
        need(8);
        long v = data.get(I64, pos);
        pos += 8;
        return v;
    }

    float float32() throws ProtoException { return Float.intBitsToFloat(fixed32()); }

    /** Start offset of a length-delimited field's payload; the cursor moves past it. */
    long lengthDelimited() throws ProtoException {
        if (wireType() != LENGTH_DELIMITED)
            throw new ProtoException("field " + field() + " has wire type " + wireType() + ", expected length-delimited");
        long len = varint();
        if (len < 0 || len > end - pos)
            throw new ProtoException("field " + field() + " claims " + Long.toUnsignedString(len) + " bytes at byte " + pos + " but its message has " + (end - pos) + " left");
        long start = pos;
        pos += len;
        return start;
    }

    /** A reader over the sub-message whose payload starts at {@code start} (returned by {@link #lengthDelimited}). */
    ProtoReader sub(long start) { return new ProtoReader(data, start, pos); }

    String string() throws ProtoException {
        long start = lengthDelimited();
        long len = pos - start;
        if (len > Integer.MAX_VALUE) throw new ProtoException("string of " + len + " bytes");
        return new String(data.asSlice(start, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    void skip() throws ProtoException {
        switch (wireType()) {
            case VARINT -> varint();
            case FIXED64 -> { need(8); pos += 8; }
            case FIXED32 -> { need(4); pos += 4; }
            case LENGTH_DELIMITED -> lengthDelimited();
            case START_GROUP -> skipGroup(field(), 0);
            default -> throw new ProtoException("unsupported wire type " + wireType() + " for field " + field() + " at byte " + pos);
        }
    }

    private void skipGroup(int field, int depth) throws ProtoException {
        if (depth > 64) throw new ProtoException("groups nested deeper than 64");
        while (next()) {
            if (wireType() == END_GROUP) {
                if (field() != field) throw new ProtoException("group " + field + " closed by " + field());
                return;
            }
            if (wireType() == START_GROUP) skipGroup(field(), depth + 1);
            else skip();
        }
        throw new ProtoException("group " + field + " is never closed");
    }

    private void need(long n) throws ProtoException {
        if (end - pos < n) throw new ProtoException("field " + field() + " needs " + n + " bytes at byte " + pos + ", message has " + (end - pos));
    }

    /** Values of a repeated varint field, packed (length-delimited) or one per tag. */
    void repeatedVarint(java.util.function.LongConsumer sink) throws ProtoException {
        if (wireType() == LENGTH_DELIMITED) {
            long start = lengthDelimited();
            ProtoReader p = sub(start);
            while (p.hasMore()) sink.accept(p.varint());
        } else if (wireType() == VARINT) {
            sink.accept(varint());
        } else {
            throw new ProtoException("field " + field() + " has wire type " + wireType() + ", expected varints");
        }
    }

    /** Values of a repeated fixed-width field ({@code width} 4 or 8 bytes), packed or one per tag. */
    void repeatedFixed(int width, java.util.function.LongConsumer sink) throws ProtoException {
        int expect = width == 4 ? FIXED32 : FIXED64;
        if (wireType() == LENGTH_DELIMITED) {
            long start = lengthDelimited();
            if ((pos - start) % width != 0) throw new ProtoException("packed field " + field() + " of " + (pos - start) + " bytes is not a multiple of " + width);
            for (long p = start; p < pos; p += width) sink.accept(width == 4 ? data.get(I32, p) : data.get(I64, p));
        } else if (wireType() == expect) {
            sink.accept(width == 4 ? fixed32() : fixed64());
        } else {
            throw new ProtoException("field " + field() + " has wire type " + wireType() + ", expected fixed" + (width * 8));
        }
    }

    MemorySegment slice(long start, long length) { return data.asSlice(start, length); }
}
