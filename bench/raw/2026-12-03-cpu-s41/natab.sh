#!/usr/bin/env bash
# A (56ae1d6: a parallel stream's split) against N (items handed out from a counter), alternating JVMs, per-step times.
source /work/main/scripts/jdk.sh
scheme=$1 phase=$2 batch=$3 steps=$4 rounds=$5
for r in $(seq 1 $rounds); do for side in A N; do
  CP="/tmp/s41/ps:/tmp/j$side/zq-cli-0.1.0-SNAPSHOT.jar:/tmp/j$side/lib/*"
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g -cp "$CP" PSteps $scheme $batch $steps $phase 2>&1 | grep -v WARN | awk '{print $2}' | sed 's/(.*//' | tr '\n' ' ' | python3 -c "
import sys, statistics
v=[float(x) for x in sys.stdin.read().split()]
t=v[3:]
print('r$r $side $scheme $phase b$batch: median', round(statistics.median(t)), 'mean', round(statistics.mean(t)), 'of steps 4-$steps; all:', ' '.join(str(int(x)) for x in v))"
done; done
