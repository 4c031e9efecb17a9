#!/usr/bin/env bash
# Runs a JMH benchmark of the bench module: bench/run-jmh.sh [JMH options] [benchmark regex]
# e.g. bench/run-jmh.sh EncoderBenchmark      (results: bench/target/jmh-*.json)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/jdk.sh"
(cd "$here" && mvn -q -B -ntp -DskipTests package) >&2
mkdir -p "$here/bench/target"
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "$here/cli/target/zq-cli-0.1.0-SNAPSHOT.jar:$here/cli/target/lib/*" org.openjdk.jmh.Main \
  -rf json -rff "$here/bench/target/jmh-$(date +%Y%m%d-%H%M%S).json" "$@"
