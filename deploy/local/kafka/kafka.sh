#!/usr/bin/env bash
# Shell entry to the local broker launcher: kafka.sh start|stop|status [--port N] [--home DIR] [--secure]
# The logic lives in service/devkit/kafka_local.py so Python tests use the very same code.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py=python3
cd "$root"
exec "$py" -m service.devkit.kafka_local "$@"
