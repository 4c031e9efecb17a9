#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): an A/B in one device call — DecoderGpuBench run as A and as B,
# alternating, ROUNDS (default 2) runs each. A differs from B by an older build's jars in .gpu/old/ (when present: each
# replaces the jar of the same name in .gpu/lib/, e.g. zq-tornado-kernels and zq-quant of another commit) and/or by the
# JVM options in A_OPTS (B gets B_OPTS), e.g. A_OPTS=-Dzq.cuda.programmaticLaunch=false. OLD names another folder of A's
# jars than .gpu/old (OLD=none: A and B the same jars, differing by their options only).
# PROFILE=1 keeps DecoderGpuBench's per-kernel profile lines. Arguments: DecoderGpuBench's (models batches prompt new).
# BENCH names another bench class to run the same way, e.g. BENCH=BertGpuBench with its arguments (models seqs batches).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
new=$(ls .gpu/lib/*.jar | tr '\n' ':')
old=$new
olddir=${OLD:-.gpu/old}
if [ -d "$olddir" ]; then
  old=$(ls "$olddir"/*.jar | tr '\n' ':')
  for j in .gpu/lib/*.jar; do [ -e "$olddir/$(basename "$j")" ] || old="$old$j:"; done
fi
for round in $(seq 1 "${ROUNDS:-2}"); do
  for side in A B; do
    cp_=$new; opts=${B_OPTS:-}; [ "$side" = A ] && { cp_=$old; opts=${A_OPTS:-}; }
    echo "# side $side round $round $opts"
    /tmp/zq-jre/bin/java $opts --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp_" dev.zq.bench.${BENCH:-DecoderGpuBench} "$@" 2>&1 \
      | grep -v WARNING | grep -v "^# profile${PROFILE:+NEVER}"
  done
done | tee "$out/${AB_NAME:-ab}.txt"
