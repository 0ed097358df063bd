#!/usr/bin/env bash
# Runs the suite on SQLite, then again on PostgreSQL when a server answers on 127.0.0.1:5432
# (tests that need no database run only once). Says which passes it ran.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ATENDO_REQUIRE_SERVERS="${ATENDO_REQUIRE_SERVERS:-1}"
mkdir -p test-output
# A whole-suite run also checks that every API endpoint was called with a 2xx and a 4xx answer
# (tests/endpoint_coverage.py); a run of a subset can't know that.
[ $# -eq 0 ] && export ATENDO_ENDPOINT_COVERAGE=1

status=0
echo "== test pass 1: SQLite =="
env -u ATENDO_TEST_DATABASE_URL $BIN/python -m pytest "$@"
rc=$?
[ $rc -eq 5 ] && rc=0  # "no tests collected" is not a failure of the code
[ $rc -ne 0 ] && status=$rc

PG_URL="${ATENDO_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
if $BIN/python - "$PG_URL" <<'PY'
import sys
import psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable ({exc}); skipping the PostgreSQL pass")
    sys.exit(1)
PY
then
  echo "== test pass 2: PostgreSQL ($PG_URL) =="
  ATENDO_TEST_DATABASE_URL="$PG_URL" $BIN/python -m pytest -m "not dbless and not browser" "$@"
  rc=$?
  [ $rc -eq 5 ] && rc=0
  [ $rc -ne 0 ] && status=$rc
  echo "ran: SQLite and PostgreSQL"
else
  echo "ran: SQLite only"
fi
exit $status
