#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): BERT encoder latency, zq W8A8, W4/8A8 and W16A16 (dev.zq.bench.BertGpuBench)
# and PyTorch FP16 eager / torch.compile (scripts/bert_peer.py), one after the other in this one run, then the table.
# Arguments (optional): models seqs batches, e.g. base,large 128,256 1,8,32,128. ZQ_JAVA_OPTS goes to zq's JVM, e.g.
# ZQ_JAVA_OPTS=-Dzq.bench.exactAttention=true adds the quantized graphs with the exact attention (# exact-attention lines).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
# shellcheck disable=SC2086
/tmp/zq-jre/bin/java ${ZQ_JAVA_OPTS:-} --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp" dev.zq.bench.BertGpuBench "$@" 2>&1 \
  | grep -v WARNING | tee "$out/bert-zq.txt"
PYTHONUNBUFFERED=1 python3 scripts/bert_peer.py "$@" 2>&1 | grep -v Warning | tee "$out/bert-torch.txt"
python3 scripts/bert_table.py "$out/bert-zq.txt" "$out/bert-torch.txt" | tee "$out/bert-table.md"
