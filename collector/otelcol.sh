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
source "$here/cache.sh"
builder_version=v0.145.0
manifest="$here/otelcol-build/builder.yaml"
hash=$(sha256sum "$manifest" | cut -c1-12)
bin="$cache/otelcol-resilience-$hash"

build_collector() {
  local builder="$cache/ocb-$builder_version" src="$cache/otelcol-src-$hash"
  if [ ! -x "$builder" ]; then
    echo "otelcol.sh: installing the collector builder $builder_version"
    GOBIN="$cache/ocb.tmp.$$" go install "go.opentelemetry.io/collector/cmd/builder@$builder_version"
    mv "$cache/ocb.tmp.$$/builder" "$builder"
    rmdir "$cache/ocb.tmp.$$"
  fi
  echo "otelcol.sh: building the collector into $bin (once; takes a few minutes)"
  rm -rf "$src"
  "$builder" --config "$manifest" --output-path "$src"
  mv "$src/otelcol-resilience" "$bin"
  rm -rf "$src"
}

build() { cached_build otelcol "$bin" build_collector; }

case "${1:-}" in
  build) build ;;
  validate) "$(build)" validate --config "${2:-$here/otel-collector.yaml}" ;;
  run) exec "$(build)" --config "${2:-$here/otel-collector.yaml}" ;;
  *) echo "usage: collector/otelcol.sh build | validate [config] | run [config]" >&2; exit 2 ;;
esac
