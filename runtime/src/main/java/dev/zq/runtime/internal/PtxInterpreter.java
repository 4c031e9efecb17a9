package dev.zq.runtime.internal;

import dev.zq.runtime.Grid;
import dev.zq.runtime.KernelBuffer;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the PTX that {@link PtxTranslator} emits, on the CPU, one thread at a time: a second reading of the JIT's output
 * for tests on machines without a GPU. The CPU executor runs a kernel's <em>Java</em>; this runs its <em>PTX</em>, so a
 * test that compares the two checks the translation itself (a wrong register, a lost constant, a misplaced branch),
 * which otherwise only a GPU run would show.
 * <p>
 * It covers what the JIT emits but for Hopper's warpgroup steps: integer and {@code .rn} float arithmetic (FP16 pairs
 * too), conversions, comparisons, branches, global/shared/param loads and stores (scalar and {@code .v2}/{@code .v4}),
 * {@code dp4a}, {@code prmt}, {@code shfl.sync} (bfly, down, up, idx over a full warp), {@code bar.sync}, atomics,
 * {@code cp.async} (each copy done at once), the warp's tensor-core steps {@code mma.sync} (INT8 m16n8k32, FP16
 * m16n8k16) and fragment loads {@code ldmatrix} (x4, plain and transposed), and the hints that change no result
 * ({@code prefetch}, {@code griddepcontrol}). Anything else — {@code wgmma}, bulk copies, {@code mbarrier}, thread-block
 * clusters — is refused
 * by name when the kernel is parsed. Float operations round as PTX's {@code .rn} forms do, which are Java's;
 * {@code .approx} forms are computed exactly, so kernels using them agree only within their approximation.
 * <p>
 * Threads of a block run one after another up to their next synchronisation: a {@code shfl.sync}, {@code mma.sync} or
 * {@code ldmatrix} releases when all 32 lanes of the warp stand at the same one (their values exchanged then), a
 * {@code bar.sync} when every thread of the
 * block that has not returned stands at a barrier. A kernel whose lanes would wait for each other forever is refused
 * with the threads' positions.
 */
public final class PtxInterpreter {
    private final String entry;
    private final List<Param> params = new ArrayList<>();
    private final Map<String, Integer> sharedOffsets = new HashMap<>();
    private int sharedBytes;
    private final Map<String, Integer> registers = new HashMap<>();
    private final List<Op> ops = new ArrayList<>();
    private Op[] opArray;
    private final Map<String, Integer> labels = new HashMap<>();
    private final List<String> pendingLabels = new ArrayList<>();

    private record Param(String name, String type) {}

    /** Parses entry {@code entry} of {@code ptx} (the JIT's output for one kernel). */
    public PtxInterpreter(String ptx, String entry) {
        this.entry = entry;
        boolean inParams = false, inBody = false;
        int line = 0;
        for (String raw : ptx.split("\n")) {
            line++;
            String s = raw.strip();
            if (s.startsWith("// dynamic shared memory:")) dynamicBytes = Integer.parseInt(s.replaceAll("\\D+", ""));
            int comment = s.indexOf("//");
            if (comment >= 0) s = s.substring(0, comment).strip();
            if (s.isEmpty()) continue;
            if (!inBody) {
                if (s.startsWith(".shared") || s.startsWith(".extern .shared")) { shared(s); continue; }
                if (s.startsWith(".visible .entry") || s.startsWith(".entry")) {
                    if (!s.contains(entry + "(")) throw new IllegalArgumentException("the PTX's entry is not " + entry + ": " + s);
                    inParams = true;
                    continue;
                }
                if (inParams && s.startsWith(".param")) {
                    String[] t = s.replace(",", "").split("\\s+");
                    params.add(new Param(t[2], t[1].substring(1)));
                    continue;
                }
                if (inParams && s.startsWith(")")) { inParams = false; continue; }
                if (s.equals("{")) { inBody = true; continue; }
                continue;   // .version, .target, .maxnreg, globals of traced runs
            }
            if (s.equals("}")) break;
            if (s.startsWith(".reg") || s.startsWith(".local") || s.startsWith(".pragma")) continue;
            if (s.startsWith(".shared")) { shared(s); continue; }
            if (s.endsWith(":") && !s.contains(" ")) { pendingLabels.add(s.substring(0, s.length() - 1)); continue; }
            if (!s.endsWith(";")) throw new IllegalArgumentException("line " + line + ": not an instruction: " + raw);
            try {
                instruction(s.substring(0, s.length() - 1).strip());
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("line " + line + ": " + raw.strip() + ": " + e.getMessage(), e);
            }
        }
        for (String l : pendingLabels) labels.put(l, ops.size());
        pendingLabels.clear();
        ops.add(new Op(Kind.RET, "ret", new String[]{"ret"}, false, null, new Operand[0], null));   // falling off the end returns
        for (Op o : ops) if (o.kind == Kind.BRA) o.target = target(o.label);
        for (Op o : ops) if (o.kind == Kind.ALU) o.fast = fast(o);
        opArray = ops.toArray(Op[]::new);
    }

    private int target(String label) {
        Integer at = labels.get(label);
        if (at == null) throw new IllegalArgumentException("branch to an unknown label " + label);
        return at;
    }

    /**
     * {@code .shared .align 16 .s32 shared0[2048];}, a single word ({@code .shared .align 4 .u32 arrive5;}), or the JIT's
     * one dynamic array ({@code .extern .shared .align 1024 .b8 zq_dynamic_shared[];}, its size in the comment before it).
     */
    private void shared(String s) {
        String[] t = s.replace(";", "").split("\\s+");
        String decl = t[t.length - 1], type = t[t.length - 2].substring(1);
        int open = decl.indexOf('['), align = Integer.parseInt(t[List.of(t).indexOf(".align") + 1]);
        String name = open < 0 ? decl : decl.substring(0, open);
        String count = open < 0 ? "1" : decl.substring(open + 1, decl.indexOf(']'));
        int bytes = count.isEmpty() ? dynamicBytes : Integer.parseInt(count) * width(type);
        sharedBytes = (sharedBytes + align - 1) / align * align;
        sharedOffsets.put(name, sharedBytes);
        sharedBytes += bytes;
    }

    private int dynamicBytes;

