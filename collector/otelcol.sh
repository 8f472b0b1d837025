#!/usr/bin/env bash
# Runs the OpenTelemetry Collector of collector/otel-collector.yaml here without Docker.
#   collector/otelcol.sh build              build it once (cached outside the work tree), print its path
#   collector/otelcol.sh validate [CONFIG]  check a config (default collector/otel-collector.yaml)
#   collector/otelcol.sh run [CONFIG]       start it with that config, in the foreground
# Built with the collector builder (go.opentelemetry.io/collector/cmd/builder, from the Go module
# proxy, checked against the checksum database) from collector/otelcol-build/builder.yaml into
# ${OTEL_RESILIENCE_CACHE:-~/.cache/otel-resilience}; the binary's name carries the manifest's
# hash, so a changed manifest builds again. First build: about 4 minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache=${OTEL_RESILIENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-resilience}
builder_version=v0.145.0
manifest="$here/otelcol-build/builder.yaml"
hash=$(sha256sum "$manifest" | cut -c1-12)
bin="$cache/otelcol-resilience-$hash"

build() {
  mkdir -p "$cache"
  # One build at a time: parallel test workers may ask for the binary together.
  exec 9>"$cache/otelcol-build.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { echo "otelcol.sh: Go is needed to build the collector" >&2; exit 1; }
    builder="$cache/ocb-$builder_version"
    if [ ! -x "$builder" ]; then
      echo "otelcol.sh: installing the collector builder $builder_version" >&2
      GOBIN="$cache/ocb.tmp.$$" go install "go.opentelemetry.io/collector/cmd/builder@$builder_version" >&2
      mv "$cache/ocb.tmp.$$/builder" "$builder"
      rmdir "$cache/ocb.tmp.$$"
    fi
    echo "otelcol.sh: building the collector into $bin (once; takes a few minutes)" >&2
    src="$cache/otelcol-src-$hash"
    rm -rf "$src"
    "$builder" --config "$manifest" --output-path "$src" >&2
    mv "$src/otelcol-resilience" "$bin"
    rm -rf "$src"
  fi
  flock -u 9
  echo "$bin"
}

case "${1:-}" in
  build) build ;;
  validate) "$(build)" validate --config "${2:-$here/otel-collector.yaml}" ;;
  run) exec "$(build)" --config "${2:-$here/otel-collector.yaml}" ;;
  *) echo "usage: collector/otelcol.sh build | validate [config] | run [config]" >&2; exit 2 ;;
esac
