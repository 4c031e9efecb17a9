tar -C /tmp -xJf .gpu/jre.tar.xz
CP=$(ls .gpu/lib/*.jar | tr '\n' ':')
J="/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
B='dev.zq.quant.gpu.DecoderTaskGraphTest#quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, int, int)'
P='dev.zq.quant.gpu.DecoderTaskGraphTest#prefillAndDecodeStepsMatchTheCpuDecoder(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, double, int, int)'
timeout 190 $J -jar .gpu/tools/junit-platform-console-standalone-1.14.1.jar execute --class-path "$CP" --details=tree --select-method 'dev.zq.kernels.KernelsOnCudaTest#argmaxAgreesWithTheCpu' --select-method "$B" --select-method "$P" > $OUT/4-junit.txt 2>&1
echo junit rc $?
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
export A_OPTS="$V" B_OPTS="$V" OUT=$OUT
AB_NAME=4-ab-13b ROUNDS=1 timeout 200 bash scripts/gpu-ab-bench.sh gpt3-1.3b 16 32 50 > /dev/null 2>&1
AB_NAME=4-ab-gpt2 ROUNDS=2 timeout 120 bash scripts/gpu-ab-bench.sh gpt2 8,16 32 50 > /dev/null 2>&1
grep -h "^zq gpt\|^# side\|tests successful\|tests failed" $OUT/*.txt
