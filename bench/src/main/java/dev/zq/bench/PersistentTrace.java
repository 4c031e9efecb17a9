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
 * grid barrier and the row's staging, which a launched projection pays as its start; of it the barrier, to the last block's
 * mark 11 (past the barrier), where the kernel passes one — and the <em>rows</em> the time from
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
        Map<Integer, List<Long>> staged = new HashMap<>(), done = new HashMap<>(), past = new HashMap<>();
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
            else if (r.event() == PtxTranslator.TRACE_MARK + 11) past.computeIfAbsent(r.block(), b -> new ArrayList<>()).add(r.timeNs());
        }
        if (blocks <= 0 || staged.size() != blocks || done.size() != blocks)
            throw new IllegalArgumentException("no complete traced launch of " + kernel + " (" + staged.size() + " of " + blocks + " blocks marked)");
        int phases = staged.get(0).size();
        for (int b = 0; b < blocks; b++)
            if (staged.get(b).size() != phases || done.get(b).size() != phases)
                throw new IllegalArgumentException("block " + b + " of " + kernel + " passed its marks " + staged.get(b).size() + " and "
                        + done.get(b).size() + " times, block 0 " + phases);
        long[] lastStaged = new long[phases], lastDone = new long[phases], lastPast = new long[phases];
        boolean barriers = past.size() == blocks && past.values().stream().allMatch(l -> l.size() == phases);   // mark 11: past the grid barrier
        for (int p = 0; p < phases; p++)
            for (int b = 0; b < blocks; b++) {
                lastStaged[p] = Math.max(lastStaged[p], staged.get(b).get(p));
                lastDone[p] = Math.max(lastDone[p], done.get(b).get(p));
                if (barriers) lastPast[p] = Math.max(lastPast[p], past.get(b).get(p));
            }
        int group = names.length, groups = phases / group;
        if (groups == 0 || phases % group != 0)
            throw new IllegalArgumentException(kernel + "'s blocks passed their marks " + phases + " times, not a multiple of a group of " + group
                    + " projections (a kernel records its marks in order only with @Kernel(traceMarks = …), up to that many)");
        StringBuilder t = new StringBuilder("| " + kernel + " (" + blocks + " blocks, " + phases + " projections) | handover µs | of it the barrier | rows µs |\n|---|---:|---:|---:|\n");
        for (int i = 0; i < group; i++) {
            double[] hand = new double[groups], rows = new double[groups], barrier = new double[groups];
            for (int g = 0; g < groups; g++) {
                int p = g * group + i;
                hand[g] = (lastStaged[p] - (p == 0 ? start : lastDone[p - 1])) / 1e3;
                barrier[g] = (lastPast[p] - (p == 0 ? start : lastDone[p - 1])) / 1e3;   // the first: the launch's start to the first staging
                rows[g] = (lastDone[p] - lastStaged[p]) / 1e3;
            }
            t.append(String.format("| %s (median of %d) | %.2f | %s | %.2f |%n", names[i], groups, median(hand), barriers ? String.format("%.2f", median(barrier)) : "–", median(rows)));
        }
        t.append(String.format("| the whole launch, a group of %d | %.2f | | |%n", group, (lastDone[phases - 1] - start) / 1e3 / Math.max(1, groups)));
        return t.toString();
    }

    /**
     * A Markdown table of where each block's time goes inside the first launch of {@code kernel}, from the marks
     * {@link dev.zq.kernels.PersistentGemvKernel} passes: 11 past a grid barrier, 0 its row staged, then per chunk 10 (thread
     * 0 has asked for a copy), 8 (the chunk's slot filled) and 9 (every warp done with it) — in that order since session 53's
     * kernel, 8, 9, 10 before — and 1 its rows written. Per position in a group of {@code names.length} projections, medians
     * over blocks and groups: the barrier (the block's mark 1 of the projection before to its mark 11: its wait for the
     * slowest block and the barrier's trips), the staging, and each chunk mark's time since the block's mark before it,
     * whichever that was — the wait for the slot (to 8), the reading (to 9), the asking (to 10) — and chunks a block (its
     * marks 10; a kernel whose thread 0 reads no chunk, as session 54's producer-warp variant, passes only those, and the
     * asking is then the time between its requests).
     * Marks other than these (the INT8 staging's own) are skipped.
     */
    static String chunks(List<TraceRecord> records, String kernel, String[] names) {
        int group = names.length;
        List<List<Double>> barrier = lists(group), staging = lists(group), waiting = lists(group), reading = lists(group), asking = lists(group), count = lists(group);
        Map<Integer, List<TraceRecord>> byBlock = new HashMap<>();
        for (TraceRecord r : records) if (r.kernel().equals(kernel)) byBlock.computeIfAbsent(r.block(), b -> new ArrayList<>()).add(r);
        if (byBlock.isEmpty()) throw new IllegalArgumentException("no traced launch of " + kernel);
        for (List<TraceRecord> rs : byBlock.values()) {
            rs.sort((x, y) -> Long.compare(x.timeNs(), y.timeNs()));
            int p = -1, chunks = 0;
            long done = -1, past = -1, last = -1;
            for (TraceRecord r : rs) {
                if (r.event() == PtxTranslator.TRACE_END) break;   // the first launch only
                int m = r.event() - PtxTranslator.TRACE_MARK, at = Math.floorMod(p, group);
                long t = r.timeNs();
                switch (m) {
                    case 11 -> { p++; past = t; if (done >= 0) barrier.get(Math.floorMod(p, group)).add((t - done) / 1e3); }
                    case 0 -> { if (past >= 0) staging.get(at).add((t - past) / 1e3); last = t; chunks = 0; }
                    case 8 -> { if (last >= 0) waiting.get(at).add((t - last) / 1e3); last = t; }
                    case 9 -> { reading.get(at).add((t - last) / 1e3); last = t; }
                    case 10 -> { asking.get(at).add((t - last) / 1e3); last = t; chunks++; }
                    case 1 -> { done = t; if (p >= 0) count.get(at).add((double) chunks); }
                    default -> { }
                }
            }
        }
        StringBuilder t = new StringBuilder("| " + kernel + ", inside a block (medians, µs) | barrier | staging | a chunk's wait | reading it | asking for the next | chunks a block |\n"
                + "|---|---:|---:|---:|---:|---:|---:|\n");
        for (int i = 0; i < group; i++)
            t.append("| " + names[i] + " | " + us(barrier.get(i)) + " | " + us(staging.get(i)) + " | " + us(waiting.get(i)) + " | " + us(reading.get(i)) + " | "
                    + us(asking.get(i)) + " | " + (count.get(i).isEmpty() ? "–" : String.format("%.0f", median(count.get(i)))) + " |\n");
        return t.toString();
    }

    /** A median in µs, or "–" where there is none (the first projection's barrier, with one group). */
    static String us(List<Double> v) {
        return v.isEmpty() ? "–" : String.format("%.2f", median(v));
    }

    static List<List<Double>> lists(int n) {
        List<List<Double>> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new ArrayList<>());
        return l;
    }

    static double median(List<Double> v) {
        return median(v.stream().mapToDouble(Double::doubleValue).toArray());
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
