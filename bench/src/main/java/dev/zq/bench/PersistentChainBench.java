package dev.zq.bench;

import dev.zq.kernels.GemvChain;
import dev.zq.kernels.PersistentGemvKernel;
import dev.zq.kernels.SkinnyGemmKernel;
import dev.zq.kernels.WideGemvKernel;
import dev.zq.runtime.Device;
import dev.zq.runtime.ExecutionPlan;
import dev.zq.runtime.FloatArray;
import dev.zq.runtime.Grid;
import dev.zq.runtime.IntArray;
import dev.zq.runtime.KernelCompiler;
import dev.zq.runtime.TaskGraph;
import dev.zq.runtime.TaskGraph.Transfer;
import dev.zq.runtime.cuda.CudaDevice;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * Does a decode step's chain of batch-1 projections run faster as one persistent launch ({@link PersistentGemvKernel}:
 * grid barriers between projections, the weights streaming through a ring of bulk copies without a break) than as one
 * launch a projection in a CUDA graph ({@link WideGemvKernel#int8}, the decoder's batch-1 W8A8 kernel; and
 * {@link WideGemvKernel#fp16} with FP16 weights of the same shapes, the W16A16 it is measured against; and FP16 in one
 * launch, {@link PersistentGemvKernel#fp16Chain})? Only the four
 * projections of each layer (qkv, out, up, down, random weights of the model's shapes, groups of 64), nothing between them:
 * the experiment behind #7's decode ratios, not a decoder. Prints µs a layer (median of repeats, one process) and the
 * weights' bandwidth; traced ({@code -Dzq.ptx.trace=true}), also where a persistent launch's time goes ({@link PersistentTrace}).
 * <p>Run: {@code java … dev.zq.bench.PersistentChainBench [d_model] [d_ff] [layers]} (default GPT-3 1.3B: 2048 8192 24);
 * {@code -Dzq.bench.leads=2,3,5} times the persistent chains at each number of chunks in flight (default {@code SLOTS − 2}, the most).
 */
public final class PersistentChainBench {
    public static void main(String[] args) throws Exception {
        int d = args.length > 0 ? Integer.parseInt(args[0]) : 2048, ff = args.length > 1 ? Integer.parseInt(args[1]) : 8192;
        int layers = args.length > 2 ? Integer.parseInt(args[2]) : 24, gs = 64;
        int repeats = Integer.getInteger("zq.bench.repeats", 15), replays = Integer.getInteger("zq.bench.replays", 10);
        int phases = 4 * layers;
        int[] n = new int[phases], k = new int[phases], from = new int[phases];
        for (int l = 0; l < layers; l++) {
            int p = 4 * l;
            n[p] = 3 * d; k[p] = d; from[p] = p - 1;          // qkv, from the layer before's down projection (or the first row)
            n[p + 1] = d; k[p + 1] = d; from[p + 1] = p;      // out, from the first d of qkv
            n[p + 2] = ff; k[p + 2] = d; from[p + 2] = p + 1; // up
            n[p + 3] = d; k[p + 3] = ff; from[p + 3] = p + 2; // down
        }
        // -Dzq.bench.cpu=true: the same graphs on the CPU executor (3 "SMs"), to check the benchmark itself at small shapes.
        boolean onCpu = Boolean.getBoolean("zq.bench.cpu");
        try (Device gpu = onCpu ? Device.cpu() : Device.cuda(); Arena a = Arena.ofShared()) {
            int sms = gpu instanceof CudaDevice cuda ? cuda.multiprocessors() : 3;
            System.out.println("device: " + gpu.name() + ", " + sms + " SMs; d_model " + d + ", d_ff " + ff + ", " + layers + " layers, groups of " + gs);
            GemvChain chain = new GemvChain(a, n, k, from, gs, 51), halvesChain = new GemvChain(a, n, k, from, gs, true, 51);
            long int8Bytes = 0, fp16Bytes = 0;
            for (int p = 0; p < phases; p++) { int8Bytes += (long) n[p] * k[p] + 4L * n[p] * (k[p] / gs); fp16Bytes += 2L * n[p] * k[p]; }
            Method persistent = KernelCompiler.find(PersistentGemvKernel.class, "int8Chain"), persistent16 = KernelCompiler.find(PersistentGemvKernel.class, "fp16Chain");
            int blocks = Math.min(sms, gpu.residentBlocks(persistent, PersistentGemvKernel.THREADS));
            IntArray sync = IntArray.allocate(a, 2);

            // A: the whole chain in one launch, for each number of chunks a block keeps in flight (-Dzq.bench.leads=2,3,5).
            int[] leads = Arrays.stream(System.getProperty("zq.bench.leads", String.valueOf(PersistentGemvKernel.SLOTS - 2)).split(",")).mapToInt(Integer::parseInt).toArray();
            TaskGraph[] one = new TaskGraph[leads.length], one16 = new TaskGraph[leads.length];
            for (int i = 0; i < leads.length; i++) {
                one[i] = persistentGraph("persistent chain", persistent, chain, sync, blocks, gs, leads[i]);
                one16[i] = persistentGraph("persistent chain, FP16", persistent16, halvesChain, sync, blocks, gs, leads[i]);
            }

            // B: one launch a projection (WideGemvKernel.int8, .fp16), the same weights and first row, a buffer each.
            FloatArray[] outs = new FloatArray[phases];
            FloatArray first = FloatArray.allocate(a, d), first16 = FloatArray.allocate(a, d), zeros = FloatArray.allocate(a, Math.max(3 * d, ff));
            MemorySegment.copy(chain.act.segment(), 0, first.segment(), 0, 4L * d);
            MemorySegment.copy(halvesChain.act.segment(), 0, first16.segment(), 0, 4L * d);
            TaskGraph launches = new TaskGraph("a launch a projection, INT8");
            TaskGraph halves = new TaskGraph("a launch a projection, FP16");
            Method int8 = KernelCompiler.find(WideGemvKernel.class, "int8"), fp16 = KernelCompiler.find(WideGemvKernel.class, "fp16");
            for (int p = 0; p < phases; p++) {
                int words = n[p] * k[p] / 4, scales = n[p] * (k[p] / gs), wAt = chain.plan.get(p * PersistentGemvKernel.PLAN_INTS + 2), sAt = chain.plan.get(p * PersistentGemvKernel.PLAN_INTS + 3);
                IntArray w = IntArray.allocate(a, words);
                MemorySegment.copy(chain.w.segment(), 4L * wAt, w.segment(), 0, 4L * words);
                FloatArray sw = FloatArray.allocate(a, scales);
                MemorySegment.copy(chain.sw.segment(), 4L * sAt, sw.segment(), 0, 4L * scales);
                outs[p] = FloatArray.allocate(a, n[p]);
                FloatArray x = from[p] < 0 ? first : outs[from[p]];
                int s8 = WideGemvKernel.slices(8, n[p], k[p], sms), s16 = WideGemvKernel.slices(16, n[p], k[p], sms);
                launches.task(int8, WideGemvKernel.grid(n[p], s8, sms), x, SkinnyGemmKernel.NO_NORM, zeros, zeros, 1e-5f, w, sw, zeros, outs[p], n[p], k[p], gs,
                        SkinnyGemmKernel.STORE, s8);
                IntArray h = IntArray.allocate(a, n[p] * k[p] / 2);   // the persistent FP16 chain's weights
                MemorySegment.copy(halvesChain.w.segment(), 4L * halvesChain.plan.get(p * PersistentGemvKernel.PLAN_INTS + 2), h.segment(), 0, 4L * h.length());
                halves.task(fp16, WideGemvKernel.grid(n[p], s16, sms), from[p] < 0 ? first16 : outs[from[p]], SkinnyGemmKernel.NO_NORM, zeros, zeros, 1e-5f, h, zeros, outs[p], n[p], k[p],
                        SkinnyGemmKernel.STORE, s16, outs[p], outs[p], outs[p], 0, outs[p]);
            }
            launches.transferToDevice(Transfer.FIRST_EXECUTION, launches.buffers().toArray(new dev.zq.runtime.KernelBuffer[0]));
            halves.transferToDevice(Transfer.FIRST_EXECUTION, halves.buffers().toArray(new dev.zq.runtime.KernelBuffer[0]));
            launches.transferToHost(Transfer.EVERY_EXECUTION, outs[phases - 1]);
            halves.transferToHost(Transfer.EVERY_EXECUTION, outs[phases - 1]);

            double[] persistentUs = new double[leads.length], persistent16Us = new double[leads.length];
            double int8Us, fp16Us;
            float[] fromLaunches, fromLaunches16;
            float[][] fromOne = new float[2][];   // INT8's and FP16's last outputs: the same at every lead
            for (int i = 0; i < leads.length; i++) {
                persistentUs[i] = timePersistent(gpu, one[i], chain, fromOne, 0, "PersistentGemvKernel.int8Chain", leads[i], repeats, replays, layers);
                persistent16Us[i] = timePersistent(gpu, one16[i], halvesChain, fromOne, 1, "PersistentGemvKernel.fp16Chain", leads[i], repeats, replays, layers);
            }
            try (ExecutionPlan plan = gpu.plan(launches)) {
                plan.execute();
                fromLaunches = outs[phases - 1].toArray();
                int8Us = perLayer(plan, repeats, replays, layers);
            }
            try (ExecutionPlan plan = gpu.plan(halves)) {
                plan.execute();
                fromLaunches16 = outs[phases - 1].toArray();
                fp16Us = perLayer(plan, repeats, replays, layers);
            }
            // Persistent and launched chains sum in other orders, and each projection's input is rounded (INT8 codes, FP16) from
            // the last one's outputs, so a last bit that differs can move a rounding: after 4·layers projections the last
            // outputs agree to that noise (FP16's settles near its half-ulp, 2^-11), shown as the relative RMS difference.
            System.out.printf("last projection's outputs, persistent against launches: relative RMS difference %.2e (INT8), %.2e (FP16)%n",
                    relativeRms(fromOne[0], fromLaunches), relativeRms(fromOne[1], fromLaunches16));
            System.out.println();
            System.out.println("| chain of " + phases + " projections | µs a layer | weights' GB/s | against INT8 launches | against FP16 launches |");
            System.out.println("|---|---:|---:|---:|---:|");
            double gb8 = int8Bytes / 1e3 / layers, gb16 = fp16Bytes / 1e3 / layers;   // a layer's bytes / (µs · 1e3) = GB/s
            for (int i = 0; i < leads.length; i++) {
                String ring = " (" + blocks + " blocks × 1024, " + PersistentGemvKernel.SLOTS + " × " + PersistentGemvKernel.SLOT_BYTES / 1024 + " KiB ring, " + leads[i] + " in flight)";
                row("INT8, one persistent launch" + ring, persistentUs[i], gb8, int8Us, fp16Us);
                row("FP16, one persistent launch" + ring, persistent16Us[i], gb16, int8Us, fp16Us);
            }
            row("INT8, WideGemvKernel.int8 launches in a CUDA graph", int8Us, gb8, int8Us, fp16Us);
            row("FP16, WideGemvKernel.fp16 launches in a CUDA graph", fp16Us, gb16, int8Us, fp16Us);
        }
    }

    /** The whole chain as one launch of {@code kernel} ({@link PersistentGemvKernel#int8Chain} or {@code fp16Chain}) on {@code blocks} blocks. */
    static TaskGraph persistentGraph(String name, Method kernel, GemvChain chain, IntArray sync, int blocks, int gs, int lead) {
        TaskGraph g = new TaskGraph(name).transferToDevice(Transfer.FIRST_EXECUTION, sync, chain.plan, chain.act, chain.w, chain.sw);
        g.task(kernel, new Grid(blocks, 1, PersistentGemvKernel.THREADS, 1), sync, chain.plan, chain.phases, chain.act, chain.w, chain.sw, gs, lead);
        return g.transferToHost(Transfer.EVERY_EXECUTION, chain.act);
    }

    /**
     * µs a layer of one persistent chain's graph, traced where asked; its last outputs go to {@code outputs[which]}, and must
     * equal what an earlier lead left there (how many chunks are in flight does not touch the arithmetic).
     */
    static double timePersistent(Device gpu, TaskGraph graph, GemvChain chain, float[][] outputs, int which, String kernel, int lead, int repeats, int replays,
                                 int layers) throws Exception {
        try (ExecutionPlan plan = gpu.plan(graph)) {
            plan.execute();
            float[] last = lastOutputs(chain, chain.phases);
            if (outputs[which] != null && !Arrays.equals(outputs[which], last)) throw new AssertionError(kernel + " at lead " + lead + " computed other outputs than at the lead before");
            outputs[which] = last;
            double us = perLayer(plan, repeats, replays, layers);
            trace(gpu, plan, kernel, new String[]{"qkv", "out", "up", "down"}, lead);
            return us;
        }
    }

    /** With {@code -Dzq.ptx.trace=true} on a GPU: one more replay, traced, and where its time went ({@link PersistentTrace}). */
    static void trace(Device gpu, ExecutionPlan plan, String kernel, String[] names, int lead) throws Exception {
        if (!dev.zq.runtime.internal.PtxTranslator.TRACE || !(gpu instanceof CudaDevice cuda)) return;
        cuda.takeTrace();
        plan.replayMillis(1);
        System.out.println("# trace, " + lead + " chunks in flight (the timings above include the tracing)");
        var records = cuda.takeTrace();
        String dump = System.getProperty("zq.bench.traceDump");   // a folder: every record as CSV, for marks the table does not show
        if (dump != null) {
            StringBuilder csv = new StringBuilder("kernel,block,event,ns\n");
            for (var r : records) csv.append(r.kernel()).append(',').append(r.block()).append(',').append(r.event()).append(',').append(r.timeNs()).append('\n');
            java.nio.file.Files.createDirectories(java.nio.file.Path.of(dump));
            java.nio.file.Files.writeString(java.nio.file.Path.of(dump, kernel + "-lead" + lead + ".csv"), csv);
        }
        System.out.print(PersistentTrace.table(records, kernel, names));
        System.out.print(PersistentTrace.chunks(records, kernel, names));
    }

    static double relativeRms(float[] got, float[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) { num += Math.pow(got[i] - want[i], 2); den += Math.pow(want[i], 2); }
        return Math.sqrt(num / den);
    }

    static float[] lastOutputs(GemvChain chain, int phases) {
        int at = chain.outputOffset(phases - 1);
        return chain.act.segment().asSlice(4L * at, 4L * chain.n[phases - 1]).toArray(ValueLayout.JAVA_FLOAT);
    }

    static void row(String what, double us, double gbPerUsLayer, double int8Us, double fp16Us) {
        System.out.printf("| %s | %.2f | %.0f | %.2f× | %.2f× |%n", what, us, gbPerUsLayer / us, int8Us / us, fp16Us / us);
    }

    static double perLayer(ExecutionPlan plan, int repeats, int replays, int layers) throws Exception {
        double[] us = new double[repeats];
        for (int i = 0; i < repeats; i++) us[i] = plan.replayMillis(replays) * 1000 / replays / layers;
        Arrays.sort(us);
        return us[repeats / 2];
    }
}
