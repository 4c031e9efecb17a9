package dev.zq.runtime.internal;

import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelCompileException;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.CodeModel;
import java.lang.classfile.Instruction;
import java.lang.classfile.Label;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.TypeKind;
import java.lang.classfile.instruction.ArrayLoadInstruction;
import java.lang.classfile.instruction.ArrayStoreInstruction;
import java.lang.classfile.instruction.BranchInstruction;
import java.lang.classfile.instruction.ConstantInstruction;
import java.lang.classfile.instruction.ConvertInstruction;
import java.lang.classfile.instruction.IncrementInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.lang.classfile.instruction.LabelTarget;
import java.lang.classfile.instruction.LineNumber;
import java.lang.classfile.instruction.LoadInstruction;
import java.lang.classfile.instruction.NewPrimitiveArrayInstruction;
import java.lang.classfile.instruction.NopInstruction;
import java.lang.classfile.instruction.OperatorInstruction;
import java.lang.classfile.instruction.ReturnInstruction;
import java.lang.classfile.instruction.StackInstruction;
import java.lang.classfile.instruction.StoreInstruction;
import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Translates a kernel method's bytecode into PTX. The JVM operand stack becomes virtual registers named by
 * stack depth and type ({@code %f_s2} is the float at depth 2), locals by slot and type; javac's code keeps
 * types consistent at every merge point, so every path agrees on which register holds what, and ptxas's
 * register allocator removes the copies. Static calls are inlined (their stack continues at the caller's
 * depth, their locals get a name prefix). Floating-point operations carry {@code .rn} so ptxas never fuses a
 * multiply and an add that Java keeps separate: GPU results then equal the CPU reference bit for bit.
 *
 * <p>Anything outside the supported subset — objects, fields, exceptions, switches, recursion, double
 * transcendental functions — is rejected with a {@link KernelCompileException} naming the method, the
 * bytecode instruction and its source line.
 */
public final class PtxTranslator {
    static final String CTX = "dev/zq/runtime/KernelContext";
    static final String MATH = "dev/zq/runtime/KernelMath";
    /**
     * Where {@code griddepcontrol.launch_dependents} goes, for measuring it: {@code explicit} (the default) where a kernel
     * calls {@code releaseNextKernel}, {@code none} nowhere, {@code afterWait} after every {@code awaitPreviousKernel}
     * as well ({@code -Dzq.ptx.release=…}).
     */
    static final String RELEASE = System.getProperty("zq.ptx.release", "explicit");
    /**
     * For measuring where a graph's time goes ({@code -Dzq.ptx.trace=true}): every block records {@code %globaltimer} in
     * the module's {@link #TRACE_BUFFER} when it starts, when its {@code awaitPreviousKernel} returns, at each
     * {@code traceMark(m)} and when its last warp returns ({@link #trace}; {@code CudaDevice.takeTrace} reads them). Off by
     * default: it costs a barrier and an atomic a block at the start, and a store at each point.
     */
    public static final boolean TRACE = Boolean.getBoolean("zq.ptx.trace");
    /**
     * How {@code gridBarrier} waits, for measuring it ({@code -Dzq.ptx.gridBarrier=…}): {@code generation} (the default)
     * counts arrivals in {@code sync[0]} with an atomic each block awaits, the last resetting it and advancing the generation
     * in {@code sync[1]}; {@code counter} adds each arrival to a 64-bit count in {@code sync[0 … 1]} that is never reset,
     * with no answer to await, and each block waits for the count of its barrier ({@link #gridBarrier}) — what a kernel
     * marked {@link Kernel#countingGridBarrier} gets either way.
     */
    static final String GRID_BARRIER = System.getProperty("zq.ptx.gridBarrier", "generation");
    /**
     * The traced module's records (four words each: timer low, timer high, event << 28 | block, blocks; all zero: an
     * event that did not happen) and the count of those reserved.
     */
    public static final String TRACE_BUFFER = "zq_trace", TRACE_COUNT = "zq_trace_n";
    /**
     * A traced block's count of its warps that have ended, the first of its records, and (a kernel with
     * {@link Kernel#traceMarks}) the marks it has recorded (shared memory).
     */
    static final String TRACE_WARPS = "zq_trace_warps", TRACE_BASE = "zq_trace_base", TRACE_MARKS = "zq_trace_marks";
    /** Records a traced block reserves: one an event (start, wait, end, 12 marks), 16 for alignment. */
    public static final int TRACE_SLOTS = 16;
    /** Records a traced module holds (32 MiB of device memory a loaded kernel); later blocks go unrecorded. */
    public static final int TRACE_CAPACITY = 1 << 21;
    /** Trace events: a block started, its wait for the previous kernel returned, it returned, it passed {@code traceMark(m)} (3 + m). */
    public static final int TRACE_START = 0, TRACE_WAITED = 1, TRACE_END = 2, TRACE_MARK = 3;
    private int traces, mbarrierWaits;

    /** What a stack entry or local holds. Buffers and arrays hold 64-bit addresses. */
    enum Kind {
        I("s32", "%r_"), J("s64", "%rd_"), F("f32", "%f_"), D("f64", "%fd_"), CTX("", ""),
        BUF_F32("u64", "%ra_"), BUF_S32("u64", "%ra_"), BUF_S8("u64", "%ra_"), BUF_F16("u64", "%ra_"),
        SHARED_F32("u64", "%ra_"), SHARED_S32("u64", "%ra_"), LOCAL_F32("u64", "%ra_"), LOCAL_S32("u64", "%ra_");

        final String ptx, prefix;

        Kind(String ptx, String prefix) {
            this.ptx = ptx;
            this.prefix = prefix;
        }

        boolean isAddress() { return ptx.equals("u64"); }
    }

    /** A stack entry: its kind, and its value when it is a known int constant (array sizes). */
    record Entry(Kind kind, Integer constant) {}

    /** Abstract machine state at one point: stack kinds and local kinds. */
    static final class State {
        final ArrayList<Entry> stack;
        final Map<Integer, Kind> locals;

        State(ArrayList<Entry> stack, Map<Integer, Kind> locals) {
            this.stack = stack;
            this.locals = locals;
        }

        State copy() { return new State(new ArrayList<>(stack), new HashMap<>(locals)); }
    }

    private final StringBuilder body = new StringBuilder();
    private final Map<String, String> registers = new LinkedHashMap<>();   // name → ptx type
    private final StringBuilder locals = new StringBuilder();
    private final Deque<String> callStack = new ArrayDeque<>();
    private int temps, inlineCount, sharedCount, localArrayCount, predicates, gridBarriers;
    private boolean usesWgmma;   // wgmma exists only for sm_90a
    /** A shared declaration: an {@code allocateXShared} array (length > 0) or a scalar word (length 0, e.g. arriveLast's). */
    private record SharedArray(String type, int length) {}
    private final Map<String, SharedArray> sharedArrays = new LinkedHashMap<>();   // by symbol, in order; declared when the kernel is done
    /** Static shared memory a block may declare; beyond it the arrays move to dynamic shared memory. */
    static final long STATIC_SHARED_LIMIT = 48 * 1024;
    /** Shared memory a block may have at most on Hopper (227 KiB). */
    static final long SHARED_LIMIT = 227 * 1024;
    // Local arrays live in registers (one per element): Java variables holding them map to the array's id.
    private final Map<String, Integer> localArrayOfVariable = new HashMap<>();
    private final Map<Integer, Integer> localArraySize = new HashMap<>();
    private final Method kernel;

    private final boolean traced;

    /** {@link Kernel#traceMarks}: 0, each mark a fixed record; else the marks a block records in order. */
    private final int traceMarks;

    /** Grid barriers on a never-reset count ({@link Kernel#countingGridBarrier}, or {@code -Dzq.ptx.gridBarrier=counter}). */
    private final boolean countingBarrier;

    private PtxTranslator(Method kernel, boolean traced) {
        this.kernel = kernel;
        this.traced = traced;
        Kernel annotation = kernel.getAnnotation(Kernel.class);
        this.traceMarks = annotation == null ? 0 : annotation.traceMarks();
        this.countingBarrier = GRID_BARRIER.equals("counter") || annotation != null && annotation.countingGridBarrier();
    }

    /** Records a traced block of this kernel reserves: {@link #TRACE_SLOTS}, or start, wait, end and its marks, a multiple of 16. */
    private int traceSlots() {
        return traceMarks == 0 ? TRACE_SLOTS : (3 + traceMarks + 15) / 16 * 16;
    }

    /** PTX text with one {@code .visible .entry} named {@code entryName}; traced as {@link #TRACE} says. */
    public static String translate(Method kernel, String entryName) throws KernelCompileException {
        return translate(kernel, entryName, TRACE);
    }

    /** {@link #translate(Method, String)} with the trace records ({@link #TRACE}) or without. */
    public static String translate(Method kernel, String entryName, boolean traced) throws KernelCompileException {
        return new PtxTranslator(kernel, traced).run(entryName);
    }

