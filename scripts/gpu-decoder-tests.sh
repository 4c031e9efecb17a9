#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): the decoder's GPU checks in one JUnit run, against the CPU executor
# and the CPU decoder — KernelsOnCudaTest's skinnyMmaAgreesWithTheCpu, argmaxAgreesWithTheCpu and attendStepAgreesWithTheCpu, DecoderTaskGraphTest's
# bit-for-bit cases (quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit) and CPU-decoder cases
# (prefillAndDecodeStepsMatchTheCpuDecoder), a LLaMA's bit-for-bit and CPU-decoder cases (quantizedLlamasOnTheGpuEqualTheCpuExecutorBitForBit,
# llamaPrefillAndDecodeStepsMatchTheCpuDecoder) and its fused launches (llamaDecodeStepsNormaliseAndGateInsideTheProjections) —
# plus the test methods given as arguments (JUnit's --select-method syntax).
# On the H200 these took 299 s (session 47, attendStepAgreesWithTheCpu included; 200 s without it in session 46); TIMEOUT (default
# 420 s) bounds them. OPTS: JVM options (e.g. a -Dzq.decoder switch).
# Output: $OUT/${NAME:-junit}.txt, and its summary lines on stdout.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
cp_=$(ls .gpu/lib/*.jar | tr '\n' ':')
select=(--select-method 'dev.zq.kernels.KernelsOnCudaTest#skinnyMmaAgreesWithTheCpu'
        --select-method 'dev.zq.kernels.KernelsOnCudaTest#argmaxAgreesWithTheCpu'
        --select-method 'dev.zq.kernels.KernelsOnCudaTest#attendStepAgreesWithTheCpu'
        --select-method 'dev.zq.quant.gpu.DecoderTaskGraphTest#quantizedDecodersOnTheGpuEqualTheCpuExecutorBitForBit(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, int, int)'
        --select-method 'dev.zq.quant.gpu.DecoderTaskGraphTest#prefillAndDecodeStepsMatchTheCpuDecoder(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, double, int, int)'
        --select-method 'dev.zq.quant.gpu.DecoderTaskGraphTest#quantizedLlamasOnTheGpuEqualTheCpuExecutorBitForBit(java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, int, int)'
        --select-method 'dev.zq.quant.gpu.DecoderTaskGraphTest#llamaPrefillAndDecodeStepsMatchTheCpuDecoder(java.lang.String, java.lang.String, dev.zq.quant.gpu.DecoderTaskGraph$CachePrecision, double, int, int)'
        --select-method 'dev.zq.quant.gpu.DecoderTaskGraphTest#llamaDecodeStepsNormaliseAndGateInsideTheProjections(java.lang.String, int)')
for m in "$@"; do select+=(--select-method "$m"); done
timeout "${TIMEOUT:-420}" /tmp/zq-jre/bin/java ${OPTS:-} --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g \
  -jar .gpu/tools/junit-platform-console-standalone-1.14.1.jar execute --class-path "$cp_" --details=tree "${select[@]}" > "$out/${NAME:-junit}.txt" 2>&1
rc=$?
echo "junit rc $rc"
grep -h "tests successful\|tests failed\|tests skipped" "$out/${NAME:-junit}.txt"
exit $rc
