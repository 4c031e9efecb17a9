#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): the persistent projection chain (PersistentGemvKernel, session 51) —
# first KernelsOnCudaTest#persistentChainEqualsItsReference (INT8 and FP16 chains bit for bit against GemvChain.reference,
# GPT-3 1.3B's shapes on every SM) and #mbarriersHandValuesOverInOrder (the chains' mbarrier hand-overs), then dev.zq.bench.PersistentChainBench at the model shapes given as arguments
# (d_model d_ff layers; default 2048 8192 24): µs a layer as one persistent launch against WideGemvKernel's launches in a
# CUDA graph, INT8 and FP16, one JVM. OPTS: JVM options for the test and the benchmark (OPTS=-Dzq.ptx.trace=true adds, for each persistent
# chain, where a traced launch's time goes: each projection's handover — grid barrier and row staging — and rows).
# Output: $OUT/persistent-test.txt and $OUT/persistent-bench.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
java=/tmp/zq-jre/bin/java
opts="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
cp_=$(ls .gpu/lib/*.jar | tr '\n' ':')
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/device.txt"
timeout "${TIMEOUT:-240}" $java $opts ${OPTS:-} -Xmx24g -jar .gpu/tools/junit-platform-console-standalone-1.14.1.jar execute --class-path "$cp_" --details=tree \
  --select-method 'dev.zq.kernels.KernelsOnCudaTest#persistentChainEqualsItsReference' --select-method 'dev.zq.kernels.KernelsOnCudaTest#mbarriersHandValuesOverInOrder' > "$out/persistent-test.txt" 2>&1
tests=$?
grep -h "tests successful\|tests failed" "$out/persistent-test.txt"
timeout "${BENCH_TIMEOUT:-300}" $java $opts ${OPTS:-} -Xmx8g -cp "$cp_" dev.zq.bench.PersistentChainBench "$@" 2>&1 | tee "$out/persistent-bench.md"
bench=${PIPESTATUS[0]}
echo "test exit $tests, bench exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
