package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelContext;

/**
 * A chain of batch-1 W8A8 projections — {@code y_p = s_x · (x̄_p · W̄_pᵀ)} with group-wise INT8 weights and the row
 * quantized token-wise — in <em>one</em> launch: a block an SM, a grid barrier between projections in place of a kernel
 * boundary. The experiment behind it (bench/RESULTS.md, session 51): a decode step's projections launched one by one
 * each pay a fixed ~4–10 µs (the wait for the previous kernel, the row's staging, the first weights' trip from DRAM)
 * during which DRAM idles, because a launch cannot ask for its weights before it starts. Here the weights, which no
 * projection writes, stream without a break: each block's weight rows of every projection, in order, pass through a ring of
 * {@value #SLOTS} shared-memory slots of {@value #SLOT_BYTES} bytes (INT8: their group scales through a ring beside it),
 * filled by Hopper's bulk-copy engine ({@link KernelContext#bulkCopy}) — while the block waits at a grid barrier or stages
 * the next row, the next projection's first slots are already landing. Thread 0 asks for each slot's next chunk from
 * registers: traced (session 52, H200), a chunk took ~2 µs while its copy request waited on the plan's global loads and
 * the consumers on their scales' — loads that queue behind the streaming ring.
 * <p>
 * {@code plan} holds {@value #PLAN_INTS} ints a projection: outputs {@code n} (at most {@value #MAX_N}), inputs {@code k} (a multiple of 1024 up
 * to {@value #MAX_K}: a warp takes 1 KiB of a row, so a slot holds {@code 32768 / k} rows of codes, {@code 16384 / k} of
 * FP16 weights in {@link #fp16Chain}), the offsets of its codes in
 * {@code w} (ints; {@code k/4} a row), of its group scales in {@code sw} ({@code k/groupSize} a row), of its input row
 * and of its output in {@code act}. A projection's input is usually the output of the one before it: the grid barrier
 * orders them. Block {@code b} of {@code G} takes rows {@code ⌊n·b/G⌋ … ⌊n·(b+1)/G⌋}. {@code lead} (1 … {@code SLOTS − 2}, clamped):
 * how many chunks a block keeps in flight ahead of the one it reads. {@code sync}: the grid barriers' count, two ints zeroed
 * before the first launch, one buffer for grids of one size ({@link Kernel#countingGridBarrier}: the barrier 0.5 µs
 * shorter than the resetting one, session 53). Thread 0 asks for the next chunk before it waits for its own, and warp 1
 * sums and writes a chunk's rows while it reads the next. Traced (session 53, H100), a chunk's copy request took twice
 * its products' time while every other warp waited at the block barrier that ended each chunk; there is none now: the
 * warps and the producer meet only on each slot's mbarriers ({@link #FULL}, {@link #READ}, {@link #FREE}), so a warp waits
 * only for the chunk it reads, thread 0 only for a slot's rows to be summed.
 * <p>
 * The products are {@link WideGemvKernel#int8}'s — the row staged as codes in the same order, a 16-code chunk's
 * products summed as an integer by {@code dp4a} and scaled by its group's scale — but a lane sums two chunks (a warp 1 KiB),
 * a warp's sum is reduced by {@link SkinnyGemmKernel#warpSum}, and a row's warps are added in order: its last bits may
 * differ from {@link WideGemvKernel#int8}'s (the CPU run of this kernel is the reference the GPU matches bit for bit).
 */
public final class PersistentGemvKernel {
    private PersistentGemvKernel() {}

    /** Shared-memory slots of the weight ring, and their size: 6 × 32 KiB, with the staged row (32 KiB) 224 KiB a block. */
    public static final int SLOTS = 6, SLOT_BYTES = 32768, SLOT_INTS = SLOT_BYTES / 4;
    /** Threads a block: 32 warps, one 1 KiB piece of a weight row each. */
    public static final int THREADS = 1024;
    /** Ints of {@code plan} a projection: n, k, codes' offset, scales' offset, input offset, output offset. */
    public static final int PLAN_INTS = 6;
    /** The longest row: {@link WideGemvKernel#MAX_K}. */
    public static final int MAX_K = 8192;

