package dev.zq.bench;

import dev.zq.lkd.DecoderLkd;
import dev.zq.lkd.Lkd;
import dev.zq.lkd.LkdData;
import dev.zq.model.BundledModels;
import dev.zq.model.corpus.TextCorpora;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.decoder.Perplexity;
import dev.zq.model.tokenizer.ByteLevelBpeTokenizer;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.QuantizedDecoderFile;
import dev.zq.quant.Scheme;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The decoder tables on sotu-gpt (zq's bundled GPT-2 trained on the State of the Union train split):
 * perplexity on the held-out test split (window 256, stride 128, as the training script measured it with
 * transformers) for every built-in scheme, the paper's Table 7 ablation and an INT4 group-size sweep
 * ({@code quant}), and ZeroQuant vs ZeroQuant-LKD with the paper's three data sources ({@code lkd}).
 * Static ranges are calibrated on 16 windows of the train split. Prints Markdown.
 * Run: {@code java … dev.zq.bench.DecoderTables quant|w4sweep|sizes|lkd [SETTING] [schemes] [sources]|lkdsweep SCHEME SOURCE SETTINGS}; settings: {@link LkdSetting}; a scheme is a built-in id or a scheme file ({@link Scheme#resolve}).
 * {@code -Dzq.tables.model=DIR} runs them on another decoder trained on the same tokenizer and corpus (sotu-llama, from
 * {@code ARCH=llama scripts/train_sotu_gpt.py}).
 */
public final class DecoderTables {
    static final int WINDOW = 256, STRIDE = 128;

    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "quant";
        String model = System.getProperty("zq.tables.model", BundledModels.SOTU_GPT);
        try (LanguageModel lm = LanguageModel.open(BundledModels.resolve(model))) {
            DecoderModel fp = lm.model();
            ByteLevelBpeTokenizer tok = lm.requireTokenizer();
            int[] test = tok.encode(TextCorpora.read(TextCorpora.SOTU_TEST));
            int[] train = tok.encode(TextCorpora.read(TextCorpora.SOTU_TRAIN));
            List<int[]> calibration = new ArrayList<>();
            for (int[][] b : LkdData.tokenWindows(train, 16, 1, WINDOW)) calibration.add(b[0]);
            System.out.printf("%s, %s (%,d parameters in the blocks), test split %,d tokens, window %d, stride %d, %d threads%n%n",
                    model, fp.config().family(), blockParameters(fp), test.length, WINDOW, STRIDE, Runtime.getRuntime().availableProcessors());
            if (what.equals("sizes")) {
                sizes(fp, calibration, BundledModels.resolve(model));
                return;
            }
            long t0 = System.nanoTime();
            Perplexity.Result ref = Perplexity.evaluate(fp, test, WINDOW, STRIDE, n -> {});
            System.out.printf("FP32: perplexity %.4f (mean NLL %.6f over %,d tokens, %.0f s); weights in memory %.2f MB, its weight files %.2f MB%n%n",
                    ref.perplexity(), ref.meanNll(), ref.tokensScored(), (System.nanoTime() - t0) / 1e9, fp.weightBytes() / 1e6,
                    weightFileBytes(BundledModels.resolve(model)) / 1e6);
            if (what.equals("quant")) quant(fp, test, calibration, ref, true);
            else if (what.equals("w4sweep")) quant(fp, test, calibration, ref, false);
            else if (what.equals("lkd")) lkd(fp, tok, test, train, ref, args);
            else if (what.equals("lkdsweep")) lkdSweep(fp, tok, test, train, ref, args);
            else throw new IllegalArgumentException("quant, w4sweep, sizes, lkd or lkdsweep, not " + what);
        }
    }

    static void quant(DecoderModel fp, int[] test, List<int[]> calibration, Perplexity.Result ref, boolean all) throws Exception {
        if (all) quantSchemes(fp, test, calibration, ref);
        System.out.println("\n### Ablation: W4 (all projections), A16\n");
        header();
        for (Scheme s : w4Sweep()) row(fp, s, test, calibration, ref);
    }

    /** The INT4 group-size sweep: INT4 weights in every projection, one scale per tensor, per row, per 128 … 16 inputs. */
    static List<Scheme> w4Sweep() throws Exception {
        List<Scheme> schemes = new ArrayList<>();
        schemes.add(QuantTable.scheme("per-tensor W4", 4, "\"granularity\":\"per_tensor\"", null));
        for (String g : new String[]{"\"granularity\":\"per_row\"", "\"group_size\":128", "\"group_size\":64", "\"group_size\":32", "\"group_size\":16"})
            schemes.add(QuantTable.scheme("W4 " + g.replace("\"", ""), 4, g, null));
        return schemes;
    }

    /** Bytes of the weight files ({@code *.safetensors}, shards included) in a model directory. */
    static long weightFileBytes(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            long n = 0;
            for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).toList()) n += Files.size(f);
            return n;
        }
    }

    /**
     * {@code sizes}: each built-in scheme's and each INT4 group size's {@code model.safetensors} on disk, without the
     * perplexities (seconds, not an hour: for the file column after a change to the writer alone). Not the weights in
     * memory: the quant table takes those after a forward pass, once the CPU kernels have built their packed copies.
     */
    static void sizes(DecoderModel fp, List<int[]> calibration, Path dir) throws Exception {
        System.out.printf("FP32: its weight files %.2f MB%n%n", weightFileBytes(dir) / 1e6);
        System.out.println("| scheme | file MB |");
        System.out.println("|---|---:|");
        List<Scheme> schemes = new ArrayList<>();
        for (String id : Scheme.BUILTIN) schemes.add(Scheme.builtin(id));
        schemes.addAll(w4Sweep());
        for (Scheme s : schemes)
            try (Arena a = Arena.ofShared()) {
                DecoderModel q = DecoderQuantizer.quantize(fp, s, calibration, a);
                System.out.printf("| %s | %.2f |%n", s.name(), fileBytes(q, s.name()) / 1e6);
            } catch (IllegalArgumentException e) {
                System.out.printf("| %s | does not apply: %s |%n", s.name(), e.getMessage());
            }
    }

    static void quantSchemes(DecoderModel fp, int[] test, List<int[]> calibration, Perplexity.Result ref) throws Exception {
        System.out.println("### Schemes\n");
        header();
        for (String id : Scheme.BUILTIN) row(fp, Scheme.builtin(id), test, calibration, ref);
        System.out.println("\n### Ablation (the paper's Table 7 shape): W8A8\n");
        header();
        row(fp, QuantTable.scheme("per-tensor W8, static A8", 8, "\"granularity\":\"per_tensor\"", "static"), test, calibration, ref);
        row(fp, QuantTable.scheme("group-wise W8 (64), static A8", 8, "\"group_size\":64", "static"), test, calibration, ref);
        row(fp, QuantTable.scheme("group-wise W8 (64), token-wise A8", 8, "\"group_size\":64", "dynamic"), test, calibration, ref);
    }

    /**
     * {@code lkd SETTING [schemes] [sources]}: ZeroQuant against ZeroQuant-LKD with one LKD setting (as {@code lkdsweep}'s) for each
     * scheme (default {@code w4-8a16,w4-8a8}) and data source (default {@code own,other,random}), with wall time and peak RSS.
     */
    static void lkd(DecoderModel fp, ByteLevelBpeTokenizer tok, int[] test, int[] train, Perplexity.Result ref, String[] args) throws Exception {
        LkdSetting setting = LkdSetting.parse(args.length > 1 ? args[1] : "400:1e-4:256:clipx30:qin:w256");   // zq quantize --lkd's recipe for decoders
        int[] moby = tok.encode(TextCorpora.read(TextCorpora.MOBY_DICK));
        System.out.printf("LKD: %s (Adam steps per block : peak lr : windows [: options]), warm-up 10 then cosine, gradient clip 1.0, windows of %d tokens"
                + " in batches of 8%n%n", setting.text(), setting.seq());
        System.out.println("| scheme | method | LKD data | perplexity | gap to FP32 closed | LKD wall s | peak RSS MiB |");
        System.out.println("|---|---|---|---:|---:|---:|---:|");
        System.out.printf("| W16A16 | FP32 | — | %.3f | — | — | — |%n", ref.perplexity());
        for (String id : (args.length > 2 ? args[2] : "w4-8a16,w4-8a8").split(",")) {
            Scheme s = Scheme.resolve(id);
            double zq;
            LkdTable.resetPeakRss();   // this scheme's ZeroQuant row reports its own peak, not the previous LKD run's
            try (Arena a = Arena.ofShared()) {
                zq = Perplexity.evaluate(DecoderQuantizer.quantize(fp, s, null, a), test, WINDOW, STRIDE, n -> {}).perplexity();
            }
            System.out.printf("| %s | ZeroQuant | — | %.3f | — | — | %d |%n", bits(s), zq, LkdTable.peakRssMiB());
            List<String> wanted = List.of((args.length > 3 ? args[3] : "own,other,random").split(","));
            for (var source : List.of(new Source("own", "sotu-train (the model's own data)", train), new Source("other", "Moby-Dick (other corpus)", moby),
                    new Source("random", "random tokens", null))) {
                if (!wanted.contains(source.key())) continue;
                LkdTable.resetPeakRss();
                try (Arena a = Arena.ofShared()) {
                    long t0 = System.nanoTime();
                    DecoderModel q = DecoderLkd.distill(fp, s, setting.data(fp, source.text()), setting.options(), LkdTable.quiet(), a);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    long rss = LkdTable.peakRssMiB();
                    double ppl = Perplexity.evaluate(q, test, WINDOW, STRIDE, n -> {}).perplexity();
                    double closed = (Math.log(zq) - Math.log(ppl)) / (Math.log(zq) - Math.log(ref.perplexity()));
                    System.out.printf("| %s | ZeroQuant-LKD | %s | %.3f | %.0f%% | %.0f | %d |%n", bits(s), source.name(), ppl, 100 * closed, secs, rss);
                }
            }
        }
        System.out.println("\nGap closed = (ln ppl_ZeroQuant − ln ppl_LKD) / (ln ppl_ZeroQuant − ln ppl_FP32): the share of the mean-NLL gap LKD removes.");
    }

    /** The scheme's name without the method its built-in names end in ("W4/8A16 ZeroQuant" → "W4/8A16"): the tables say the method. */
    static String bits(Scheme s) { return s.name().endsWith(" ZeroQuant") ? s.name().substring(0, s.name().length() - " ZeroQuant".length()) : s.name(); }

    /**
     * {@code lkdsweep SCHEME own|other|random SETTING[,SETTING…]}: LKD's settings against its result, one row per setting; SCHEME a built-in id or a scheme file.
     */
    static void lkdSweep(DecoderModel fp, ByteLevelBpeTokenizer tok, int[] test, int[] train, Perplexity.Result ref, String[] args) throws Exception {
        Scheme s = Scheme.resolve(args[1]);   // a built-in id or a scheme file
        String source = args[2];
        double zq;
        try (Arena a = Arena.ofShared()) {
            zq = Perplexity.evaluate(DecoderQuantizer.quantize(fp, s, null, a), test, WINDOW, STRIDE, n -> {}).perplexity();
        }
        System.out.printf("%s ZeroQuant: perplexity %.3f; LKD data %s, batches of 8 windows%n%n", bits(s), zq, source);
        System.out.println("| steps per block | lr | windows | options | per-block loss after/before | perplexity | gap closed | LKD wall s |");
        System.out.println("|---:|---:|---:|---|---|---:|---:|---:|");
        int[] text = source.equals("random") ? null : source.equals("other") ? tok.encode(TextCorpora.read(TextCorpora.MOBY_DICK)) : train;
        for (String spec : args[3].split(",")) {
            LkdSetting setting = LkdSetting.parse(spec);
            StringBuilder ratios = new StringBuilder();
            Lkd.Listener l = new Lkd.Listener() {
                public void step(int layer, int step, int n, double loss) {}
                public void layerDone(Lkd.LayerReport r) {
                    ratios.append(ratios.isEmpty() ? "" : " ").append(String.format("%.2f", r.lossAfter() / r.lossBefore()));
                    System.err.printf("  %s layer %d: %.3e -> %.3e (%.1f s)%n", spec, r.layer(), r.lossBefore(), r.lossAfter(), r.seconds());
                }
            };
            try (Arena a = Arena.ofShared()) {
                long t0 = System.nanoTime();
                DecoderModel q = DecoderLkd.distill(fp, s, setting.data(fp, text), setting.options(), l, a);
                double secs = (System.nanoTime() - t0) / 1e9;
                double ppl = Perplexity.evaluate(q, test, WINDOW, STRIDE, n -> {}).perplexity();
                double closed = (Math.log(zq) - Math.log(ppl)) / (Math.log(zq) - Math.log(ref.perplexity()));
                System.out.printf("| %d | %s | %d | %s | %s | %.3f | %.0f%% | %.0f |%n", setting.steps(), setting.lr(), setting.windows(),
                        setting.flags().isEmpty() ? "—" : String.join("+", setting.flags()), ratios, ppl, 100 * closed, secs);
            }
        }
    }

    /**
     * One LKD setting, {@code steps:lr:windows[:option…]}: Adam steps per block, peak learning rate, windows of data (batches
     * of 8). Options: {@code qin} the student sees the quantized path's output; {@code w256} windows of 256 tokens (the
     * evaluation's) instead of 128; {@code clip} learned clipping thresholds too, {@code clipxF} the same at F times the
     * learning rate; {@code round} learned rounding (AdaRound) instead of weight updates; {@code ln} the blocks' LayerNorm
     * γ and β train too, {@code lnxF} the same at F times the learning rate; {@code tnorm} each token's squared error divided by its target's variance
     * ({@code Lkd.Options.tokenNormalizedLoss}); {@code mixP} with {@code qin}: each input element from the FP path with
     * probability P (QDrop-style mixing, {@code Lkd.Options.fpInputShare}); {@code shiftN} the windows spread
     * over the text from token N on (another sample of the same size, to see how much the choice of windows moves the
     * result; random windows: another seed); {@code gptq} each block starts from GPTQ's rounding on its training inputs
     * ({@code Lkd.Options.gptqStart}; with 0 steps: GPTQ alone); {@code fisher} the squared error weighted by BRECQ's diagonal
     * Fisher of each block's output ({@code Lkd.Options.fisherWeightedLoss}); {@code bc} each trained block's mean output error
     * added to its down projection's bias ({@code Lkd.Options.biasCorrection}); {@code avgF} each block's trained values
     * averaged over the last F of its steps ({@code Lkd.Options.averagedShare}, e.g. {@code avg0.5}); {@code bN} batches of N
     * windows a step instead of 8; {@code klN} the last N blocks learn the KL divergence of the model's next-token distribution
     * (through the FP blocks after them) from the FP model's instead of their output's MSE ({@code Lkd.Options.logitBlocks}).
     */
    record LkdSetting(String text, int steps, double lr, int windows, List<String> flags) {
        /** The options without a value. */
        static final List<String> PLAIN = List.of("qin", "w256", "clip", "round", "ln", "tnorm", "gptq", "fisher", "bc");
        /** The options that carry a number after their name: name → the number's form. */
        static final Map<String, String> NUMBERED = Map.of("clipx", "[0-9.]+", "lnx", "[0-9.]+", "shift", "[0-9]+", "mix", "[0-9.]+",
                "avg", "[0-9.]+", "b", "[0-9]+", "kl", "[0-9]+");

        static LkdSetting parse(String spec) {
            String[] f = spec.split(":");
            if (f.length < 3) throw new IllegalArgumentException("an LKD setting is steps:lr:windows[:options], not " + spec);
            List<String> flags = List.of(f).subList(3, f.length);
            for (String x : flags)
                if (!PLAIN.contains(x) && NUMBERED.keySet().stream().noneMatch(name -> numbered(x, name)))
                    throw new IllegalArgumentException("unknown LKD option " + x + " in " + spec);
            return new LkdSetting(spec, Integer.parseInt(f[0]), Double.parseDouble(f[1]), Integer.parseInt(f[2]), flags);
        }

        /** Whether option {@code flag} is the numbered option {@code name} ({@code b16} is {@code b}'s, {@code bc} is not). */
        static boolean numbered(String flag, String name) {
            return flag.startsWith(name) && flag.substring(name.length()).matches(NUMBERED.get(name));
        }

        /** The number of the numbered option {@code name}, or {@code otherwise} where the setting does not have it. */
        double number(String name, double otherwise) {
            return flags.stream().filter(x -> numbered(x, name)).mapToDouble(x -> Double.parseDouble(x.substring(name.length()))).findFirst().orElse(otherwise);
        }

        int seq() { return flags.contains("w256") ? WINDOW : 128; }

        /** Windows of {@code text}, or random tokens when it is null. */
        List<int[][]> data(DecoderModel fp, int[] text) {
            int shift = (int) number("shift", 0);
            if (text != null && shift >= text.length - seq()) throw new IllegalArgumentException("a shift of " + shift + " leaves no window in " + text.length + " tokens");
            int batch = (int) number("b", 8);
            return text == null ? LkdData.randomWindows(fp.config().vocabSize(), 1, windows, batch, seq(), 7 + shift)
                    : LkdData.tokenWindows(Arrays.copyOfRange(text, shift, text.length), windows, batch, seq());
        }

        Lkd.Options options() {
            Lkd.Method method = flags.contains("round") ? Lkd.Method.ROUNDING
                    : flags.contains("clip") || flags.stream().anyMatch(x -> numbered(x, "clipx")) ? Lkd.Method.WEIGHTS_AND_CLIPPING : Lkd.Method.WEIGHTS;
            return new Lkd.Options(steps, lr, Math.min(10, steps), 1.0, null, method, flags.contains("qin"), number("clipx", 1))
                    .withNormLearningRateScale(flags.contains("ln") ? 1 : number("lnx", 0)).withFpInputShare(number("mix", 0))
                    .withTokenNormalizedLoss(flags.contains("tnorm")).withGptqStart(flags.contains("gptq")).withFisherWeightedLoss(flags.contains("fisher"))
                    .withBiasCorrection(flags.contains("bc")).withAveragedShare(number("avg", 0)).withLogitBlocks((int) number("kl", 0));
        }
    }

    /** An LKD data source: windows of {@code text}, or random tokens when it is null. */
    record Source(String key, String name, int[] text) {}

    static long blockParameters(DecoderModel m) {
        long n = 0;
        for (int i = 0; i < m.layers().size(); i++) {
            var l = m.layers().get(i);
            for (var lin : Arrays.asList(l.qkv(), l.q(), l.k(), l.v(), l.output(), l.gate(), l.up(), l.down()))
                if (lin != null) n += (long) lin.inFeatures() * lin.outFeatures();
        }
        return n;
    }

    static void header() {
        System.out.println("| scheme | perplexity | Δ vs FP32 | quantize s | weights in memory MB | file MB |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
    }

    /**
     * One scheme's row: its perplexity, the quantization's wall time, the weights' bytes in memory, and the size of the
     * {@code model.safetensors} that {@code zq quantize} would write for it ({@link QuantizedDecoderFile}, written to a
     * temporary directory and deleted; embeddings, norms and the LM head included, as on disk).
     */
    static void row(DecoderModel fp, Scheme s, int[] test, List<int[]> calibration, Perplexity.Result ref) throws IOException {
        try (Arena a = Arena.ofShared()) {
            long t0 = System.nanoTime();
            DecoderModel q;
            try {
                q = DecoderQuantizer.quantize(fp, s, calibration, a);
            } catch (IllegalArgumentException e) {   // e.g. a group size that does not divide the model's rows (sotu-llama's 704-wide down projection and 128)
                System.out.printf("| %s | does not apply: %s | | | | |%n", s.name(), e.getMessage());
                return;
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            long disk = fileBytes(q, s.name());
            Perplexity.Result r = Perplexity.evaluate(q, test, WINDOW, STRIDE, n -> {});
            System.out.printf("| %s | %.3f | %+.2f%% | %.2f | %.2f | %.2f |%n", s.name(), r.perplexity(), 100 * (r.perplexity() / ref.perplexity() - 1), secs,
                    q.weightBytes() / 1e6, disk / 1e6);
        }
    }

    /** The bytes of the {@code model.safetensors} that {@link QuantizedDecoderFile#write} gives {@code q} (no tokenizer files: the weights alone). */
    static long fileBytes(DecoderModel q, String scheme) throws IOException {
        return WrittenModelSize.of(out -> QuantizedDecoderFile.write(out, q, scheme, out.getParent()));
    }
}
