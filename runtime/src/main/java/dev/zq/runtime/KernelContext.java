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
    // Every thread of the grid, when the kernel has grid-wide barriers (all blocks then run at once).
    CyclicBarrier grid;
    // The cluster this thread's block belongs to, and the block's rank in it, when the kernel is launched in clusters.
    Cluster cluster;
    int clusterRank;
    private int sharedAllocations;

    /** Shared state of one thread-block cluster on the CPU: a phaser over all its threads, its blocks by rank. */
    static final class Cluster {
        final java.util.concurrent.Phaser phaser;
        final List<Block> blocks;

        Cluster(List<Block> blocks, int threadsPerBlock) {
            this.blocks = blocks;
            this.phaser = new java.util.concurrent.Phaser(blocks.size() * threadsPerBlock);
        }
    }

    // The cluster phase this thread arrived at with clusterArrive, for its clusterWait.
    private int clusterArrival = -1;

    /** Shared state of one block on the CPU: the barrier, the shared arrays, the shuffle exchange slots. */
    static final class Block {
        final CyclicBarrier barrier;
        final CyclicBarrier[] warps;        // warp-level intrinsics synchronise only their own warp
        final List<Object> shared = new java.util.concurrent.CopyOnWriteArrayList<>();
        final long[] exchange;
        final int[] fragments;              // mma operands of every lane: a0..a3, b0, b1
        volatile boolean last;              // arriveLast's answer, shared by the block's threads
        volatile boolean broken;            // a thread failed: mbarrier waits stop
        // A lock an mbarrier, so that a phase completing wakes only that barrier's waiters (a lock, not a monitor: virtual
        // threads in Object.wait by the thousand were seen not to wake).
        final java.util.Map<MbarrierKey, CpuMbarrier> mbarriers = new java.util.concurrent.ConcurrentHashMap<>();

        Block(int threads) {
            barrier = new CyclicBarrier(threads);
            warps = new CyclicBarrier[Math.ceilDiv(threads, 32)];
            for (int w = 0; w < warps.length; w++) warps[w] = new CyclicBarrier(Math.min(32, threads - 32 * w));
            exchange = new long[threads];
            fragments = new int[threads * 6];
        }

        void reset() {
            broken = true;   // an mbarrier's waiters give up
            barrier.reset();
            for (CyclicBarrier w : warps) w.reset();
        }
    }

    /** An mbarrier: its shared array (compared by identity, as a record compares arrays) and index. */
    record MbarrierKey(int[] shared, int index) {}

    /** The lock that guards the CPU's mbarrier, and the condition its phases signal. */
    record CpuMbarrier(java.util.concurrent.locks.ReentrantLock lock, java.util.concurrent.locks.Condition completed) {
        CpuMbarrier(java.util.concurrent.locks.ReentrantLock lock) { this(lock, lock.newCondition()); }
    }

    /** The lock and condition of the CPU's mbarrier at {@code bar[index]}. */
    private CpuMbarrier cpuMbarrier(int[] bar, int index) {
        if (block == null) throw new IllegalStateException("an mbarrier outside a cooperative block");
        return block.mbarriers.computeIfAbsent(new MbarrierKey(bar, index), key -> new CpuMbarrier(new java.util.concurrent.locks.ReentrantLock()));
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

    /**
     * Waits until the kernel before this one in a task graph has finished and its writes are visible
     * (PTX {@code griddepcontrol.wait}). A kernel that calls it is launched by a CUDA graph as a programmatic
     * dependent of its predecessor: its blocks may start while the predecessor still runs, so the code before this
     * call may only read what no kernel before it in the same launch of the graph writes (weights; or what earlier launches
     * left, such as a decode step's KV cache and position) and must write nothing global. Every
     * thread that touches the predecessor's outputs must call it first. On the CPU kernels run one after another:
     * nothing to wait for.
     */
    public void awaitPreviousKernel() {}

    /**
     * Lets the next kernel of the task graph start launching its blocks (PTX {@code griddepcontrol.launch_dependents});
     * they run up to their {@link #awaitPreviousKernel}, which still waits for this whole kernel to finish. Without it
     * the next kernel launches as this one's blocks exit. A scheduling hint: no effect on results, none on the CPU.
     * Measured on the H100 (bench/RESULTS.md, GPT generation): releasing at the start of every decode kernel made the
     * steps slower (the early blocks take SM slots and land unevenly), so the decoder's kernels only await. Again on the
     * H200 with the decoder's one-wave grids ({@code -Dzq.ptx.release=afterWait}, GPT-2 batch 1, 49 decode steps):
     * 22.73 → 22.66 ms W16A16, 25.74 → 25.64 ms W8A8 at 528 blocks, and no better at 264 blocks (which leave room for
     * the next kernel's): no gain worth the rule — those kernels did next to nothing before their wait. The batch-1
     * decode kernels that load their weights before the wait ({@code GemvKernel}, {@code attendStep16}) gain from it:
     * released after every wait, GPT-2's 49 batch-1 steps took 16.04 → 14.92 ms W16A16 and 16.75 → 15.66 ms W8A8 (H200,
     * 2026-11-30), so they and the kernels before them in a decode step release right after their own wait. So do the
     * staging kernels before {@code SkinnyMmaKernel} (a batch's decode step), whose warps hold all their weights before the
     * wait: 49 steps of 1.3B at batch 16, 67.4 → 60.5 ms W8A8+head8, 83.6 → 79.3 ms W16A16 (H200, 2026-12-02, two rounds).
     */
    public void releaseNextKernel() {}

    /**
     * Point {@code mark} (a constant, 0 … 11) of the kernel that a traced run ({@code -Dzq.ptx.trace=true}) records:
     * thread 0 of each block notes {@code %globaltimer} as it passes, e.g. when the block has staged its inputs. Nothing
     * otherwise, nothing on the CPU.
     */
    public void traceMark(int mark) {
        if (mark < 0 || mark > 11) throw new IllegalArgumentException("trace marks are 0 to 11, not " + mark);
    }

    /**
     * Asks the memory system to bring the 128-byte line holding {@code buffer[index]} into L2 (PTX
     * {@code prefetch.global.L2}): a hint with no result and no effect on results. Before {@link #awaitPreviousKernel}
     * a kernel may prefetch what no earlier kernel writes — its weights — so that they stream in while the previous
     * kernel finishes and its own loads afterwards find them in L2. Nothing on the CPU.
     */
    public void prefetchL2(IntArray buffer, int index) {}

    public void prefetchL2(FloatArray buffer, int index) {}

    /** {@link #prefetchL2(IntArray, int)} for a buffer of halves: the line holding element {@code index}. */
    public void prefetchL2(HalfArray buffer, int index) {}

    /**
     * Asks for the 128-byte line holding {@code buffer[index]} in this SM's L1 (PTX {@code prefetch.global.L1}): a hint
     * with no result. Before {@link #awaitPreviousKernel} a kernel may prefetch what no earlier kernel writes (weights,
     * their scales); after it, also what it reads a little later, so that several lines' trips to L2 overlap instead of
     * each load waiting for its own. Nothing on the CPU.
     */
    public void prefetchL1(FloatArray buffer, int index) {}

    /**
     * Loads {@code src[index..index+3]} into {@code dst[0..3]} with one 16-byte access (PTX {@code ld.global.v4.u32}):
     * four times the bytes in flight per load of {@code get}. {@code index} must be a multiple of 4; {@code dst} a local
     * {@code int[4]} (or longer) indexed with constants.
     */
    public void load4(int[] dst, IntArray src, int index) {
        if ((index & 3) != 0) throw new IllegalArgumentException("load4 needs an index that is a multiple of 4, not " + index);
        for (int i = 0; i < 4; i++) dst[i] = src.get(index + i);
    }

    /**
     * Loads halves {@code src[index..index+7]} into {@code dst[0..3]}, two to an int (element {@code index + 2i} in the low
     * 16 bits of {@code dst[i]}, as {@code Epilogue.lowHalf} reads them) with one 16-byte access (PTX
     * {@code ld.global.v4.u32}). {@code index} must be a multiple of 8; {@code dst} a local {@code int[4]} (or longer)
     * indexed with constants.
     */
    public void load4(int[] dst, HalfArray src, int index) {
        if ((index & 7) != 0) throw new IllegalArgumentException("load4 of halves needs an index that is a multiple of 8, not " + index);
        for (int i = 0; i < 4; i++)   // the raw bits, NaN payloads included
            dst[i] = src.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, index + 2L * i) & 0xFFFF
                    | src.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, index + 2L * i + 1) << 16;
    }

    /**
     * Loads {@code src[index..index+3]} of a shared {@code int[]} into {@code dst[0..3]} with one 16-byte access (PTX
     * {@code ld.shared.v4.u32}). {@code index} must be a multiple of 4.
     */
    public void load4(int[] dst, int[] src, int index) {
        if ((index & 3) != 0) throw new IllegalArgumentException("load4 needs an index that is a multiple of 4, not " + index);
        System.arraycopy(src, index, dst, 0, 4);
    }

    /**
     * Stores {@code src[0..3]} into {@code dst[index..index+3]} with one 16-byte access (PTX {@code st.global.v4.u32}): a
     * quarter of the store instructions of {@code set}, and whole 32-byte sectors where a warp's accesses are adjacent.
     * {@code index} must be a multiple of 4; {@code src} a local {@code int[4]} (or longer) indexed with constants.
     */
    public void store4(IntArray dst, int index, int[] src) {
        if ((index & 3) != 0) throw new IllegalArgumentException("store4 needs an index that is a multiple of 4, not " + index);
        for (int i = 0; i < 4; i++) dst.set(index + i, src[i]);
    }

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
     * Waits until every thread of the whole grid got here; global-memory writes before it are seen after it, by every
     * block. For persistent kernels that run several dependent phases in one launch instead of one launch each. All
     * blocks must be resident at once (on the GPU the grid may be at most {@link Device#residentBlocks} blocks, which the
     * runtime checks before it launches: a larger grid would wait forever). {@code sync} holds the barrier's state in its
     * first two ints (arrivals, generation): zero them before the first launch; the barrier leaves the arrivals at zero,
     * so the next launch reuses them. On the GPU: a block barrier, then one thread per block counts its block in with a
     * release-acquire atomic and waits for the last block to advance the generation; in a kernel marked
     * {@link Kernel#countingGridBarrier}, adds it to a count that is never reset and waits for the count its barrier
     * completes (the first two ints then a 64-bit count, a multiple of the grid's blocks between launches).
     */
    public void gridBarrier(IntArray sync) {
        if (grid == null) throw new IllegalStateException("gridBarrier() outside a kernel launched with its blocks at once");
        try {
            grid.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted at a grid barrier", e);
        } catch (BrokenBarrierException e) {
            throw new IllegalStateException("a thread of the grid failed before reaching the grid barrier", e);
        }
    }

    /** This block's rank in its thread-block cluster ({@link Kernel#cluster}), 0 … cluster − 1 (PTX {@code %cluster_ctarank}). */
    public int clusterRank() {
        if (cluster == null) throw new IllegalStateException("clusterRank() outside a kernel launched in clusters");
        return clusterRank;
    }

    /**
     * Waits until every thread of every block of the cluster got here; shared-memory writes before it, in any block of the
     * cluster, are seen after it by {@link #clusterLoad} and local reads (PTX {@code barrier.cluster.arrive.release} and
     * {@code wait.acquire}). A block must not exit while another may still read or write its shared memory: a kernel that
     * does so ends with one more cluster barrier after the last access.
     */
    public void clusterBarrier() {
        clusterArrive();
        clusterWait();
    }

    /**
     * The first half of {@link #clusterBarrier}: counts this thread in and goes on; {@link #clusterWait} later waits for
     * the others' arrival. Between them the thread may work on what does not depend on the others (PTX
     * {@code barrier.cluster.arrive.release}). Before a block first touches another's shared memory, the cluster must
     * have passed a barrier (on the GPU, a block that has not started yet has no shared memory to touch).
     */
    public void clusterArrive() {
        if (cluster == null) throw new IllegalStateException("clusterArrive() outside a kernel launched in clusters");
        if (clusterArrival >= 0) throw new IllegalStateException("clusterArrive() twice without a clusterWait()");
        clusterArrival = cluster.phaser.arrive();
    }

    /**
     * {@link #clusterArrive} without publishing this thread's memory writes (PTX {@code barrier.cluster.arrive.relaxed}):
     * for a barrier that only says "this block has started", whose release would make the GPU wait for the thread's
     * outstanding memory operations (a fence over the whole GPU).
     */
    public void clusterArriveRelaxed() { clusterArrive(); }

    /** Waits until every thread of the cluster has arrived at the phase of this thread's last {@link #clusterArrive}. */
    public void clusterWait() {
        if (cluster == null) throw new IllegalStateException("clusterWait() outside a kernel launched in clusters");
        if (clusterArrival < 0) throw new IllegalStateException("clusterWait() without a clusterArrive() before it");
        int phase = clusterArrival;
        clusterArrival = -1;
        try {
            if (cluster.phaser.awaitAdvanceInterruptibly(phase) < 0)
                throw new IllegalStateException("a thread of the cluster failed before reaching the cluster barrier", new BrokenBarrierException());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted at a cluster barrier", e);
        }
    }

    /**
     * Writes {@code value} to element {@code index} of the shared array {@code shared} of the cluster's block {@code rank}
     * (PTX {@code mapa} and a store to distributed shared memory): a store does not wait for its way there, unlike
     * {@link #clusterLoad}, so a block pushes what its peers need into their shared memory, and after the next cluster
     * barrier they read it locally.
     */
    public void clusterStore(float[] shared, int index, int rank, float value) {
        peerArray(shared, rank)[index] = value;
    }

    /**
     * Element {@code index} of the shared array {@code shared} of the cluster's block {@code rank} — the same allocation
     * as this block's {@code shared} there (PTX {@code mapa} and a load from distributed shared memory). The value is
     * the one written there before the last {@link #clusterBarrier} both passed.
     */
    public float clusterLoad(float[] shared, int index, int rank) {
        return peerArray(shared, rank)[index];
    }

    /** The cluster's block {@code rank}'s array of the same allocation as this block's {@code shared}. */
    private float[] peerArray(float[] shared, int rank) {
        if (cluster == null) throw new IllegalStateException("cluster shared memory outside a kernel launched in clusters");
        if (rank < 0 || rank >= cluster.blocks.size())
            throw new IllegalArgumentException("rank " + rank + " outside a cluster of " + cluster.blocks.size() + " blocks");
        int k = -1;
        for (int i = 0; i < block.shared.size(); i++) if (block.shared.get(i) == shared) k = i;
        if (k < 0) throw new IllegalArgumentException("cluster shared memory is reached through an array of this block, allocated by allocateFloatShared");
        List<Object> peer = cluster.blocks.get(rank).shared;
        if (k >= peer.size()) throw new IllegalStateException("block " + rank + " of the cluster has not allocated that array yet: a cluster barrier is missing");
        return (float[]) peer.get(k);
    }

    /**
     * Counts this block in at {@code arrivals[index]} and says whether it is the last of {@code count} blocks to arrive
     * there, the same answer for every thread of the block (all of them call it; block barriers are part of it). The
     * last block resets the count to 0, for the next launch, and sees every global write the others made before they
     * arrived: the pattern for blocks that each compute a part of one result, the last adding the parts up in a fixed
     * order (so the float sums are the same bits on every run, unlike atomic adds in arrival order). On the GPU each
     * thread fences its writes ({@code fence.acq_rel.gpu}), then one thread per block adds with an acquire-release
     * atomic and shares the answer through shared memory. {@code arrivals} must start zeroed (launches leave it so). On the
     * CPU the blocks run one after another, and a count outside {@code 0..count−1} is an error.
     */
    public boolean arriveLast(IntArray arrivals, int index, int count) {
        barrier();
        if (localX == 0 && localY == 0) {
            int before = arrivals.get(index);
            if (before < 0 || before >= count)
                throw new IllegalStateException(before + " arrivals already at " + index + " of " + count + ": the counts were not zeroed");
            block.last = before == count - 1;
            arrivals.set(index, block.last ? 0 : before + 1);
        }
        barrier();
        return block.last;
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

    /**
     * Starts an asynchronous copy of 16 bytes (4 ints) from {@code global[globalIndex..+3]} to
     * {@code shared[sharedIndex..+3]} (PTX {@code cp.async.cg.shared.global}, bypassing registers and L1). Both
     * indices must be multiples of 4. The data may be read only after {@link #copyAsyncWait} for its group and
     * a {@link #barrier}. On the CPU the copy happens at once, which is one of the orders the GPU allows.
     */
    public void copyAsync16(int[] shared, int sharedIndex, IntArray global, int globalIndex) {
        if ((sharedIndex & 3) != 0 || (globalIndex & 3) != 0)
            throw new IllegalArgumentException("16-byte async copies need indices that are multiples of 4: " + sharedIndex + ", " + globalIndex);
        for (int i = 0; i < 4; i++) shared[sharedIndex + i] = global.get(globalIndex + i);
    }

    /**
     * Four 8×8 matrices of 16-bit elements from shared memory into registers, the {@code mma} fragment loader
     * ({@code ldmatrix.sync.aligned.m8n8.x4.shared.b16}). Each lane names one 16-byte row: lane {@code l} gives the
     * row {@code l % 8} of matrix {@code l / 8}, as the index of its first int in {@code shared} (a multiple of 4);
     * lane {@code l} receives {@code frag[j]} = int {@code l % 4} of row {@code l / 4} of matrix {@code j}. For INT8
     * and FP16 operands this is exactly the A fragment of {@link #mmaS8}/{@link #mmaF16} when the matrices are rows
     * 0–7 and 8–15 of the first and of the second 16 bytes of K, and two B fragments for two n-tiles.
     * All 32 lanes of the warp must call it together.
     */
    public void ldmatrix4(int[] frag, int[] shared, int index) {
        if ((index & 3) != 0) throw new IllegalArgumentException("ldmatrix rows start at 16-byte boundaries: int index " + index);
        int self = localY * localSizeX + localX, warpBase = self & ~31, lane = self - warpBase;
        block.exchange[self] = index;
        warpBarrier();
        int row = lane >> 2, word = lane & 3;
        for (int j = 0; j < 4; j++) frag[j] = shared[(int) block.exchange[warpBase + 8 * j + row] + word];
        warpBarrier();
    }

    /**
     * {@link #ldmatrix4} transposed ({@code ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16}): the lanes name the rows as
     * there, and lane {@code l} receives {@code frag[j]} = elements {@code (2·(l % 4), l / 4)} (low half) and
     * {@code (2·(l % 4) + 1, l / 4)} (high half) of matrix {@code j}. From a row-major [K][N] FP16 operand (rows = K) this
     * is the B fragment of {@link #mmaF16} without a transposed copy: matrices (K rows 0–7, 8–15) × (N columns 0–7, 8–15)
     * give two n-tiles' fragments. All 32 lanes of the warp must call it together.
     */
    public void ldmatrix4t(int[] frag, int[] shared, int index) {
        if ((index & 3) != 0) throw new IllegalArgumentException("ldmatrix rows start at 16-byte boundaries: int index " + index);
        int self = localY * localSizeX + localX, warpBase = self & ~31, lane = self - warpBase;
        block.exchange[self] = index;
        warpBarrier();
        int row = 2 * (lane & 3), col = lane >> 2;   // this lane's two elements: rows row and row + 1 of column col
        for (int j = 0; j < 4; j++) {
            int lo = shared[(int) block.exchange[warpBase + 8 * j + row] + (col >> 1)] >>> (16 * (col & 1)) & 0xFFFF;
            int hi = shared[(int) block.exchange[warpBase + 8 * j + row + 1] + (col >> 1)] >>> (16 * (col & 1)) & 0xFFFF;
            frag[j] = lo | hi << 16;
        }
        warpBarrier();
    }

    /**
     * Makes {@code shared[index], shared[index + 1]} (index even: 8 bytes) a transaction barrier that completes a phase
     * when {@code count} threads have arrived and the bytes they announced have landed ({@code mbarrier.init}). The threads
     * that use it must see the init: call it before a {@link #barrier}, or from the one thread that then copies
     * ({@link #bulkCopy}). On the CPU a bulk copy lands at once; the barrier keeps its count in {@code shared[index]} and
     * its phase and arrivals in {@code shared[index + 1]}, so that {@link #mbarrierWait} blocks as the GPU's does.
     */
    public void mbarrierInit(int[] shared, int index, int count) {
        if ((index & 1) != 0 || count <= 0 || count > 0xFFFF) throw new IllegalArgumentException("an mbarrier takes an even index and a count of 1 … 65535: " + index + ", " + count);
        var lock = cpuMbarrier(shared, index).lock();
        lock.lock();
        try {
            shared[index] = count;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Counts this thread in at the mbarrier at {@code bar[barIndex]} ({@code mbarrier.arrive}, release): once its
     * {@link #mbarrierInit} count of threads have arrived (and the bytes of any bulk copies on it landed) the phase completes,
     * and a thread that {@link #mbarrierWait}s for it sees the writes the arriving threads made before they arrived.
     */
    public void mbarrierArrive(int[] bar, int barIndex) {
        if ((barIndex & 1) != 0) throw new IllegalArgumentException("an mbarrier at an even index: " + barIndex);
        arrive(bar, barIndex);
    }

    /** The CPU's mbarrier: {@code bar[i]} the count, {@code bar[i + 1]} = phases completed · 2¹⁶ + arrivals in this one. */
    private void arrive(int[] bar, int i) {
        CpuMbarrier m = cpuMbarrier(bar, i);
        var lock = m.lock();
        lock.lock();
        try {
            int count = bar[i], arrived = (bar[i + 1] & 0xFFFF) + 1;
            if (count == 0) throw new IllegalStateException("an arrival at an mbarrier that was never initialised (index " + i + ")");
            if (arrived < count) bar[i + 1] += 1;
            else {
                bar[i + 1] = (bar[i + 1] & ~0xFFFF) + 0x10000;
                m.completed().signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Copies {@code bytes} (a multiple of 16) from {@code global[globalIndex…]} to {@code shared[sharedIndex…]} (both at
     * 16-byte boundaries) on Hopper's bulk-copy engine, not through the thread's loads ({@code cp.async.bulk}), arriving on
     * the mbarrier at {@code bar[barIndex]} with that many bytes to wait for ({@code mbarrier.arrive.expect_tx}): the
     * phase completes when they have landed. Read them after {@link #mbarrierWait}. On the CPU the copy happens at once.
     */
    public void bulkCopy(int[] shared, int sharedIndex, IntArray global, int globalIndex, int bytes, int[] bar, int barIndex) {
        if ((sharedIndex & 3) != 0 || (globalIndex & 3) != 0 || bytes <= 0 || (bytes & 15) != 0 || (barIndex & 1) != 0)
            throw new IllegalArgumentException("bulk copies move multiples of 16 bytes between 16-byte boundaries: " + sharedIndex + ", "
                    + globalIndex + ", " + bytes + " bytes, mbarrier at " + barIndex);
        for (int i = 0; i < bytes >> 2; i++) shared[sharedIndex + i] = global.get(globalIndex + i);
        arrive(bar, barIndex);
    }

    /** {@link #bulkCopy(int[], int, IntArray, int, int, int[], int)} of floats, landing as their bits ({@link Float#floatToRawIntBits}). */
    public void bulkCopy(int[] shared, int sharedIndex, FloatArray global, int globalIndex, int bytes, int[] bar, int barIndex) {
        if ((sharedIndex & 3) != 0 || (globalIndex & 3) != 0 || bytes <= 0 || (bytes & 15) != 0 || (barIndex & 1) != 0)
            throw new IllegalArgumentException("bulk copies move multiples of 16 bytes between 16-byte boundaries: " + sharedIndex + ", "
                    + globalIndex + ", " + bytes + " bytes, mbarrier at " + barIndex);
        for (int i = 0; i < bytes >> 2; i++) shared[sharedIndex + i] = Float.floatToRawIntBits(global.get(globalIndex + i));
        arrive(bar, barIndex);
    }

    /**
     * Waits until the mbarrier at {@code bar[barIndex]} has completed the phase of parity {@code phase} (0 for its first)
     * ({@code mbarrier.try_wait.parity} in a loop): the bulk copies that arrived on it have landed, for this thread to read,
     * and the writes that the threads counted in ({@link #mbarrierArrive}) made before they arrived are seen. A phase's
     * parity names it only until the barrier completes the next but one: a waiter must not fall two phases behind.
     */
    public void mbarrierWait(int[] bar, int barIndex, int phase) {
        if ((barIndex & 1) != 0 || (phase & ~1) != 0) throw new IllegalArgumentException("an mbarrier at an even index, phase 0 or 1: " + barIndex + ", " + phase);
        CpuMbarrier m = cpuMbarrier(bar, barIndex);
        m.lock().lock();
        try {
            // The phase of parity `phase` has completed once the count of completed phases has the other parity.
            while ((bar[barIndex + 1] >>> 16 & 1) == phase) {
                if (block.broken) throw new IllegalStateException("a thread of the block failed before arriving at an mbarrier", new BrokenBarrierException());
                m.completed().await(10, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted at an mbarrier", e);
        } finally {
            m.lock().unlock();
        }
    }

    /** Closes the group of async copies started since the last commit ({@code cp.async.commit_group}). */
    public void copyAsyncCommit() {}

    /**
     * Waits until at most {@code pending} (a compile-time constant) of this thread's committed copy groups are
     * still in flight ({@code cp.async.wait_group}).
     */
    public void copyAsyncWait(int pending) {
        if (pending < 0) throw new IllegalArgumentException("pending groups must be >= 0");
    }

    /** {@code __shfl_xor_sync} over the full warp: the value of lane {@code laneId ^ mask}. */
    public int shflXor(int value, int mask) { return (int) exchange(value, mask); }

    public float shflXor(float value, int mask) { return Float.intBitsToFloat((int) exchange(Float.floatToRawIntBits(value), mask)); }

    private long exchange(long bits, int mask) {
        int self = localY * localSizeX + localX;
        block.exchange[self] = bits;
        warpBarrier();
        int warpBase = self & ~31;
        long v = block.exchange[warpBase + ((self - warpBase) ^ (mask & 31))];
        warpBarrier();
        return v;
    }

    private void warpBarrier() {
        if (block == null) throw new IllegalStateException("warp intrinsics outside a cooperative block");
        try {
            block.warps[(localY * localSizeX + localX) >> 5].await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted in a warp intrinsic", e);
        } catch (BrokenBarrierException e) {
            throw new IllegalStateException("a lane of the warp failed before the warp intrinsic", e);
        }
    }

    /**
     * One warp-wide tensor-core step, PTX {@code mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32}:
     * {@code D[16×8] += A[16×32] · B[32×8]} in exact INT32. Each lane passes its fragments (four bytes
     * packed little-endian per int) and owns four accumulators, with lane = 4g + t:
     * {@code a0 = A[g][4t..4t+3], a1 = A[g+8][4t..], a2 = A[g][16+4t..], a3 = A[g+8][16+4t..]},
     * {@code b0 = B[4t..4t+3][g], b1 = B[16+4t..][g]}, {@code acc = D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]}.
     * All 32 lanes of the warp must call it together.
     */
    public void mmaS8(int[] acc, int a0, int a1, int a2, int a3, int b0, int b1) {
        int self = localY * localSizeX + localX, warpBase = self & ~31, lane = self - warpBase;
        int[] f = block.fragments;
        f[self * 6] = a0; f[self * 6 + 1] = a1; f[self * 6 + 2] = a2; f[self * 6 + 3] = a3; f[self * 6 + 4] = b0; f[self * 6 + 5] = b1;
        warpBarrier();
        byte[][] a = new byte[16][32], b = new byte[32][8];
        for (int l = 0; l < 32; l++) {
            int g = l >> 2, t = l & 3, o = (warpBase + l) * 6;
            for (int i = 0; i < 4; i++) {
                a[g][4 * t + i] = (byte) (f[o] >> (8 * i));
                a[g + 8][4 * t + i] = (byte) (f[o + 1] >> (8 * i));
                a[g][16 + 4 * t + i] = (byte) (f[o + 2] >> (8 * i));
                a[g + 8][16 + 4 * t + i] = (byte) (f[o + 3] >> (8 * i));
                b[4 * t + i][g] = (byte) (f[o + 4] >> (8 * i));
                b[16 + 4 * t + i][g] = (byte) (f[o + 5] >> (8 * i));
            }
        }
        warpBarrier();
        int g = lane >> 2, t = lane & 3;
        int[][] rc = {{g, 2 * t}, {g, 2 * t + 1}, {g + 8, 2 * t}, {g + 8, 2 * t + 1}};
        for (int r = 0; r < 4; r++) {
            int s = 0;
            for (int k = 0; k < 32; k++) s += a[rc[r][0]][k] * b[k][rc[r][1]];
            acc[r] += s;
        }
    }

    /**
     * One warp-wide FP16 tensor-core step, PTX {@code mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32}:
     * {@code D[16×8] += A[16×16] · B[16×8]} with FP32 accumulation. Each int holds two halves (the lower
     * column/row index in the low 16 bits); with lane = 4g + t:
     * {@code a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][8+2t..], a3 = A[g+8][8+2t..]},
     * {@code b0 = B[2t..2t+1][g], b1 = B[8+2t..][g]}, {@code acc = D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]}.
     * Products of halves are exact in float; the hardware's order of additions is unspecified, so the CPU
     * (which sums in k order in double, then rounds once) agrees to float rounding, not bit for bit.
     */
    public void mmaF16(float[] acc, int a0, int a1, int a2, int a3, int b0, int b1) {
        int self = localY * localSizeX + localX, warpBase = self & ~31, lane = self - warpBase;
        int[] f = block.fragments;
        f[self * 6] = a0; f[self * 6 + 1] = a1; f[self * 6 + 2] = a2; f[self * 6 + 3] = a3; f[self * 6 + 4] = b0; f[self * 6 + 5] = b1;
        warpBarrier();
        float[][] a = new float[16][16], b = new float[16][8];
        for (int l = 0; l < 32; l++) {
            int g = l >> 2, t = l & 3, o = (warpBase + l) * 6;
            for (int h = 0; h < 2; h++) {
                a[g][2 * t + h] = half(f[o], h);
                a[g + 8][2 * t + h] = half(f[o + 1], h);
                a[g][8 + 2 * t + h] = half(f[o + 2], h);
                a[g + 8][8 + 2 * t + h] = half(f[o + 3], h);
                b[2 * t + h][g] = half(f[o + 4], h);
                b[8 + 2 * t + h][g] = half(f[o + 5], h);
            }
        }
        warpBarrier();
        int g = lane >> 2, t = lane & 3;
        int[][] rc = {{g, 2 * t}, {g, 2 * t + 1}, {g + 8, 2 * t}, {g + 8, 2 * t + 1}};
        for (int r = 0; r < 4; r++) {
            double s = acc[r];
            for (int k = 0; k < 16; k++) s += (double) a[rc[r][0]][k] * b[k][rc[r][1]];
            acc[r] = (float) s;
        }
    }

    private static float half(int packed, int which) {
        return Float.float16ToFloat((short) (packed >>> (16 * which)));
    }

    /**
     * One warpgroup-wide Hopper tensor-core step, PTX {@code wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8}:
     * {@code D[64×128] += A[64×32] · B[128×32]ᵀ} in exact INT32, both operands read from shared memory (not from
     * registers, as {@link #mmaS8}'s are) by the tensor cores of the whole warpgroup (4 warps, 128 threads, all calling
     * it together). Both operands are K-major ({@code aWord}, {@code bWord}: their start as indices of ints, multiples of
     * 4; {@code aStride}, {@code bStride}: bytes between 8-row groups, multiples of 16), in one of two layouts that
     * {@code swizzle} (a constant) names. 0: unswizzled 8-row "core matrices", row {@code r}, byte {@code c} of K at byte
     * {@code (r / 8)·stride + (c / 16)·128 + (r % 8)·16 + c % 16}. 32, 64 or 128: each 8-row group is {@code swizzle}-byte
     * rows (row r at {@code (r % 8)·swizzle}), and the 16-byte chunk bits of every byte address (bit 4, bits 4–5 or bits
     * 4–6) are XORed with its bits 7 (7–8, 7–9), the hardware's swizzle, which spreads the rows that the tensor cores read
     * together over all banks; addresses count from the array's start, which the JIT aligns to 1024 bytes in kernels that
     * use wgmma, and the start may point inside a row (a later 32 bytes of K).
     * Thread {@code 128·q + 32·w + 4g + t} of a block (warpgroup q, its warp w) owns {@code acc[4j + i]} =
     * {@code D[16w + g + 8·(i / 2)][8j + 2t + i % 2]}, j = 0…15, i = 0…3: {@link #mmaS8}'s fragment repeated along N.
     * On the GPU the step runs asynchronously: its operands must have been written before a {@link #fenceAsyncShared}
     * and a barrier, and {@link #wgmmaFence} must precede it, {@link #wgmmaCommit} and {@link #wgmmaWait} follow it
     * before {@code acc} is read or its shared memory rewritten. On the CPU it computes at once.
     */
    public void wgmmaS8(int[] acc, int[] a, int aWord, int aStride, int[] b, int bWord, int bStride, int swizzle) {
        checkWgmma("wgmmaS8", acc.length, 64, aWord, aStride, bWord, bStride, swizzle);
        wgmmaS8Columns(acc, a, aWord, aStride, b, bWord, bStride, swizzle, 16);
    }

    /**
     * {@link #wgmmaS8} on half the columns, PTX {@code wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8}: {@code D[64×64]
     * += A[64×32] · B[64×32]ᵀ}, B's 64 rows in the same layout, the accumulators {@code acc[0, 32)} at {@link #wgmmaS8}'s
     * places (j = 0…7). For tiles half as wide: twice as many of them, so that the last wave of a grid can be spread.
     */
    public void wgmmaS8n64(int[] acc, int[] a, int aWord, int aStride, int[] b, int bWord, int bStride, int swizzle) {
        checkWgmma("wgmmaS8n64", acc.length, 32, aWord, aStride, bWord, bStride, swizzle);
        wgmmaS8Columns(acc, a, aWord, aStride, b, bWord, bStride, swizzle, 8);
    }

    /** The CPU's INT8 warpgroup step over {@code tiles} 8-column tiles of B (16: n128, 8: n64), into this thread's accumulators. */
    private void wgmmaS8Columns(int[] acc, int[] a, int aWord, int aStride, int[] b, int bWord, int bStride, int swizzle, int tiles) {
        int self = localY * localSizeX + localX, w = (self >> 5) & 3, lane = self & 31, g = lane >> 2, t = lane & 3;
        for (int j = 0; j < tiles; j++)
            for (int i = 0; i < 4; i++) {
                int row = 16 * w + g + 8 * (i >> 1), col = 8 * j + 2 * t + (i & 1), s = 0;
                for (int c = 0; c < 32; c++)
                    s += coreByte(a, aWord, aStride, swizzle, row, c) * coreByte(b, bWord, bStride, swizzle, col, c);
                acc[4 * j + i] += s;
            }
    }

    /**
     * {@link #wgmmaS8}'s FP16 form, PTX {@code wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16}: {@code D[64×128] +=
     * A[64×16] · B[128×16]ᵀ} with FP32 accumulation, the operands FP16 in the same byte layouts (a row's 16 halves are its
     * 32 bytes of K) and the accumulators at the same places. The hardware's order of additions is unspecified; the CPU
     * sums each step in k order in double and rounds once, so the two agree to float rounding, not bit for bit.
     */
    public void wgmmaF16(float[] acc, int[] a, int aWord, int aStride, int[] b, int bWord, int bStride, int swizzle) {
        checkWgmma("wgmmaF16", acc.length, 64, aWord, aStride, bWord, bStride, swizzle);
        int self = localY * localSizeX + localX, w = (self >> 5) & 3, lane = self & 31, g = lane >> 2, t = lane & 3;
        for (int j = 0; j < 16; j++)
            for (int i = 0; i < 4; i++) {
                int row = 16 * w + g + 8 * (i >> 1), col = 8 * j + 2 * t + (i & 1);
                double sum = acc[4 * j + i];
                for (int h = 0; h < 16; h++)
                    sum += (double) coreHalf(a, aWord, aStride, swizzle, row, h) * coreHalf(b, bWord, bStride, swizzle, col, h);
                acc[4 * j + i] = (float) sum;
            }
    }

    /** Half {@code h} of K of row {@code r} of a {@link #wgmmaF16} operand (bytes 2h and 2h + 1). */
    private static float coreHalf(int[] shared, int word, int stride, int swizzle, int r, int h) {
        int lo = coreByte(shared, word, stride, swizzle, r, 2 * h) & 0xFF, hi = coreByte(shared, word, stride, swizzle, r, 2 * h + 1) & 0xFF;
        return Float.float16ToFloat((short) (lo | (hi << 8)));
    }

    private static void checkWgmma(String name, int accLength, int accs, int aWord, int aStride, int bWord, int bStride, int swizzle) {
        if (accLength < accs || (aWord & 3) != 0 || (bWord & 3) != 0 || (aStride & 15) != 0 || (bStride & 15) != 0)
            throw new IllegalArgumentException(name + " needs " + accs + " accumulators and 16-byte aligned operands and strides");
        if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
            throw new IllegalArgumentException(name + " takes the 32-, 64- and 128-byte swizzles (0: none), not " + swizzle);
    }

    /** Byte {@code c} of K of row {@code r} of a {@link #wgmmaS8} operand, signed. */
    private static int coreByte(int[] shared, int word, int stride, int swizzle, int r, int c) {
        int at;
        if (swizzle == 0) at = 4 * word + (r >> 3) * stride + (c >> 4) * 128 + (r & 7) * 16 + (c & 15);
        else {
            at = 4 * word + (r >> 3) * stride + (r & 7) * swizzle + c;
            at ^= ((at >> 7) & (swizzle / 16 - 1)) << 4;
        }
        return (byte) (shared[at >> 2] >> (8 * (at & 3)));
    }

    /** Orders this warpgroup's register accesses before the {@link #wgmmaS8} steps that follow ({@code wgmma.fence}); no-op on the CPU. */
    public void wgmmaFence() {}

    /** Closes the {@link #wgmmaS8} steps issued since the last commit into one group ({@code wgmma.commit_group}); no-op on the CPU. */
    public void wgmmaCommit() {}

    /** Waits until at most {@code pending} (a constant) groups of {@link #wgmmaS8} steps are in flight ({@code wgmma.wait_group}); no-op on the CPU. */
    public void wgmmaWait(int pending) {
        if (pending < 0) throw new IllegalArgumentException("pending groups must be >= 0, not " + pending);
    }

    /**
     * Makes this thread's writes to shared memory (stores, completed {@link #copyAsync16} copies) visible to the
     * tensor cores' asynchronous reads ({@code fence.proxy.async.shared::cta}): call it after the writes and before the
     * barrier that precedes {@link #wgmmaS8}. No-op on the CPU.
     */
    public void fenceAsyncShared() {}

    /** Atomically adds {@code value} to {@code buffer[index]}; returns the old value. */
    public int atomicAdd(IntArray buffer, int index, int value) {
        return buffer.getAndAdd(index, value);
    }

    public float atomicAdd(FloatArray buffer, int index, float value) {
        return buffer.getAndAdd(index, value);
    }
}
