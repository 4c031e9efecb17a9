#!/bin/bash
# usage: ab.sh SCHEME BATCH STEPS ROUNDS ; configs A (committed), B0 (fix, xmax 0), B64 (fix, xmax 64)
source /work/main/scripts/jdk.sh
S=$1; B=$2; N=$3; R=$4
run() { java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx12g $2 -cp "$1/*:/tmp/steps" Steps $S $B $N 2>&1 | grep -v WARN | python3 -c "
import sys,re,statistics
v=[float(re.match(r'[0-9.]+',t).group()) for t in sys.stdin.read().split()]
w=v[5:]; print('median %.1f  min %.1f  first %s' % (statistics.median(w), min(w), ' '.join('%.0f'%x for x in v[:5])))"; }
for r in $(seq $R); do
  echo "r$r b$B $S A   : $(run /tmp/jA '')"
  echo "r$r b$B $S B0  : $(run /tmp/jB '-Dzq.int8.xmax=0')"
  echo "r$r b$B $S B64 : $(run /tmp/jB '-Dzq.int8.xmax=64')"
done