    private static int width(String type) {
        return switch (type) {
            case "b8", "s8", "u8" -> 1;
            case "b16", "s16", "u16", "f16" -> 2;
            case "b32", "s32", "u32", "f32" -> 4;
            case "b64", "s64", "u64", "f64" -> 8;
            default -> throw new IllegalArgumentException("unknown type ." + type);
        };
    }

    // ------------------------------------------------------------------ parsing instructions

    enum Kind { ALU, BRA, RET, BAR, SHFL, NOP }

    /** One instruction, its operands resolved: register indices, immediates, addresses. */
    private static final class Op {
        final Kind kind;
        final String opcode;
        final String[] parts;          // the opcode split at dots
        final boolean negate;          // @!%p
        final Operand guard;           // null: unguarded
        final Operand[] args;
        final String label;
        int target;
        /** The common register-to-register forms, compiled once to a lambda; null: {@link #alu} interprets the op. */
        Fast fast;
        Op(Kind kind, String opcode, String[] parts, boolean negate, Operand guard, Operand[] args, String label) {
            this.kind = kind; this.opcode = opcode; this.parts = parts; this.negate = negate; this.guard = guard; this.args = args; this.label = label;
        }
        @Override public String toString() { return opcode + " " + java.util.Arrays.toString(args); }
    }

    /** reg ≥ 0: a register; else an immediate ({@code imm}), a special register, an address or a vector. */
    private record Operand(int reg, long imm, String special, Operand base, long offset, String symbol, Operand[] vector) {
        static Operand register(int r) { return new Operand(r, 0, null, null, 0, null, null); }
        static Operand immediate(long v) { return new Operand(-1, v, null, null, 0, null, null); }
    }

    private int register(String name) {
        return registers.computeIfAbsent(name, k -> registers.size());
    }

    private void instruction(String s) {
        boolean negate = false;
        Operand guard = null;
        if (s.startsWith("@")) {
            int sp = s.indexOf(' ');
            String g = s.substring(1, sp);
            if (g.startsWith("!")) { negate = true; g = g.substring(1); }
            guard = Operand.register(register(g));
            s = s.substring(sp + 1).strip();
        }
        int sp = s.indexOf(' ');
        String opcode = sp < 0 ? s : s.substring(0, sp);
        String rest = sp < 0 ? "" : s.substring(sp + 1).strip();
        String[] parts = opcode.split("\\.");
        String head = parts[0];
        // Thread-block clusters (their barrier, ranks, other blocks' shared memory) are left to the GPU.
        if (opcode.startsWith("barrier.cluster") || head.equals("mapa") || rest.contains("%cluster_")) unsupported("for clusters " + opcode);
        Kind kind = switch (head) {
            case "bra" -> Kind.BRA;
            case "ret", "exit" -> Kind.RET;
            case "bar", "barrier" -> Kind.BAR;
            case "shfl" -> Kind.SHFL;
            // the warp's tensor-core steps and fragment loads: collective, like the shuffles
            case "mma" -> opcode.equals("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32") || opcode.equals("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32")
                    ? Kind.SHFL : unsupported(opcode);
            case "ldmatrix" -> opcode.startsWith("ldmatrix.sync.aligned.m8n8.x4.") && opcode.endsWith(".shared.b16") ? Kind.SHFL : unsupported(opcode);
            case "prefetch", "griddepcontrol", "membar", "fence" -> Kind.NOP;
            case "mov", "add", "sub", "mul", "mad", "div", "rem", "min", "max", "and", "or", "xor", "not", "neg", "abs", "shl", "shr",
                 "fma", "sqrt", "rcp", "ex2", "lg2", "cvt", "cvta", "set", "setp", "selp", "ld", "st", "dp4a", "atom", "red", "prmt" -> Kind.ALU;
            // cp.async's copies done at once: a thread's copies may land any time before its wait, so also at the start
            case "cp" -> parts.length > 1 && parts[1].equals("async") && (parts.length == 2 || !parts[2].startsWith("bulk")) ? Kind.ALU
                    : unsupported(opcode);
            default -> unsupported(opcode);
        };
        if (kind == Kind.BRA) {
            Op o = new Op(Kind.BRA, opcode, parts, negate, guard, new Operand[0], rest);
            add(o);
            return;
        }
        List<String> tokens = split(rest);
        Operand[] args = new Operand[tokens.size()];
        for (int i = 0; i < args.length; i++) args[i] = operand(tokens.get(i));
        add(new Op(kind, opcode, parts, negate, guard, args, null));
    }

    private static Kind unsupported(String opcode) {
        throw new IllegalArgumentException("unsupported instruction " + opcode);
    }

    private void add(Op o) {
        for (String l : pendingLabels) labels.put(l, ops.size());
        pendingLabels.clear();
        ops.add(o);
    }

