#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, after scripts/gpu-pack.sh filled .gpu/ here:
# the kernel test suite (GPU output == CPU output for every kernel), the encoder and decoder task graphs on CUDA against the CPU
# encoder and decoder, and the runtime benchmark.
# Results go to $OUT (or ./gpu-out) as kernel-tests.txt and runtime-bench.md. The whole suite takes more than 420 s on an H100
# (session 55: cut there), so a device call (at most 600 s) may name fewer with TESTS; each test is reported as it finishes
# (--details=flat), so a run cut short still says which passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
tar -C /tmp -xJf .gpu/jre.tar.xz
java=/tmp/zq-jre/bin/java
opts="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/device.txt"
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
# TESTS (optional) names the test classes to run instead of all of them, e.g. TESTS=dev.zq.quant.gpu.DecoderTaskGraphTest.
tests=${TESTS:-dev.zq.kernels.KernelsOnCudaTest dev.zq.kernels.KernelsOnCpuTest dev.zq.kernels.TaskGraphTest dev.zq.kernels.RejectedKernelsTest dev.zq.quant.gpu.BertTaskGraphTest dev.zq.quant.gpu.DecoderTaskGraphTest}
# METHODS (optional) adds single test methods; by default the CLI's `zq generate --device gpu` against its CPU decoder.
methods=${METHODS-dev.zq.cli.DecoderCommandsTest#generateThroughTheTaskGraphs dev.zq.cli.DecoderCommandsTest#theBundledLlamaGeneratesThroughTheTaskGraphs}
select=(); for t in $tests; do select+=(--select-class "$t"); done
for m in $methods; do select+=(--select-method "$m"); done
$java $opts -jar .gpu/tools/junit-platform-console-standalone-*.jar execute --class-path "$cp" "${select[@]}" \
  --details=flat --disable-banner 2>&1 | tee "$out/kernel-tests.txt"
tests=${PIPESTATUS[0]}
$java $opts -cp "$cp" dev.zq.bench.RuntimeBench 2>&1 | tee "$out/runtime-bench.md"
bench=${PIPESTATUS[0]}
echo "kernel tests exit $tests, runtime bench exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
