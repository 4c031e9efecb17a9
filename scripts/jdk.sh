# Sourced by the launchers: points JAVA_HOME at a JDK 25 or newer, or stops with a clear message.
# Looks at $JAVA_HOME, the java on PATH, then the usual install locations.
zq_java_major() { "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
zq_find_jdk() {
  local c m onpath=""
  command -v javac >/dev/null 2>&1 && onpath="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
  for c in "${JAVA_HOME:-}" "$onpath" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25* /usr/lib/jvm/* /opt/java/* "$HOME"/.sdkman/candidates/java/*; do
    [ -n "$c" ] && [ -x "$c/bin/java" ] && [ -x "$c/bin/javac" ] || continue
    m="$(zq_java_major "$c")"
    if [ -n "$m" ] && [ "$m" -ge 25 ]; then echo "$c"; return 0; fi
  done
  return 1
}
if ! JAVA_HOME="$(zq_find_jdk)"; then
  echo "zq needs a JDK 25 or newer (java.lang.classfile, FFM, the Vector API) and found none." >&2
  echo "Install one (e.g. Temurin 25) and set JAVA_HOME to it." >&2
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven's own libraries call sun.misc.Unsafe, which JDK 25 warns about on every run.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
