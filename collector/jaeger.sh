#!/usr/bin/env bash
# Runs Jaeger v2 here without Docker.
#   collector/jaeger.sh build   build the binary once (cached outside the work tree), print its path
#   collector/jaeger.sh run     build, start it with collector/jaeger.yaml on 127.0.0.1, wait for health
# The UI: a go build has none (Jaeger serves a placeholder page). JAEGER_UI_ASSETS=<dir> serves the
# real one from a folder (jaeger_query.ui.assets_path): the assets.tar.gz of the
# jaegertracing/jaeger-ui GitHub release of the pinned version (v1.76.0; jaeger-ui tags follow
# Jaeger's v1 tags), unpacked.
# The binary is built from collector/jaeger-build/go.mod (pinned Jaeger module and go.sum)
# into ${OTEL_RESILIENCE_CACHE:-~/.cache/otel-resilience}. Ports: see jaeger.yaml.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cache.sh"
version=$(awk '$1 == "require" && $2 == "github.com/jaegertracing/jaeger" { print $3 }' "$here/jaeger-build/go.mod")
bin="$cache/jaeger-$version"

build_jaeger() {
  echo "jaeger.sh: building Jaeger $version into $bin (once; takes a few minutes)"
  (cd "$here/jaeger-build" && go build -o "$bin.tmp.$$" github.com/jaegertracing/jaeger/cmd/jaeger)
  mv "$bin.tmp.$$" "$bin"
}

build() { cached_build jaeger "$bin" build_jaeger; }

ui_note() {
  if [ -n "${JAEGER_UI_ASSETS:-}" ]; then
    echo "the Jaeger UI from $JAEGER_UI_ASSETS"
  else
    echo "a PLACEHOLDER page, not the Jaeger UI (a go build has no UI assets). For the real UI, unpack
  assets.tar.gz of the jaegertracing/jaeger-ui $version GitHub release into a folder and run
  JAEGER_UI_ASSETS=<folder> npm run jaeger (or use collector/docker-compose.yaml, whose image has it).
  The query API works either way"
  fi
}

run() {
  if [ -n "${JAEGER_UI_ASSETS:-}" ]; then
    [ -f "$JAEGER_UI_ASSETS/index.html" ] || {
      echo "jaeger.sh: JAEGER_UI_ASSETS=$JAEGER_UI_ASSETS has no index.html (unpack the jaeger-ui release's assets.tar.gz there)" >&2
      exit 1
    }
    JAEGER_UI_ASSETS=$(cd "$JAEGER_UI_ASSETS" && pwd)
  fi
  build >/dev/null
  ui_flag=()
  [ -n "${JAEGER_UI_ASSETS:-}" ] && ui_flag=("--set=extensions::jaeger_query::ui::assets_path=$JAEGER_UI_ASSETS")
  "$bin" --config "$here/jaeger.yaml" "${ui_flag[@]}" &
  pid=$!
  trap 'kill $pid 2>/dev/null' INT TERM
  health="http://${JAEGER_HOST:-127.0.0.1}:${JAEGER_HEALTH_PORT:-13133}/status"
  for _ in $(seq 1 120); do
    if curl -fsS "$health" >/dev/null 2>&1; then
      echo "Jaeger is up: OTLP/HTTP on :${JAEGER_OTLP_HTTP_PORT:-4318}, query API on http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}/api/traces" >&2
      echo "http://127.0.0.1:${JAEGER_QUERY_PORT:-16686} serves $(ui_note)" >&2
      wait $pid
      exit $?
    fi
    kill -0 $pid 2>/dev/null || { echo "jaeger.sh: Jaeger exited during start-up" >&2; exit 1; }
    sleep 0.5
  done
  echo "jaeger.sh: Jaeger did not become healthy at $health" >&2
  kill $pid
  exit 1
}

case "${1:-run}" in
  build) build ;;
  run) run ;;
  *) echo "usage: collector/jaeger.sh [build|run]" >&2; exit 2 ;;
esac
