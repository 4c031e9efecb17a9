package dev.zq.kernels;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelCompileException;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.KernelContext;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** What the JIT cannot translate is refused with the method, the bytecode and the source line. */
class RejectedKernelsTest {
    static int counter;

    @Kernel
    static void usesDoubleExp(KernelContext ctx, FloatArray x) {
        x.set(0, (float) Math.exp(x.get(0)));
    }

    @Kernel
    static void touchesAStaticField(KernelContext ctx, FloatArray x) {
        counter++;
    }

    @Kernel
    static void recurses(KernelContext ctx, FloatArray x) {
        x.set(0, fib(10));
    }

    static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

    @Kernel
    static void allocatesAnObject(KernelContext ctx, FloatArray x) {
        x.set(0, new StringBuilder("a").length());
    }

    @Kernel
    static int returnsSomething(KernelContext ctx) { return 1; }

    @Kernel
    static void wrongFirstParameter(FloatArray x) { }

    @Kernel
    static void asksForTooMuchSharedMemory(KernelContext ctx, FloatArray x) {
        float[] a = ctx.allocateFloatShared(40000), b = ctx.allocateFloatShared(30000);   // 280 KB: more than a block can have
        a[ctx.localIdx()] = x.get(0);
        b[ctx.localIdx()] = a[0];
    }

    @Kernel
    static void needsDynamicSharedMemory(KernelContext ctx, FloatArray x) {
        float[] a = ctx.allocateFloatShared(10000), b = ctx.allocateFloatShared(6000);   // 64,000 bytes: past the 48 KiB of static shared memory
        a[ctx.localIdx()] = x.get(0);
        b[ctx.localIdx()] = a[0];
        ctx.barrier();
        x.set(ctx.localIdx(), b[ctx.localIdx()]);
    }

    @Kernel
    static void wgmmaN64IntoTooFewAccumulators(KernelContext ctx, FloatArray x) {
        int[] s = ctx.allocateIntShared(4096);
        int[] acc = new int[16];   // m64n64k32 gives a thread 32 sums
        ctx.wgmmaS8n64(acc, s, 0, 1024, s, 0, 1024, 128);
        x.set(0, acc[0]);
    }

    @Kernel
    static void storesFourFromSharedMemory(KernelContext ctx, dev.zq.runtime.IntArray y) {
        int[] s = ctx.allocateIntShared(64);
        ctx.store4(y, 0, s);   // store4 stores a thread's local int[4], not a shared array
    }

    @Kernel
    static void transposedFragmentsFromGlobalMemory(KernelContext ctx, dev.zq.runtime.IntArray y) {
        int[] f = new int[4];
        int[] local = new int[8];
        ctx.ldmatrix4t(f, local, 0);   // ldmatrix reads shared memory only
        y.set(0, f[0]);
    }

    @Kernel
    static void loadsFourIntoTooSmallAnArray(KernelContext ctx, dev.zq.runtime.IntArray y) {
        int[] s = ctx.allocateIntShared(64);
        int[] v = new int[2];
        ctx.load4(v, s, 0);
        y.set(0, v[0]);
    }

    @Kernel(cluster = 17)
    static void asksForTooLargeACluster(KernelContext ctx, FloatArray x) {
        x.set(ctx.clusterRank(), 1f);
    }

    @Kernel
    static void readsALocalArrayOfAnotherBlock(KernelContext ctx, FloatArray x) {
        float[] mine = new float[4];   // a thread's registers: no other block can reach them
        ctx.clusterBarrier();
        x.set(0, ctx.clusterLoad(mine, 0, 1));
    }

    /** Thread-block clusters: more than Hopper's 16 blocks, and another block's memory reached through a thread's local array. */
    @Test
    void misusedClustersAreRefused() {
        String large = reason("asksForTooLargeACluster");
        assertTrue(large.contains("clusters of 1 to 16 blocks, not 17"), large);
        String load = reason("readsALocalArrayOfAnotherBlock");
        assertTrue(load.contains("clusterLoad") && load.contains("shared float[]"), load);
    }

    String reason(String name) {
        var m = java.util.Arrays.stream(RejectedKernelsTest.class.getDeclaredMethods()).filter(x -> x.getName().equals(name)).findFirst().orElseThrow();
        return assertThrows(KernelCompileException.class, () -> new KernelCompiler().ptx(m)).getMessage();
    }

    @Test
    void unsupportedCodeIsNamedPrecisely() {
        String exp = reason("usesDoubleExp");
        assertTrue(exp.contains("KernelMath.exp") && exp.contains("at line"), exp);
        String field = reason("touchesAStaticField");
        assertTrue(field.contains("touchesAStaticField") && field.contains("getstatic") && field.contains("at line"), field);
        assertTrue(reason("recurses").contains("recursive"), reason("recurses"));
        String obj = reason("allocatesAnObject");
        assertTrue(obj.contains("new") && obj.contains("at line"), obj);
        assertTrue(reason("returnsSomething").contains("static void"), reason("returnsSomething"));
        assertTrue(reason("wrongFirstParameter").contains("KernelContext"), reason("wrongFirstParameter"));
    }

    /** The 16-byte and warpgroup intrinsics refuse operands they cannot take, naming what they need. */
    @Test
    void misusedVectorAndTensorCoreIntrinsicsAreRefusedWithWhatTheyNeed() {
        String n64 = reason("wgmmaN64IntoTooFewAccumulators");
        assertTrue(n64.contains("wgmmaS8n64") && n64.contains("int[32]"), n64);
        String store = reason("storesFourFromSharedMemory");
        assertTrue(store.contains("store4") && store.contains("local int[4]"), store);
        String trans = reason("transposedFragmentsFromGlobalMemory");
        assertTrue(trans.contains("ldmatrix4t") && trans.contains("shared"), trans);
        String load = reason("loadsFourIntoTooSmallAnArray");
        assertTrue(load.contains("load4") && load.contains("int[4]"), load);
    }

    @Test
    void sharedMemoryPastAStaticBlocksLimitBecomesDynamicAndPastTheHardwareLimitIsRefused() throws Exception {
        String too = reason("asksForTooMuchSharedMemory");
        assertTrue(too.contains("280000 bytes of shared memory") && too.contains("at most 232448"), too);
        var m = java.util.Arrays.stream(RejectedKernelsTest.class.getDeclaredMethods()).filter(x -> x.getName().equals("needsDynamicSharedMemory")).findFirst().orElseThrow();
        KernelCompiler jit = new KernelCompiler();
        String ptx = jit.ptx(m);
        assertEquals(64000, jit.dynamicSharedBytes(m));   // 40,000 + 24,000, the second array 16-byte aligned
        assertTrue(ptx.contains(".extern .shared .align 1024 .b8 zq_dynamic_shared[];"), ptx);
        assertTrue(ptx.contains("add.u64") && ptx.contains(", 40000;") && !ptx.contains(".shared .align 16 .f32"), ptx);
        var ptxas = Ptxas.find();
        if (ptxas.isPresent()) assertNull(Ptxas.assemble(ptxas.get(), ptx));
        assertEquals(0, jit.dynamicSharedBytes(KernelCompiler.find(Int8GemmKernel.class, "gemm128g")));   // exactly 48 KiB: static
        // the two 48-KiB stage arrays and the epilogue's 384 floats
        assertEquals(96 * 1024 + 384 * 4, jit.dynamicSharedBytes(KernelCompiler.find(Int8GemmKernel.class, "gemm128s")));
    }
}