    /**
     * Whether a projection of {@code k} inputs in groups of {@code groupSize} fits {@link #int8Chain}: groups of at least 32
     * (a slot's scales, {@code 32768 / groupSize}, fit a scales' slot) and a multiple of four of them a row (a row's scales
     * are whole 16-byte pieces for the bulk copy).
     */
    public static boolean fits(int k, int groupSize) {
        return fitsHalves(k) && groupSize >= 32 && groupSize % 16 == 0 && k % groupSize == 0 && (k / groupSize) % 4 == 0;
    }

    /** Whether a projection of {@code k} inputs fits {@link #fp16Chain}. */
    public static boolean fitsHalves(int k) {
        return k > 0 && k <= MAX_K && k % 1024 == 0;
    }

    /** Marks a traced block records in order ({@link Kernel#traceMarks}): three a projection and three a chunk, for a few layers' chains. */
    static final int TRACE_MARKS = 1024;

    @Kernel(maxRegisters = 64, traceMarks = TRACE_MARKS, countingGridBarrier = true)
    public static void int8Chain(KernelContext ctx, IntArray sync, IntArray plan, int phases, FloatArray act, IntArray w, FloatArray sw, int groupSize, int lead) {
        chain(ctx, sync, plan, phases, act, w, sw, groupSize, lead, false);
    }

    /**
     * {@link #int8Chain} with FP16 weights ({@code k/2} ints a row, a slot {@code 16384 / k} rows; {@code sw} and
     * {@code groupSize} unused): W16A16, the row rounded to FP16 as it is staged, {@link SkinnyGemmKernel#halvesDot}'s
     * products, {@code y = x·Wᵀ}. What {@link #int8Chain} is measured against.
     */
    @Kernel(maxRegisters = 64, traceMarks = TRACE_MARKS, countingGridBarrier = true)
    public static void fp16Chain(KernelContext ctx, IntArray sync, IntArray plan, int phases, FloatArray act, IntArray w, FloatArray sw, int groupSize, int lead) {
        chain(ctx, sync, plan, phases, act, w, sw, groupSize, lead, true);
    }

