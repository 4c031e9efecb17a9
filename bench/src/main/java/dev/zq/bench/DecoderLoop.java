package dev.zq.bench;

import dev.zq.model.decoder.DecoderConfig;
import dev.zq.model.decoder.DecoderModel;
import dev.zq.model.decoder.KvCache;
import dev.zq.quant.DecoderQuantizer;
import dev.zq.quant.Scheme;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@link DecoderBenchmark}'s decode step or prefill in a plain loop for a fixed time, for a profiler to watch
 * ({@code scripts/cpu-profile.sh} runs it under JFR and sums the samples by method). Prints the median step.
 * Run: {@code java … dev.zq.bench.DecoderLoop fp32|w8a8|… decode|prefill BATCH SECONDS}.
 */
public final class DecoderLoop {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) throw new IllegalArgumentException("usage: DecoderLoop SCHEME decode|prefill BATCH SECONDS");
        String scheme = args[0], phase = args[1];
        int batch = Integer.parseInt(args[2]), seconds = Integer.parseInt(args[3]);
        if (!phase.equals("decode") && !phase.equals("prefill")) throw new IllegalArgumentException("phase " + phase + ": decode or prefill");
        DecoderConfig c = DecoderConfig.gpt2Small();
        try (Arena weights = Arena.ofShared()) {
            DecoderModel model = DecoderModel.random(c, 1, weights);
            if (!scheme.equals("fp32")) model = DecoderQuantizer.quantize(model, Scheme.builtin(scheme), null, weights);
            SplittableRandom rnd = new SplittableRandom(2);
            int prompt = DecoderBenchmark.PROMPT, max = DecoderBenchmark.MAX_CONTEXT;
            int[] tokens = new int[batch * prompt], step = new int[batch];
            for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(c.vocabSize());
            boolean decode = phase.equals("decode");
            try (KvCache cache = model.newCache(batch, decode ? max : prompt)) {
                if (decode) try (Arena a = Arena.ofShared()) { model.forward(a, cache, batch, prompt, tokens, false); }
                List<Double> ms = new ArrayList<>();
                int next = 1;
                for (long end = System.nanoTime() + seconds * 1_000_000_000L; System.nanoTime() < end; ) {
                    // As in DecoderBenchmark: decode grows the context from 128 to 256 and cuts it back.
                    if (decode && cache.length() == max) cache.truncate(prompt);
                    if (!decode) cache.reset();
                    for (int b = 0; b < batch; b++) {
                        step[b] = next;
                        next = (next * 31 + 7) % c.vocabSize();
                    }
                    long t0 = System.nanoTime();
                    try (Arena a = Arena.ofShared()) {
                        if (decode) model.forward(a, cache, batch, 1, step, false);
                        else model.forward(a, cache, batch, prompt, tokens, false);
                    }
                    ms.add((System.nanoTime() - t0) / 1e6);
                }
                Collections.sort(ms);
                System.out.printf("%s %s batch %d: median %.2f ms over %d steps%n", scheme, phase, batch, ms.get(ms.size() / 2), ms.size());
            }
        }
    }
}
