#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): zq's W8A8 GEMM vs torch._int_mm and FP16 a@b, same run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" dev.zq.bench.GemmBench "$@" 2>&1 | grep -v WARNING | tee "$out/gemm-zq.txt"
PYTHONUNBUFFERED=1 python3 scripts/gemm_peer.py "$@" 2>&1 | tee "$out/gemm-torch.txt"
python3 scripts/gemm_table.py "$out/gemm-zq.txt" "$out/gemm-torch.txt" | tee "$out/gemm-table.md"
