#!/usr/bin/env bash
# Runs schemathesis (--checks all) against a fresh server's own /openapi.json.
#
#   contract-tests/schemathesis.sh [SERVER_BIN] [MAX_EXAMPLES] [SCHEMATHESIS_ARGS…]
#
# SERVER_BIN defaults to target/debug/switchyard (build it first); MAX_EXAMPLES to 3
# (under a minute on 2 cores; raise it, e.g. 50, for a longer hunt). Needs the tools of
# contract-tests/requirements.txt (schemathesis, and aiosmtpd as the mail sink so the
# password-reset route has a mailer) on PATH / in `python3`; .ci/run installs them into
# a virtualenv. Exceptions, each with its reason: contract-tests/schemathesis.toml; the
# one generator quirk mended before sending: contract-tests/hooks.py. Further arguments
# go to `schemathesis run` (e.g. `--seed N` to replay a run printed by CI).
# Prints schemathesis' report; exits with its status (non-zero on any failure).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/debug/switchyard}
examples=${2:-3}
shift $(($# < 2 ? $# : 2))
command -v schemathesis >/dev/null || { echo "schemathesis missing: pip install -r contract-tests/requirements.txt" >&2; exit 2; }
python3 -c 'import aiosmtpd' 2>/dev/null || { echo "aiosmtpd missing: pip install -r contract-tests/requirements.txt" >&2; exit 2; }
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
smtp=$((port + 1))
python3 -m aiosmtpd -n -l "127.0.0.1:$smtp" >"$work/smtp.log" 2>&1 &
smtp_pid=$!
SWITCHYARD_HTTP_ADDR=127.0.0.1:$port SWITCHYARD_MQTT_ADDR=127.0.0.1:0 \
  SWITCHYARD_DATA_DIR="$work/data" MG_USERS_ADMIN_PASSWORD='Schemathesis-Admin-1' \
  SWITCHYARD_DEVICE_RATE_LIMIT=0 MG_EMAIL_HOST=127.0.0.1 MG_EMAIL_PORT=$smtp \
  SWITCHYARD_EMAIL_TLS=none "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid $smtp_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
token=$(curl -sf -X POST "http://127.0.0.1:$port/users/tokens/issue" \
  -H 'content-type: application/json' \
  -d '{"username":"admin","password":"Schemathesis-Admin-1"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# One worker: with two threads, hypothesis' ast.parse of its own lambdas sometimes hits
# CPython 3.11's shared AST recursion counter ("SystemError: AST constructor recursion
# depth mismatch", python/cpython#106905) and the run ends in a runtime error.
PYTHONPATH="$here/contract-tests${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks \
  schemathesis --config-file "$here/contract-tests/schemathesis.toml" \
  run "http://127.0.0.1:$port/openapi.json" --checks all \
  --max-examples "$examples" --workers 1 --no-color \
  -H "Authorization: Bearer $token" "$@"
