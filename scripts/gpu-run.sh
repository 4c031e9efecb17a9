#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root, after scripts/gpu-pack.sh filled .gpu/ here:
# the kernel test suite (GPU output == CPU output for every kernel), the encoder and decoder task graphs on CUDA against the CPU
# encoder and decoder, and the runtime benchmark.
# Results go to $OUT (or ./gpu-out) as kernel-tests.txt and runtime-bench.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
tar -C /tmp -xJf .gpu/jre.tar.xz
java=/tmp/zq-jre/bin/java
opts="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/device.txt"
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
$java $opts -jar .gpu/tools/junit-platform-console-standalone-*.jar execute --class-path "$cp" \
  --select-class dev.zq.kernels.KernelsOnCudaTest --select-class dev.zq.kernels.KernelsOnCpuTest \
  --select-class dev.zq.kernels.TaskGraphTest --select-class dev.zq.kernels.RejectedKernelsTest \
  --select-class dev.zq.quant.gpu.BertTaskGraphTest --select-class dev.zq.quant.gpu.DecoderTaskGraphTest \
  --details=tree --disable-banner 2>&1 | tee "$out/kernel-tests.txt"
tests=${PIPESTATUS[0]}
$java $opts -cp "$cp" dev.zq.bench.RuntimeBench 2>&1 | tee "$out/runtime-bench.md"
bench=${PIPESTATUS[0]}
echo "kernel tests exit $tests, runtime bench exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
