#!/usr/bin/env bash
# On the GPU machine (after scripts/gpu-pack.sh here): Nsight Compute over DecoderGpuBench, to see where a decode step's
# kernels spend their time. Pass 1 times every kernel the bench launches, one at a time (ncu serializes them and flushes
# the caches before each: isolated device time, no overlap with a neighbour); pass 2 collects the detailed sections
# (speed of light, occupancy, launch, warp stall reasons, memory) for the last decode step's kernels.
# VARIANT (default W8A8) picks DecoderGpuBench's variant; MODEL (default gpt2); BATCH (default 1) the batch, e.g.
# BATCH=16 KERNEL=PrefillGemmKernel_int8 for a batch's tensor-core projections; clocks are left alone (METHOD.md).
# SKIP and COUNT (both or neither) name the kernels of pass 2 by launch index instead (pass 1 then does not run), and
# then the full set is collected and its per-instruction page printed too (SASS with executed counts and stall samples).
# KERNEL (with SKIP and COUNT) counts only the launches of kernels whose name matches that regex, e.g.
# MODEL=gpt3-1.3b VARIANT=W8A8+head8 KERNEL=WideGemvKernel_int8 SKIP=200 COUNT=4 (a decode step's four INT8 projections).
# LAYER0=1 instead collects that full set for the last decode step's first layer (its five kernels after the embedding),
# found from pass 1's launch order.
# Output: $OUT (or ./gpu-out)/ncu-durations.csv, ncu-step.txt (and ncu-sass.csv: summarise it with scripts/ncu_sass_summary.py).
# The device tool returns a limited number of files: tar the output folder in the same command.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"; mkdir -p "$out"
[ -x /tmp/zq-jre/bin/java ] || tar -C /tmp -xJf .gpu/jre.tar.xz
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$ncu" ] || { echo "no ncu on this machine"; exit 1; }
cp_=$(ls .gpu/lib/*.jar | tr '\n' ':')
run=(/tmp/zq-jre/bin/java -Dzq.bench.variants="${VARIANT:-W8A8}" ${ZQ_JAVA_OPTS:-} --add-modules jdk.incubator.vector
     --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$cp_" dev.zq.bench.DecoderGpuBench "${MODEL:-gpt2}" "${BATCH:-1}" 32 3)
if [ -n "${SKIP:-}" ]; then
  filter=(); [ -n "${KERNEL:-}" ] && filter=(-k "regex:$KERNEL")
  "$ncu" --clock-control none "${filter[@]}" --launch-skip "$SKIP" --launch-count "$COUNT" --set full --import-source no -o "$out/kernels" "${run[@]}" \
    > "$out/ncu-pass2.err" 2>&1
  echo "collect exit $?"
  "$ncu" --import "$out/kernels.ncu-rep" --page details --print-details all > "$out/ncu-step.txt"
  "$ncu" --import "$out/kernels.ncu-rep" --page source --print-source sass --csv > "$out/ncu-sass.csv"
  rm -f "$out/kernels.ncu-rep"
  exit 0
fi
"$ncu" --clock-control none --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread --csv \
  "${run[@]}" > "$out/ncu-durations.csv" 2> "$out/ncu-pass1.err"
echo "pass 1 exit $?, $(grep -c '"gpu__time_duration.sum"' "$out/ncu-durations.csv") kernels"
# The last decode step: the kernels after the last-but-one step's end (argmax, or GreedyHeadKernel at batch 1), up to the last.
read -r skip count layer0 < <(python3 - "$out/ncu-durations.csv" <<'EOF'
import csv, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
head = rows[0]; ids = []
for r in rows[1:]:
    d = dict(zip(head, r))
    if d["Metric Name"] == "gpu__time_duration.sum": ids.append((int(d["ID"]), d["Kernel Name"]))
arg = [i for i, k in ids if "argmax" in k or "GreedyHead" in k]   # a step's last kernel
emb = [i for i, k in ids if "embed" in k and i < arg[-1]]
print(arg[-2] + 1, arg[-1] - arg[-2], emb[-1] + 1)
EOF
)
if [ -n "${LAYER0:-}" ]; then
  echo "layer 0 of the last step: skip $layer0, 5 kernels"
  SKIP=$layer0 COUNT=5 exec bash "${BASH_SOURCE[0]}"
fi
echo "pass 2: skip $skip, $count kernels"
"$ncu" --clock-control none --launch-skip "$skip" --launch-count "$count" --section SpeedOfLight --section LaunchStats \
  --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis --section SchedulerStats \
  "${run[@]}" > "$out/ncu-step.txt" 2> "$out/ncu-pass2.err"
echo "pass 2 exit $?"