    /** Both chains' body; {@code halves} (FP16 weights) is a constant at each entry, so ptxas drops the other format's code. */
    static void chain(KernelContext ctx, IntArray sync, IntArray plan, int phases, FloatArray act, IntArray w, FloatArray sw, int groupSize, int lead, boolean halves) {
        // Chunks in flight: the slot refilled held chunk seq + ahead − SLOTS, which warp 1 summed a chunk ago at the latest.
        int ahead = Math.max(1, Math.min(SLOTS - 2, lead));
        int tid = ctx.localIdx(), lane = tid & 31, warp = tid >> 5, blocks = ctx.numGroupsX(), block = ctx.groupIdx(), width = halves ? 2 : 1;
        int gShift = halves ? 0 : SkinnyGemmKernel.groupShift(groupSize);
        int[] ring = ctx.allocateIntShared(SLOTS * SLOT_INTS);
        int[] bars = ctx.allocateIntShared(BAR_INTS * SLOTS);   // a slot's three mbarriers: FULL, READ and FREE (below)
        // The staged row: INT8 codes in stageCodes' order (its first MAX_K / 4 ints, the rest the scales' ring, SCALES_AT), or
        // FP16 values as float bits.
        int[] xs = ctx.allocateIntShared(MAX_K);
        float[] sx = ctx.allocateFloatShared(1), red = ctx.allocateFloatShared(96), part = ctx.allocateFloatShared(32 * SLOTS);
        // The producer, thread 0: what it copies next, in registers (a global load in its path costs a µs while the ring streams).
        int[] pr = new int[PRODUCER_INTS];
        if (tid == 0) {
            for (int s = 0; s < SLOTS; s++) {
                ctx.mbarrierInit(bars, FULL + BAR_INTS * s, halves ? 1 : 2);   // INT8: a slot's codes and its scales
                ctx.mbarrierInit(bars, READ + BAR_INTS * s, 32);
                ctx.mbarrierInit(bars, FREE + BAR_INTS * s, 32);
            }
            pr[0] = -1;
            loadNext(pr, plan, phases, 0);
            nextProjection(pr, plan, phases, blocks, block, width, groupSize, halves);
            for (int s = 0; s < ahead; s++) issue(ctx, pr, plan, phases, blocks, block, width, groupSize, halves, w, sw, ring, xs, bars, s);
        }
        ctx.awaitPreviousKernel();
        int[] q = new int[4];
        int seq = 0;   // chunks consumed so far: chunk seq sits in slot seq mod SLOTS, its (seq / SLOTS)-th use
        for (int p = 0; p < phases; p++) {
            int at = p * PLAN_INTS, n = plan.get(at), k = plan.get(at + 1), inOff = plan.get(at + 4), outOff = plan.get(at + 5);
            if (p > 0) ctx.gridBarrier(sync);   // the previous projection's outputs, every block's, are this one's input
            ctx.traceMark(11);   // traced runs: past the grid barrier
            float s = 1f;
            if (halves) stageHalves(ctx, xs, act, inOff, k);
            else {
                WideGemvKernel.stageCodes(ctx, red, sx, xs, act, inOff, SkinnyGemmKernel.NO_NORM, false, act, act, 0f, k, 0, THREADS, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f);
                s = sx[0];
            }
            ctx.traceMark(0);   // traced runs: the block is past the grid barrier and has staged this projection's row
            int r0 = rowStart(n, block, blocks), r1 = rowStart(n, block + 1, blocks), rowBytes = k * width, perSlot = SLOT_BYTES / rowBytes;
            int rowWords = rowBytes >> 2, segs = rowBytes >> 10, groups = halves ? 0 : SkinnyGemmKernel.groupCount(k, groupSize, gShift);
            // Warp w takes 1 KiB of a row: row w / segs, its 16-byte chunks 64·seg + lane and that + 32.
            int row = warp / segs, seg = warp - row * segs, c0 = (seg << 6) + lane, c1 = c0 + 32;
            int g0 = halves ? 0 : SkinnyGemmKernel.groupOf(c0 << 4, groupSize, gShift), g1 = halves ? 0 : SkinnyGemmKernel.groupOf(c1 << 4, groupSize, gShift);
            int first = seq;   // the projection's first chunk
            for (int r = r0; r < r1; r += perSlot) {   // uniform: the block's chunks of this projection
                int rows = Math.min(perSlot, r1 - r), slot = seq % SLOTS;
                boolean live = row < rows;
                if (tid == 0 && pr[0] < phases) {
                    int next = seq + ahead;   // into the slot of chunk next − SLOTS, once its rows are summed
                    if (next >= SLOTS) ctx.mbarrierWait(bars, FREE + BAR_INTS * (next % SLOTS), ((next - SLOTS) / SLOTS) & 1);
                    issue(ctx, pr, plan, phases, blocks, block, width, groupSize, halves, w, sw, ring, xs, bars, next % SLOTS);
                }
                ctx.traceMark(10);   // traced runs: thread 0 has asked for chunk seq + ahead
                ctx.mbarrierWait(bars, FULL + BAR_INTS * slot, (seq / SLOTS) & 1);
                ctx.traceMark(8);   // traced runs: thread 0 has the chunk's slot filled
                float v = 0f;
                if (live) {
                    int from = slot * SLOT_INTS + row * rowWords + (c0 << 2), scales = SCALES_AT + slot * SCALE_SLOT_INTS + row * groups;   // INT8: the row's group scales, copied beside its codes
                    ctx.load4(q, ring, from);
                    v = halves ? halvesDot(xs, c0, q[0], q[1], q[2], q[3])
                            : WideGemvKernel.chunkDot(xs, (c0 >> 8) << 10, c0, q[0], q[1], q[2], q[3], Float.intBitsToFloat(xs[scales + g0]));
                    ctx.load4(q, ring, from + 128);
                    v += halves ? halvesDot(xs, c1, q[0], q[1], q[2], q[3])
                            : WideGemvKernel.chunkDot(xs, (c1 >> 8) << 10, c1, q[0], q[1], q[2], q[3], Float.intBitsToFloat(xs[scales + g1]));
                }
                v = SkinnyGemmKernel.warpSum(ctx, v);   // its shuffles follow every lane's reads of the slot
                if (lane == 0) {
                    part[(slot << 5) + warp] = v;
                    ctx.mbarrierArrive(bars, READ + BAR_INTS * slot);   // the warp is done with the slot, its sum is in
                }
                ctx.traceMark(9);   // traced runs: thread 0's warp is done with the chunk
                // Warp 1 sums the chunk before this one (its warps are most likely done), so that it never waits on the slowest.
                if (warp == 1 && seq > first) sumRows(ctx, bars, part, act, seq - 1, first, r0, r1, perSlot, segs, outOff, s, lane);
                seq++;
            }
            if (warp == 1 && seq > first) sumRows(ctx, bars, part, act, seq - 1, first, r0, r1, perSlot, segs, outOff, s, lane);
            ctx.traceMark(1);   // traced runs: the block's rows of this projection are written (warp 1's, by the next barrier)
        }
    }

