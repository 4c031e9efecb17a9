#!/usr/bin/env bash
# Runs the decoder quantization/LKD tables (dev.zq.bench.DecoderTables) on a machine without Java or network,
# from what scripts/gpu-pack.sh put in .gpu/ (JRE, jars, corpora). Usage on that machine, in the repo root:
#   scripts/cpu-tables-run.sh quant|lkd [args...]      (output: $OUT/decoder-<mode>.md, or ./gpu-out)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
tar -C /tmp -xJf .gpu/jre.tar.xz
export ZQ_CACHE=/tmp/zq-cache
mkdir -p "$ZQ_CACHE/corpora"
for f in .gpu/corpora/*.txt.xz; do xz -dc "$f" > "$ZQ_CACHE/corpora/$(basename "$f" .xz)"; done
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
lscpu | grep -E "^Model name|^CPU\(s\)" | tee "$out/cpu.txt"
/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx64g -cp "$cp" \
  dev.zq.bench.DecoderTables "$@" 2>"$out/decoder-$1.log" | tee "$out/decoder-$1.md"
