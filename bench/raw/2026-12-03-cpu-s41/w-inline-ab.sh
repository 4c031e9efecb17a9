#!/usr/bin/env bash
# A = 56ae1d6 (w(int,int), 43 bytecodes), C = w(long) within MaxInlineSize; W8A8 decode batch 16, PrintInlining of tile8x2, alternating rounds.
source /work/main/scripts/jdk.sh
cd /work/main
for r in 1 2; do for side in A C; do
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "/tmp/j$side/zq-cli-0.1.0-SNAPSHOT.jar:/tmp/j$side/lib/*" org.openjdk.jmh.Main \
    -f 2 -p batch=16 -p scheme=w8a8 -jvmArgsAppend "-XX:+UnlockDiagnosticVMOptions -XX:CompileCommand=PrintInlining,dev.zq.tensor.Int8PackedMatrix::tile8x2" \
    DecoderBenchmark.decode > /tmp/s41/ab-r$r-$side.txt 2>&1
done; done
