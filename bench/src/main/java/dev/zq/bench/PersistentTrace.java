package dev.zq.bench;

import dev.zq.runtime.cuda.CudaDevice.TraceRecord;
import dev.zq.runtime.internal.PtxTranslator;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where one launch of {@link dev.zq.kernels.PersistentGemvKernel} spends its time, from a traced run
 * ({@code -Dzq.ptx.trace=true}): each block passes mark 0 once past a grid barrier with its row staged, and mark 1 once its
 * rows of that projection are written. For projection {@code p}, the <em>handover</em> is the time from the last block's
 * mark 1 of {@code p − 1} (the launch's first block start for {@code p = 0}) to the last block's mark 0 of {@code p} — the
 * grid barrier and the row's staging, which a launched projection pays as its start — and the <em>rows</em> the time from
 * there to the last block's mark 1 of {@code p}: its weights' stream, less what the ring took in during the handover.
 */
final class PersistentTrace {
    private PersistentTrace() {}

    /**
     * A Markdown table of the first launch of {@code kernel} ({@code Class.method}) in {@code records}: per position in a
     * repeating group of {@code names.length} projections (a layer's qkv, out, up, down), the median handover and rows in
     * µs over the group's repeats, and the launch's whole time a group.
     */
    static String table(List<TraceRecord> records, String kernel, String[] names) {
        Map<Integer, List<Long>> staged = new HashMap<>(), done = new HashMap<>();
        long start = Long.MAX_VALUE;
        List<TraceRecord> rs = new ArrayList<>(records.stream().filter(r -> r.kernel().equals(kernel)).toList());
        rs.sort((a, b) -> Long.compare(a.timeNs(), b.timeNs()));
        int blocks = -1;
        Map<Integer, Integer> ended = new HashMap<>();
        for (TraceRecord r : rs) {
            if (ended.getOrDefault(r.block(), 0) > 0) continue;   // the first launch only: a block's records up to its end
            blocks = r.blocks();
            if (r.event() == PtxTranslator.TRACE_START) start = Math.min(start, r.timeNs());
            else if (r.event() == PtxTranslator.TRACE_END) ended.put(r.block(), 1);
            else if (r.event() == PtxTranslator.TRACE_MARK) staged.computeIfAbsent(r.block(), b -> new ArrayList<>()).add(r.timeNs());
            else if (r.event() == PtxTranslator.TRACE_MARK + 1) done.computeIfAbsent(r.block(), b -> new ArrayList<>()).add(r.timeNs());
        }
        if (blocks <= 0 || staged.size() != blocks || done.size() != blocks)
            throw new IllegalArgumentException("no complete traced launch of " + kernel + " (" + staged.size() + " of " + blocks + " blocks marked)");
        int phases = staged.get(0).size();
        for (int b = 0; b < blocks; b++)
            if (staged.get(b).size() != phases || done.get(b).size() != phases)
                throw new IllegalArgumentException("block " + b + " of " + kernel + " passed its marks " + staged.get(b).size() + " and "
                        + done.get(b).size() + " times, block 0 " + phases);
        long[] lastStaged = new long[phases], lastDone = new long[phases];
        for (int p = 0; p < phases; p++)
            for (int b = 0; b < blocks; b++) {
                lastStaged[p] = Math.max(lastStaged[p], staged.get(b).get(p));
                lastDone[p] = Math.max(lastDone[p], done.get(b).get(p));
            }
        int group = names.length, groups = phases / group;
        if (groups == 0 || phases % group != 0)
            throw new IllegalArgumentException(kernel + "'s blocks passed their marks " + phases + " times, not a multiple of a group of " + group
                    + " projections (a kernel records its marks in order only with @Kernel(traceMarks = …), up to that many)");
        StringBuilder t = new StringBuilder("| " + kernel + " (" + blocks + " blocks, " + phases + " projections) | handover µs | rows µs |\n|---|---:|---:|\n");
        for (int i = 0; i < group; i++) {
            double[] hand = new double[groups], rows = new double[groups];
            for (int g = 0; g < groups; g++) {
                int p = g * group + i;
                hand[g] = (lastStaged[p] - (p == 0 ? start : lastDone[p - 1])) / 1e3;
                rows[g] = (lastDone[p] - lastStaged[p]) / 1e3;
            }
            t.append(String.format("| %s (median of %d) | %.2f | %.2f |%n", names[i], groups, median(hand), median(rows)));
        }
        t.append(String.format("| the whole launch, a group of %d | %.2f | |%n", group, (lastDone[phases - 1] - start) / 1e3 / Math.max(1, groups)));
        return t.toString();
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
