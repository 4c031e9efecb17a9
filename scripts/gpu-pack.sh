#!/usr/bin/env bash
# Packs what a run on a GPU machine needs into .gpu/ (git-ignored; under 64 MiB): a jlink'd JDK 25 runtime
# (xz, ~13 MiB; the GPU machines have no Java), the project's jars, the kernel, GPU-encoder and CLI tests and JUnit's console
# launcher. Then hand `.gpu` to the device tool's `carry` and run scripts/gpu-run.sh there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/jdk.sh"
cd "$here"
mvn -q -B -ntp -DskipTests package
mvn -q -B -ntp -DskipTests test-compile -pl tornado-kernels,quant,cli -am
rm -rf .gpu && mkdir -p .gpu/lib
jre=$(mktemp -d)/zq-jre
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,jdk.unsupported,java.management \
  --strip-debug --no-header-files --no-man-pages --output "$jre"
tar -C "$(dirname "$jre")" -cJf .gpu/jre.tar.xz zq-jre
rm -rf "$(dirname "$jre")"
cp tensor/target/zq-tensor-*.jar runtime/target/zq-runtime-*.jar tornado-kernels/target/zq-tornado-kernels-*.jar \
   model/target/zq-model-*.jar quant/target/zq-quant-*.jar lkd/target/zq-lkd-*.jar bench/target/zq-bench-*.jar cli/target/zq-cli-*.jar .gpu/lib/
# The bundled models (zq/zoo, ~25 MB) leave the model jar: the checkout carries them already, and a call carries at most
# 64 MiB. The jar's manifest puts the checkout's model/src/main/resources/ on the class path in their place.
python3 - model/target/zq-model-*.jar .gpu/lib/zq-model-*.jar <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        if item.filename.startswith("zq/zoo/"): continue
        data = zin.read(item.filename)
        if item.filename == "META-INF/MANIFEST.MF":
            data = (data.decode().rstrip("\r\n") + "\r\nClass-Path: ../../model/src/main/resources/\r\n\r\n").encode()
        zout.writestr(item, data)
PY
# The decoder tables (scripts/cpu-tables-run.sh) need Jackson, and the corpora: that machine cannot reach npm.
mvn -q -B -ntp -DskipTests package dependency:copy-dependencies -pl quant -am -DincludeGroupIds=com.fasterxml.jackson.core -DoutputDirectory="$here/.gpu/lib"
mkdir -p .gpu/corpora
for c in moby-dick sotu-train sotu-test; do
  f="${ZQ_CACHE:-$HOME/.cache/zq}/corpora/$c.txt"
  [ -f "$f" ] || ./zq eval --model sotu-gpt --corpus "$c" --max-tokens 300 >/dev/null   # fetches the corpora once
  xz -9 -T2 -c "$f" > ".gpu/corpora/$c.txt.xz"
done
"$JAVA_HOME/bin/jar" cf .gpu/lib/zq-tornado-kernels-tests.jar -C tornado-kernels/target/test-classes .
"$JAVA_HOME/bin/jar" cf .gpu/lib/zq-quant-tests.jar -C quant/target/test-classes .
# The CLI's GPU paths (zq generate --device gpu) are checked there too: its test classes and picocli.
"$JAVA_HOME/bin/jar" cf .gpu/lib/zq-cli-tests.jar -C cli/target/test-classes .
mvn -q -B -ntp -DskipTests package dependency:copy-dependencies -pl cli -am -DincludeArtifactIds=picocli -DoutputDirectory="$here/.gpu/lib"
# The JMH benchmarks (bench/run-jmh.sh's, e.g. the CPU decoder on that machine's cores): JMH and what it needs (built with
# its upstream modules: without them a machine whose Maven repository lacks zq's own jars cannot resolve bench's).
mvn -q -B -ntp -DskipTests package dependency:copy-dependencies -pl bench -am -DincludeArtifactIds=jmh-core,jopt-simple,commons-math3 -DoutputDirectory="$here/.gpu/lib"
mvn -q -B -ntp dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 -DoutputDirectory=.gpu/tools
du -sh .gpu