    /** Operands split at the commas outside braces and brackets. */
    private static List<String> split(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0, start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') depth--;
            else if (c == ',' && depth == 0) { out.add(s.substring(start, i).strip()); start = i + 1; }
        }
        if (!s.isBlank()) out.add(s.substring(start).strip());
        return out;
    }

    private Operand operand(String t) {
        if (t.startsWith("{")) {
            List<String> inner = split(t.substring(1, t.length() - 1));
            Operand[] v = new Operand[inner.size()];
            for (int i = 0; i < v.length; i++) v[i] = operand(inner.get(i));
            return new Operand(-1, 0, null, null, 0, null, v);
        }
        if (t.startsWith("[")) {
            String e = t.substring(1, t.length() - 1).strip();
            long offset = 0;
            int plus = e.lastIndexOf('+');
            if (plus > 0) { offset = Long.decode(e.substring(plus + 1).strip()); e = e.substring(0, plus).strip(); }
            if (e.startsWith("%")) return new Operand(-1, 0, null, Operand.register(register(e)), offset, null, null);
            return new Operand(-1, 0, null, null, offset, e, null);   // a parameter or a shared array by name
        }
        if (t.startsWith("%")) {
            if (t.matches("%(tid|ntid|ctaid|nctaid)\\.[xyz]|%laneid|%warpid|%globaltimer"))
                return new Operand(-1, 0, t, null, 0, null, null);
            return Operand.register(register(t));
        }
        if (t.startsWith("0f") || t.startsWith("0F")) return Operand.immediate(Integer.parseUnsignedInt(t.substring(2), 16) & 0xFFFFFFFFL);
        if (t.startsWith("0d") || t.startsWith("0D")) return Operand.immediate(Long.parseUnsignedLong(t.substring(2), 16));
        if (t.matches("-?\\d+|0[xX][0-9a-fA-F]+")) return Operand.immediate(Long.decode(t));
        if (sharedOffsets.containsKey(t)) return new Operand(-1, 0, null, null, 0, t, null);
        throw new IllegalArgumentException("unknown operand " + t);
    }

    // ------------------------------------------------------------------ running

    /** Address spaces: global buffers at (index + 1) << 40, shared memory from 0. */
    private static final long GLOBAL = 1L << 40;

    private final class Thread {
        final long[] r = new long[registers.size()];
        int pc, tid, lane;
        boolean done, atBarrier, atShuffle;
    }

    /**
     * Launches the kernel over {@code grid} with the Java arguments a kernel method takes after its context — buffers
     * ({@link KernelBuffer}: their memory is read and written in place), {@code int}s and {@code float}s.
     */
    public void launch(Grid grid, Object... args) {
        if (args.length != params.size())
            throw new IllegalArgumentException(entry + " takes " + params.size() + " arguments, not " + args.length);
        MemorySegment[] buffers = new MemorySegment[args.length];
        long[] values = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            switch (a) {
                case KernelBuffer b -> { buffers[i] = b.segment(); values[i] = (i + 1) * GLOBAL; }
                case Integer v -> values[i] = v;
                case Float v -> values[i] = Float.floatToRawIntBits(v) & 0xFFFFFFFFL;
                default -> throw new IllegalArgumentException("argument " + i + " of " + entry + ": " + a);
            }
        }
        Map<String, Long> paramValues = new HashMap<>();
        for (int i = 0; i < params.size(); i++) paramValues.put(params.get(i).name(), values[i]);
        for (int by = 0; by < grid.groupsY(); by++)
            for (int bx = 0; bx < grid.groupsX(); bx++)
                block(grid, bx, by, buffers, paramValues);
    }

    private void block(Grid grid, int bx, int by, MemorySegment[] buffers, Map<String, Long> paramValues) {
        int n = grid.threadsPerBlock();
        ByteBuffer shared = ByteBuffer.allocate(Math.max(16, sharedBytes)).order(ByteOrder.LITTLE_ENDIAN);
        Thread[] ts = new Thread[n];
        for (int i = 0; i < n; i++) { ts[i] = new Thread(); ts[i].tid = i; ts[i].lane = i & 31; }
        Block b = new Block(grid, bx, by, buffers, paramValues, shared);
        int warps = (n + 31) / 32;
        while (true) {
            boolean progress = false;
            for (int w = 0; w < warps; w++) {
                int from = w * 32, to = Math.min(n, from + 32);
                for (int i = from; i < to; i++) {
                    Thread t = ts[i];
                    if (!t.done && !t.atBarrier && !t.atShuffle) { run(b, t); progress = true; }
                }
                // the warp's shuffle: every lane that has not returned at the same one
                boolean all = true, any = false;
                int pc = -1;
                for (int i = from; i < to; i++) {
                    Thread t = ts[i];
                    if (t.done) continue;
                    if (!t.atShuffle) { all = false; break; }
                    if (pc < 0) pc = t.pc; else if (pc != t.pc) throw stuck(ts, "lanes of warp " + w + " wait at different shuffles");
                    any = true;
                }
                if (all && any) { shuffle(b, ts, from, to); progress = true; }
            }
            boolean allDone = true, allWaiting = true;
            for (Thread t : ts) {
                if (t.done) continue;
                allDone = false;
                if (!t.atBarrier) allWaiting = false;
            }
            if (allDone) return;
            if (allWaiting) {
                for (Thread t : ts) if (!t.done) { t.atBarrier = false; t.pc++; }
                continue;
            }
            if (!progress) throw stuck(ts, "no thread can go on");
        }
    }

    private IllegalStateException stuck(Thread[] ts, String why) {
        StringBuilder sb = new StringBuilder(entry + ": " + why + ";");
        for (int i = 0; i < ts.length && i < 64; i++)
            sb.append(' ').append(i).append(ts[i].done ? ":done" : ts[i].atBarrier ? ":bar@" + ts[i].pc : ts[i].atShuffle ? ":shfl@" + ts[i].pc : ":run@" + ts[i].pc);
        return new IllegalStateException(sb.toString());
    }

    private record Block(Grid grid, int bx, int by, MemorySegment[] buffers, Map<String, Long> params, ByteBuffer shared) {}

    /** Runs thread {@code t} until it returns or stands at a synchronisation. */
    private void run(Block b, Thread t) {
        long steps = 0;
        while (true) {
            if (++steps > 500_000_000L) throw new IllegalStateException(entry + ": thread " + t.tid + " ran past 5e8 instructions");
            Op o = opArray[t.pc];
            if (o.guard != null) {
                boolean p = t.r[o.guard.reg()] != 0;
                if (p == o.negate) { t.pc++; continue; }
            }
            switch (o.kind) {
                case RET -> { t.done = true; return; }
                case BRA -> { t.pc = o.target; continue; }
                case BAR -> { t.atBarrier = true; return; }
                case SHFL -> { t.atShuffle = true; return; }
                case NOP -> { }
                case ALU -> { if (o.fast != null) o.fast.run(t.r); else alu(b, t, o); }
            }
            t.pc++;
        }
    }

    private void shuffle(Block b, Thread[] ts, int from, int to) {
        Op o = ops.get(ts[from].pc);
        if (to - from != 32) throw new IllegalStateException(o.opcode + " needs a whole warp of 32 lanes, not " + (to - from));
        switch (o.parts[0]) {
            case "mma" -> { mma(ts, from, o); return; }
            case "ldmatrix" -> { ldmatrix(b, ts, from, o); return; }
            default -> { }
        }
        // shfl.sync.MODE.b32 d, a, b, c, membermask
        String mode = o.parts[2];
        long[] src = new long[32];
        for (int i = from; i < to; i++) src[i - from] = value(null, ts[i], o.args[1]);
        for (int i = from; i < to; i++) {
            Thread t = ts[i];
            int lane = i - from, bv = (int) value(null, t, o.args[2]), c = (int) value(null, t, o.args[3]);
            int maxLane = c & 31, segMask = (c >> 8) & 31, minLane = lane & segMask, maxL = minLane | (maxLane & ~segMask);
            int j;
            boolean ok;
            switch (mode) {
                case "up" -> { j = lane - bv; ok = j >= maxL; }
                case "down" -> { j = lane + bv; ok = j <= maxL; }
                case "bfly" -> { j = lane ^ bv; ok = j <= maxL; }
                case "idx" -> { j = minLane | (bv & ~segMask); ok = j <= maxL; }
                default -> throw new IllegalStateException("shfl mode " + mode);
            }
            if (!ok || j >= to - from || ts[from + j].done) j = lane;
            t.r[o.args[0].reg()] = src[j] & 0xFFFFFFFFL;
            t.atShuffle = false;
            t.pc++;
        }
    }

    /**
     * {@code mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32} (exact INT32) and {@code m16n8k16.row.col.f32.f16.f16.f32}
     * over the warp's fragments (lane 4g + t: A rows g and g + 8, B column g, D as the PTX manual lays them out). The
     * FP16 step sums each output's products in k order in double and rounds once, as the CPU executor's
     * {@code KernelContext.mmaF16} does (the hardware's order is its own): what this checks is the JIT around the step.
     */
    private void mma(Thread[] ts, int from, Op o) {
        boolean s8 = o.opcode.contains(".s8.");
        Operand[] d = o.args[0].vector(), a = o.args[1].vector(), b = o.args[2].vector(), c = o.args[3].vector();
        int kk = s8 ? 32 : 16, per = s8 ? 4 : 2;   // elements per 32-bit register
        double[][] am = new double[16][kk], bm = new double[kk][8];
        for (int l = 0; l < 32; l++) {
            Thread t = ts[from + l];
            int g = l >> 2, q = l & 3;
            long[] av = new long[4], bv = new long[2];
            for (int i = 0; i < 4; i++) av[i] = value(null, t, a[i]);
            for (int i = 0; i < 2; i++) bv[i] = value(null, t, b[i]);
            for (int e = 0; e < per; e++) {
                int col = per * q + e;
                am[g][col] = element(av[0], e, s8);
                am[g + 8][col] = element(av[1], e, s8);
                am[g][kk / 2 + col] = element(av[2], e, s8);
                am[g + 8][kk / 2 + col] = element(av[3], e, s8);
                bm[col][g] = element(bv[0], e, s8);
                bm[kk / 2 + col][g] = element(bv[1], e, s8);
            }
        }
        for (int l = 0; l < 32; l++) {
            Thread t = ts[from + l];
            int g = l >> 2, q = l & 3;
            int[][] rc = {{g, 2 * q}, {g, 2 * q + 1}, {g + 8, 2 * q}, {g + 8, 2 * q + 1}};
            long[] out = new long[4];
            for (int r = 0; r < 4; r++) {
                long acc = value(null, t, c[r]);
                if (s8) {
                    int sum = 0;
                    for (int k = 0; k < kk; k++) sum += (int) am[rc[r][0]][k] * (int) bm[k][rc[r][1]];
                    out[r] = ((int) acc + sum) & 0xFFFFFFFFL;
                } else {
                    double sum = f(acc);
                    for (int k = 0; k < kk; k++) sum += am[rc[r][0]][k] * bm[k][rc[r][1]];
                    out[r] = bits((float) sum);
                }
            }
            for (int r = 0; r < 4; r++) t.r[d[r].reg()] = out[r];
            t.atShuffle = false;
            t.pc++;
        }
    }

    private static double element(long reg, int e, boolean s8) {
        return s8 ? (byte) (reg >>> (8 * e)) : Float.float16ToFloat((short) (reg >>> (16 * e)));
    }

    /**
     * {@code ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16}: lane l names row l % 8 of matrix l / 8 (16 bytes at its
     * address); lane l receives word l % 4 of row l / 4 of each matrix, or transposed the halves (2·(l % 4), l / 4) and
     * (2·(l % 4) + 1, l / 4).
     */
    private void ldmatrix(Block b, Thread[] ts, int from, Op o) {
        boolean trans = o.opcode.contains(".trans");
        long[] rowAt = new long[32];
        for (int l = 0; l < 32; l++) rowAt[l] = address(null, ts[from + l], o.args[1]);
        Operand[] d = o.args[0].vector();
        for (int l = 0; l < 32; l++) {
            Thread t = ts[from + l];
            for (int j = 0; j < 4; j++) {
                long v;
                if (!trans) v = read(b, "shared", rowAt[8 * j + (l >> 2)] + 4L * (l & 3), 4);
                else {
                    int row = 2 * (l & 3), col = l >> 2;
                    long lo = read(b, "shared", rowAt[8 * j + row] + 2L * col, 2) & 0xFFFF, hi = read(b, "shared", rowAt[8 * j + row + 1] + 2L * col, 2) & 0xFFFF;
                    v = lo | hi << 16;
                }
                t.r[d[j].reg()] = v & 0xFFFFFFFFL;
            }
            t.atShuffle = false;
            t.pc++;
        }
    }

    // ------------------------------------------------------------------ the common forms, compiled

    /** An instruction on a thread's registers alone. */
    interface Fast { void run(long[] r); }

    /** Reads an operand that is a register or an immediate. */
    interface Src { long get(long[] r); }

    private static Src src(Operand a) {
        if (a.reg() >= 0) { int i = a.reg(); return r -> r[i]; }
        if (a.special() == null && a.symbol() == null && a.base() == null && a.vector() == null) { long v = a.imm(); return r -> v; }
        return null;
    }

    /**
     * The register-to-register forms that most of a kernel's instructions take (moves, 32-bit integer arithmetic, 64-bit
     * address sums, {@code .rn} float arithmetic, integer comparisons), as lambdas with the same results as {@link #alu};
     * null for the rest, which {@link #alu} interprets.
     */
    private static Fast fast(Op o) {
        String[] p = o.parts;
        Operand[] a = o.args;
        if (a.length == 0 || a[0].reg() < 0) return null;
        int d = a[0].reg();
        Src x = a.length > 1 ? src(a[1]) : null, y = a.length > 2 ? src(a[2]) : null, z = a.length > 3 ? src(a[3]) : null;
        String type = p[p.length - 1];
        boolean i32 = type.equals("s32") || type.equals("u32") || type.equals("b32");
        switch (p[0]) {
            case "mov":
                if (x != null && a.length == 2) return r -> r[d] = x.get(r);
                return null;
            case "add": case "sub": case "and": case "or": case "xor": case "shl": case "shr": case "mul":
                if (x == null || y == null || a.length != 3) return null;
                if (p[0].equals("mul") && p[1].equals("wide") && type.equals("s32")) return r -> r[d] = (long) (int) x.get(r) * (int) y.get(r);
                if (p[0].equals("mul") && !(p[1].equals("lo") || type.equals("f32"))) return null;
                if (type.equals("f32") && (p.length == 3 && p[1].equals("rn"))) {
                    return switch (p[0]) {
                        case "add" -> r -> r[d] = bits(f(x.get(r)) + f(y.get(r)));
                        case "sub" -> r -> r[d] = bits(f(x.get(r)) - f(y.get(r)));
                        case "mul" -> r -> r[d] = bits(f(x.get(r)) * f(y.get(r)));
                        default -> null;
                    };
                }
                if (type.equals("s64") || type.equals("u64")) {
                    return switch (p[0]) {
                        case "add" -> r -> r[d] = x.get(r) + y.get(r);
                        case "sub" -> r -> r[d] = x.get(r) - y.get(r);
                        default -> null;
                    };
                }
                if (!i32) return null;
                boolean signed = type.startsWith("s");
                return switch (p[0]) {
                    case "add" -> r -> r[d] = ((int) x.get(r) + (int) y.get(r)) & 0xFFFFFFFFL;
                    case "sub" -> r -> r[d] = ((int) x.get(r) - (int) y.get(r)) & 0xFFFFFFFFL;
                    case "mul" -> r -> r[d] = ((int) x.get(r) * (int) y.get(r)) & 0xFFFFFFFFL;
                    case "and" -> r -> r[d] = (x.get(r) & y.get(r)) & 0xFFFFFFFFL;
                    case "or" -> r -> r[d] = (x.get(r) | y.get(r)) & 0xFFFFFFFFL;
                    case "xor" -> r -> r[d] = (x.get(r) ^ y.get(r)) & 0xFFFFFFFFL;
                    case "shl" -> r -> { long c = y.get(r) & 0xFFFFFFFFL; r[d] = c >= 32 ? 0 : ((int) x.get(r) << c) & 0xFFFFFFFFL; };
                    case "shr" -> signed ? r -> { long c = y.get(r) & 0xFFFFFFFFL; r[d] = ((int) x.get(r) >> Math.min(c, 31)) & 0xFFFFFFFFL; }
                            : r -> { long c = y.get(r) & 0xFFFFFFFFL; r[d] = c >= 32 ? 0 : ((int) x.get(r) >>> c) & 0xFFFFFFFFL; };
                    default -> null;
                };
            case "fma":
                if (x == null || y == null || z == null || !type.equals("f32")) return null;
                return r -> r[d] = bits(Math.fma(f(x.get(r)), f(y.get(r)), f(z.get(r))));
            case "setp":
                if (x == null || y == null || !type.equals("s32")) return null;
                return switch (p[1]) {
                    case "eq" -> r -> r[d] = (int) x.get(r) == (int) y.get(r) ? 1 : 0;
                    case "ne" -> r -> r[d] = (int) x.get(r) != (int) y.get(r) ? 1 : 0;
                    case "lt" -> r -> r[d] = (int) x.get(r) < (int) y.get(r) ? 1 : 0;
                    case "le" -> r -> r[d] = (int) x.get(r) <= (int) y.get(r) ? 1 : 0;
                    case "gt" -> r -> r[d] = (int) x.get(r) > (int) y.get(r) ? 1 : 0;
                    case "ge" -> r -> r[d] = (int) x.get(r) >= (int) y.get(r) ? 1 : 0;
                    default -> null;
                };
            case "cvt":
                if (x == null) return null;
                if (o.opcode.equals("cvt.rn.f32.s32")) return r -> r[d] = bits((float) (int) x.get(r));
                return null;
            default:
                return null;
        }
    }

    // ------------------------------------------------------------------ values

    private long value(Block b, Thread t, Operand a) {
        if (a.reg() >= 0) return t.r[a.reg()];
        if (a.special() != null) {
            Grid g = b == null ? null : b.grid();
            return switch (a.special()) {
                case "%tid.x" -> t.tid % (g == null ? 1 << 20 : g.localX());
                case "%tid.y" -> g == null ? 0 : t.tid / g.localX();
                case "%tid.z", "%ctaid.z" -> 0;
                case "%ntid.x" -> g.localX();
                case "%ntid.y" -> g.localY();
                case "%ntid.z", "%nctaid.z" -> 1;
                case "%ctaid.x" -> b.bx();
                case "%ctaid.y" -> b.by();
                case "%nctaid.x" -> g.groupsX();
                case "%nctaid.y" -> g.groupsY();
                case "%laneid" -> t.lane;
                case "%warpid" -> t.tid >> 5;
                case "%globaltimer" -> System.nanoTime();
                default -> throw new IllegalStateException(a.special());
            };
        }
        if (a.symbol() != null && a.base() == null && a.vector() == null) return sharedOffsets.get(a.symbol());   // mov r, sharedN
        return a.imm();
    }

    private static float f(long v) { return Float.intBitsToFloat((int) v); }
    private static long bits(float v) { return Float.floatToRawIntBits(v) & 0xFFFFFFFFL; }

    private void alu(Block b, Thread t, Op o) {
        String[] p = o.parts;
        String type = p[p.length - 1];
        Operand[] a = o.args;
        long[] r = t.r;
        switch (p[0]) {
            case "mov" -> r[a[0].reg()] = value(b, t, a[1]);
            case "cvta" -> r[a[0].reg()] = value(b, t, a[1]);
            case "ld" -> load(b, t, o);
            case "st" -> store(b, t, o);
            case "atom", "red" -> atomic(b, t, o);
            case "cp" -> copyAsync(b, t, o);
            case "prmt" -> {   // prmt.b32 d, a, b, c: four bytes picked from b:a by c's nibbles (bit 3: the byte's sign spread)
                long x = value(b, t, a[1]) & 0xFFFFFFFFL, y = value(b, t, a[2]) & 0xFFFFFFFFL, c = value(b, t, a[3]);
                long both = y << 32 | x, out = 0;
                for (int i = 0; i < 4; i++) {
                    int sel = (int) (c >> (4 * i)) & 0xF;
                    long v = both >>> (8 * (sel & 7)) & 0xFF;
                    if ((sel & 8) != 0) v = (v & 0x80) != 0 ? 0xFF : 0;
                    out |= v << (8 * i);
                }
                r[a[0].reg()] = out;
            }
            case "add", "sub", "mul", "div", "rem", "min", "max", "and", "or", "xor", "shl", "shr" -> r[a[0].reg()] = binary(p, type, value(b, t, a[1]), value(b, t, a[2]));
            case "mad" -> {
                long x = value(b, t, a[1]), y = value(b, t, a[2]), z = value(b, t, a[3]);
                r[a[0].reg()] = switch (p[1]) {
                    case "lo" -> type.endsWith("64") ? x * y + z : (((int) x * (int) y + (int) z) & 0xFFFFFFFFL);
                    case "wide" -> (type.startsWith("s") ? (long) (int) x * (int) y : (x & 0xFFFFFFFFL) * (y & 0xFFFFFFFFL)) + z;
                    default -> bits(Math.fma(f(x), f(y), f(z)));   // mad.rn.f32
                };
            }
            case "fma" -> r[a[0].reg()] = bits(Math.fma(f(value(b, t, a[1])), f(value(b, t, a[2])), f(value(b, t, a[3]))));
            case "neg" -> r[a[0].reg()] = type.equals("f32") ? bits(-f(value(b, t, a[1]))) : ext(type, -value(b, t, a[1]));
            case "not" -> r[a[0].reg()] = ext(type, ~value(b, t, a[1]));
            case "abs" -> r[a[0].reg()] = type.equals("f32") ? bits(Math.abs(f(value(b, t, a[1])))) : ext(type, Math.abs((int) value(b, t, a[1])));
            case "sqrt" -> r[a[0].reg()] = bits((float) Math.sqrt(f(value(b, t, a[1]))));
            case "rcp" -> r[a[0].reg()] = bits(1f / f(value(b, t, a[1])));
            case "ex2" -> r[a[0].reg()] = bits((float) Math.pow(2, f(value(b, t, a[1]))));
            case "lg2" -> r[a[0].reg()] = bits((float) (Math.log(f(value(b, t, a[1]))) / Math.log(2)));
            case "cvt" -> r[a[0].reg()] = convert(p, value(b, t, a[1]));
            case "setp" -> r[a[0].reg()] = compare(p[1], p[2], value(b, t, a[1]), value(b, t, a[2])) ? 1 : 0;
            case "set" -> {   // set.CMP.DTYPE.STYPE: integer results all ones / zero, float 1.0 / 0.0
                boolean c = compare(p[1], p[3], value(b, t, a[1]), value(b, t, a[2]));
                r[a[0].reg()] = p[2].equals("f32") ? bits(c ? 1f : 0f) : c ? 0xFFFFFFFFL : 0;
            }
            case "selp" -> r[a[0].reg()] = value(b, t, a[3]) != 0 ? value(b, t, a[1]) : value(b, t, a[2]);
            case "dp4a" -> {   // dp4a.ATYPE.BTYPE d, a, b, c
                int x = (int) value(b, t, a[1]), y = (int) value(b, t, a[2]), acc = (int) value(b, t, a[3]);
                boolean sa = p[1].equals("s32"), sb = p[2].equals("s32");
                for (int i = 0; i < 4; i++) {
                    int xa = sa ? (byte) (x >> (8 * i)) : (x >> (8 * i)) & 0xFF, yb = sb ? (byte) (y >> (8 * i)) : (y >> (8 * i)) & 0xFF;
                    acc += xa * yb;
                }
                r[a[0].reg()] = acc & 0xFFFFFFFFL;
            }
            default -> throw new IllegalStateException("unsupported " + o.opcode);
        }
    }

    /** A 32-bit integer result kept as its 32 bits (64-bit types whole). */
    private static long ext(String type, long v) {
        return type.endsWith("64") ? v : v & 0xFFFFFFFFL;
    }

    private static long binary(String[] p, String type, long x, long y) {
        String op = p[0];
        if (type.equals("f16x2") || type.equals("f16")) {   // each half in float, rounded to half once: exact wherever float holds the result
            long out = 0;
            for (int i = 0; i < (type.equals("f16") ? 1 : 2); i++) {
                float a = Float.float16ToFloat((short) (x >>> (16 * i))), c = Float.float16ToFloat((short) (y >>> (16 * i)));
                float v = switch (op) {
                    case "add" -> a + c;
                    case "sub" -> a - c;
                    case "mul" -> a * c;
                    case "min" -> Float.isNaN(a) ? c : Float.isNaN(c) ? a : fmin(a, c);
                    case "max" -> Float.isNaN(a) ? c : Float.isNaN(c) ? a : fmax(a, c);
                    default -> throw new IllegalStateException(op + "." + type);
                };
                out |= (Float.floatToFloat16(v) & 0xFFFFL) << (16 * i);
            }
            return out;
        }
        if (type.equals("f32")) {
            float a = f(x), c = f(y);
            boolean nan = p.length > 2 && p[1].equals("NaN");
            return bits(switch (op) {
                case "add" -> a + c;
                case "sub" -> a - c;
                case "mul" -> a * c;
                case "div" -> a / c;
                case "min" -> Float.isNaN(a) || Float.isNaN(c) ? (nan ? Float.NaN : Float.isNaN(a) ? c : a) : fmin(a, c);
                case "max" -> Float.isNaN(a) || Float.isNaN(c) ? (nan ? Float.NaN : Float.isNaN(a) ? c : a) : fmax(a, c);
                default -> throw new IllegalStateException(op + ".f32");
            });
        }
        boolean wide64 = type.endsWith("64"), signed = type.startsWith("s");
        if (op.equals("mul") && p[1].equals("wide")) {
            return signed ? (long) (int) x * (int) y : (x & 0xFFFFFFFFL) * (y & 0xFFFFFFFFL);
        }
        if (op.equals("mul") && p[1].equals("hi")) {
            return signed ? ((long) (int) x * (int) y) >> 32 & 0xFFFFFFFFL : ((x & 0xFFFFFFFFL) * (y & 0xFFFFFFFFL)) >>> 32;
        }
        // 32-bit operands widened by their signedness (shift amounts always unsigned), computed in 64 bits, cut back to 32
        boolean shift = op.equals("shl") || op.equals("shr");
        long a = wide64 ? x : signed ? (int) x : x & 0xFFFFFFFFL, c = wide64 ? y : signed && !shift ? (int) y : y & 0xFFFFFFFFL;
        long v = switch (op) {
            case "add" -> a + c;
            case "sub" -> a - c;
            case "mul" -> a * c;   // mul.lo
            case "div" -> signed ? a / c : Long.divideUnsigned(a, c);
            case "rem" -> signed ? a % c : Long.remainderUnsigned(a, c);
            case "min" -> signed ? Math.min(a, c) : (Long.compareUnsigned(a, c) < 0 ? a : c);
            case "max" -> signed ? Math.max(a, c) : (Long.compareUnsigned(a, c) > 0 ? a : c);
            case "and" -> a & c;
            case "or" -> a | c;
            case "xor" -> a ^ c;
            case "shl" -> Long.compareUnsigned(c, 64) >= 0 ? 0 : a << c;   // PTX clamps shift amounts past the width
            case "shr" -> signed ? a >> (Long.compareUnsigned(c, 63) > 0 ? 63 : c) : Long.compareUnsigned(c, 64) >= 0 ? 0 : a >>> c;
            default -> throw new IllegalStateException(op + "." + type);
        };
        return wide64 ? v : v & 0xFFFFFFFFL;
    }

    /** PTX's min/max of two non-NaN floats: −0 below +0. */
    private static float fmin(float a, float c) { return a == c ? (Float.floatToRawIntBits(a) < 0 ? a : c) : Math.min(a, c); }
    private static float fmax(float a, float c) { return a == c ? (Float.floatToRawIntBits(a) < 0 ? c : a) : Math.max(a, c); }

    private static boolean compare(String cmp, String type, long x, long y) {
        if (type.equals("f32")) {
            float a = f(x), c = f(y);
            boolean unordered = Float.isNaN(a) || Float.isNaN(c);
            return switch (cmp) {
                case "eq" -> !unordered && a == c;
                case "ne" -> !unordered && a != c;
                case "lt" -> !unordered && a < c;
                case "le" -> !unordered && a <= c;
                case "gt" -> !unordered && a > c;
                case "ge" -> !unordered && a >= c;
                case "equ" -> unordered || a == c;
                case "neu" -> unordered || a != c;
                case "ltu" -> unordered || a < c;
                case "leu" -> unordered || a <= c;
                case "gtu" -> unordered || a > c;
                case "geu" -> unordered || a >= c;
                case "num" -> !unordered;
                case "nan" -> unordered;
                default -> throw new IllegalStateException("setp." + cmp + ".f32");
            };
        }
        int order;
        if (type.endsWith("64")) order = type.startsWith("s") ? Long.compare(x, y) : Long.compareUnsigned(x, y);
        else order = type.startsWith("s") ? Integer.compare((int) x, (int) y) : Integer.compareUnsigned((int) x, (int) y);
        return switch (cmp) {
            case "eq" -> order == 0;
            case "ne" -> order != 0;
            case "lt", "lo" -> order < 0;
            case "le", "ls" -> order <= 0;
            case "gt", "hi" -> order > 0;
            case "ge", "hs" -> order >= 0;
            default -> throw new IllegalStateException("setp." + cmp + "." + type);
        };
    }

    /** cvt[.rnd][.sat].DTYPE.STYPE */
    private static long convert(String[] p, long v) {
        String dst = p[p.length - 2], src = p[p.length - 1];
        String rnd = p.length > 3 ? p[1] : "";
        boolean sat = List.of(p).contains("sat");
        if (src.equals("f32") && dst.equals("f32")) {   // cvt.rni.f32.f32 and friends: round to an integral value
            float x = f(v);
            return bits(switch (rnd) {
                case "rni" -> (float) Math.rint(x);
                case "rzi" -> x < 0 ? (float) Math.ceil(x) : (float) Math.floor(x);
                case "rmi" -> (float) Math.floor(x);
                case "rpi" -> (float) Math.ceil(x);
                default -> x;
            });
        }
        if (src.equals("f32") && (dst.startsWith("s") || dst.startsWith("u"))) {
            float x = f(v);
            double d = switch (rnd) {
                case "rni" -> Math.rint(x);
                case "rmi" -> Math.floor(x);
                case "rpi" -> Math.ceil(x);
                default -> x < 0 ? Math.ceil(x) : Math.floor(x);   // rzi
            };
            if (Float.isNaN(x)) return 0;
            return switch (dst) {
                case "s32" -> ((int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, d))) & 0xFFFFFFFFL;
                case "u32" -> (long) Math.max(0, Math.min(4294967295.0, d));
                case "s8" -> ((int) Math.max(-128, Math.min(127, d))) & 0xFFFFFFFFL;
                case "s64" -> (long) d;
                default -> throw new IllegalStateException("cvt." + dst + ".f32");
            };
        }
        if (dst.equals("f32") && (src.startsWith("s") || src.startsWith("u"))) {
            return bits(switch (src) {
                case "s32" -> (float) (int) v;
                case "u32" -> (float) (v & 0xFFFFFFFFL);
                case "s64" -> (float) v;
                default -> throw new IllegalStateException("cvt.f32." + src);
            });
        }
        if (dst.equals("f32") && src.equals("f16")) return bits(Float.float16ToFloat((short) v));
        if (dst.equals("f16") && src.equals("f32")) return Float.floatToFloat16(f(v)) & 0xFFFFL;
        // integer to integer
        long x = switch (src) {
            case "s8" -> (byte) v;
            case "u8" -> v & 0xFF;
            case "s16" -> (short) v;
            case "u16" -> v & 0xFFFF;
            case "s32" -> (int) v;
            case "u32", "b32" -> v & 0xFFFFFFFFL;
            default -> v;
        };
        if (sat) throw new IllegalStateException("cvt.sat between integers");
        return switch (dst) {
            case "s8", "u8" -> x & 0xFF;
            case "s16", "u16" -> x & 0xFFFF;
            case "s32", "u32", "b32" -> x & 0xFFFFFFFFL;
            default -> x;
        };
    }

    // ------------------------------------------------------------------ memory

    private long address(Block b, Thread t, Operand a) {
        if (a.base() != null) return t.r[a.base().reg()] + a.offset();
        if (a.symbol() != null && sharedOffsets.containsKey(a.symbol())) return sharedOffsets.get(a.symbol()) + a.offset();
        throw new IllegalStateException("no address in " + a);
    }

    private long read(Block b, String space, long addr, int width) {
        if (space.equals("shared")) {
            if (addr < 0 || addr + width > b.shared().capacity())
                throw new IllegalStateException("a shared load at " + addr + " past the block's " + sharedBytes + " bytes");
            int at = (int) addr;
            return switch (width) { case 1 -> b.shared().get(at); case 2 -> b.shared().getShort(at); case 4 -> b.shared().getInt(at) & 0xFFFFFFFFL; default -> b.shared().getLong(at); };
        }
        MemorySegment m = segment(b, addr, width);
        long off = addr % GLOBAL;
        return switch (width) {
            case 1 -> m.get(ValueLayout.JAVA_BYTE, off);
            case 2 -> m.get(ValueLayout.JAVA_SHORT_UNALIGNED, off);
            case 4 -> m.get(ValueLayout.JAVA_INT_UNALIGNED, off) & 0xFFFFFFFFL;
            default -> m.get(ValueLayout.JAVA_LONG_UNALIGNED, off);
        };
    }

    private void write(Block b, String space, long addr, int width, long v) {
        if (space.equals("shared")) {
            if (addr < 0 || addr + width > b.shared().capacity())
                throw new IllegalStateException("a shared store at " + addr + " past the block's " + sharedBytes + " bytes");
            int at = (int) addr;
            switch (width) { case 1 -> b.shared().put(at, (byte) v); case 2 -> b.shared().putShort(at, (short) v); case 4 -> b.shared().putInt(at, (int) v); default -> b.shared().putLong(at, v); }
            return;
        }
        MemorySegment m = segment(b, addr, width);
        long off = addr % GLOBAL;
        switch (width) {
            case 1 -> m.set(ValueLayout.JAVA_BYTE, off, (byte) v);
            case 2 -> m.set(ValueLayout.JAVA_SHORT_UNALIGNED, off, (short) v);
            case 4 -> m.set(ValueLayout.JAVA_INT_UNALIGNED, off, (int) v);
            default -> m.set(ValueLayout.JAVA_LONG_UNALIGNED, off, v);
        }
    }

    private MemorySegment segment(Block b, long addr, int width) {
        int i = (int) (addr / GLOBAL) - 1;
        long off = addr % GLOBAL;
        if (i < 0 || i >= b.buffers().length || b.buffers()[i] == null)
            throw new IllegalStateException(String.format("a global access at 0x%x: no buffer there", addr));
        MemorySegment m = b.buffers()[i];
        if (off < 0 || off + width > m.byteSize())
            throw new IllegalStateException("a global access at byte " + off + " of argument " + i + " (" + m.byteSize() + " bytes)");
        return m;
    }

    private static String space(String[] p) {
        for (String s : p) if (s.equals("shared") || s.equals("global") || s.equals("param") || s.equals("local")) return s;
        return "global";   // generic addressing: the JIT's pointers are global ones
    }

    private void load(Block b, Thread t, Op o) {
        String[] p = o.parts;
        String space = space(p), type = p[p.length - 1];
        if (space.equals("param")) {
            Long v = b.params().get(o.args[1].symbol());
            if (v == null) throw new IllegalStateException("no parameter " + o.args[1].symbol());
            t.r[o.args[0].reg()] = v;
            return;
        }
        int w = width(type);
        long addr = address(b, t, o.args[1]);
        Operand d = o.args[0];
        if (d.vector() != null) {
            for (int i = 0; i < d.vector().length; i++) t.r[d.vector()[i].reg()] = signExtend(type, read(b, space, addr + (long) i * w, w));
        } else t.r[d.reg()] = signExtend(type, read(b, space, addr, w));
    }

    private static long signExtend(String type, long v) {
        return switch (type) {
            case "s8" -> ((byte) v) & 0xFFFFFFFFL;
            case "s16" -> ((short) v) & 0xFFFFFFFFL;
            default -> v;
        };
    }

    private void store(Block b, Thread t, Op o) {
        String[] p = o.parts;
        String space = space(p), type = p[p.length - 1];
        int w = width(type);
        long addr = address(b, t, o.args[0]);
        Operand s = o.args[1];
        if (s.vector() != null) {
            for (int i = 0; i < s.vector().length; i++) write(b, space, addr + (long) i * w, w, value(b, t, s.vector()[i]));
        } else write(b, space, addr, w, value(b, t, s));
    }

    /** cp.async.CA|CG.shared.global [dst], [src], bytes[, srcBytes]: the copy at once (zeros past srcBytes); its groups and waits do nothing. */
    private void copyAsync(Block b, Thread t, Op o) {
        if (o.args.length < 3) return;   // cp.async.commit_group, cp.async.wait_group n, cp.async.wait_all
        long dst = address(b, t, o.args[0]), src = address(b, t, o.args[1]);
        int bytes = (int) value(b, t, o.args[2]), from = o.args.length > 3 ? (int) value(b, t, o.args[3]) : bytes;
        for (int i = 0; i < bytes; i += 4) write(b, "shared", dst + i, 4, i < from ? read(b, "global", src + i, 4) : 0);
    }

    /** atom.SPACE.OP.TYPE d, [a], b (cas: d, [a], b, c); red without d. Threads run one at a time, so each is atomic. */
    private void atomic(Block b, Thread t, Op o) {
        String[] p = o.parts;
        String space = space(p), type = p[p.length - 1], op = p[p.length - 2];
        boolean hasDest = p[0].equals("atom");
        int k = hasDest ? 1 : 0;
        int w = width(type);
        long addr = address(b, t, o.args[k]);
        long old = read(b, space, addr, w), y = value(b, t, o.args[k + 1]), v;
        if (type.equals("f32")) {
            float a = f(old), c = f(y);
            v = bits(switch (op) { case "add" -> a + c; case "max" -> fmax(a, c); case "min" -> fmin(a, c); case "exch" -> c; default -> throw new IllegalStateException("atom." + op + ".f32"); });
        } else {
            v = switch (op) {
                case "add", "inc" -> old + y;
                case "exch" -> y;
                case "cas" -> old == (y & (w == 4 ? 0xFFFFFFFFL : -1)) ? value(b, t, o.args[k + 2]) : old;
                case "and" -> old & y;
                case "or" -> old | y;
                case "xor" -> old ^ y;
                default -> binary(new String[]{op}, type, old, y);
            };
        }
        write(b, space, addr, w, v);
        if (hasDest) t.r[o.args[0].reg()] = old;
    }
}
