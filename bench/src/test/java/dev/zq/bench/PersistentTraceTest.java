package dev.zq.bench;

import dev.zq.runtime.cuda.CudaDevice.TraceRecord;
import dev.zq.runtime.internal.PtxTranslator;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class PersistentTraceTest {
    static final String K = "PersistentGemvKernel.int8Chain";

    /**
     * Two blocks, two groups of two projections, then a second launch the table must ignore: handovers and rows from the
     * last block's marks (block 1 staged late in projection 1, block 0 finished late in projection 2), medians of two.
     */
    @Test
    void handoversAndRowsComeFromTheLastBlocksMarks() {
        String t = PersistentTrace.table(twoBlocks(false), K, new String[]{"a", "b"});
        // last staged: 3, 15, 24, 43; last done: 10, 20, 41, 50. Handovers: a 3 − 0 and 24 − 20; b 15 − 10 and 43 − 41.
        assertTrue(t.contains("| a (median of 2) | 3.50 | – | 12.00 |"), t);   // rows a: 10 − 3, 41 − 24; no mark 11: no barrier
        assertTrue(t.contains("| b (median of 2) | 3.50 | – | 6.00 |"), t);    // rows b: 20 − 15, 50 − 43
        assertTrue(t.contains("| the whole launch, a group of 2 | 25.00 | | |"), t);
        assertTrue(t.contains("(2 blocks, 4 projections)"), t);
    }

    /** Mark 11 a µs before each staging: the barrier is the last block's pass less the last block's done before it. */
    @Test
    void theBarrierEndsAtTheLastBlocksPass() {
        String t = PersistentTrace.table(twoBlocks(true), K, new String[]{"a", "b"});
        // last past: 2, 14, 23, 42. a: 2 − 0, 23 − 20; b: 14 − 10, 42 − 41.
        assertTrue(t.contains("| a (median of 2) | 3.50 | 2.50 | 12.00 |"), t);
        assertTrue(t.contains("| b (median of 2) | 3.50 | 2.50 | 6.00 |"), t);
    }

    static List<TraceRecord> twoBlocks(boolean barrierMarks) {
        List<TraceRecord> rs = new ArrayList<>();
        //             start, then per projection: staged (mark 0), done (mark 1); µs → ns below
        long[][] times = {{0, 2, 10, 13, 20, 24, 40, 42, 50}, {1, 3, 9, 15, 19, 23, 41, 43, 49}};
        for (int b = 0; b < 2; b++) {
            rs.add(new TraceRecord(K, times[b][0] * 1000, PtxTranslator.TRACE_START, b, 2));
            for (int p = 0; p < 4; p++) {
                rs.add(new TraceRecord(K, times[b][1 + 2 * p] * 1000, PtxTranslator.TRACE_MARK, b, 2));
                if (barrierMarks) rs.add(new TraceRecord(K, (times[b][1 + 2 * p] - 1) * 1000, PtxTranslator.TRACE_MARK + 11, b, 2));
                rs.add(new TraceRecord(K, times[b][2 + 2 * p] * 1000, PtxTranslator.TRACE_MARK + 1, b, 2));
            }
            rs.add(new TraceRecord(K, 51_000, PtxTranslator.TRACE_END, b, 2));
            rs.add(new TraceRecord(K, 60_000, PtxTranslator.TRACE_START, b, 2));   // the next launch
            rs.add(new TraceRecord(K, 61_000, PtxTranslator.TRACE_MARK, b, 2));
        }
        rs.add(new TraceRecord("WideGemvKernel.int8", 5_000, PtxTranslator.TRACE_MARK, 0, 132));   // another kernel
        Collections.shuffle(rs, new java.util.Random(3));
        return rs;
    }

    /** One block, two projections: the first with two chunks, the second one; marks 2 and 3 (the INT8 staging's) skipped. */
    @Test
    void insideABlockEachChunksWaitReadingAndAskingAreApart() {
        long[][] marks = {{11, 1}, {2, 1}, {3, 2}, {0, 2}, {8, 3}, {9, 4}, {10, 5}, {8, 7}, {9, 8}, {10, 9}, {1, 10}, {11, 12}, {0, 13}, {8, 15}, {9, 16}, {10, 17}, {1, 18}};
        List<TraceRecord> rs = new ArrayList<>();
        rs.add(new TraceRecord(K, 0, PtxTranslator.TRACE_START, 0, 1));
        for (long[] m : marks) rs.add(new TraceRecord(K, m[1] * 1000, PtxTranslator.TRACE_MARK + (int) m[0], 0, 1));
        rs.add(new TraceRecord(K, 19_000, PtxTranslator.TRACE_END, 0, 1));
        rs.add(new TraceRecord(K, 30_000, PtxTranslator.TRACE_MARK + 8, 0, 1));   // the next launch's
        Collections.shuffle(rs, new java.util.Random(5));
        String t = PersistentTrace.chunks(rs, K, new String[]{"a", "b"});
        assertTrue(t.contains("| a | – | 1.00 | 1.50 | 1.00 | 1.00 | 2 |"), t);   // waits 3 − 2 and 7 − 5
        assertTrue(t.contains("| b | 2.00 | 1.00 | 2.00 | 1.00 | 1.00 | 1 |"), t);
    }

    @Test
    void aLaunchWithoutEveryBlocksMarksIsRefused() {
        List<TraceRecord> rs = List.of(new TraceRecord(K, 0, PtxTranslator.TRACE_START, 0, 2), new TraceRecord(K, 5, PtxTranslator.TRACE_MARK, 0, 2),
                new TraceRecord(K, 6, PtxTranslator.TRACE_MARK + 1, 0, 2));
        var e = assertThrows(IllegalArgumentException.class, () -> PersistentTrace.table(rs, K, new String[]{"a"}));
        assertTrue(e.getMessage().contains("1 of 2 blocks"), e.getMessage());
    }

    /** A kernel whose marks each kept one record (no traceMarks) shows one projection a block: refused, not a table of NaNs. */
    @Test
    void marksThatDoNotFillAGroupAreRefused() {
        List<TraceRecord> rs = new ArrayList<>();
        for (int b = 0; b < 2; b++) {
            rs.add(new TraceRecord(K, 0, PtxTranslator.TRACE_START, b, 2));
            rs.add(new TraceRecord(K, 5, PtxTranslator.TRACE_MARK, b, 2));
            rs.add(new TraceRecord(K, 6, PtxTranslator.TRACE_MARK + 1, b, 2));
        }
        var e = assertThrows(IllegalArgumentException.class, () -> PersistentTrace.table(rs, K, new String[]{"qkv", "out", "up", "down"}));
        assertTrue(e.getMessage().contains("1 times, not a multiple of a group of 4"), e.getMessage());
    }
}
