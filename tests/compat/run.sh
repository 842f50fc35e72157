#!/usr/bin/env bash
# Run the real-client compatibility suites. Extra args go to pytest.
#   tests/compat/run.sh                         # against target/debug/takhin (or $TAKHIN_BIN)
#   COMPAT_BOOTSTRAP=127.0.0.1:9092 tests/compat/run.sh -k java   # against any running broker
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
PYTEST=.venv/bin/pytest
if [ ! -x "$PYTEST" ]; then
  echo "run.sh: $HERE/.venv missing; run tests/compat/install.sh first" >&2
  exit 1
fi
exec "$PYTEST" -q -p no:cacheprovider "$@"