    private String run(String entryName) throws KernelCompileException {
        if (!Modifier.isStatic(kernel.getModifiers()) || kernel.getReturnType() != void.class)
            throw new KernelCompileException(where() + ": a kernel must be a static void method");
        Class<?>[] params = kernel.getParameterTypes();
        if (params.length == 0 || !params[0].getName().equals("dev.zq.runtime.KernelContext"))
            throw new KernelCompileException(where() + ": a kernel's first parameter must be a KernelContext");
        StringBuilder sig = new StringBuilder();
        Map<Integer, Kind> localKinds = new HashMap<>();
        int slot = 0;
        StringBuilder prologue = new StringBuilder();
        for (int i = 0; i < params.length; i++) {
            Kind k = kindOf(params[i]);
            localKinds.put(slot, k);
            if (k != Kind.CTX) {
                String p = "p_" + i;
                if (!sig.isEmpty()) sig.append(",\n");
                sig.append("    .param .").append(k.isAddress() ? "u64" : k.ptx).append(' ').append(p);
                String reg = reg(k, "l" + slot);
                if (k.isAddress()) {
                    prologue.append("    ld.param.u64 ").append(reg).append(", [").append(p).append("];\n");
                    prologue.append("    cvta.to.global.u64 ").append(reg).append(", ").append(reg).append(";\n");
                } else {
                    prologue.append("    ld.param.").append(k.ptx).append(' ').append(reg).append(", [").append(p).append("];\n");
                }
            }
            slot += params[i] == long.class || params[i] == double.class ? 2 : 1;
        }
        if (countingBarrier) {   // the count the block's next grid barrier waits for; 0 before its first
            registers.put("%gbt", "u64");
            prologue.append("    mov.u64 %gbt, 0;\n");
        }
        body.append(prologue);
        if (traced) trace(TRACE_START);
        MethodModel mm = methodModel(kernel.getDeclaringClass(), kernel.getName(), MethodTypeDesc.ofDescriptor(descriptor(kernel)));
        translateBody(mm, kernel.getDeclaringClass(), "", 0, localKinds, null);

        StringBuilder ptx = new StringBuilder();
        ptx.append("//\n// Generated by zq's JIT from ").append(kernel.getDeclaringClass().getName()).append('.').append(kernel.getName()).append("\n//\n");
        ptx.append(".version 8.0\n.target ").append(usesWgmma ? "sm_90a" : "sm_90").append("\n.address_size 64\n\n");
        if (traced) ptx.append(".global .align 16 .u32 ").append(TRACE_BUFFER).append('[').append(4 * TRACE_CAPACITY).append("];\n.global .align 4 .u32 ")
                .append(TRACE_COUNT).append(";\n.shared .align 4 .u32 ").append(TRACE_WARPS).append(";\n.shared .align 4 .u32 ").append(TRACE_BASE)
                .append(";\n.shared .align 4 .u32 ").append(TRACE_MARKS).append(";\n");
        // Arrays over the 48 KiB a block may declare statically live in dynamic shared memory, at offsets of one extern array
        // (the runtime asks the driver for the bytes, KernelCompiler.dynamicSharedBytes). wgmma swizzles count absolute
        // address bits: its kernels' arrays start at 1024-byte boundaries.
        long align = usesWgmma ? 1024 : 16, total = 0;
        Map<String, Long> offsets = new LinkedHashMap<>();
        for (var e : sharedArrays.entrySet()) {
            if (e.getValue().length() == 0) continue;   // words stay static
            total = (total + align - 1) / align * align;
            offsets.put(e.getKey(), total);
            total += 4L * e.getValue().length();
        }
        String text = body.toString();
        boolean dynamic = total > STATIC_SHARED_LIMIT;
        if (dynamic) {
            if (total > SHARED_LIMIT)
                throw new KernelCompileException(where() + " needs " + total + " bytes of shared memory; a block can have at most " + SHARED_LIMIT);
            for (var e : offsets.entrySet())
                text = text.replaceAll("mov\\.u64 (%\\w+), " + e.getKey() + ";\n",
                        "mov.u64 $1, zq_dynamic_shared;\n    add.u64 $1, $1, " + e.getValue() + ";\n");
            ptx.append("// dynamic shared memory: ").append(total).append(" bytes\n");
        }
        for (var e : sharedArrays.entrySet()) {
            SharedArray a = e.getValue();
            if (a.length() == 0) ptx.append(".shared .align 4 .").append(a.type()).append(' ').append(e.getKey()).append(";\n");
            else if (!dynamic) ptx.append(".shared .align ").append(align).append(" .").append(a.type()).append(' ').append(e.getKey())
                    .append('[').append(a.length()).append("];\n");
        }
        if (dynamic) ptx.append(".extern .shared .align 1024 .b8 zq_dynamic_shared[];\n");
        ptx.append(".visible .entry ").append(entryName).append("(\n").append(sig).append("\n)\n");
        Kernel annotation = kernel.getAnnotation(Kernel.class);
        if (annotation != null && annotation.maxRegisters() > 0) ptx.append(".maxnreg ").append(annotation.maxRegisters()).append('\n');
        if (annotation != null && annotation.cluster() != 1) {
            if (annotation.cluster() < 1 || annotation.cluster() > 16)
                throw new KernelCompileException(where() + ": clusters of 1 to 16 blocks, not " + annotation.cluster());
            ptx.append(".reqnctapercluster ").append(annotation.cluster()).append(", 1, 1\n");
        }
        ptx.append("{\n");
        for (var r : registers.entrySet()) ptx.append("    .reg .").append(r.getValue()).append(' ').append(r.getKey()).append(";\n");
        if (predicates > 0) ptx.append("    .reg .pred %p<").append(predicates).append(">;\n");
        ptx.append(locals);
        ptx.append(text);
        ptx.append("}\n");
        return ptx.toString();
    }

    private String where() { return kernel.getDeclaringClass().getName() + "." + kernel.getName(); }

    static String descriptor(Method m) {
        StringBuilder b = new StringBuilder("(");
        for (Class<?> p : m.getParameterTypes()) b.append(p.descriptorString());
        return b.append(')').append(m.getReturnType().descriptorString()).toString();
    }

    private Kind kindOf(Class<?> c) throws KernelCompileException {
        return switch (c.getName()) {
            case "dev.zq.runtime.KernelContext" -> Kind.CTX;
            case "dev.zq.runtime.FloatArray" -> Kind.BUF_F32;
            case "dev.zq.runtime.IntArray" -> Kind.BUF_S32;
            case "dev.zq.runtime.ByteArray" -> Kind.BUF_S8;
            case "dev.zq.runtime.HalfArray" -> Kind.BUF_F16;
            case "int" -> Kind.I;
            case "long" -> Kind.J;
            case "float" -> Kind.F;
            case "double" -> Kind.D;
            default -> throw new KernelCompileException(where() + ": parameter type " + c.getName()
                    + " is not supported (buffers: FloatArray, IntArray, ByteArray, HalfArray; scalars: int, long, float, double)");
        };
    }

