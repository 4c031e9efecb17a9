tar -C /tmp -xJf .gpu/jre.tar.xz
NEW=$(ls .gpu/lib/*.jar | tr '\n' ':')
OLD=$(ls .gpu/lib/*.jar | grep -v "zq-tornado-kernels-0\|zq-quant-0" | tr '\n' ':').gpu/old/zq-tornado-kernels-0.1.0-SNAPSHOT.jar:.gpu/old/zq-quant-0.1.0-SNAPSHOT.jar
J="/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
B='dev.zq.quant.gpu.DecoderTaskGraphTest#quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, int, int)'
for r in 1 2; do for c in thr all old; do
  C=$NEW; X=""; [ $c = old ] && C=$OLD; [ $c = all ] && X=-Dzq.decoder.earlyReleaseBytes=0
  echo "# jars $c round $r" >> $OUT/5-ab-gpt2.txt
  timeout 50 $J $X $V -cp "$C" dev.zq.bench.DecoderGpuBench gpt2 8,16 32 50 >> $OUT/5-ab-gpt2.txt 2>&1
  echo ab $c $r rc $?
done; done
grep -h "^zq gpt\|# jars" $OUT/5-ab-gpt2.txt
timeout 100 $J -Dzq.decoder.earlyReleaseBytes=0 -jar .gpu/tools/junit-platform-console-standalone-1.14.1.jar execute --class-path "$NEW" --details=tree --select-method 'dev.zq.kernels.KernelsOnCudaTest#skinnyMmaAgreesWithTheCpu' --select-method "$B" > $OUT/5-junit-early0.txt 2>&1
echo junit rc $?
grep -h "tests successful\|tests failed" $OUT/5-junit-early0.txt
