package dev.zq.model.decoder;

import dev.zq.tensor.DType;
import dev.zq.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Keys and values of every layer for the tokens seen so far: per layer two F32 tensors
 * {@code [batch, capacity, kvHeads·headDim]}. All rows of a batch advance together.
 */
public final class KvCache implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Tensor[] keys, values;
    private final int batch, capacity, kvDim;
    private int length;

    public KvCache(DecoderConfig config, int batch, int capacity) {
        if (batch <= 0 || capacity <= 0) throw new IllegalArgumentException("cache of " + batch + " x " + capacity);
        if (capacity > config.maxPositions() && config.family() == DecoderConfig.Family.GPT2)
            throw new IllegalArgumentException("capacity " + capacity + " exceeds the model's " + config.maxPositions() + " learned positions");
        long bytes = 2L * config.numLayers() * batch * capacity * config.kvDim() * 4;
        if (bytes > Runtime.getRuntime().maxMemory() * 4)
            throw new IllegalArgumentException("a KV cache of " + (bytes >> 20) + " MiB is more than this machine should allocate");
        this.batch = batch;
        this.capacity = capacity;
        this.kvDim = config.kvDim();
        keys = new Tensor[config.numLayers()];
        values = new Tensor[config.numLayers()];
        for (int l = 0; l < keys.length; l++) {
            keys[l] = Tensor.allocate(arena, DType.F32, batch, capacity, kvDim);
            values[l] = Tensor.allocate(arena, DType.F32, batch, capacity, kvDim);
        }
    }

    public int batch() { return batch; }
    public int capacity() { return capacity; }
    /** Tokens stored so far (the position of the next token). */
    public int length() { return length; }
    public Tensor keys(int layer) { return keys[layer]; }
    public Tensor values(int layer) { return values[layer]; }

    /** Forget everything (the memory is kept for the next sequence). */
    public void reset() { length = 0; }

    /** Keep only the first {@code length} positions (e.g. to re-decode from the end of a shared prompt). */
    public void truncate(int length) {
        if (length < 0 || length > this.length) throw new IllegalArgumentException("cannot truncate " + this.length + " positions to " + length);
        this.length = length;
    }

    /** Writes {@code k}, {@code v} ([batch, seq, kvDim]) of {@code layer} at positions length..length+seq-1. */
    void store(int layer, Tensor k, Tensor v) {
        int seq = k.dim(1);
        if (length + seq > capacity) throw new IllegalStateException("KV cache full: " + length + " + " + seq + " > " + capacity);
        long row = 4L * kvDim;
        for (int b = 0; b < batch; b++) {
            long dst = ((long) b * capacity + length) * row, src = (long) b * seq * row;
            MemorySegment.copy(k.segment(), src, keys[layer].segment(), dst, seq * row);
            MemorySegment.copy(v.segment(), src, values[layer].segment(), dst, seq * row);
        }
    }

    void advance(int seq) { length += seq; }

    @Override
    public void close() { arena.close(); }
}
