#!/usr/bin/env bash
# Where a CPU decode step or prefill spends its time: runs dev.zq.bench.DecoderLoop under Java Flight Recorder and sums
# the execution samples by the innermost zq method (and its caller), skipping the model's set-up (random weights,
# quantization, packing, and the decode cache's first prompt): samples from the first one inside a timed step on.
# Usage: scripts/cpu-profile.sh SCHEME decode|prefill BATCH [SECONDS]   (e.g. w8a8 decode 8 20)
# Needs the jars (mvn -o install -DskipTests). Output: the loop's median step, then the method shares.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/jdk.sh"
[ $# -ge 3 ] || { echo "usage: $0 SCHEME decode|prefill BATCH [SECONDS]" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$JAVA_HOME/bin/java" -XX:StartFlightRecording=filename="$tmp/run.jfr",settings=profile --add-modules jdk.incubator.vector \
  --enable-native-access=ALL-UNNAMED -cp "$here/cli/target/zq-cli-0.1.0-SNAPSHOT.jar:$here/cli/target/lib/*" \
  dev.zq.bench.DecoderLoop "$1" "$2" "$3" "${4:-20}" 2>&1 | grep -v "jfr,startup\|WARNING"
"$JAVA_HOME/bin/jfr" print --stack-depth 40 --events jdk.ExecutionSample "$tmp/run.jfr" > "$tmp/samples.txt"
python3 - "$tmp/samples.txt" <<'PY'
import collections, re, sys
# The set-up (random weights, quantization, packing, the cache's first prompt) runs before the first timed step; its tasks
# also run on the pool's threads, whose stacks do not show it, so samples are kept from the first one inside a step on.
events = []
for event in open(sys.argv[1]).read().split('jdk.ExecutionSample'):
    frames = re.findall(r'^\s+([\w.$]+)\(', event, re.M)
    t = re.search(r'startTime = (\d+):(\d+):([\d.]+)', event)
    if frames and t: events.append((int(t.group(1)) * 3600 + int(t.group(2)) * 60 + float(t.group(3)), frames))
steps = [t for t, frames in events if any(f.endswith('DecoderBenchmark.decode') or f.endswith('DecoderBenchmark.prefill') for f in frames)]
start = min(steps) if steps else 0
shares, total = collections.Counter(), 0
for t, frames in events:
    if t < start: continue
    total += 1
    ours = [f.rsplit('.', 2)[-2] + '.' + f.rsplit('.', 1)[-1] for f in frames if f.startswith('dev.zq')][:2]
    shares[' <- '.join(ours) or '(outside zq)'] += 1
print(f'{total} samples of the steps')
for k, v in shares.most_common(15): print(f'{100 * v / total:5.1f}%  {k}')
PY
