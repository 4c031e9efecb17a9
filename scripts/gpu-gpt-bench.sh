#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): GPT generation, zq W16A16 / W8A8 / W4/8A8 (dev.zq.bench.DecoderGpuBench)
# and HF transformers FP16 generate() (scripts/gpt_peer.py), one after the other in this one run, then the table.
# Arguments (optional): models batches prompt new, e.g. gpt2,gpt3-1.3b 1,16 32 50. ZQ_JAVA_OPTS: JVM options for zq's
# half, e.g. -Dzq.bench.variants=W16A16,W8A8 to time only those variants.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
/tmp/zq-jre/bin/java ${ZQ_JAVA_OPTS:-} --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp" dev.zq.bench.DecoderGpuBench "$@" 2>&1 \
  | grep -v WARNING | tee "$out/gpt-zq.txt"
PYTHONUNBUFFERED=1 python3 scripts/gpt_peer.py "$@" 2>&1 | grep -v Warning | tee "$out/gpt-torch.txt"
python3 scripts/gpt_table.py "$out/gpt-zq.txt" "$out/gpt-torch.txt" "${4:-50}" | tee "$out/gpt-table.md"
