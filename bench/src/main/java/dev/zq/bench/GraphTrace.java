package dev.zq.bench;

import dev.zq.runtime.cuda.CudaDevice.TraceRecord;
import dev.zq.runtime.internal.PtxTranslator;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The launches of a traced run ({@code -Dzq.ptx.trace=true}: every block's start, wait, marks and end by {@code %globaltimer})
 * put back together, and what each launch of a decode step costs where it sits in the graph: its end less the end of
 * the launch before it, and of that, how long its blocks waited for the one before after that one had ended.
 */
final class GraphTrace {
    private GraphTrace() {}

    /** No such time (a launch whose blocks never waited, or never ended within the trace). */
    static final long NONE = Long.MIN_VALUE;

    /**
     * One launch: its first and last block start, its latest wait's return ({@link #NONE}: no wait), its first and last
     * block end, the latest block's pass of each of its {@code traceMark}s ({@link #NONE}: none).
     */
    record Launch(String kernel, int blocks, long firstStart, long lastStart, long lastWaited, long firstEnd, long lastEnd, List<Long> lastMarked) {}

    /** Marks a kernel may pass ({@code KernelContext.traceMark}). */
    static final int MARKS = 12;

    /** The launches in the order they started. Blocks of two launches of one kernel never start interleaved (stream order). */
    static List<Launch> launches(List<TraceRecord> records) {
        Map<String, List<TraceRecord>> byKernel = new LinkedHashMap<>();
        for (TraceRecord r : records) byKernel.computeIfAbsent(r.kernel(), k -> new ArrayList<>()).add(r);
        List<Launch> all = new ArrayList<>();
        for (var e : byKernel.entrySet()) {
            List<TraceRecord> rs = new ArrayList<>(e.getValue());
            rs.sort(Comparator.comparingLong(TraceRecord::timeNs));
            List<long[]> stats = new ArrayList<>();   // per launch: blocks, firstStart, lastStart, lastWaited, firstEnd, lastEnd, starts seen, lastMarked[MARKS]
            // A block of the next launch may start (on another SM) before the same block of this one has ended, so each
            // block's started launches queue: a wait belongs to the oldest that has not waited, an end to the oldest.
            Map<Integer, ArrayDeque<int[]>> open = new HashMap<>();   // per block: {launch, waited}
            for (TraceRecord r : rs) {
                ArrayDeque<int[]> q = open.computeIfAbsent(r.block(), b -> new ArrayDeque<>());
                if (r.event() == PtxTranslator.TRACE_START) {
                    long[] cur = stats.isEmpty() ? null : stats.getLast();
                    if (cur == null || cur[6] == cur[0]) {
                        cur = new long[7 + MARKS];
                        java.util.Arrays.fill(cur, NONE);
                        cur[0] = r.blocks(); cur[1] = r.timeNs(); cur[4] = Long.MAX_VALUE; cur[6] = 0;
                        stats.add(cur);
                    }
                    cur[2] = r.timeNs();
                    cur[6]++;
                    q.addLast(new int[]{stats.size() - 1, 0});
                } else if (r.event() >= PtxTranslator.TRACE_MARK) {   // the oldest launch of the block not yet ended
                    if (!q.isEmpty()) { long[] l = stats.get(q.getFirst()[0]); int m = 7 + r.event() - PtxTranslator.TRACE_MARK; l[m] = Math.max(l[m], r.timeNs()); }
                } else if (r.event() == PtxTranslator.TRACE_WAITED) {
                    for (int[] o : q)
                        if (o[1] == 0) { o[1] = 1; long[] l = stats.get(o[0]); l[3] = Math.max(l[3], r.timeNs()); break; }
                } else if (!q.isEmpty()) {   // none: a block that started before the trace was reset
                    long[] l = stats.get(q.removeFirst()[0]);
                    l[4] = Math.min(l[4], r.timeNs());
                    l[5] = Math.max(l[5], r.timeNs());
                }
            }
            for (long[] l : stats)
                if (l[6] == l[0] && l[5] != NONE)
                    all.add(new Launch(e.getKey(), (int) l[0], l[1], l[2], l[3], l[4], l[5], java.util.Arrays.stream(l, 7, 7 + MARKS).boxed().toList()));
        }
        all.sort(Comparator.comparingLong(Launch::firstStart));
        return all;
    }

    /**
     * The kernel that ends a decoder's step in these launches: the greedy head (batch 1, {@code GreedyHeadKernel}) where
     * it ran, else the batch's arg-max ({@code DecoderRowKernels.argmax}).
     */
    static String decodeStepEnd(List<Launch> launches) {
        return launches.stream().anyMatch(l -> l.kernel().startsWith("GreedyHeadKernel")) ? "GreedyHeadKernel" : "DecoderRowKernels.argmax";
    }

    /**
     * A table, one row a launch of a decode step's layer (by kernel and its place among the layer's launches of that
     * kernel), medians over the steps and layers traced, µs: {@code cost} = its last block's end less the previous
     * launch's; {@code start} and {@code started} = its first and last block's start less the previous launch's end
     * (negative: earlier); {@code wait} = its last wait's return less the previous launch's end; {@code after} = its end
     * less that return; {@code 1st end} = its first block's end less the previous launch's; {@code mark m} = its latest
     * block's pass of its {@code traceMark(m)} less the previous launch's end. A kernel launched more often than a
     * multiple of {@code layers} a step has its launches past the layers' ones in a row {@code #tail} (they come after the layers).
     * Steps end at the launches of kernels named {@code stepEnd…} (the greedy head); {@code layers} a step.
     */
    static String table(List<Launch> launches, String stepEnd, int layers) {
        List<List<Launch>> steps = new ArrayList<>();
        List<Launch> cur = null;
        for (Launch l : launches) {
            if (cur != null) cur.add(l);
            if (l.kernel().startsWith(stepEnd)) {   // a step's last launch: the next step's reference
                if (cur != null) steps.add(cur);
                cur = new ArrayList<>(List.of(l));
            }
        }
        Map<String, List<double[]>> rows = new LinkedHashMap<>();
        double[] stepTimes = new double[steps.size()];
        int marks = 0;   // marks passed: 0 … marks − 1
        for (int s = 0; s < steps.size(); s++) {
            List<Launch> step = steps.get(s);
            Map<String, Integer> count = new HashMap<>(), seen = new HashMap<>();
            for (Launch l : step.subList(1, step.size())) count.merge(l.kernel(), 1, Integer::sum);
            long prevEnd = -1;
            for (int i = 0; i < step.size(); i++) {
                Launch l = step.get(i);
                if (i == 0) { prevEnd = l.lastEnd(); continue; }
                // The layers' launches of a kernel by their place in the layer; launches of it past the layers' (the LM
                // head after the last layer: a batch's step runs it on a projection kernel) as "#tail".
                int n = count.get(l.kernel()), per = n / layers, k = seen.merge(l.kernel(), 1, Integer::sum) - 1;
                String key = l.kernel() + (per == 0 ? "" : k < per * layers ? "#" + k % per : "#tail");
                double[] row = new double[7 + MARKS];   // cost, start, started, wait, after, 1st end, blocks, marks
                row[0] = (l.lastEnd() - prevEnd) / 1e3;
                row[1] = (l.firstStart() - prevEnd) / 1e3;
                row[2] = (l.lastStart() - prevEnd) / 1e3;
                row[3] = l.lastWaited() == NONE ? Double.NaN : (l.lastWaited() - prevEnd) / 1e3;
                row[4] = l.lastWaited() == NONE ? Double.NaN : (l.lastEnd() - l.lastWaited()) / 1e3;
                row[5] = (l.firstEnd() - prevEnd) / 1e3;
                row[6] = l.blocks();
                rows.computeIfAbsent(key, x -> new ArrayList<>()).add(row);
                for (int m = 0; m < MARKS; m++) {
                    row[7 + m] = l.lastMarked().get(m) == NONE ? Double.NaN : (l.lastMarked().get(m) - prevEnd) / 1e3;
                    if (l.lastMarked().get(m) != NONE) marks = Math.max(marks, m + 1);
                }
                prevEnd = l.lastEnd();
            }
            stepTimes[s] = (step.getLast().lastEnd() - step.getFirst().lastEnd()) / 1e3;
        }
        StringBuilder b = new StringBuilder(String.format("# trace: %d whole steps, a step %.1f µs (median, first launch's end to last's)%n",
                steps.size(), steps.isEmpty() ? Double.NaN : RuntimeBench.median(stepTimes)));
        b.append(String.format("# trace %-40s %6s %6s %8s %8s %8s %8s %8s %8s", "launch", "count", "blocks", "cost", "start", "started", "wait", "after", "1st end"));
        for (int m = 0; m < marks; m++) b.append(String.format(" %8s", "mark " + m));
        b.append('\n');
        for (var e : rows.entrySet()) {
            List<double[]> v = e.getValue();
            b.append(String.format("# trace %-40s %6d %6.0f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f", e.getKey(), v.size(), med(v, 6), med(v, 0), med(v, 1),
                    med(v, 2), med(v, 3), med(v, 4), med(v, 5)));
            for (int m = 0; m < marks; m++) b.append(String.format(" %8.2f", med(v, 7 + m)));
            b.append('\n');
        }
        return b.toString();
    }

    private static double med(List<double[]> v, int column) {
        double[] c = v.stream().mapToDouble(x -> x[column]).filter(x -> !Double.isNaN(x)).toArray();
        return c.length == 0 ? Double.NaN : RuntimeBench.median(c);
    }
}