    private static MethodModel methodModel(Class<?> owner, String name, MethodTypeDesc type) throws KernelCompileException {
        String res = "/" + owner.getName().replace('.', '/') + ".class";
        try (InputStream in = owner.getResourceAsStream(res)) {
            if (in == null) throw new KernelCompileException("cannot read the bytecode of " + owner.getName());
            ClassModel cm = ClassFile.of().parse(in.readAllBytes());
            for (MethodModel m : cm.methods())
                if (m.methodName().equalsString(name) && m.methodTypeSymbol().equals(type)) return m;
            throw new KernelCompileException(owner.getName() + " has no method " + name + type.descriptorString());
        } catch (IOException e) {
            throw new KernelCompileException("cannot read the bytecode of " + owner.getName() + ": " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------------------------------ registers

    private String reg(Kind k, String suffix) {
        String name = k.prefix + suffix;
        registers.putIfAbsent(name, k.ptx);
        return name;
    }

    private String temp(String ptxType) {
        String name = "%t" + (temps++);
        registers.put(name, ptxType);
        return name;
    }

    private String pred() { return "%p" + (predicates++); }

    private void emit(String s) { body.append("    ").append(s).append(";\n"); }

    /**
     * {@link #TRACE}'s record of {@code event} in a scope of its own registers, the time read first. At the start thread
     * (0, 0) zeroes the block's count of ended warps ({@link #TRACE_WARPS}) before a barrier, then reserves the block's
     * {@link #TRACE_SLOTS} records with one atomic (their first index in {@link #TRACE_BASE}) and fills the start's; the
     * wait and the marks are stored by thread (0, 0) at their fixed slots, the end by lane 0 of the block's last warp to end
     * (a block's warps may end apart, and its resources free with the last). Only the start waits for an atomic's answer.
     */
    private void trace(int event) {
        String skip = "Ltrace" + (traces++);
        body.append("    {\n    .reg .pred %tp;\n    .reg .u32 %tt<8>;\n    .reg .u64 %td<3>;\n");
        emit("mov.u64 %td0, %globaltimer");
        if (event == TRACE_END) {
            emit("mov.u32 %tt0, %laneid");
            emit("setp.ne.u32 %tp, %tt0, 0");
            emit("@%tp bra " + skip);
            emit("atom.shared.add.u32 %tt1, [" + TRACE_WARPS + "], 1");
            emit("mov.u32 %tt7, %ntid.x");
            emit("mov.u32 %tt0, %ntid.y");
            emit("mad.lo.u32 %tt7, %tt7, %tt0, 31");
            emit("shr.u32 %tt7, %tt7, 5");               // the block's warps
            emit("sub.u32 %tt7, %tt7, 1");
            emit("setp.ne.u32 %tp, %tt1, %tt7");
        } else {
            emit("mov.u32 %tt0, %tid.x");
            emit("mov.u32 %tt1, %tid.y");
            emit("or.b32 %tt0, %tt0, %tt1");
            emit("setp.ne.u32 %tp, %tt0, 0");
            if (event == TRACE_START) {   // the count zeroed (and the slots marked unreserved) before any warp can end
                emit("@!%tp st.shared.u32 [" + TRACE_WARPS + "], 0");
                emit("@!%tp st.shared.u32 [" + TRACE_BASE + "], -1");
                emit("@!%tp st.shared.u32 [" + TRACE_MARKS + "], 0");
                emit("bar.sync 0");
            }
        }
        emit("@%tp bra " + skip);
        if (event == TRACE_START) {
            emit("atom.global.add.u32 %tt2, [" + TRACE_COUNT + "], " + traceSlots());
            emit("setp.gt.u32 %tp, %tt2, " + (TRACE_CAPACITY - traceSlots()));
            emit("@%tp bra " + skip);                    // the buffer full: the block goes unrecorded
            emit("st.shared.u32 [" + TRACE_BASE + "], %tt2");
        } else {
            emit("ld.shared.u32 %tt2, [" + TRACE_BASE + "]");
            emit("setp.eq.u32 %tp, %tt2, -1");
            emit("@%tp bra " + skip);
        }
        if (event >= TRACE_MARK && traceMarks > 0) {  // marks in order: the block's next mark record, while any is left
            emit("ld.shared.u32 %tt1, [" + TRACE_MARKS + "]");
            emit("setp.ge.u32 %tp, %tt1, " + traceMarks);
            emit("@%tp bra " + skip);
            emit("add.u32 %tt0, %tt1, 1");
            emit("st.shared.u32 [" + TRACE_MARKS + "], %tt0");
            emit("add.u32 %tt2, %tt2, %tt1");
            emit("add.u32 %tt2, %tt2, " + TRACE_MARK);
        } else emit("add.u32 %tt2, %tt2, " + event);   // the event's slot
        emit("mov.b64 {%tt3, %tt4}, %td0");
        emit("mov.u32 %tt5, %ctaid.y");
        emit("mov.u32 %tt6, %nctaid.x");
        emit("mov.u32 %tt7, %ctaid.x");
        emit("mad.lo.u32 %tt5, %tt5, %tt6, %tt7");   // the block's index in the grid
        emit("or.b32 %tt5, %tt5, " + (event << 28));
        emit("mov.u32 %tt7, %nctaid.y");
        emit("mul.lo.u32 %tt6, %tt6, %tt7");         // the grid's blocks
        emit("mov.u64 %td1, " + TRACE_BUFFER);
        emit("mul.wide.u32 %td2, %tt2, 16");
        emit("add.u64 %td1, %td1, %td2");
        emit("st.global.v4.u32 [%td1], {%tt3, %tt4, %tt5, %tt6}");
        body.append(skip).append(":\n    }\n");
    }

    // ------------------------------------------------------------------------------------------ translation

    /** One method body (the kernel, or an inlined callee). {@code ns} prefixes its locals and labels. */
    private final class Frame {
        final MethodModel method;
        final Class<?> owner;
        final String ns;
        final int base;
        final String returnLabel;   // null for the kernel itself
        final Map<Label, String> labelNames = new HashMap<>();
        final Map<Label, State> labelStates = new HashMap<>();
        int line = -1;
        Instruction current;

        Frame(MethodModel method, Class<?> owner, String ns, int base, String returnLabel) {
            this.method = method;
            this.owner = owner;
            this.ns = ns;
            this.base = base;
            this.returnLabel = returnLabel;
        }

        String label(Label l) { return labelNames.computeIfAbsent(l, k -> "L" + ns + labelNames.size()); }

        KernelCompileException fail(String what) {
            return new KernelCompileException(owner.getName() + "." + method.methodName().stringValue() + ": " + what
                    + (current == null ? "" : " (bytecode " + current.opcode().name().toLowerCase() + ")")
                    + (line >= 0 ? " at line " + line : ""));
        }
    }

    private void translateBody(MethodModel mm, Class<?> owner, String ns, int base, Map<Integer, Kind> localKinds,
                               String returnLabel) throws KernelCompileException {
        String id = owner.getName() + "." + mm.methodName().stringValue() + mm.methodType().stringValue();
        if (callStack.contains(id)) throw new KernelCompileException(where() + ": recursive call to " + id + " cannot be inlined");
        if (callStack.size() > 16) throw new KernelCompileException(where() + ": calls nested deeper than 16");
        callStack.push(id);
        CodeModel code = mm.code().orElseThrow(() -> new KernelCompileException(id + " has no code (abstract or native)"));
        Frame f = new Frame(mm, owner, ns, base, returnLabel);
        State s = new State(new ArrayList<>(), new HashMap<>(localKinds));
        for (int i = 0; i < base; i++) s.stack.add(null);   // the caller's entries below us, never touched
        boolean reachable = true;
        for (CodeElement e : code) {
            switch (e) {
                case LineNumber ln -> f.line = ln.line();
                case LabelTarget lt -> {
                    State recorded = f.labelStates.get(lt.label());
                    if (reachable) {
                        if (recorded == null) f.labelStates.put(lt.label(), s.copy());
                    } else if (recorded != null) {
                        s = recorded.copy();
                        reachable = true;
                    }
                    body.append(f.label(lt.label())).append(":\n");
                }
                case Instruction ins -> {
                    if (!reachable) continue;
                    f.current = ins;
                    reachable = instruction(f, s, ins);
                }
                default -> { }
            }
        }
        callStack.pop();
    }

    /** Translates one instruction; returns false when control cannot fall through it. */
    private boolean instruction(Frame f, State s, Instruction ins) throws KernelCompileException {
        ArrayList<Entry> st = s.stack;
        switch (ins) {
            case NopInstruction n -> { }
            case ConstantInstruction c -> pushConstant(f, st, c.constantValue());
            case LoadInstruction l -> {
                Kind k = l.typeKind() == TypeKind.REFERENCE ? s.locals.get(l.slot()) : primitive(f, l.typeKind());
                if (k == null) throw f.fail("load of local " + l.slot() + " before anything was stored in it");
                if (isLocalArray(k)) {
                    push(st, k, localArrayOfVariable.get(f.ns + "l" + l.slot()));
                } else {
                    push(st, k, null);
                    if (k != Kind.CTX) emit("mov." + movType(k) + " " + top(st) + ", " + reg(k, f.ns + "l" + l.slot()));
                }
            }
            case StoreInstruction sto -> {
                Entry e = pop(f, st);
                Kind k = sto.typeKind() == TypeKind.REFERENCE ? e.kind() : primitive(f, sto.typeKind());
                s.locals.put(sto.slot(), k);
                if (isLocalArray(k)) bindLocalArray(f, f.ns + "l" + sto.slot(), e.constant());
                else if (k != Kind.CTX) emit("mov." + movType(k) + " " + reg(k, f.ns + "l" + sto.slot()) + ", " + at(e.kind(), st.size()));
            }
            case IncrementInstruction inc -> {
                String r = reg(Kind.I, f.ns + "l" + inc.slot());
                emit("add.s32 " + r + ", " + r + ", " + inc.constant());
            }
            case OperatorInstruction op -> operator(f, st, op);
            case ConvertInstruction cv -> convert(f, st, cv);
            case StackInstruction si -> stackOp(f, st, si);
            case BranchInstruction br -> {
                return branch(f, s, br);
            }
            case ReturnInstruction r -> {
                if (f.returnLabel == null) {
                    if (r.typeKind() != TypeKind.VOID) throw f.fail("a kernel returns nothing");
                    if (traced) trace(TRACE_END);
                    emit("ret");
                } else {
                    if (r.typeKind() != TypeKind.VOID) {
                        Entry e = pop(f, st);
                        String from = at(e.kind(), st.size()), to = reg(e.kind(), "s" + f.base);
                        if (!from.equals(to)) emit("mov." + movType(e.kind()) + " " + to + ", " + from);
                    }
                    emit("bra.uni " + f.returnLabel);
                }
                return false;
            }
            case ArrayLoadInstruction al -> arrayLoad(f, st, al.typeKind());
            case ArrayStoreInstruction as -> arrayStore(f, st, as.typeKind());
            case NewPrimitiveArrayInstruction na -> {
                Entry size = pop(f, st);
                if (size.constant() == null) throw f.fail("a local array needs a constant size");
                Kind k = switch (na.typeKind()) {
                    case FLOAT -> Kind.LOCAL_F32;
                    case INT -> Kind.LOCAL_S32;
                    default -> throw f.fail("local arrays of " + na.typeKind() + " are not supported");
                };
                if (size.constant() <= 0 || size.constant() > 64) throw f.fail("local arrays hold 1 to 64 elements, not " + size.constant());
                // One register per element (ptxas will not keep local memory in registers across cp.async),
                // zeroed as Java arrays are; every access must use a constant index.
                int id = localArrayCount++;
                localArraySize.put(id, size.constant());
                push(st, k, id);
                Kind ek = k == Kind.LOCAL_F32 ? Kind.F : Kind.I;
                for (int i = 0; i < size.constant(); i++)
                    emit("mov." + movType(ek) + " " + element(id, ek, i) + ", " + (ek == Kind.F ? "0f00000000" : "0"));
            }
            case InvokeInstruction inv -> invoke(f, st, inv);
            default -> throw f.fail("unsupported instruction");
        }
        return true;
    }

    private Kind primitive(Frame f, TypeKind t) throws KernelCompileException {
        return switch (t) {
            case INT, BOOLEAN, BYTE, CHAR, SHORT -> Kind.I;
            case LONG -> Kind.J;
            case FLOAT -> Kind.F;
            case DOUBLE -> Kind.D;
            default -> throw f.fail("type " + t + " is not supported here");
        };
    }

    private static String movType(Kind k) {
        return switch (k) {
            case I -> "s32";
            case J -> "s64";
            case F -> "f32";
            case D -> "f64";
            default -> "u64";
        };
    }

    private void push(ArrayList<Entry> st, Kind k, Integer constant) { st.add(new Entry(k, constant)); }

    private Entry pop(Frame f, ArrayList<Entry> st) throws KernelCompileException {
        if (st.size() <= f.base || st.getLast() == null) throw f.fail("operand stack underflow");
        return st.removeLast();
    }

    /** Register of the entry at the top of the stack. */
    private String top(ArrayList<Entry> st) { return at(st.getLast().kind(), st.size() - 1); }

    private String at(Kind k, int depth) { return reg(k, "s" + depth); }

    private void pushConstant(Frame f, ArrayList<Entry> st, Object v) throws KernelCompileException {
        switch (v) {
            case Integer i -> { push(st, Kind.I, i); emit("mov.s32 " + top(st) + ", " + i); }
            case Long l -> { push(st, Kind.J, null); emit("mov.s64 " + top(st) + ", " + l); }
            case Float x -> { push(st, Kind.F, null); emit("mov.f32 " + top(st) + ", " + String.format("0f%08X", Float.floatToRawIntBits(x))); }
            case Double d -> { push(st, Kind.D, null); emit("mov.f64 " + top(st) + ", " + String.format("0d%016X", Double.doubleToRawLongBits(d))); }
            case null -> throw f.fail("null references are not supported");
            default -> throw f.fail("constant " + v + " of type " + v.getClass().getSimpleName() + " is not supported");
        }
    }

    private void operator(Frame f, ArrayList<Entry> st, OperatorInstruction op) throws KernelCompileException {
        Opcode o = op.opcode();
        switch (o) {
            case INEG, LNEG, FNEG, DNEG -> {
                Entry a = pop(f, st);
                push(st, a.kind(), null);
                emit("neg." + a.kind().ptx + " " + top(st) + ", " + top(st));
                return;
            }
            case LCMP, FCMPL, FCMPG, DCMPL, DCMPG -> {
                Entry b = pop(f, st), a = pop(f, st);
                String ra = at(a.kind(), st.size()), rb = at(b.kind(), st.size() + 1);
                String t = a.kind().ptx, lt = temp("s32"), gt = temp("s32");
                // set.* writes -1 (all ones) for true: (a<b ? -1 : 0) − (a>b ? -1 : 0) is Java's -1/0/1.
                // fcmpl treats NaN as less (ltu), fcmpg as greater (gtu).
                String ltOp = o == Opcode.FCMPL || o == Opcode.DCMPL ? "ltu" : "lt";
                String gtOp = o == Opcode.FCMPG || o == Opcode.DCMPG ? "gtu" : "gt";
                emit("set." + ltOp + ".s32." + t + " " + lt + ", " + ra + ", " + rb);
                emit("set." + gtOp + ".s32." + t + " " + gt + ", " + ra + ", " + rb);
                push(st, Kind.I, null);
                emit("sub.s32 " + top(st) + ", " + lt + ", " + gt);
                return;
            }
            case ARRAYLENGTH -> throw f.fail("array length is not available on the GPU; pass sizes as int parameters");
            default -> { }
        }
        Entry b = pop(f, st), a = pop(f, st);
        Kind k = a.kind();
        String ra = at(k, st.size()), rb = at(b.kind(), st.size() + 1);
        push(st, k, null);
        String d = top(st), t = k.ptx;
        boolean fp = k == Kind.F || k == Kind.D;
        String bits = k == Kind.J ? "b64" : "b32";
        switch (o) {
            case IADD, LADD, FADD, DADD -> emit("add" + (fp ? ".rn." : ".") + t + " " + d + ", " + ra + ", " + rb);
            case ISUB, LSUB, FSUB, DSUB -> emit("sub" + (fp ? ".rn." : ".") + t + " " + d + ", " + ra + ", " + rb);
            case IMUL, LMUL -> emit("mul.lo." + t + " " + d + ", " + ra + ", " + rb);
            case FMUL, DMUL -> emit("mul.rn." + t + " " + d + ", " + ra + ", " + rb);
            case FDIV, DDIV -> emit("div.rn." + t + " " + d + ", " + ra + ", " + rb);
            case IDIV, LDIV -> emit("div." + t + " " + d + ", " + ra + ", " + rb);
            case IREM, LREM -> emit("rem." + t + " " + d + ", " + ra + ", " + rb);
            case IAND, LAND -> emit("and." + bits + " " + d + ", " + ra + ", " + rb);
            case IOR, LOR -> emit("or." + bits + " " + d + ", " + ra + ", " + rb);
            case IXOR, LXOR -> emit("xor." + bits + " " + d + ", " + ra + ", " + rb);
            case ISHL, LSHL, ISHR, LSHR, IUSHR, LUSHR -> {
                // Java uses the low 5 (int) or 6 (long) bits of the count; PTX clamps instead.
                String n = temp("b32");
                emit("and.b32 " + n + ", " + rb + ", " + (k == Kind.J ? 63 : 31));
                String opName = switch (o) {
                    case ISHL, LSHL -> "shl." + bits;
                    case ISHR, LSHR -> "shr." + t;
                    default -> "shr." + (k == Kind.J ? "u64" : "u32");
                };
                emit(opName + " " + d + ", " + ra + ", " + n);
            }
            case FREM, DREM -> throw f.fail("floating-point remainder is not supported");
            default -> throw f.fail("unsupported operator");
        }
    }

    private void convert(Frame f, ArrayList<Entry> st, ConvertInstruction cv) throws KernelCompileException {
        Entry a = pop(f, st);
        String from = at(a.kind(), st.size());
        Kind to = switch (cv.toType()) {
            case INT, BYTE, SHORT, CHAR -> Kind.I;
            case LONG -> Kind.J;
            case FLOAT -> Kind.F;
            case DOUBLE -> Kind.D;
            default -> throw f.fail("conversion to " + cv.toType());
        };
        push(st, to, null);
        String d = top(st);
        String instr = switch (cv.opcode()) {
            case I2L -> "cvt.s64.s32";
            case I2F -> "cvt.rn.f32.s32";
            case I2D -> "cvt.rn.f64.s32";
            case L2I -> "cvt.u32.u64";
            case L2F -> "cvt.rn.f32.s64";
            case L2D -> "cvt.rn.f64.s64";
            case F2I -> "cvt.rzi.s32.f32";   // saturating, NaN → 0: Java's semantics
            case F2L -> "cvt.rzi.s64.f32";
            case F2D -> "cvt.f64.f32";
            case D2I -> "cvt.rzi.s32.f64";
            case D2L -> "cvt.rzi.s64.f64";
            case D2F -> "cvt.rn.f32.f64";
            case I2B -> "cvt.s32.s8";
            case I2S -> "cvt.s32.s16";
            case I2C -> "cvt.u32.u16";
            default -> throw f.fail("unsupported conversion");
        };
        emit(instr + " " + d + ", " + from);
    }

    private void stackOp(Frame f, ArrayList<Entry> st, StackInstruction si) throws KernelCompileException {
        switch (si.opcode()) {
            case POP -> pop(f, st);
            case POP2 -> {
                Entry e = pop(f, st);
                if (e.kind() != Kind.J && e.kind() != Kind.D) pop(f, st);
            }
            case DUP -> {
                Entry e = st.getLast();
                String from = top(st);
                push(st, e.kind(), e.constant());
                if (e.kind() != Kind.CTX && !isLocalArray(e.kind())) emit("mov." + movType(e.kind()) + " " + top(st) + ", " + from);
            }
            case DUP2 -> {
                Entry e = st.getLast();
                if (e.kind() == Kind.J || e.kind() == Kind.D) {
                    String from = top(st);
                    push(st, e.kind(), null);
                    emit("mov." + movType(e.kind()) + " " + top(st) + ", " + from);
                } else {
                    Entry e1 = st.get(st.size() - 2);
                    int d = st.size();
                    push(st, e1.kind(), e1.constant());
                    push(st, e.kind(), e.constant());
                    if (e1.kind() != Kind.CTX && !isLocalArray(e1.kind())) emit("mov." + movType(e1.kind()) + " " + at(e1.kind(), d) + ", " + at(e1.kind(), d - 2));
                    if (e.kind() != Kind.CTX && !isLocalArray(e.kind())) emit("mov." + movType(e.kind()) + " " + at(e.kind(), d + 1) + ", " + at(e.kind(), d - 1));
                }
            }
            case DUP_X1 -> {
                // ..., b, a → ..., a, b, a
                Entry a = pop(f, st), b = pop(f, st);
                int d = st.size();
                String ta = temp(a.kind().ptx.isEmpty() ? "u64" : a.kind().ptx);
                emit("mov." + movType(a.kind()) + " " + ta + ", " + at(a.kind(), d + 1));
                emit("mov." + movType(b.kind()) + " " + at(b.kind(), d + 1) + ", " + at(b.kind(), d));
                emit("mov." + movType(a.kind()) + " " + at(a.kind(), d) + ", " + ta);
                emit("mov." + movType(a.kind()) + " " + at(a.kind(), d + 2) + ", " + ta);
                push(st, a.kind(), null);
                push(st, b.kind(), null);
                push(st, a.kind(), null);
            }
            case SWAP -> {
                Entry a = pop(f, st), b = pop(f, st);
                int d = st.size();
                String ta = temp(a.kind().ptx);
                emit("mov." + movType(a.kind()) + " " + ta + ", " + at(a.kind(), d + 1));
                emit("mov." + movType(b.kind()) + " " + at(b.kind(), d + 1) + ", " + at(b.kind(), d));
                emit("mov." + movType(a.kind()) + " " + at(a.kind(), d) + ", " + ta);
                push(st, a.kind(), null);
                push(st, b.kind(), null);
            }
            default -> throw f.fail("unsupported stack manipulation");
        }
    }

    private boolean branch(Frame f, State s, BranchInstruction br) throws KernelCompileException {
        ArrayList<Entry> st = s.stack;
        Opcode o = br.opcode();
        String target = f.label(br.target());
        if (o == Opcode.GOTO || o == Opcode.GOTO_W) {
            f.labelStates.putIfAbsent(br.target(), s.copy());
            emit("bra.uni " + target);
            return false;
        }
        String p = pred();
        switch (o) {
            case IFEQ, IFNE, IFLT, IFGE, IFGT, IFLE -> {
                Entry a = pop(f, st);
                emit("setp." + cmp(o) + ".s32 " + p + ", " + at(a.kind(), st.size()) + ", 0");
            }
            case IF_ICMPEQ, IF_ICMPNE, IF_ICMPLT, IF_ICMPGE, IF_ICMPGT, IF_ICMPLE -> {
                Entry b = pop(f, st), a = pop(f, st);
                emit("setp." + cmp(o) + ".s32 " + p + ", " + at(a.kind(), st.size()) + ", " + at(b.kind(), st.size() + 1));
            }
            default -> throw f.fail("references cannot be compared on the GPU");
        }
        f.labelStates.putIfAbsent(br.target(), s.copy());
        emit("@" + p + " bra " + target);
        return true;
    }

    private static String cmp(Opcode o) {
        return switch (o) {
            case IFEQ, IF_ICMPEQ -> "eq";
            case IFNE, IF_ICMPNE -> "ne";
            case IFLT, IF_ICMPLT -> "lt";
            case IFGE, IF_ICMPGE -> "ge";
            case IFGT, IF_ICMPGT -> "gt";
            default -> "le";
        };
    }

    /**
     * A wgmma shared-memory matrix descriptor for the K-major layouts of {@code KernelContext.wgmmaS8}: start address
     * (shared window, 16-byte units) of int {@code word} of the array at {@code base}, leading byte offset 128 when
     * unswizzled (the two 16-byte halves of K are adjacent core matrices), stride byte offset {@code stride} (between
     * 8-row groups), the swizzle mode in the top two bits.
     */
    private String wgmmaDescriptor(String base, String word, String stride, int swizzle) {
        String addr = address(base, word, 4), lo = temp("b32"), hi = temp("b32"), desc = temp("b64");
        // Swizzled K-major operands ignore the leading byte offset (a k32 step lies within one swizzled row): 1 by convention.
        int lbo = swizzle == 0 ? 128 >> 4 : 1, mode = switch (swizzle) { case 128 -> 1; case 64 -> 2; case 32 -> 3; default -> 0; };
        emit("cvt.u32.u64 " + lo + ", " + addr);
        emit("and.b32 " + lo + ", " + lo + ", 262143");
        emit("shr.u32 " + lo + ", " + lo + ", 4");
        emit("or.b32 " + lo + ", " + lo + ", " + (lbo << 16));
        emit("shr.u32 " + hi + ", " + stride + ", 4");
        emit("and.b32 " + hi + ", " + hi + ", 16383");
        if (mode != 0) emit("or.b32 " + hi + ", " + hi + ", " + (mode << 30));
        emit("mov.b64 " + desc + ", {" + lo + ", " + hi + "}");
        return desc;
    }

    /** Address of element {@code index} of the array/buffer at {@code base}: base + index·size. */
    private String address(String base, String index, int size) {
        String a = temp("u64");
        emit("mul.wide.s32 " + a + ", " + index + ", " + size);
        emit("add.s64 " + a + ", " + base + ", " + a);
        return a;
    }

    private void arrayLoad(Frame f, ArrayList<Entry> st, TypeKind t) throws KernelCompileException {
        Entry idx = pop(f, st), arr = pop(f, st);
        if (isLocalArray(arr.kind())) {
            Kind k = arr.kind() == Kind.LOCAL_F32 ? Kind.F : Kind.I;
            String from = element(arr.constant(), k, constantIndex(f, arr, idx));
            push(st, k, null);
            emit("mov." + movType(k) + " " + top(st) + ", " + from);
            return;
        }
        String space = space(f, arr.kind());
        String addr = address(at(arr.kind(), st.size()), at(idx.kind(), st.size() + 1), 4);
        Kind k = t == TypeKind.FLOAT ? Kind.F : Kind.I;
        push(st, k, null);
        emit("ld." + space + "." + k.ptx + " " + top(st) + ", [" + addr + "]");
    }

    private void arrayStore(Frame f, ArrayList<Entry> st, TypeKind t) throws KernelCompileException {
        Entry v = pop(f, st), idx = pop(f, st), arr = pop(f, st);
        if (isLocalArray(arr.kind())) {
            Kind k = arr.kind() == Kind.LOCAL_F32 ? Kind.F : Kind.I;
            emit("mov." + movType(k) + " " + element(arr.constant(), k, constantIndex(f, arr, idx)) + ", " + at(v.kind(), st.size() + 2));
            return;
        }
        String space = space(f, arr.kind());
        String addr = address(at(arr.kind(), st.size()), at(idx.kind(), st.size() + 1), 4);
        emit("st." + space + "." + v.kind().ptx + " [" + addr + "], " + at(v.kind(), st.size() + 2));
    }

    private static boolean isLocalArray(Kind k) { return k == Kind.LOCAL_F32 || k == Kind.LOCAL_S32; }

    /** The register holding element {@code i} of local array {@code id}. */
    private String element(int id, Kind k, int i) { return reg(k, "la" + id + "_" + i); }

    private void bindLocalArray(Frame f, String variable, Integer id) throws KernelCompileException {
        if (id == null) throw f.fail("a local array variable must hold an array created in this kernel");
        Integer old = localArrayOfVariable.putIfAbsent(variable, id);
        if (old != null && !old.equals(id)) throw f.fail("a local array variable cannot be given another array on the GPU");
    }

    private int constantIndex(Frame f, Entry arr, Entry idx) throws KernelCompileException {
        if (arr.constant() == null) throw f.fail("unknown local array");
        if (idx.constant() == null) throw f.fail("local arrays live in registers on the GPU: index them with constants");
        int i = idx.constant(), n = localArraySize.get(arr.constant());
        if (i < 0 || i >= n) throw f.fail("index " + i + " outside a local array of " + n);
        return i;
    }

    private static String space(Frame f, Kind k) throws KernelCompileException {
        return switch (k) {
            case SHARED_F32, SHARED_S32 -> "shared";
            case LOCAL_F32, LOCAL_S32 -> "local";
            default -> throw f.fail("this array is not a shared or local array (" + k + ")");
        };
    }

    private void invoke(Frame f, ArrayList<Entry> st, InvokeInstruction inv) throws KernelCompileException {
        String owner = inv.owner().asInternalName(), name = inv.name().stringValue();
        MethodTypeDesc type = inv.typeSymbol();
        switch (owner) {
            case CTX -> context(f, st, name, type);
            case "dev/zq/runtime/FloatArray", "dev/zq/runtime/IntArray", "dev/zq/runtime/ByteArray", "dev/zq/runtime/HalfArray" ->
                    buffer(f, st, name);
            case "java/lang/Math", "java/lang/StrictMath", MATH -> {
                // KernelMath.exp is float arithmetic in Java: compiling its body gives the CPU's bits.
                if (owner.equals(MATH) && name.equals("exp")) inline(f, st, owner, name, type);
                else math(f, st, owner, name, type);
            }
            case "java/lang/Float" -> floatBits(f, st, name);
            default -> {
                if (inv.opcode() != Opcode.INVOKESTATIC) throw f.fail("call to " + owner + "." + name + " is not a static method");
                inline(f, st, owner, name, type);
            }
        }
    }

    private void context(Frame f, ArrayList<Entry> st, String name, MethodTypeDesc type) throws KernelCompileException {
        List<Entry> args = new ArrayList<>();
        for (int i = 0; i < type.parameterCount(); i++) args.addFirst(pop(f, st));
        Entry ctx = pop(f, st);
        if (ctx.kind() != Kind.CTX) throw f.fail("KernelContext call on something else");
        int d = st.size();
        switch (name) {
            case "globalIdx", "globalIdy" -> {
                char ax = name.charAt(name.length() - 1) == 'x' ? 'x' : 'y';
                String c = temp("s32"), n = temp("s32"), t = temp("s32");
                emit("mov.u32 " + c + ", %ctaid." + ax);
                emit("mov.u32 " + n + ", %ntid." + ax);
                emit("mov.u32 " + t + ", %tid." + ax);
                push(st, Kind.I, null);
                emit("mad.lo.s32 " + top(st) + ", " + c + ", " + n + ", " + t);
            }
            case "localIdx", "localIdy", "groupIdx", "groupIdy", "localSizeX", "localSizeY", "numGroupsX", "numGroupsY", "laneId" -> {
                String special = switch (name) {
                    case "localIdx" -> "%tid.x";
                    case "localIdy" -> "%tid.y";
                    case "groupIdx" -> "%ctaid.x";
                    case "groupIdy" -> "%ctaid.y";
                    case "localSizeX" -> "%ntid.x";
                    case "localSizeY" -> "%ntid.y";
                    case "numGroupsX" -> "%nctaid.x";
                    case "numGroupsY" -> "%nctaid.y";
                    default -> "%laneid";
                };
                push(st, Kind.I, null);
                emit("mov.u32 " + top(st) + ", " + special);
            }
            case "globalSizeX" -> {
                String a = temp("s32"), b = temp("s32");
                emit("mov.u32 " + a + ", %ntid.x");
                emit("mov.u32 " + b + ", %nctaid.x");
                push(st, Kind.I, null);
                emit("mul.lo.s32 " + top(st) + ", " + a + ", " + b);
            }
            case "barrier" -> emit("bar.sync 0");
            case "clusterRank" -> {
                push(st, Kind.I, null);
                emit("mov.u32 " + top(st) + ", %cluster_ctarank");
            }
            case "clusterBarrier" -> {
                emit("barrier.cluster.arrive.release.aligned");
                emit("barrier.cluster.wait.acquire.aligned");
            }
            case "clusterArrive" -> emit("barrier.cluster.arrive.release.aligned");
            case "clusterArriveRelaxed" -> emit("barrier.cluster.arrive.relaxed.aligned");
            case "clusterWait" -> emit("barrier.cluster.wait.acquire.aligned");
            case "clusterStore" -> {
                if (args.getFirst().kind() != Kind.SHARED_F32) throw f.fail("clusterStore writes a shared float[]");
                String local = address(at(Kind.SHARED_F32, d + 1), at(Kind.I, d + 2), 4), generic = temp("u64"), remote = temp("u64");
                emit("cvta.shared.u64 " + generic + ", " + local);
                emit("mapa.u64 " + remote + ", " + generic + ", " + at(Kind.I, d + 3));
                emit("st.f32 [" + remote + "], " + at(Kind.F, d + 4));
            }
            case "clusterLoad" -> {
                if (args.getFirst().kind() != Kind.SHARED_F32) throw f.fail("clusterLoad reads a shared float[]");
                String local = address(at(Kind.SHARED_F32, d + 1), at(Kind.I, d + 2), 4), generic = temp("u64"), remote = temp("u64");
                emit("cvta.shared.u64 " + generic + ", " + local);
                emit("mapa.u64 " + remote + ", " + generic + ", " + at(Kind.I, d + 3));
                push(st, Kind.F, null);
                emit("ld.f32 " + top(st) + ", [" + remote + "]");
            }
            case "prefetchL2", "prefetchL1" -> {
                Kind bk = args.getFirst().kind();
                if (bk != Kind.BUF_S32 && bk != Kind.BUF_F32 && bk != Kind.BUF_F16) throw f.fail(name + " takes an IntArray, a FloatArray or a HalfArray");
                emit("prefetch.global." + name.substring(8) + " [" + address(at(bk, d + 1), at(Kind.I, d + 2), bk == Kind.BUF_F16 ? 2 : 4) + "]");
            }
            case "gridBarrier" -> {
                if (args.getFirst().kind() != Kind.BUF_S32) throw f.fail("gridBarrier keeps its state in an IntArray");
                gridBarrier(at(Kind.BUF_S32, d + 1));
            }
            case "arriveLast" -> {
                if (args.getFirst().kind() != Kind.BUF_S32) throw f.fail("arriveLast counts in an IntArray");
                String addr = address(at(Kind.BUF_S32, d + 1), at(args.get(1).kind(), d + 2), 4);
                String count = at(args.get(2).kind(), d + 3);
                push(st, Kind.I, null);
                arriveLast(addr, count, top(st));
            }
            case "traceMark" -> {
                Integer mark = args.getFirst().constant();
                if (mark == null || mark < 0 || mark > 11) throw f.fail("traceMark takes a constant mark from 0 to 11");
                if (traced) trace(TRACE_MARK + mark);
            }
            case "awaitPreviousKernel" -> {
                emit("griddepcontrol.wait");
                if (traced) trace(TRACE_WAITED);
                if (RELEASE.equals("afterWait")) emit("griddepcontrol.launch_dependents");
            }
            case "releaseNextKernel" -> {
                if (!RELEASE.equals("none")) emit("griddepcontrol.launch_dependents");
            }
            case "allocateFloatShared", "allocateIntShared" -> {
                Integer n = args.getFirst().constant();
                if (n == null || n <= 0) throw f.fail(name + " needs a positive constant size");
                boolean fl = name.contains("Float");
                String sym = "shared" + (sharedCount++);
                sharedArrays.put(sym, new SharedArray(fl ? "f32" : "s32", n));
                push(st, fl ? Kind.SHARED_F32 : Kind.SHARED_S32, null);
                emit("mov.u64 " + top(st) + ", " + sym);
            }
            case "shflXor" -> {
                Entry v = args.get(0);
                String r = temp("b32");
                if (v.kind() == Kind.F) emit("mov.b32 " + r + ", " + at(Kind.F, d + 1));
                else emit("mov.b32 " + r + ", " + at(Kind.I, d + 1));
                emit("shfl.sync.bfly.b32 " + r + ", " + r + ", " + at(Kind.I, d + 2) + ", 31, 0xffffffff");
                push(st, v.kind(), null);
                emit("mov.b32 " + top(st) + ", " + r);
            }
            case "mmaS8" -> {
                if (args.get(0).kind() != Kind.LOCAL_S32) throw f.fail("mmaS8 accumulates into a local int[4]");
                int first = d + 2;   // stack depth of a0
                String[] c = new String[4];
                for (int i = 0; i < 4; i++) c[i] = element(args.get(0).constant(), Kind.I, i);
                String ops = "{" + at(Kind.I, first) + ", " + at(Kind.I, first + 1) + ", " + at(Kind.I, first + 2) + ", " + at(Kind.I, first + 3) + "}";
                String cs = "{" + String.join(", ", c) + "}";
                emit("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 " + cs + ", " + ops + ", {" + at(Kind.I, first + 4) + ", " + at(Kind.I, first + 5) + "}, " + cs);
            }
            case "mmaF16" -> {
                if (args.get(0).kind() != Kind.LOCAL_F32) throw f.fail("mmaF16 accumulates into a local float[4]");
                String[] c = new String[4];
                for (int i = 0; i < 4; i++) c[i] = element(args.get(0).constant(), Kind.F, i);
                String[] r = new String[6];
                for (int i = 0; i < 6; i++) {
                    r[i] = temp("b32");
                    emit("mov.b32 " + r[i] + ", " + at(Kind.I, d + 2 + i));
                }
                String cs = "{" + String.join(", ", c) + "}";
                emit("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 " + cs + ", {" + r[0] + ", " + r[1] + ", " + r[2] + ", " + r[3]
                        + "}, {" + r[4] + ", " + r[5] + "}, " + cs);
            }
            case "wgmmaS8", "wgmmaS8n64", "wgmmaF16" -> {
                boolean fp16 = name.equals("wgmmaF16");
                int accs = name.equals("wgmmaS8n64") ? 32 : 64;   // n64: half the columns, half the accumulators
                if (args.get(0).kind() != (fp16 ? Kind.LOCAL_F32 : Kind.LOCAL_S32) || localArraySize.get(args.get(0).constant()) < accs)
                    throw f.fail(name + " accumulates into a local " + (fp16 ? "float" : "int") + "[" + accs + "]");
                if (args.get(1).kind() != Kind.SHARED_S32 || args.get(4).kind() != Kind.SHARED_S32)
                    throw f.fail(name + " reads its operands from shared int[] arrays");
                Integer swizzle = args.get(7).constant();
                if (swizzle == null || (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128))
                    throw f.fail(name + "'s swizzle is a constant 0, 32, 64 or 128");
                String da = wgmmaDescriptor(at(Kind.SHARED_S32, d + 2), at(Kind.I, d + 3), at(Kind.I, d + 4), swizzle);
                String db = wgmmaDescriptor(at(Kind.SHARED_S32, d + 5), at(Kind.I, d + 6), at(Kind.I, d + 7), swizzle);
                String[] c = new String[accs];
                for (int i = 0; i < accs; i++) c[i] = element(args.get(0).constant(), fp16 ? Kind.F : Kind.I, i);
                String one = temp("b32"), p = pred();
                emit("mov.b32 " + one + ", 1");
                emit("setp.ne.b32 " + p + ", " + one + ", 0");   // scale-d: accumulate into acc
                if (fp16)   // A and B unscaled (1, 1) and K-major, not transposed (0, 0)
                    emit("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {" + String.join(", ", c) + "}, " + da + ", " + db + ", " + p + ", 1, 1, 0, 0");
                else emit("wgmma.mma_async.sync.aligned.m64n" + 2 * accs + "k32.s32.s8.s8 {" + String.join(", ", c) + "}, " + da + ", " + db + ", " + p);
                usesWgmma = true;
            }
            case "wgmmaFence" -> emit("wgmma.fence.sync.aligned");
            case "wgmmaCommit" -> emit("wgmma.commit_group.sync.aligned");
            case "wgmmaWait" -> {
                Integer n = args.getFirst().constant();
                if (n == null || n < 0) throw f.fail("wgmmaWait needs a constant number of pending groups");
                emit("wgmma.wait_group.sync.aligned " + n);
            }
            case "fenceAsyncShared" -> emit("fence.proxy.async.shared::cta");
            case "copyAsync16" -> {
                if (args.get(0).kind() != Kind.SHARED_S32 || args.get(2).kind() != Kind.BUF_S32)
                    throw f.fail("copyAsync16 copies from an IntArray into a shared int[]");
                String dst = address(at(Kind.SHARED_S32, d + 1), at(Kind.I, d + 2), 4);
                String src = address(at(Kind.BUF_S32, d + 3), at(Kind.I, d + 4), 4);
                emit("cp.async.cg.shared.global [" + dst + "], [" + src + "], 16");
            }
            case "mbarrierInit" -> {
                if (args.get(0).kind() != Kind.SHARED_S32) throw f.fail("mbarrierInit takes a shared int[]");
                String bar = address(at(Kind.SHARED_S32, d + 1), at(Kind.I, d + 2), 4);
                emit("mbarrier.init.shared::cta.b64 [" + bar + "], " + at(Kind.I, d + 3));
                emit("fence.mbarrier_init.release.cluster");   // the init seen by the bulk-copy engine's arrivals
            }
            case "bulkCopy" -> {
                Kind source = args.get(2).kind();
                if (args.get(0).kind() != Kind.SHARED_S32 || source != Kind.BUF_S32 && source != Kind.BUF_F32 || args.get(5).kind() != Kind.SHARED_S32)
                    throw f.fail("bulkCopy copies from an IntArray or a FloatArray into a shared int[], arriving on a shared int[] mbarrier");
                String dst = address(at(Kind.SHARED_S32, d + 1), at(Kind.I, d + 2), 4);
                String src = address(at(source, d + 3), at(Kind.I, d + 4), 4);
                String bytes = at(Kind.I, d + 5);
                String bar = address(at(Kind.SHARED_S32, d + 6), at(Kind.I, d + 7), 4);
                emit("mbarrier.arrive.expect_tx.shared::cta.b64 _, [" + bar + "], " + bytes);
                emit("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [" + dst + "], [" + src + "], " + bytes + ", [" + bar + "]");
            }
            case "mbarrierArrive" -> {
                if (args.get(0).kind() != Kind.SHARED_S32) throw f.fail("mbarrierArrive takes a shared int[]");
                emit("mbarrier.arrive.shared::cta.b64 _, [" + address(at(Kind.SHARED_S32, d + 1), at(Kind.I, d + 2), 4) + "]");
            }
            case "mbarrierWait" -> {
                if (args.get(0).kind() != Kind.SHARED_S32) throw f.fail("mbarrierWait takes a shared int[]");
                String bar = address(at(Kind.SHARED_S32, d + 1), at(Kind.I, d + 2), 4);
                String done = pred(), again = "Lmbar" + (mbarrierWaits++);
                body.append(again).append(":\n");
                emit("mbarrier.try_wait.parity.shared::cta.b64 " + done + ", [" + bar + "], " + at(Kind.I, d + 3));
                emit("@!" + done + " bra " + again);
            }
            case "ldmatrix4", "ldmatrix4t" -> {
                if (args.get(0).kind() != Kind.LOCAL_S32 || args.get(1).kind() != Kind.SHARED_S32)
                    throw f.fail(name + " loads from a shared int[] into a local int[4]");
                if (localArraySize.get(args.get(0).constant()) < 4) throw f.fail(name + " needs a local int[4] for its fragments");
                String addr = address(at(Kind.SHARED_S32, d + 2), at(Kind.I, d + 3), 4);
                String[] r = new String[4];
                for (int i = 0; i < 4; i++) r[i] = element(args.get(0).constant(), Kind.I, i);
                emit("ldmatrix.sync.aligned.m8n8.x4" + (name.equals("ldmatrix4t") ? ".trans" : "") + ".shared.b16 {" + String.join(", ", r) + "}, [" + addr + "]");
            }
            case "load4" -> {
                Kind from = args.get(1).kind();   // four ints, or eight halves as four ints; from global or shared memory
                if (args.get(0).kind() != Kind.LOCAL_S32 || from != Kind.BUF_S32 && from != Kind.BUF_F16 && from != Kind.SHARED_S32)
                    throw f.fail("load4 loads from an IntArray, a HalfArray or a shared int[] into a local int[4]");
                if (localArraySize.get(args.get(0).constant()) < 4) throw f.fail("load4 needs a local int[4]");
                String addr = address(at(from, d + 2), at(Kind.I, d + 3), from == Kind.BUF_F16 ? 2 : 4);
                String[] r = new String[4];
                for (int i = 0; i < 4; i++) r[i] = element(args.get(0).constant(), Kind.I, i);
                emit("ld." + (from == Kind.SHARED_S32 ? "shared" : "global") + ".v4.u32 {" + String.join(", ", r) + "}, [" + addr + "]");
            }
            case "store4" -> {
                if (args.get(0).kind() != Kind.BUF_S32 || args.get(2).kind() != Kind.LOCAL_S32)
                    throw f.fail("store4 stores a local int[4] into an IntArray");
                if (localArraySize.get(args.get(2).constant()) < 4) throw f.fail("store4 needs a local int[4]");
                String addr = address(at(Kind.BUF_S32, d + 1), at(Kind.I, d + 2), 4);
                String[] r = new String[4];
                for (int i = 0; i < 4; i++) r[i] = element(args.get(2).constant(), Kind.I, i);
                emit("st.global.v4.u32 [" + addr + "], {" + String.join(", ", r) + "}");
            }
            case "copyAsyncCommit" -> emit("cp.async.commit_group");
            case "copyAsyncWait" -> {
                Integer n = args.getFirst().constant();
                if (n == null || n < 0) throw f.fail("copyAsyncWait needs a constant number of pending groups");
                emit("cp.async.wait_group " + n);
            }
            case "atomicAdd" -> {
                Entry buf = args.get(0);
                Kind vk = args.get(2).kind();
                String addr = address(at(buf.kind(), d + 1), at(Kind.I, d + 2), 4);
                String val = at(vk, d + 3);
                push(st, vk, null);
                emit("atom.global.add." + (vk == Kind.F ? "f32" : "s32") + " " + top(st) + ", [" + addr + "], " + val);
            }
            default -> throw f.fail("KernelContext." + name + " is not supported on the GPU");
        }
    }

    /**
     * Every thread fences its writes, a block barrier, then thread (0, 0) counts the block in with an acquire-release
     * atomic; the last of {@code count} resets the count to 0. The answer (1 or 0) goes through a shared word to every
     * thread, which the last block's threads follow with a fence of their own before they read the others' writes.
     */
    private void arriveLast(String addr, String count, String result) {
        String id = "AL" + (gridBarriers++), done = id + "_done", sym = "arrive" + (sharedCount++);
        sharedArrays.put(sym, new SharedArray("u32", 0));
        String old = temp("u32"), lastN = temp("u32"), flag = temp("u32"), isLast = pred();
        body.append("    // arrive, last?\n");
        emit("fence.acq_rel.gpu");
        emit("bar.sync 0");
        onlyFirstThread(done);
        emit("atom.acq_rel.gpu.global.add.u32 " + old + ", [" + addr + "], 1");
        emit("sub.u32 " + lastN + ", " + count + ", 1");
        emit("setp.eq.u32 " + isLast + ", " + old + ", " + lastN);
        emit("selp.u32 " + flag + ", 1, 0, " + isLast);
        emit("st.shared.u32 [" + sym + "], " + flag);
        emit("@" + isLast + " st.relaxed.gpu.global.u32 [" + addr + "], 0");
        body.append(done).append(":\n");
        emit("bar.sync 0");
        emit("ld.shared.u32 " + flag + ", [" + sym + "]");
        emit("mov.b32 " + result + ", " + flag);
        emit("setp.ne.u32 " + isLast + ", " + flag + ", 0");
        emit("@" + isLast + " fence.acq_rel.gpu");
    }

    /** Threads other than (0, 0) of the block branch to {@code label}. */
    private void onlyFirstThread(String label) {
        String tx = temp("u32"), ty = temp("u32"), other = pred();
        emit("mov.u32 " + tx + ", %tid.x");
        emit("mov.u32 " + ty + ", %tid.y");
        emit("or.b32 " + tx + ", " + tx + ", " + ty);
        emit("setp.ne.u32 " + other + ", " + tx + ", 0");
        emit("@" + other + " bra " + label);
    }

    /**
     * A grid-wide barrier over {@code sync[0]} (arrivals) and {@code sync[1]} (generation): the block meets, its first thread
     * reads the generation, counts the block in (release-acquire, so the block's writes travel with it), and either is the
     * last (resets the count, then publishes the next generation with a release store) or spins until the generation moves
     * (acquire loads); the block meets again. Self-resetting: the count is zero again when the barrier is passed.
     */
    private void gridBarrier(String sync) {
        String id = "GB" + (gridBarriers++), done = id + "_done", spin = id + "_spin";
        body.append("    // grid barrier\n");
        emit("bar.sync 0");
        onlyFirstThread(done);
        if (countingBarrier) {
            // Each barrier adds the grid's blocks to the count. At a launch's first barrier a block learns where the launch began
            // from its atomic's answer: the count then lies within a barrier's arrivals of it (no block passes before this one
            // arrives), and every launch before left a multiple of its grid's blocks (so one sync serves one grid size).
            String bx = temp("u32"), by = temp("u32"), nb = temp("u64"), old = temp("u64"), rem = temp("u64"), now = temp("u64");
            String first = pred(), early = pred(), firstLabel = id + "_first";
            emit("mov.u32 " + bx + ", %nctaid.x");
            emit("mov.u32 " + by + ", %nctaid.y");
            emit("mul.wide.u32 " + nb + ", " + bx + ", " + by);
            emit("setp.eq.u64 " + first + ", %gbt, 0");
            emit("@" + first + " bra " + firstLabel);
            emit("red.release.gpu.global.add.u64 [" + sync + "], 1");
            emit("add.u64 %gbt, %gbt, " + nb);
            emit("bra " + spin);
            body.append(firstLabel).append(":\n");
            emit("atom.release.gpu.global.add.u64 " + old + ", [" + sync + "], 1");
            emit("rem.u64 " + rem + ", " + old + ", " + nb);
            emit("sub.u64 %gbt, " + old + ", " + rem);
            emit("add.u64 %gbt, %gbt, " + nb);
            body.append(spin).append(":\n");
            emit("ld.acquire.gpu.global.u64 " + now + ", [" + sync + "]");
            emit("setp.lt.u64 " + early + ", " + now + ", %gbt");
            emit("@" + early + " bra " + spin);
            body.append(done).append(":\n");
            emit("bar.sync 0");
            return;
        }
        String bx = temp("u32"), by = temp("u32"), gen = temp("u32"), old = temp("u32"), now = temp("u32"), genAddr = temp("u64");
        String last = pred(), same = pred();
        emit("mov.u32 " + bx + ", %nctaid.x");
        emit("mov.u32 " + by + ", %nctaid.y");
        emit("mul.lo.u32 " + bx + ", " + bx + ", " + by);
        emit("sub.u32 " + bx + ", " + bx + ", 1");
        emit("add.s64 " + genAddr + ", " + sync + ", 4");
        emit("ld.acquire.gpu.global.u32 " + gen + ", [" + genAddr + "]");
        emit("atom.acq_rel.gpu.global.add.u32 " + old + ", [" + sync + "], 1");
        emit("setp.ne.u32 " + last + ", " + old + ", " + bx);
        emit("@" + last + " bra " + spin);
        emit("st.relaxed.gpu.global.u32 [" + sync + "], 0");
        emit("add.u32 " + gen + ", " + gen + ", 1");
        emit("st.release.gpu.global.u32 [" + genAddr + "], " + gen);
        emit("bra " + done);
        body.append(spin).append(":\n");
        emit("ld.acquire.gpu.global.u32 " + now + ", [" + genAddr + "]");
        emit("setp.eq.u32 " + same + ", " + now + ", " + gen);
        emit("@" + same + " bra " + spin);
        body.append(done).append(":\n");
        emit("bar.sync 0");
    }

    private void buffer(Frame f, ArrayList<Entry> st, String name) throws KernelCompileException {
        switch (name) {
            case "get" -> {
                Entry idx = pop(f, st), buf = pop(f, st);
                int d = st.size();
                Kind bk = buf.kind();
                String addr = address(at(bk, d), at(idx.kind(), d + 1), elementSize(f, bk));
                switch (bk) {
                    case BUF_F32 -> { push(st, Kind.F, null); emit("ld.global.f32 " + top(st) + ", [" + addr + "]"); }
                    case BUF_S32 -> { push(st, Kind.I, null); emit("ld.global.s32 " + top(st) + ", [" + addr + "]"); }
                    case BUF_S8 -> { push(st, Kind.I, null); emit("ld.global.s8 " + top(st) + ", [" + addr + "]"); }
                    case BUF_F16 -> {
                        String h = temp("b16");
                        emit("ld.global.b16 " + h + ", [" + addr + "]");
                        push(st, Kind.F, null);
                        emit("cvt.f32.f16 " + top(st) + ", " + h);
                    }
                    default -> throw f.fail("get on " + bk);
                }
            }
            case "set" -> {
                Entry v = pop(f, st), idx = pop(f, st), buf = pop(f, st);
                int d = st.size();
                Kind bk = buf.kind();
                String addr = address(at(bk, d), at(idx.kind(), d + 1), elementSize(f, bk));
                String val = at(v.kind(), d + 2);
                switch (bk) {
                    case BUF_F32 -> emit("st.global.f32 [" + addr + "], " + val);
                    case BUF_S32 -> emit("st.global.s32 [" + addr + "], " + val);
                    case BUF_S8 -> emit("st.global.s8 [" + addr + "], " + val);
                    case BUF_F16 -> {
                        String h = temp("b16");
                        emit("cvt.rn.f16.f32 " + h + ", " + val);
                        emit("st.global.b16 [" + addr + "], " + h);
                    }
                    default -> throw f.fail("set on " + bk);
                }
            }
            default -> throw f.fail("buffer method " + name + " is not available on the GPU");
        }
    }

    private static int elementSize(Frame f, Kind k) throws KernelCompileException {
        return switch (k) {
            case BUF_F32, BUF_S32 -> 4;
            case BUF_S8 -> 1;
            case BUF_F16 -> 2;
            default -> throw f.fail("not a buffer: " + k);
        };
    }

    private void math(Frame f, ArrayList<Entry> st, String owner, String name, MethodTypeDesc type) throws KernelCompileException {
        int n = type.parameterCount();
        List<Entry> args = new ArrayList<>();
        for (int i = 0; i < n; i++) args.addFirst(pop(f, st));
        int d = st.size();
        Kind k = args.getFirst().kind();
        String a = at(k, d), b = n > 1 ? at(args.get(1).kind(), d + 1) : null, c = n > 2 ? at(args.get(2).kind(), d + 2) : null;
        String t = k.ptx;
        Kind result = primitive(f, TypeKind.from(type.returnType()));
        push(st, result, null);
        String r = top(st);
        boolean fp = k == Kind.F || k == Kind.D;
        switch (name) {
            case "sqrt" -> emit("sqrt.rn." + t + " " + r + ", " + a);
            case "abs" -> emit("abs." + t + " " + r + ", " + a);
            case "max" -> emit("max" + (k == Kind.F ? ".NaN." : ".") + t + " " + r + ", " + a + ", " + b);
            case "min" -> emit("min" + (k == Kind.F ? ".NaN." : ".") + t + " " + r + ", " + a + ", " + b);
            case "fma" -> emit("fma.rn." + t + " " + r + ", " + a + ", " + b + ", " + c);
            case "rsqrt" -> {   // as KernelMath.rsqrt: both roundings correct, so the CPU's bits
                String root = temp("f32");
                emit("sqrt.rn.f32 " + root + ", " + a);
                emit("div.rn.f32 " + r + ", 0f3F800000, " + root);
            }
            case "rint" -> emit("cvt.rni." + t + "." + t + " " + r + ", " + a);   // round half to even, as Java
            case "dp4a" -> emit("dp4a.s32.s32 " + r + ", " + a + ", " + b + ", " + c);
            case "bytePermute" -> emit("prmt.b32 " + r + ", " + a + ", " + b + ", " + c);
            case "subHalf2" -> {   // f16x2 operands must be .b32 registers; ptxas drops the moves
                String x = temp("b32"), y = temp("b32"), z = temp("b32");
                emit("mov.b32 " + x + ", " + a);
                emit("mov.b32 " + y + ", " + b);
                emit("sub.rn.f16x2 " + z + ", " + x + ", " + y);
                emit("mov.b32 " + r + ", " + z);
            }
            case "exp" -> throw f.fail("Math.exp works in double, which the GPU has no fast instruction for: use KernelMath.exp(float)");
            default -> throw f.fail(owner.replace('/', '.') + "." + name + " is not supported on the GPU");
        }
    }

    private void floatBits(Frame f, ArrayList<Entry> st, String name) throws KernelCompileException {
        Entry a = pop(f, st);
        int d = st.size();
        switch (name) {
            case "floatToRawIntBits", "floatToIntBits" -> {
                if (name.equals("floatToIntBits")) throw f.fail("use Float.floatToRawIntBits (NaN canonicalisation is not implemented)");
                push(st, Kind.I, null);
                emit("mov.b32 " + top(st) + ", " + at(a.kind(), d));
            }
            case "intBitsToFloat" -> {
                push(st, Kind.F, null);
                emit("mov.b32 " + top(st) + ", " + at(a.kind(), d));
            }
            case "floatToFloat16" -> {
                // Round to nearest even, as Java; the short comes back sign-extended into an int.
                String h = temp("b16");
                emit("cvt.rn.f16.f32 " + h + ", " + at(a.kind(), d));
                push(st, Kind.I, null);
                emit("cvt.s32.s16 " + top(st) + ", " + h);
            }
            case "float16ToFloat" -> {
                String h = temp("b16");
                emit("cvt.u16.u32 " + h + ", " + at(a.kind(), d));
                push(st, Kind.F, null);
                emit("cvt.f32.f16 " + top(st) + ", " + h);
            }
            default -> throw f.fail("Float." + name + " is not supported on the GPU");
        }
    }

    private void inline(Frame f, ArrayList<Entry> st, String owner, String name, MethodTypeDesc type) throws KernelCompileException {
        Class<?> cls;
        try {
            cls = Class.forName(owner.replace('/', '.'), false, f.owner.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw f.fail("cannot load " + owner + " to inline " + name);
        }
        MethodModel callee = methodModel(cls, name, type);
        if ((callee.flags().flagsMask() & ClassFile.ACC_STATIC) == 0) throw f.fail(name + " is not static");
        int n = type.parameterCount();
        int base = st.size() - n;
        String ns = "c" + (++inlineCount) + "_";
        Map<Integer, Kind> calleeLocals = new HashMap<>();
        int slot = 0;
        for (int i = 0; i < n; i++) {
            Entry e = st.get(base + i);
            calleeLocals.put(slot, e.kind());
            if (isLocalArray(e.kind())) bindLocalArray(f, ns + "l" + slot, e.constant());
            else if (e.kind() != Kind.CTX) emit("mov." + movType(e.kind()) + " " + reg(e.kind(), ns + "l" + slot) + ", " + at(e.kind(), base + i));
            ClassDesc p = type.parameterType(i);
            slot += p.descriptorString().equals("J") || p.descriptorString().equals("D") ? 2 : 1;
        }
        for (int i = 0; i < n; i++) st.removeLast();
        String ret = "L" + ns + "ret";
        translateBody(callee, cls, ns, base, calleeLocals, ret);
        body.append(ret).append(":\n");
        if (!type.returnType().descriptorString().equals("V")) push(st, primitive(f, TypeKind.from(type.returnType())), null);
    }
}
