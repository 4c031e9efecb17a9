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
}
