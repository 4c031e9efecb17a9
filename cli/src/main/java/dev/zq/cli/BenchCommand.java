package dev.zq.cli;

import dev.zq.bench.BertGpuBench;
import dev.zq.bench.DecoderGpuBench;
import dev.zq.bench.GemmBench;
import dev.zq.bench.RuntimeBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code zq bench}: the GPU benchmarks of {@code bench/RESULTS.md} on this machine's first NVIDIA GPU — the JIT-compiled
 * GEMMs, the BERT encoders (random weights of the real shapes) in W8A8, W4/8A8 and W16A16, and the runtime (launch cost, CUDA
 * graph replay, bandwidth). The PyTorch peers of the RESULTS tables run beside them from {@code scripts/} (Python is
 * not part of zq). Without a GPU it says why and exits with 2; the CPU benchmarks are JMH ({@code bench/run-jmh.sh}).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "GPU benchmarks: gemm [MxNxK ...], bert [models [seqs [batches]]] (e.g. base,large 128,256 1,8,32,128), "
                + "gpt [models [batches [prompt [new]]]] (models gpt2, gpt3-1.3b, llama-1.1b, sotu-llama; e.g. gpt2,gpt3-1.3b 1,16 32 50), runtime.")
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "gemm, bert, gpt or runtime")
    String what;

    @Parameters(index = "1..*", arity = "0..*", description = "passed to the benchmark: GEMM shapes, or BERT models, sequence lengths and batch sizes")
    List<String> args = List.of();

    @Override
    public Integer call() throws Exception {
        String[] a = args.toArray(String[]::new);
        switch (what) {
            case "gemm" -> GemmBench.main(a);
            case "bert" -> BertGpuBench.main(a);
            case "gpt" -> DecoderGpuBench.main(a);
            case "runtime" -> RuntimeBench.main(a);
            default -> throw new IllegalArgumentException("unknown benchmark '" + what + "': gemm, bert, gpt or runtime");
        }
        return 0;
    }
}
