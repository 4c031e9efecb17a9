#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): DecoderGpuBench once per JVM setting, in one device call.
# SETTINGS holds the settings separated by ';' (each a list of JVM options, e.g. "-Dzq.decoder.columnBlocks=264");
# ROUNDS (default 1) repeats the whole list. Arguments: DecoderGpuBench's (models batches prompt new).
# Output: $OUT/sweep.txt (or ./gpu-out), profile lines included.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
cp_=$(ls .gpu/lib/*.jar | tr '\n' ':')
IFS=';' read -r -a settings <<< "${SETTINGS:-}"
for round in $(seq 1 "${ROUNDS:-1}"); do
  for s in "${settings[@]}"; do
    echo "# setting $s round $round"
    # shellcheck disable=SC2086
    /tmp/zq-jre/bin/java $s --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp_" dev.zq.bench.DecoderGpuBench "$@" 2>&1 \
      | grep -v WARNING
  done
done | tee "$out/sweep.txt"
