package dev.zq.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Off-heap scratch tensors for the length of one call, reused by the next call on the same thread.
 * <pre>{@code
 * try (Scratch s = Scratch.open()) {
 *     Tensor codes = s.tensor(DType.I8, rows, in);   // contents: whatever the last user left
 *     Tensor sums = s.zeroed(DType.F32, rows, out);
 *     ...
 * }
 * }</pre>
 * Why not a fresh {@code Arena.ofAuto()} segment per call: native memory freed by the garbage collector is
 * reserved against the direct-memory limit, and once enough is waiting for collection every allocation runs a
 * GC and backs off — a 24 KB scratch took 70–120 µs that way, more than the 8-row product it served.
 * <p>Each thread keeps a stack of buffers; a frame takes the next ones and gives them back when closed, so nested
 * frames (a layer inside a model inside a benchmark) never share a buffer. The buffers are native, aligned to 64
 * bytes and readable from every thread, so the workers of {@link Parallel#forEach} may use them while the frame's
 * thread waits; a buffer grows when a call needs more and is kept for the thread's next call. Frames must be
 * closed in reverse order of opening, on the thread that opened them.
 */
public final class Scratch implements AutoCloseable {
    private static final ThreadLocal<Stack> STACKS = ThreadLocal.withInitial(Stack::new);

    private final Stack stack;
    private final int base;
    private final Thread owner = Thread.currentThread();
    private int taken;
    private boolean closed;

    private Scratch(Stack stack) {
        this.stack = stack;
        this.base = stack.depth;
    }

    /** Opens a frame on this thread's stack of buffers. */
    public static Scratch open() {
        return new Scratch(STACKS.get());
    }

    /** A tensor of this frame; its contents are whatever an earlier frame left there. */
    public Tensor tensor(DType dtype, int... dims) {
        if (closed) throw new IllegalStateException("scratch frame already closed");
        if (Thread.currentThread() != owner) throw new IllegalStateException("scratch frame used by " + Thread.currentThread() + ", opened by " + owner);
        if (stack.depth != base + taken) throw new IllegalStateException("a nested scratch frame is still open");
        Shape shape = Shape.of(dims);
        long bytes = dtype.byteSize(shape.numel());
        MemorySegment buffer = stack.take(Math.max(1, bytes));
        taken++;
        return Tensor.wrap(buffer.asSlice(0, bytes), dtype, shape);
    }

    /** A zero-filled tensor of this frame. */
    public Tensor zeroed(DType dtype, int... dims) {
        Tensor t = tensor(dtype, dims);
        t.segment().fill((byte) 0);
        return t;
    }

    /** Gives this frame's buffers back to the thread's stack. */
    @Override
    public void close() {
        if (closed) return;
        if (Thread.currentThread() != owner) throw new IllegalStateException("scratch frame closed by " + Thread.currentThread() + ", opened by " + owner);
        if (stack.depth != base + taken) throw new IllegalStateException("scratch frames closed out of order");
        closed = true;
        stack.depth = base;
    }

    /** One thread's buffers: those below {@code depth} belong to open frames. */
    private static final class Stack {
        final List<MemorySegment> buffers = new ArrayList<>();
        int depth;

        MemorySegment take(long bytes) {
            if (depth == buffers.size()) buffers.add(null);
            MemorySegment b = buffers.get(depth);
            if (b == null || b.byteSize() < bytes) {
                // Grow by half again so a slowly growing shape (a longer prompt) does not reallocate every call;
                // the old buffer goes to the garbage collector with its arena.
                long size = b == null ? bytes : Math.max(bytes, b.byteSize() + b.byteSize() / 2);
                b = Arena.ofAuto().allocate(size, 64);
                buffers.set(depth, b);
            }
            depth++;
            return b;
        }
    }
}
