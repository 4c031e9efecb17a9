package dev.zq.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * {@link DecoderBenchmark}'s decode step or prefill — the same state and the same method — in a plain loop for a fixed
 * time, for a profiler to watch ({@code scripts/cpu-profile.sh} runs it under JFR and sums the samples by method).
 * Prints the median step. Run: {@code java … dev.zq.bench.DecoderLoop fp32|w8a8|… decode|prefill BATCH SECONDS}.
 */
public final class DecoderLoop {
    public static void main(String[] args) {
        if (args.length != 4) throw new IllegalArgumentException("usage: DecoderLoop SCHEME decode|prefill BATCH SECONDS");
        String phase = args[1];
        if (!phase.equals("decode") && !phase.equals("prefill")) throw new IllegalArgumentException("phase " + phase + ": decode or prefill");
        DecoderBenchmark bench = new DecoderBenchmark();
        bench.shape = "gpt2-small";
        bench.scheme = args[0];
        bench.batch = Integer.parseInt(args[2]);
        long seconds = Long.parseLong(args[3]);
        bench.setUp();
        try {
            List<Double> ms = new ArrayList<>();
            for (long end = System.nanoTime() + seconds * 1_000_000_000L; System.nanoTime() < end; ) {
                long t0 = System.nanoTime();
                if (phase.equals("decode")) bench.decode();
                else bench.prefill();
                ms.add((System.nanoTime() - t0) / 1e6);
            }
            Collections.sort(ms);
            System.out.printf("%s %s batch %d: median %.2f ms over %d steps%n", bench.scheme, phase, bench.batch, ms.get(ms.size() / 2), ms.size());
        } finally {
            bench.tearDown();
        }
    }
}
