package dev.zq.kernels;

import dev.zq.runtime.CpuExecutor;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.internal.PtxInterpreter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.reflect.Method;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PtxInterpreter} itself: that it follows PTX where it matters to the comparisons of {@link
 * KernelsOnPtxInterpreterTest} (warp shuffles, barriers), that a wrong translation shows, and that what it cannot run
 * is refused by name rather than computed some other way.
 */
class PtxInterpreterTest {
    static final String HEAD = ".version 8.0\n.target sm_90a\n.address_size 64\n.visible .entry k(\n    .param .u64 p_1\n)\n{\n"
            + "    ld.param.u64 %rd1, [p_1];\n    mov.u32 %r1, %tid.x;\n    mul.wide.s32 %rd2, %r1, 4;\n    add.s64 %rd3, %rd1, %rd2;\n";

    /** shfl.sync's four modes over a warp of lane numbers, as the PTX manual defines them (clamps and segments included). */
    @Test
    void shufflesFollowThePtxRules() throws Exception {
        String[][] cases = {   // mode, b, c, expected source lane of lane l
            {"bfly", "5", "31"}, {"down", "3", "31"}, {"up", "3", "0"}, {"idx", "7", "31"}, {"down", "1", "0x1807"}};
        try (Arena a = Arena.ofConfined()) {
            for (String[] c : cases) {
                String ptx = HEAD + "    shfl.sync." + c[0] + ".b32 %r2, %r1, " + c[1] + ", " + c[2] + ", 0xffffffff;\n    st.global.u32 [%rd3], %r2;\n    ret;\n}\n";
                IntArray out = IntArray.allocate(a, 32);
                new PtxInterpreter(ptx, "k").launch(Grid.of(1, 32), out);
                int b = Integer.decode(c[1]), cv = Integer.decode(c[2]);
                for (int l = 0; l < 32; l++) {
                    int seg = (cv >> 8) & 31, maxLane = cv & 31, min = l & seg, max = min | (maxLane & ~seg);
                    int j = switch (c[0]) {
                        case "bfly" -> l ^ b;
                        case "down" -> l + b;
                        case "up" -> l - b;
                        default -> min | (b & ~seg);
                    };
                    boolean ok = c[0].equals("up") ? j >= max : j <= max;
                    assertEquals(ok ? j : l, out.get(l), "shfl." + c[0] + " b " + c[1] + " c " + c[2] + ", lane " + l);
                }
            }
        }
    }

    /** A block's barrier: every thread's store before it is seen by every thread after it. */
    @Test
    void aBarrierOrdersSharedMemory() throws Exception {
        String ptx = ".visible .entry k(\n    .param .u64 p_1\n)\n{\n.shared .align 16 .s32 sh[64];\n"
                + "    ld.param.u64 %rd1, [p_1];\n    mov.u32 %r1, %tid.x;\n    mov.u64 %rd4, sh;\n    mul.wide.s32 %rd2, %r1, 4;\n"
                + "    add.s64 %rd5, %rd4, %rd2;\n    st.shared.u32 [%rd5], %r1;\n    bar.sync 0;\n"
                + "    sub.s32 %r3, 63, %r1;\n    mul.wide.s32 %rd6, %r3, 4;\n    add.s64 %rd7, %rd4, %rd6;\n    ld.shared.u32 %r4, [%rd7];\n"
                + "    add.s64 %rd3, %rd1, %rd2;\n    st.global.u32 [%rd3], %r4;\n    ret;\n}\n";
        try (Arena a = Arena.ofConfined()) {
            IntArray out = IntArray.allocate(a, 64);
            new PtxInterpreter(ptx, "k").launch(Grid.of(1, 64), out);
            for (int t = 0; t < 64; t++) assertEquals(63 - t, out.get(t), "thread " + t);
        }
    }

    /** The comparisons can fail: the JIT's PTX for saxpy with its multiplication turned into an addition no longer matches the Java. */
    @Test
    void aWrongTranslationShows() throws Exception {
        Method saxpy = KernelCompiler.find(BasicKernels.class, "saxpy");
        String ptx = new KernelCompiler().ptx(saxpy);
        assertTrue(ptx.contains("mul.rn.f32"), ptx);
        try (Arena a = Arena.ofConfined()) {
            int n = 100;
            FloatArray x = KernelsOnCpuTest.randomFloats(a, new Random(3), n, 1), y1 = FloatArray.allocate(a, n), y2 = FloatArray.allocate(a, n), y3 = FloatArray.allocate(a, n);
            new CpuExecutor().launch(saxpy, Grid.cover(n, 64), 0.5f, x, y1, n);
            new PtxInterpreter(ptx, KernelCompiler.entryName(saxpy)).launch(Grid.cover(n, 64), 0.5f, x, y2, n);
            new PtxInterpreter(ptx.replace("mul.rn.f32", "add.rn.f32"), KernelCompiler.entryName(saxpy)).launch(Grid.cover(n, 64), 0.5f, x, y3, n);
            for (int i = 0; i < n; i++) assertEquals(Float.floatToRawIntBits(y1.get(i)), Float.floatToRawIntBits(y2.get(i)), "element " + i);
            assertNotEquals(y1.get(0), y3.get(0));
        }
    }

    /** What it does not run — Hopper's warpgroup instructions here — is refused by name rather than computed some other way. */
    @Test
    void refusesInstructionsItDoesNotRun() {
        String ptx = HEAD + "    wgmma.fence.sync.aligned;\n    ret;\n}\n";
        var e = assertThrows(IllegalArgumentException.class, () -> new PtxInterpreter(ptx, "k"));
        assertTrue(e.getMessage().contains("wgmma.fence"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new PtxInterpreter(HEAD + "    ret;\n}\n", "other"));
    }

    /** Lanes that would wait for each other forever (a shuffle only some lanes reach) are reported, not run on; so are accesses past a buffer. */
    @Test
    void reportsLanesThatCannotMeetAndAccessesOutOfBounds() throws Exception {
        String stuck = HEAD + "    setp.lt.s32 %p1, %r1, 16;\n    @%p1 bra Lskip;\n"
                + "    shfl.sync.bfly.b32 %r2, %r1, 1, 31, 0xffffffff;\nLskip:\n    bar.sync 0;\n    ret;\n}\n";
        String past = HEAD + "    add.s64 %rd4, %rd3, 4;\n    st.global.u32 [%rd4], %r1;\n    ret;\n}\n";
        try (Arena a = Arena.ofConfined()) {
            IntArray out = IntArray.allocate(a, 32);
            var e = assertThrows(IllegalStateException.class, () -> new PtxInterpreter(stuck, "k").launch(Grid.of(1, 32), out));
            assertTrue(e.getMessage().contains("no thread can go on"), e.getMessage());
            var o = assertThrows(IllegalStateException.class, () -> new PtxInterpreter(past, "k").launch(Grid.of(1, 32), out));
            assertTrue(o.getMessage().contains("global access at byte 128"), o.getMessage());
        }
    }
}
