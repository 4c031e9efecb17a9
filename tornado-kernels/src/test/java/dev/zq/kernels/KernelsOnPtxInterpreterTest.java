package dev.zq.kernels;

import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.internal.PtxInterpreter;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link KernelsOnCudaTest}'s kernel comparisons with the JIT's PTX run by {@link PtxInterpreter} in place of a GPU, so
 * that they run on every machine, CI included: each kernel's PTX against its Java on the CPU executor, bit for bit where
 * the GPU test asks that. Kernels with instructions the interpreter does not run (Hopper's warpgroup {@code wgmma},
 * bulk copies and their barriers, thread-block clusters) are left out of the comparisons; {@link #onlyWarpgroupBulkCopyAndClusterKernelsAreLeftOut}
 * checks that no other kernel is. The tests of the GPU itself (graphs, the
 * driver, memory) are overridden without {@code @Test}: they have nothing to run here.
 */
class KernelsOnPtxInterpreterTest extends KernelsOnCudaTest {
    static final KernelCompiler COMPILER = new KernelCompiler();

    @Override
    void assumeDevice() { }

    /** Each kernel's parsed PTX, kept for the comparisons after the first (a kernel's PTX is thousands of lines). */
    static final Map<Method, PtxInterpreter> PARSED = new ConcurrentHashMap<>();

    /** {@code kernel}'s PTX, parsed on first use; the interpreter's refusal (an {@link IllegalArgumentException}) otherwise. */
    static PtxInterpreter parsed(Method kernel) throws Exception {
        PtxInterpreter ptx = PARSED.get(kernel);
        if (ptx == null) {
            ptx = new PtxInterpreter(COMPILER.ptx(kernel), KernelCompiler.entryName(kernel));
            PARSED.put(kernel, ptx);
        }
        return ptx;
    }

    @Override
    DeviceRun device(Method kernel) throws Exception {
        try {
            return parsed(kernel)::launch;
        } catch (IllegalArgumentException e) {
            if (!leftOut(e.getMessage())) throw e;
            return null;
        }
    }

    /** Whether the interpreter refused a kernel for one of the instructions it leaves to the GPU. */
    static boolean leftOut(String why) {
        return why.contains("unsupported instruction") && List.of("wgmma.", "mbarrier.", "cp.async.bulk", "for clusters").stream().anyMatch(why::contains);
    }

    /** Rows of a vocabulary the interpreter runs in seconds, still split over 3 and 7 blocks. */
    @Override
    int argmaxVocab() { return 2003; }

    /** The heads' shapes at a size the interpreter runs in seconds: a row of GPT-2's width, and rows of two batches. */
    @Override
    int[][] headShapes(int[][] shapes) { return new int[][]{{999, 64}, {301, 768}, {97, 2048}}; }

    /** A row of one staged piece with a group that splits a chunk, several rows, and a row past one piece (batch-1 kernels' two reads). */
    @Override
    int[][] fewRowShapes(int[][] shapes) { return new int[][]{{1, 768, 64}, {1, 1920, 12}, {3, 768, 12}, {1, 3968, 64}}; }

    /** GPT-2's row and two staged pieces. */
    @Override
    int[][] wideShapes(int[][] shapes) { return new int[][]{{768, 64}, {8192, 64}}; }

    /** A block past a batch, and GPT-2's row. */
    @Override
    int[][] mmaShapes(int[][] shapes) { return new int[][]{{192, 64}, {768, 64}}; }

    @Override
    int[][] skinnyShapes(int[][] shapes) { return new int[][]{{16, 40, 384, 64}, {9, 24, 768, 128}}; }

    @Test
    void onlyWarpgroupBulkCopyAndClusterKernelsAreLeftOut() throws Exception {
        List<String> run = new ArrayList<>(), left = new ArrayList<>();
        for (Method m : EveryKernelCompilesTest.kernels().toList()) {
            String name = m.getDeclaringClass().getSimpleName() + "." + m.getName();
            try {
                parsed(m);
                run.add(name);
            } catch (IllegalArgumentException e) {
                assertTrue(leftOut(e.getMessage()), name + ": " + e.getMessage());
                left.add(name);
            }
        }
        System.out.println("PTX interpreter: runs " + run.size() + " kernels, leaves " + left.size() + " to the GPU: " + left);
        for (String needed : List.of("WideGemvKernel.int8", "WideGemvKernel.int8Half", "WideGemvKernel.fp16", "WideGemvKernel.int4", "GemvKernel.int8",
                "GreedyHeadKernel.int8", "GreedyHeadKernel.fp16", "CachedAttentionKernel.attendStep16", "CachedAttentionKernel.attendStepRotated16", "DecoderRowKernels.layerNorm",
                "RowKernels.residualLayerNorm", "ExactAttentionKernel.attention", "SkinnyGemmKernel.int8", "Int8GemmKernel.gemm64",
                "Int8GemmKernel.gemm64k", "Fp16GemmKernel.gemm128w", "AttentionKernel.attention64", "PrefillGemmKernel.int8", "MmaGemvKernel.int8a16", "SkinnyMmaKernel.int8", "SkinnyMmaKernel.int4", "SkinnyMmaKernel.fp16"))
            assertTrue(run.contains(needed), needed + " is not run by the interpreter");
    }

    @Override void withoutADriverTheErrorSaysSo() { }
    @Override void aGpuOlderThanHopperIsRefusedWithTheReason() { }
    @Override void graphReplayEqualsSeparateLaunches() { }
    @Override void fp16TensorCoresAgreeWithTheCpuToFloatRounding() { }
    @Override void invalidPtxIsRejectedWithTheDriversLog() { }
    @Override void pinnedAsyncCopiesRoundTrip() { }
    @Override void wrongArgumentsAndHugeAllocationsFailClearly() { }
}
