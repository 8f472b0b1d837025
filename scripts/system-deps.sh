#!/usr/bin/env bash
# System packages the integration tests need: a PostgreSQL server (real SQLSTATE errors)
# and a Redis server (the Redis stores).
# Installs them with apt-get when missing (as root, or through sudo). Go, for Jaeger,
# comes with the machine image.
set -euo pipefail
missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "system-deps: please install ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
