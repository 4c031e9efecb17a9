#!/usr/bin/env bash
# A (56ae1d6: tile8x2 and tile8x2t) against M (one tile8x2 with the activations' strides as arguments), alternating JVMs.
source /work/main/scripts/jdk.sh
scheme=$1 phase=$2 batch=$3 steps=$4 rounds=$5; shift 5
for r in $(seq 1 $rounds); do for side in A M; do
  CP="/tmp/s41/ps:/tmp/j$side/zq-cli-0.1.0-SNAPSHOT.jar:/tmp/j$side/lib/*"
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g "$@" -cp "$CP" PSteps $scheme $batch $steps $phase 2>&1 | grep -v WARN | awk '{print $2}' | sed 's/(.*//' | tr '\n' ' ' | python3 -c "
import sys, statistics
v=[float(x) for x in sys.stdin.read().split()]
t=v[len(v)//4:]
print('r$r $side $scheme $phase b$batch $*: median', round(statistics.median(t), 1), 'of the last', len(t), 'steps')"
done; done
