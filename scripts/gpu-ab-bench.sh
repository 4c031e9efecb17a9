#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here, plus an older build's zq-tornado-kernels jar in .gpu/old/): an A/B of
# kernel changes in one device call — DecoderGpuBench with the packed kernels (B) and with .gpu/old's (A), alternating,
# ROUNDS (default 2) runs each. Arguments: DecoderGpuBench's (models batches prompt new).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
new=$(ls .gpu/lib/*.jar | tr '\n' ':')
old=$(ls .gpu/old/*.jar | tr '\n' ':')$(ls .gpu/lib/*.jar | grep -v 'zq-tornado-kernels-0' | tr '\n' ':')
for round in $(seq 1 "${ROUNDS:-2}"); do
  for side in A B; do
    cp_=$new; [ "$side" = A ] && cp_=$old
    echo "# side $side round $round"
    /tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp_" dev.zq.bench.DecoderGpuBench "$@" 2>&1 \
      | grep -v WARNING | grep -v "^# profile"
  done
done | tee "$out/ab.txt"
