#!/usr/bin/env bash
# Runs the decoder quantization/LKD tables (dev.zq.bench.DecoderTables) on a machine without Java or network,
# from what scripts/gpu-pack.sh put in .gpu/ (JRE, jars, corpora). Usage on that machine, in the repo root:
#   scripts/cpu-tables-run.sh quant|w4sweep|lkd|lkdsweep [args...]      (output: $OUT/decoder-<mode><TAG>.md, or ./gpu-out)
# Several may run at once (unpacking happens once): give each a TAG and a share of the cores, e.g.
#   TAG=-random ZQ_JAVA_OPTS=-XX:ActiveProcessorCount=5 scripts/cpu-tables-run.sh lkd 100:1e-4:64:qin:w256 w4-8a16 random &
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
export ZQ_CACHE=/tmp/zq-cache
(
  flock 9
  [ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
  mkdir -p "$ZQ_CACHE/corpora"
  for f in .gpu/corpora/*.txt.xz; do
    dst="$ZQ_CACHE/corpora/$(basename "$f" .xz)"
    [ -s "$dst" ] || xz -dc "$f" > "$dst"
  done
) 9>/tmp/zq-unpack.lock
cp=$(ls .gpu/lib/*.jar | tr '\n' ':')
tag="${TAG:-}"
lscpu | grep -E "^Model name|^CPU\(s\)" > "$out/cpu.txt"
/tmp/zq-jre/bin/java ${ZQ_JAVA_OPTS:-} --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp" \
  dev.zq.bench.DecoderTables "$@" 2>"$out/decoder-$1$tag.log" | tee "$out/decoder-$1$tag.md"
