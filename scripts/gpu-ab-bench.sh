#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): an A/B in one device call — DecoderGpuBench run as A and as B,
# alternating, ROUNDS (default 2) runs each. A differs from B by an older build's zq-tornado-kernels jar in .gpu/old/
# (when present) and/or by the JVM options in A_OPTS (B gets B_OPTS), e.g. A_OPTS=-Dzq.cuda.programmaticLaunch=false.
# Arguments: DecoderGpuBench's (models batches prompt new).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
new=$(ls .gpu/lib/*.jar | tr '\n' ':')
old=$new
[ -d .gpu/old ] && old=$(ls .gpu/old/*.jar | tr '\n' ':')$(ls .gpu/lib/*.jar | grep -v 'zq-tornado-kernels-0' | tr '\n' ':')
for round in $(seq 1 "${ROUNDS:-2}"); do
  for side in A B; do
    cp_=$new; opts=${B_OPTS:-}; [ "$side" = A ] && { cp_=$old; opts=${A_OPTS:-}; }
    echo "# side $side round $round $opts"
    /tmp/zq-jre/bin/java $opts --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp_" dev.zq.bench.DecoderGpuBench "$@" 2>&1 \
      | grep -v WARNING | grep -v "^# profile"
  done
done | tee "$out/ab.txt"
