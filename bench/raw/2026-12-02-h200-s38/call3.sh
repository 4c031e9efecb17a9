tar -C /tmp -xJf .gpu/jre.tar.xz
CP=$(ls .gpu/lib/*.jar | tr '\n' ':')
J="/tmp/zq-jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
B='dev.zq.quant.gpu.DecoderTaskGraphTest#quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, int, int)'
P='dev.zq.quant.gpu.DecoderTaskGraphTest#prefillAndDecodeStepsMatchTheCpuDecoder(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, double, int, int)'
V=-Dzq.bench.variants=W16A16,W8A8+head8,W4/8A8+head8
nvidia-smi --query-gpu=name,driver_version --format=csv > $OUT/device.txt
timeout 200 $J -jar .gpu/tools/junit-platform-console-standalone-1.14.1.jar execute --class-path "$CP" --details=tree --select-method 'dev.zq.kernels.KernelsOnCudaTest#skinnyMmaAgreesWithTheCpu' --select-method "$B" --select-method "$P" > $OUT/3-junit.txt 2>&1
echo junit rc $?
timeout 300 $J $V -cp "$CP" dev.zq.bench.DecoderGpuBench gpt3-1.3b,gpt2 1,8,16 32 50 > $OUT/3-table.txt 2>&1
echo table rc $?
grep -h "^zq \|tests successful\|tests failed" $OUT/*.txt
