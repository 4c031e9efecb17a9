tar -C /tmp -xJf .gpu/jre.tar.xz
BASE=$(ls .gpu/lib/*.jar | tr '\n' ':')
J="/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
for c in both base pf rel; do
  if [ $c = base ]; then C=$BASE; else C=$(ls .gpu/lib/*.jar | grep -v zq-tornado-kernels-0 | tr '\n' ':').gpu/exp/$c/zq-tornado-kernels-0.1.0-SNAPSHOT.jar; fi
  echo "# jars $c" >> $OUT/2-ab.txt
  timeout 130 $J $V -cp "$C" dev.zq.bench.DecoderGpuBench gpt3-1.3b 8,16 32 50 >> $OUT/2-ab.txt 2>&1
  echo ab $c rc $?
done
grep -h "^zq gpt\|# jars" $OUT/2-ab.txt
