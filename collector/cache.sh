# Sourced by jaeger.sh and otelcol.sh: where their binaries are cached, and building one once.
# CI may run without HOME; Go's caches and ours need one.
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache=${OTEL_RESILIENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-resilience}

# cached_build NAME BIN FUNCTION: unless BIN exists, runs FUNCTION (which must create BIN,
# output to stderr) holding NAME's lock, since parallel test workers may ask together; prints BIN.
cached_build() {
  local name=$1 bin=$2 make=$3
  mkdir -p "$cache"
  exec 9>"$cache/$name-build.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "$name: Go is needed to build $bin" >&2; exit 1; }
    "$make" >&2
  fi
  flock -u 9
  echo "$bin"
}
