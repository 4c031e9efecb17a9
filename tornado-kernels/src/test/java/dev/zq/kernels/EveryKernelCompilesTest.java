package dev.zq.kernels;

import dev.zq.runtime.Kernel;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.internal.PtxTranslator;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Every @Kernel of the project is compiled by the JIT and its PTX accepted by ptxas for sm_90a. */
class EveryKernelCompilesTest {
    static final List<Class<?>> KERNEL_CLASSES = List.of(BasicKernels.class, ReductionKernels.class, Int8MmaKernels.class, Int8GemmKernel.class, Int8GemmNormKernel.class, TokenwiseGemmKernel.class,
            Fp16GemmKernel.class, RowKernels.class, AttentionKernel.class, SkinnyGemmKernel.class, CachedAttentionKernel.class,
            DecoderRowKernels.class, PrefillGemmKernel.class, ExactAttentionKernel.class, GemvKernel.class, WideGemvKernel.class, MmaGemvKernel.class, SkinnyMmaKernel.class, GreedyHeadKernel.class, LlamaRowKernels.class, PersistentGemvKernel.class,
            dev.zq.runtime.internal.SpinKernel.class);

    static Stream<Method> kernels() {
        return KERNEL_CLASSES.stream().flatMap(c -> Arrays.stream(c.getDeclaredMethods()))
                .filter(m -> m.isAnnotationPresent(Kernel.class));
    }

    @TestFactory
    Stream<DynamicTest> ptxIsValid() {
        KernelCompiler jit = new KernelCompiler();
        Optional<Path> ptxas = Ptxas.find();
        return kernels().map(m -> DynamicTest.dynamicTest(m.getDeclaringClass().getSimpleName() + "." + m.getName(), () -> {
            String ptx = jit.ptx(m);
            assertTrue(ptx.contains(".visible .entry " + KernelCompiler.entryName(m)), ptx);
            Assumptions.assumeTrue(ptxas.isPresent(), "ptxas not found on PATH: PTX not assembled (CI has it)");
            String err = Ptxas.assemble(ptxas.get(), ptx);
            assertNull(err, () -> "ptxas rejected the PTX of " + m.getName() + ":\n" + err + "\n" + numbered(ptx));
        }));
    }

    /**
     * The same kernels with a traced run's records ({@code -Dzq.ptx.trace=true}: {@code %globaltimer} at each block's start,
     * wait, marks and end) are accepted by ptxas too, and hold a record for each point.
     */
    @TestFactory
    Stream<DynamicTest> tracedPtxIsValid() {
        Optional<Path> ptxas = Ptxas.find();
        return kernels().map(m -> DynamicTest.dynamicTest(m.getDeclaringClass().getSimpleName() + "." + m.getName(), () -> {
            String ptx = PtxTranslator.translate(m, KernelCompiler.entryName(m), true);
            assertTrue(ptx.contains(".global .align 16 .u32 " + PtxTranslator.TRACE_BUFFER + "["), "no trace buffer");
            assertTrue(ptx.contains("or.b32 %tt5, %tt5, 0;"), "no start record");
            assertTrue(ptx.contains("or.b32 %tt5, %tt5, " + (PtxTranslator.TRACE_END << 28) + ";"), "no end record");
            assertEquals(new KernelCompiler().awaitsPreviousKernel(m), ptx.contains("or.b32 %tt5, %tt5, " + (PtxTranslator.TRACE_WAITED << 28) + ";"),
                    "a wait record where the kernel waits");
            // A kernel whose marks sit in a loop (@Kernel(traceMarks = N)) reserves 3 + N records a block, a multiple of 16.
            int marks = m.getAnnotation(dev.zq.runtime.Kernel.class).traceMarks();
            int slots = marks == 0 ? PtxTranslator.TRACE_SLOTS : (3 + marks + 15) / 16 * 16;
            assertTrue(ptx.contains("atom.global.add.u32 %tt2, [" + PtxTranslator.TRACE_COUNT + "], " + slots + ";"), "records reserved a block: " + slots);
            assertEquals(marks > 0, ptx.contains("setp.ge.u32 %tp, %tt1, " + marks + ";"), "marks recorded in order up to " + marks);
            Assumptions.assumeTrue(ptxas.isPresent(), "ptxas not found on PATH: PTX not assembled (CI has it)");
            String err = Ptxas.assemble(ptxas.get(), ptx);
            assertNull(err, () -> "ptxas rejected the traced PTX of " + m.getName() + ":\n" + err + "\n" + numbered(ptx));
        }));
    }

    /**
     * Kernels with a register cap ({@code @Kernel(maxRegisters = …)}, e.g. the decoder's few-row GEMMs, whose one-wave
     * grids count on four blocks an SM) carry it into the PTX, and ptxas keeps within it without spilling — but for the
     * few bytes {@link #MEASURED_SPILLS} allows.
     */
    @TestFactory
    Stream<DynamicTest> registerCapsHoldWithoutSpills() {
        KernelCompiler jit = new KernelCompiler();
        Optional<Path> ptxas = Ptxas.find();
        List<Method> capped = kernels().filter(m -> m.getAnnotation(Kernel.class).maxRegisters() > 0).toList();
        assertTrue(capped.stream().anyMatch(m -> m.getDeclaringClass() == SkinnyGemmKernel.class && m.getName().equals("int8")));
        return capped.stream().map(m -> DynamicTest.dynamicTest(m.getDeclaringClass().getSimpleName() + "." + m.getName(), () -> {
            int cap = m.getAnnotation(Kernel.class).maxRegisters();
            String ptx = jit.ptx(m);
            assertTrue(ptx.contains("\n.maxnreg " + cap + "\n"), "no .maxnreg " + cap + " in the PTX");
            Assumptions.assumeTrue(ptxas.isPresent(), "ptxas not found on PATH: PTX not assembled (CI has it)");
            String report = Ptxas.resources(ptxas.get(), ptx);
            var used = java.util.regex.Pattern.compile("Used (\\d+) registers").matcher(report);
            assertTrue(used.find(), report);
            assertTrue(Integer.parseInt(used.group(1)) <= cap, report);
            String name = m.getDeclaringClass().getSimpleName() + "." + m.getName();
            if (MEASURED_SPILLS.containsKey(name)) {
                var spilled = java.util.regex.Pattern.compile("(\\d+) bytes spill stores").matcher(report);
                assertTrue(spilled.find(), report);
                assertTrue(Integer.parseInt(spilled.group(1)) <= MEASURED_SPILLS.get(name), name + " spills more than it did when measured:\n" + report);
            } else assertTrue(report.contains("0 bytes spill stores, 0 bytes spill loads"), report);
        }));
    }

    /**
     * Spill stores (bytes a thread, ptxas 13) that capped kernels were measured with and kept: {@link SkinnyMmaKernel}'s
     * 64-register versions (blocks of up to 1024 threads; each thread's first output's operands loaded early) spill a
     * little and ran faster on the H200 than the spill-free ones before them (71 registers, blocks of up to 512 threads;
     * bench/RESULTS.md, session 35).
     */
    static final java.util.Map<String, Integer> MEASURED_SPILLS = java.util.Map.of("SkinnyMmaKernel.int8", 44, "SkinnyMmaKernel.fp16", 8);

    static String numbered(String s) {
        String[] lines = s.split("\n");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < lines.length; i++) b.append(String.format("%4d  %s%n", i + 1, lines[i]));
        return b.toString();
    }
}