    /**
     * A slot's mbarriers, at {@code BAR_INTS·slot +} these in {@code bars}: FULL completes when its chunk's copies have landed
     * (the copies arrive), READ when every warp has read the chunk and left its sum in {@code part} (lane 0 of each of the
     * 32 warps arrives), FREE when warp 1 has summed and written the chunk's rows (its 32 lanes arrive), so that thread 0
     * may copy the next chunk into the slot. No block barrier a chunk: a warp waits only for what it reads.
     */
    static final int FULL = 0, READ = 2, FREE = 4, BAR_INTS = 6;

    /**
     * Warp 1 sums chunk {@code c}'s rows (the projection's chunks from {@code first}, {@code perSlot} rows a chunk from row
     * {@code r0} up to {@code r1}) from the warps' sums once every warp has left its own, writes them scaled by {@code s},
     * and frees the chunk's slot.
     */
    static void sumRows(KernelContext ctx, int[] bars, float[] part, FloatArray act, int c, int first, int r0, int r1, int perSlot, int segs,
                        int outOff, float s, int lane) {
        int slot = c % SLOTS, r = r0 + (c - first) * perSlot, rows = Math.min(perSlot, r1 - r);
        ctx.mbarrierWait(bars, READ + BAR_INTS * slot, (c / SLOTS) & 1);
        if (lane < rows) {   // rows ≤ 32: a slot holds at most 32 rows of 1 KiB
            float sum = 0f;
            for (int j = 0; j < segs; j++) sum += part[(slot << 5) + lane * segs + j];
            act.set(outOff + r + lane, s * sum);
        }
        ctx.mbarrierArrive(bars, FREE + BAR_INTS * slot);
    }

    /**
     * The producer's state ({@code int[PRODUCER_INTS]}, thread 0's registers): [0] the projection it copies, [1] the int
     * offset in {@code w} of its next row, [2] the offset of that row's scales in {@code sw}, [3] the block's rows of it
     * left, [4] rows a slot, [5] ints a row, [6] scales a row; [7 … 10] the next projection's n, k, codes' and scales'
     * offsets, loaded a projection ahead so that no copy waits for a load.
     */
    static final int PRODUCER_INTS = 11;

    /** The scales' ring (INT8): after the staged codes in {@code xs}, {@value #SCALE_SLOT_INTS} floats a slot. */
    static final int SCALES_AT = MAX_K / 4, SCALE_SLOT_INTS = 1024;

    /** Loads projection {@code p}'s n, k and offsets into the producer's [7 … 10], if there is one. */
    static void loadNext(int[] pr, IntArray plan, int phases, int p) {
        if (p < phases) {
            int at = p * PLAN_INTS;
            pr[7] = plan.get(at); pr[8] = plan.get(at + 1); pr[9] = plan.get(at + 2); pr[10] = plan.get(at + 3);
        }
    }

