tar -C /tmp -xJf .gpu/jre.tar.xz
CP=$(ls .gpu/lib/*.jar | tr '\n' ':')
nproc > $OUT/5-nproc.txt
timeout 140 /tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8 -cp "$CP" dev.zq.bench.DecoderGpuBench gpt3-1.3b 16 32 50 > $OUT/5-init.txt 2>&1
echo rc $?
grep -v WARNING $OUT/5-init.txt | grep "random\|^zq"
