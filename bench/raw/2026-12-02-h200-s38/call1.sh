set -x
tar -C /tmp -xJf .gpu/jre.tar.xz
CP=$(ls .gpu/lib/*.jar | tr '\n' ':')
MAIN=$(ls .gpu/lib/*.jar | grep -v 'zq-tornado-kernels-0\|zq-quant-0' | tr '\n' ':').gpu/main/zq-tornado-kernels-0.1.0-SNAPSHOT.jar:.gpu/main/zq-quant-0.1.0-SNAPSHOT.jar
J="/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
B='dev.zq.quant.gpu.DecoderTaskGraphTest#quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, int, int)'
P='dev.zq.quant.gpu.DecoderTaskGraphTest#prefillAndDecodeStepsMatchTheCpuDecoder(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, double, int, int)'
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
nvidia-smi --query-gpu=name,driver_version --format=csv > $OUT/device.txt
timeout 190 $J -jar .gpu/tools/junit-platform-console-standalone-1.14.1.jar execute --class-path "$CP" --details=tree --select-method 'dev.zq.kernels.KernelsOnCudaTest#skinnyMmaAgreesWithTheCpu' --select-method "$B" --select-method "$P" > $OUT/1-junit.txt 2>&1
echo junit rc $?
for c in main pack wave; do
  C=$CP; O=""
  [ $c = main ] && C=$MAIN
  [ $c = wave ] && O=-Dzq.decoder.skinnyOneWave=true
  echo "# jars $c $O" >> $OUT/1-ab.txt
  timeout 115 $J $V $O -cp "$C" dev.zq.bench.DecoderGpuBench gpt3-1.3b 16 32 50 >> $OUT/1-ab.txt 2>&1
  echo ab $c rc $?
done
grep -h "^zq \|^# jars\|tests successful\|tests failed" $OUT/*.txt