    /** Moves the producer to the next projection of which the block has rows (past the last: [0] = phases). */
    static void nextProjection(int[] pr, IntArray plan, int phases, int blocks, int block, int width, int groupSize, boolean halves) {
        do {
            int p = pr[0] + 1;
            pr[0] = p;
            if (p >= phases) return;
            int n = pr[7], k = pr[8], r0 = rowStart(n, block, blocks), rowInts = k * width >> 2, groups = halves ? 0 : k / groupSize;
            pr[1] = pr[9] + r0 * rowInts;
            pr[2] = pr[10] + r0 * groups;
            pr[3] = rowStart(n, block + 1, blocks) - r0;
            pr[4] = SLOT_BYTES / (k * width);
            pr[5] = rowInts;
            pr[6] = groups;
            loadNext(pr, plan, phases, p + 1);
        } while (pr[3] == 0);
    }

    /**
     * Copies the producer's next chunk (if any is left) into {@code slot}: its rows' codes into the ring and, INT8, their
     * scales into the scales' ring — two copies arriving on the slot's mbarrier (initialised for two).
     */
    static void issue(KernelContext ctx, int[] pr, IntArray plan, int phases, int blocks, int block, int width, int groupSize, boolean halves,
                      IntArray w, FloatArray sw, int[] ring, int[] xs, int[] bars, int slot) {
        if (pr[0] >= phases) return;
        int rows = Math.min(pr[4], pr[3]);
        ctx.bulkCopy(ring, slot * SLOT_INTS, w, pr[1], rows * pr[5] << 2, bars, FULL + BAR_INTS * slot);
        if (!halves) ctx.bulkCopy(xs, SCALES_AT + slot * SCALE_SLOT_INTS, sw, pr[2], rows * pr[6] << 2, bars, FULL + BAR_INTS * slot);
        pr[1] += rows * pr[5];
        pr[2] += rows * pr[6];
        pr[3] -= rows;
        if (pr[3] == 0) nextProjection(pr, plan, phases, blocks, block, width, groupSize, halves);
    }

    /**
     * Chunk {@code c}'s (8 FP16 weights, {@code w0 … w3}) dot product with the staged row: {@link SkinnyGemmKernel#halvesDot}
     * on float bits, the chunk's 8 inputs at {@code 1024·(c / 128) + c mod 128 + 128·e} ({@link WideGemvKernel#halfSlot}).
     */
    static float halvesDot(int[] xs, int c, int w0, int w1, int w2, int w3) {
        int x = ((c >> 7) << 10) + (c & 127);
        return Epilogue.lowHalf(w0) * Float.intBitsToFloat(xs[x]) + Epilogue.highHalf(w0) * Float.intBitsToFloat(xs[x + 128])
                + Epilogue.lowHalf(w1) * Float.intBitsToFloat(xs[x + 256]) + Epilogue.highHalf(w1) * Float.intBitsToFloat(xs[x + 384])
                + Epilogue.lowHalf(w2) * Float.intBitsToFloat(xs[x + 512]) + Epilogue.highHalf(w2) * Float.intBitsToFloat(xs[x + 640])
                + Epilogue.lowHalf(w3) * Float.intBitsToFloat(xs[x + 768]) + Epilogue.highHalf(w3) * Float.intBitsToFloat(xs[x + 896]);
    }

    /**
     * Block {@code block}'s first row of {@code n} split over {@code blocks}, in 32-bit arithmetic (a 64-bit division costs
     * hundreds of instructions): {@code n ≤ }{@value #MAX_N}.
     */
    static int rowStart(int n, int block, int blocks) {
        return n * block / blocks;
    }

    /** The most outputs a projection may have: {@code n · blocks} stays within an int for up to 32,768 blocks. */
    public static final int MAX_N = 65536;

    /** The row {@code act[inOff …]} of {@code k} inputs rounded to FP16, as float bits in {@link WideGemvKernel#halfSlot}'s order. */
    static void stageHalves(KernelContext ctx, int[] xs, FloatArray act, int inOff, int k) {
        int tid = ctx.localIdx();
        for (int i = tid; i < k; i += THREADS) {
            xs[WideGemvKernel.halfSlot(i)] = Float.floatToRawIntBits(Float.float16ToFloat(Float.floatToFloat16(act.get(inOff + i))));
        }
        ctx.barrier();
    }
}
