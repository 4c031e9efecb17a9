V=-Dzq.bench.variants=W16A16
export OLD=none A_OPTS="$V" B_OPTS="$V -Dzq.decoder.skinnyOneWave=true" ROUNDS=2 OUT=$OUT
AB_NAME=2-ab-13b timeout 380 bash scripts/gpu-ab-bench.sh gpt3-1.3b 8,16 32 50 > /dev/null 2>&1
AB_NAME=2-ab-gpt2 timeout 150 bash scripts/gpu-ab-bench.sh gpt2 8,16 32 50 > /dev/null 2>&1
grep -h "^zq gpt\|^# side" $OUT/*.txt
