package dev.zq.bench;

import dev.zq.runtime.cuda.CudaDevice.TraceRecord;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphTraceTest {
    private static final int START = 0, WAITED = 1, END = 2;

    private static void add(List<TraceRecord> rs, String kernel, long us, int event, int block, int blocks) {
        rs.add(new TraceRecord(kernel, us * 1000, event, block, blocks));
    }

    private static List<Long> none() { return marks(); }

    /** Marks 0, 1, … passed at these times, the rest not. */
    private static List<Long> marks(long... at) {
        List<Long> m = new ArrayList<>();
        for (int i = 0; i < GraphTrace.MARKS; i++) m.add(i < at.length ? at[i] : GraphTrace.NONE);
        return m;
    }

    /**
     * Two launches of one kernel with another between them, the second's block 1 starting (on another SM) before the
     * first's block 1 has ended: each wait and end goes to its own launch, and the table's costs are ends less ends.
     */
    @Test
    void launchesAreRebuiltFromBlocksThatOverlapTheirPredecessors() {
        List<TraceRecord> rs = new ArrayList<>();
        add(rs, "G.head", -20, START, 0, 1); add(rs, "G.head", -10, WAITED, 0, 1); add(rs, "G.head", -5, END, 0, 1);
        add(rs, "K.a", 0, START, 0, 2); add(rs, "K.a", 1, START, 1, 2);
        add(rs, "K.a", 5, WAITED, 0, 2); add(rs, "K.a", 6, WAITED, 1, 2);
        add(rs, "K.a", 10, END, 0, 2);
        add(rs, "K.b", 8, START, 0, 1); add(rs, "K.b", 21, WAITED, 0, 1); add(rs, "K.b", 26, 3, 0, 1); add(rs, "K.b", 27, 4, 0, 1); add(rs, "K.b", 30, END, 0, 1);
        add(rs, "K.a", 12, START, 0, 2); add(rs, "K.a", 15, START, 1, 2);
        add(rs, "K.a", 20, END, 1, 2);   // the first launch's block 1, after the second's block 1 started
        add(rs, "K.a", 31, WAITED, 0, 2); add(rs, "K.a", 32, WAITED, 1, 2); add(rs, "K.a", 40, END, 0, 2); add(rs, "K.a", 41, END, 1, 2);
        add(rs, "G.head", 35, START, 0, 1); add(rs, "G.head", 42, WAITED, 0, 1); add(rs, "G.head", 50, END, 0, 1);
        java.util.Collections.shuffle(rs, new java.util.Random(3));   // the modules' records come in any order
        List<GraphTrace.Launch> ls = GraphTrace.launches(rs);
        assertEquals(List.of(
                new GraphTrace.Launch("G.head", 1, -20_000, -20_000, -10_000, -5_000, -5_000, none()),
                new GraphTrace.Launch("K.a", 2, 0, 1_000, 6_000, 10_000, 20_000, none()),
                new GraphTrace.Launch("K.b", 1, 8_000, 8_000, 21_000, 30_000, 30_000, marks(26_000, 27_000)),
                new GraphTrace.Launch("K.a", 2, 12_000, 15_000, 32_000, 40_000, 41_000, none()),
                new GraphTrace.Launch("G.head", 1, 35_000, 35_000, 42_000, 50_000, 50_000, none())), ls);
        String table = GraphTrace.table(ls, "G.", 1);
        assertTrue(table.contains("1 whole steps, a step 55.0 µs"), table);
        // K.a's second launch: ends 11 µs after K.b, its blocks started 18 and 15 µs before K.b's end, waited until 2 µs
        // after it, then 9 µs; its first block ended 10 µs after K.b
        assertTrue(table.matches("(?s).*K\\.a#1\\s+1\\s+2\\s+11\\.00\\s+-18\\.00\\s+-15\\.00\\s+2\\.00\\s+9\\.00\\s+10\\.00\\s.*"), table);
        assertTrue(table.matches("(?s).*K\\.a#0\\s+1\\s+2\\s+25\\.00\\s+5\\.00\\s+6\\.00\\s+11\\.00\\s+14\\.00\\s+15\\.00\\s+NaN\\s+NaN\\n.*"), table);
        // K.b passed its marks 0 and 1 6 and 7 µs after K.a's first launch ended
        assertTrue(table.matches("(?s).*K\\.b#0\\s+1\\s+1\\s+10\\.00\\s+-12\\.00\\s+-12\\.00\\s+1\\.00\\s+9\\.00\\s+10\\.00\\s+6\\.00\\s+7\\.00\\n.*"), table);
    }

    /**
     * A kernel that runs twice a layer and once more after the layers (a batch's LM head on the projections' kernel):
     * the layers' launches by their place in the layer, the extra one as {@code #tail}; a kernel once a step keeps its name.
     */
    @Test
    void launchesPastTheLayersAreTheTail() {
        List<GraphTrace.Launch> ls = new ArrayList<>();
        long t = 0;
        for (int step = 0; step < 2; step++) {
            for (int layer = 0; layer < 2; layer++)
                for (int place = 0; place < 2; place++, t += 10)   // 10 µs apart, ending 1 or 2 µs after they start
                    ls.add(new GraphTrace.Launch("K.gemm", 4, t * 1000, t * 1000, t * 1000, (t + 1 + place) * 1000, (t + 1 + place) * 1000, none()));
            t += 20;
            ls.add(new GraphTrace.Launch("K.gemm", 4, t * 1000, t * 1000, t * 1000, t * 1000, t * 1000, none()));
            t += 10;
            ls.add(new GraphTrace.Launch("G.end", 1, t * 1000, t * 1000, t * 1000, t * 1000, t * 1000, none()));
            t += 10;
        }
        String table = GraphTrace.table(ls, "G.", 2);
        assertTrue(table.matches("(?s).*K\\.gemm#0\\s+2\\s+4\\s.*"), table);   // one step whole: its two layers' first launches
        assertTrue(table.matches("(?s).*K\\.gemm#1\\s+2\\s+4\\s.*"), table);
        assertTrue(table.matches("(?s).*K\\.gemm#tail\\s+1\\s+4\\s+28\\.00\\s.*"), table);   // its end 28 µs after the last layer launch's
        assertTrue(table.matches("(?s).*G\\.end\\s+1\\s+1\\s.*"), table);
    }

    /** A decoder's step ends at its greedy head where one ran (batch 1), else at the batch's arg-max. */
    @Test
    void decodeStepsEndAtTheGreedyHeadOrTheArgMax() {
        GraphTrace.Launch head = new GraphTrace.Launch("GreedyHeadKernel.int8", 132, 0, 0, 0, 1, 1, none());
        GraphTrace.Launch argmax = new GraphTrace.Launch("DecoderRowKernels.argmax", 16, 0, 0, 0, 1, 1, none());
        GraphTrace.Launch gemm = new GraphTrace.Launch("SkinnyMmaKernel.int8", 384, 0, 0, 0, 1, 1, none());
        assertEquals("GreedyHeadKernel", GraphTrace.decodeStepEnd(List.of(gemm, head)));
        assertEquals("DecoderRowKernels.argmax", GraphTrace.decodeStepEnd(List.of(gemm, argmax)));
    }
}
