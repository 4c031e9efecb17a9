tar -C /tmp -xJf .gpu/jre.tar.xz
NEW=$(ls .gpu/lib/*.jar | tr '\n' ':')
OLD=$(ls .gpu/lib/*.jar | grep -v zq-tornado-kernels-0 | tr '\n' ':').gpu/old/zq-tornado-kernels-0.1.0-SNAPSHOT.jar
J="/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
for r in 1 2; do for c in new old; do
  if [ $c = new ]; then C=$NEW; else C=$OLD; fi
  echo "# jars $c round $r" >> $OUT/4-ab-gpt2.txt
  timeout 60 $J $V -cp "$C" dev.zq.bench.DecoderGpuBench gpt2 8,16 32 50 >> $OUT/4-ab-gpt2.txt 2>&1
  echo ab $c $r rc $?
done; done
grep -h "^zq gpt\|# jars" $OUT/4-ab-gpt2.txt
