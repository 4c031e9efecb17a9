#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): where a decode step's time goes inside its CUDA graph. The JIT
# compiles every kernel with trace records (-Dzq.ptx.trace=true: %globaltimer at each block's start, at the return of its
# wait for the previous kernel, at each KernelContext.traceMark(m), and at its last warp's end); DecoderGpuBench then
# replays a few decode steps, reads the records back (CudaDevice.takeTrace) and prints, per launch of a layer
# (GraphTrace.table), medians in µs relative to the previous launch's end: what the launch adds (cost), when its first
# and last blocks started, when its last wait returned, what followed, and when its blocks passed each mark.
# The bench's own timings in a traced run include the tracing (a barrier and an atomic a block at its start).
# VARIANTS (default W16A16,W8A8+head8) picks DecoderGpuBench's variants; arguments: its models batches prompt new,
# default gpt3-1.3b 1 32 50. EXTRA adds JVM options (e.g. -Dzq.decoder.bulkWeights=true).
# Output: $OUT (or ./gpu-out)/trace.txt
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
cp_=$(ls .gpu/lib/*.jar | tr '\n' ':')
[ $# -gt 0 ] || set -- gpt3-1.3b 1 32 50
# shellcheck disable=SC2086
/tmp/zq-jre/bin/java -Dzq.ptx.trace=true -Dzq.bench.variants="${VARIANTS:-W16A16,W8A8+head8}" ${EXTRA:-} --add-modules jdk.incubator.vector \
  --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp_" dev.zq.bench.DecoderGpuBench "$@" 2>&1 \
  | grep -v WARNING | grep -v "^# profile" | tee "$out/trace.txt"
