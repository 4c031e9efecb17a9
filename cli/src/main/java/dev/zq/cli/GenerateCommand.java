package dev.zq.cli;

import dev.zq.model.decoder.Generator;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.decoder.Sampler;
import dev.zq.model.tokenizer.ByteLevelBpeTokenizer;
import dev.zq.quant.gpu.DecoderTaskGraph;
import dev.zq.runtime.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.concurrent.Callable;

/** {@code zq generate}: continue a prompt with a decoder, streaming the text as it is produced. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text with a GPT-2/LLaMA-style decoder (HF directory), streaming tokens; reports tokens/s on stderr.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "'sotu-gpt' or 'sotu-llama' (zq's bundled GPT-2 and LLaMA), a directory with config.json, model.safetensors and "
            + "tokenizer.json (or vocab.json + merges.txt), or a quantized decoder that zq quantize wrote.")
    String model;

    @Option(names = "--prompt", required = true, description = "The text to continue.")
    String prompt;

    @Option(names = "--max-new-tokens", defaultValue = "50", description = "At most this many new tokens (default ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default); > 0 samples.")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Sample among the k most likely tokens (0 = all).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus: smallest set of tokens with this much probability (1 = all).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed for sampling (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ignore-eos", description = "Keep going past <|endoftext|>.")
    boolean ignoreEos;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu: the CPU decoder. gpu: the decoder's prefill and decode-step "
            + "task graphs on the first NVIDIA GPU (GPT-2 and LLaMA families; every layer at the precision the model gives it; greedy). executor: "
            + "those graphs' kernels as plain Java on the CPU (slow: the reference a GPU run must equal). Default: ${DEFAULT-VALUE}")
    DeviceChoice device;

    @Override
    public Integer call() throws Exception {
        Sampler sampler = Sampler.of(temperature, topK, topP, seed);
        try (LanguageModel lm = dev.zq.quant.QuantizedDecoderFile.openAny(dev.zq.model.BundledModels.resolve(model))) {
            ByteLevelBpeTokenizer tok = lm.requireTokenizer();
            int[] ids = tok.encode(prompt);
            if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens");
            Generator.checkRequest(lm.model().config(), ids.length, maxNewTokens);   // before the prompt is echoed
            OptionalInt eos = ignoreEos ? OptionalInt.empty() : tok.specialId("<|endoftext|>");
            PrintStream out = System.out;
            if (device != DeviceChoice.cpu) return onGraphs(lm, tok, ids, eos, out);
            out.print(prompt);
            Utf8Stream stream = new Utf8Stream(out);
            Generator.Result r;
            try {
                r = Generator.generate(lm.model(), ids, maxNewTokens, sampler, t -> {
                    if (eos.isPresent() && t == eos.getAsInt()) return false;
                    stream.write(tok.bytes(t));
                    return true;
                });
            } finally {   // the text so far ends its line, also when an error follows it on stderr
                stream.finish();
                out.println();
            }
            System.err.printf("%d prompt tokens: prefill %.1f tokens/s; %d new tokens: decode %.1f tokens/s%n",
                    r.promptTokens(), r.prefillTokensPerSecond(), r.newTokens(), r.decodeTokensPerSecond());
        }
        return 0;
    }

    /**
     * Greedy generation through {@link DecoderTaskGraph}: the prompt in one prefill, then one decode-step graph replay per
     * token (the next token is chosen on the device); streamed as on the CPU.
     */
    private int onGraphs(LanguageModel lm, ByteLevelBpeTokenizer tok, int[] ids, OptionalInt eos, PrintStream out) throws Exception {
        if (temperature != 0 || topK != 0 || topP != 1)
            throw new IllegalArgumentException("--device " + device + " generates greedily: leave out --temperature, --top-k and --top-p");
        if (maxNewTokens <= 0) throw new IllegalArgumentException("--max-new-tokens must be at least 1 with --device " + device);
        try (Device d = device.open();
             DecoderTaskGraph g = new DecoderTaskGraph(lm.model(), 1, ids.length, maxNewTokens, DecoderTaskGraph.CachePrecision.FP16, false, d)) {
            out.print(prompt);
            Utf8Stream stream = new Utf8Stream(out);
            long t0 = System.nanoTime(), t1, t2;
            int n = 0;
            try {
                g.prefill(ids);
                t1 = System.nanoTime();
                for (int i = 0; i < maxNewTokens; i++) {
                    if (i > 0) g.step();
                    int t = g.token(0, i);
                    if (eos.isPresent() && t == eos.getAsInt()) break;
                    stream.write(tok.bytes(t));
                    n++;
                }
                t2 = System.nanoTime();
            } finally {   // as on the CPU
                stream.finish();
                out.println();
            }
            System.err.printf("%d prompt tokens: prefill %.1f ms (the first run: weights to the device, graphs built); %d new tokens: "
                    + "decode %.1f tokens/s on %s%n", ids.length, (t1 - t0) / 1e6, n, n <= 1 ? Double.NaN : (n - 1) / ((t2 - t1) / 1e9), d.name());
        }
        return 0;
    }

    /** Prints token bytes as text as soon as they form whole UTF-8 characters (an emoji may span tokens). */
    static final class Utf8Stream {
        private final PrintStream out;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        private ByteBuffer pending = ByteBuffer.allocate(0);

        Utf8Stream(PrintStream out) { this.out = out; }

        void write(byte[] bytes) {
            ByteBuffer in = ByteBuffer.allocate(pending.remaining() + bytes.length).put(pending).put(bytes).flip();
            CharBuffer chars = CharBuffer.allocate(in.remaining() + 2);
            decoder.decode(in, chars, false);
            pending = in.slice();
            out.print(chars.flip());
            out.flush();
        }

        void finish() {
            CharBuffer chars = CharBuffer.allocate(pending.remaining() * 2 + 2);
            decoder.decode(pending, chars, true);
            decoder.flush(chars);
            out.print(chars.flip());
            out.flush();
        }
    }
}
