package dev.zq.cli;

import dev.zq.model.decoder.Generator;
import dev.zq.model.decoder.LanguageModel;
import dev.zq.model.decoder.Sampler;
import dev.zq.model.tokenizer.ByteLevelBpeTokenizer;
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
    @Option(names = "--model", required = true, description = "'sotu-gpt' (zq's bundled GPT-2), a directory with config.json, model.safetensors and "
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

    @Override
    public Integer call() throws Exception {
        Sampler sampler = Sampler.of(temperature, topK, topP, seed);
        try (LanguageModel lm = dev.zq.quant.QuantizedDecoderFile.openAny(dev.zq.model.BundledModels.resolve(model))) {
            ByteLevelBpeTokenizer tok = lm.requireTokenizer();
            int[] ids = tok.encode(prompt);
            if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens");
            OptionalInt eos = ignoreEos ? OptionalInt.empty() : tok.specialId("<|endoftext|>");
            PrintStream out = System.out;
            out.print(prompt);
            Utf8Stream stream = new Utf8Stream(out);
            Generator.Result r = Generator.generate(lm.model(), ids, maxNewTokens, sampler, t -> {
                if (eos.isPresent() && t == eos.getAsInt()) return false;
                stream.write(tok.bytes(t));
                return true;
            });
            stream.finish();
            out.println();
            System.err.printf("%d prompt tokens: prefill %.1f tokens/s; %d new tokens: decode %.1f tokens/s%n",
                    r.promptTokens(), r.prefillTokensPerSecond(), r.newTokens(), r.decodeTokensPerSecond());
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
