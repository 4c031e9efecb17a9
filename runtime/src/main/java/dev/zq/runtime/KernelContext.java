package dev.zq.runtime;

import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;

/**
 * What a kernel knows about where it runs: thread and block indices, block and grid sizes, and the
 * block-level intrinsics (barrier, shared memory, warp shuffles, atomics). On the GPU each method is one
 * PTX instruction or special register (the JIT never calls these methods); on the CPU this object carries
 * the indices of the thread being run and the state its block shares.
 */
public final class KernelContext {
    // Thread coordinates, set by the CPU executor before each call.
    int localX, localY, groupX, groupY, localSizeX, localSizeY, groupsX, groupsY;
    // Per block, when the block runs cooperatively (barriers, shared memory, shuffles).
    Block block;
    private int sharedAllocations;

    /** Shared state of one block on the CPU: the barrier, the shared arrays, the shuffle exchange slots. */
    static final class Block {
        final CyclicBarrier barrier;
        final List<Object> shared = new java.util.concurrent.CopyOnWriteArrayList<>();
        final long[] exchange;

        Block(int threads) {
            barrier = new CyclicBarrier(threads);
            exchange = new long[threads];
        }
    }

    KernelContext() {}

    void startThread() { sharedAllocations = 0; }

    /** Index of this thread in the whole grid along x: {@code groupIdx·localSizeX + localIdx}. */
    public int globalIdx() { return groupX * localSizeX + localX; }
    public int globalIdy() { return groupY * localSizeY + localY; }
    public int localIdx() { return localX; }
    public int localIdy() { return localY; }
    public int groupIdx() { return groupX; }
    public int groupIdy() { return groupY; }
    public int localSizeX() { return localSizeX; }
    public int localSizeY() { return localSizeY; }
    public int numGroupsX() { return groupsX; }
    public int numGroupsY() { return groupsY; }
    /** Threads in the grid along x. */
    public int globalSizeX() { return groupsX * localSizeX; }
    /** Lane of this thread in its warp of 32. */
    public int laneId() { return (localY * localSizeX + localX) & 31; }

    /** Waits until every thread of the block got here; shared-memory writes before it are seen after it. */
    public void barrier() {
        if (block == null) throw new IllegalStateException("barrier() outside a cooperative block");
        try {
            block.barrier.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted at a barrier", e);
        } catch (BrokenBarrierException e) {
            throw new IllegalStateException("a thread of the block failed before reaching the barrier", e);
        }
    }

    /**
     * A float array in the block's shared memory; every thread of the block gets the same array at the
     * same call. {@code size} must be a compile-time constant for the GPU.
     */
    public float[] allocateFloatShared(int size) { return (float[]) shared(size, float[].class); }
    public int[] allocateIntShared(int size) { return (int[]) shared(size, int[].class); }

    private Object shared(int size, Class<?> type) {
        if (block == null) throw new IllegalStateException("shared memory outside a cooperative block");
        int k = sharedAllocations++;
        synchronized (block) {
            while (block.shared.size() <= k) block.shared.add(type == float[].class ? new float[size] : new int[size]);
            return block.shared.get(k);
        }
    }

    /** {@code __shfl_xor_sync} over the full warp: the value of lane {@code laneId ^ mask}. */
    public int shflXor(int value, int mask) { return (int) exchange(value, mask); }

    public float shflXor(float value, int mask) { return Float.intBitsToFloat((int) exchange(Float.floatToRawIntBits(value), mask)); }

    private long exchange(long bits, int mask) {
        int self = localY * localSizeX + localX;
        block.exchange[self] = bits;
        barrier();
        int warpBase = self & ~31;
        long v = block.exchange[warpBase + ((self - warpBase) ^ (mask & 31))];
        barrier();
        return v;
    }

    /** Atomically adds {@code value} to {@code buffer[index]}; returns the old value. */
    public int atomicAdd(IntArray buffer, int index, int value) {
        return buffer.getAndAdd(index, value);
    }

    public float atomicAdd(FloatArray buffer, int index, float value) {
        return buffer.getAndAdd(index, value);
    }
}
