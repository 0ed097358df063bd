#!/usr/bin/env bash
# Runs the suite on SQLite, then again on PostgreSQL (tests that need no database run only
# once). Says which passes it ran.
#
# CI mode is the default here (ATENDO_REQUIRE_SERVERS=1): a missing prerequisite -- Dovecot,
# Chromium, PostgreSQL on 127.0.0.1:5432, the shared mail corpus at ../shared/corpus -- fails
# the run and is named, instead of quietly skipping what needs it. ATENDO_REQUIRE_SERVERS=0
# (a laptop without them) skips those tests with the same message and exits 0 when the rest
# passes.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
export ATENDO_REQUIRE_SERVERS="${ATENDO_REQUIRE_SERVERS:-1}"
required() { [ "$ATENDO_REQUIRE_SERVERS" != "0" ] && [ -n "$ATENDO_REQUIRE_SERVERS" ]; }
mkdir -p test-output
# A whole-suite run also checks that every API endpoint was called with a 2xx and a 4xx answer
# (tests/endpoint_coverage.py); a run of a subset can't know that.
[ $# -eq 0 ] && export ATENDO_ENDPOINT_COVERAGE=1

PG_URL="${ATENDO_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"

# What is missing, said once up front (the tests that need it fail -- or skip -- naming it too).
missing=$($BIN/python -W ignore - "$PG_URL" <<'PY'
import os
import sys
from pathlib import Path

import psycopg

from tests.conftest import CORPUS
from tests.panel.test_browser import CHROMIUM
from tests.servers.dovecot import dovecot_available

missing = []
if reason := dovecot_available():
    missing.append(f"Dovecot ({reason})")
if not os.access(CHROMIUM, os.X_OK):
    missing.append(f"Chromium ({CHROMIUM} not found)")
if not CORPUS.is_dir():
    missing.append(f"the shared mail corpus ({CORPUS} not found)")
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    missing.append(f"PostgreSQL ({sys.argv[1]}: {first})")
print("\n".join(missing))
PY
)
pg_missing=0
if [ -n "$missing" ]; then
  echo "== missing prerequisites =="
  echo "$missing" | sed 's/^/  missing: /'
  echo "$missing" | grep -q '^PostgreSQL' && pg_missing=1
  if required; then
    echo "  (ATENDO_REQUIRE_SERVERS=$ATENDO_REQUIRE_SERVERS: the tests that need them fail;" \
      "ATENDO_REQUIRE_SERVERS=0 skips them instead)"
  fi
fi

status=0
echo "== test pass 1: SQLite =="
env -u ATENDO_TEST_DATABASE_URL $BIN/python -m pytest "$@"
rc=$?
[ $rc -eq 5 ] && rc=0  # "no tests collected" is not a failure of the code
[ $rc -ne 0 ] && status=$rc

if [ $pg_missing -eq 0 ]; then
  echo "== test pass 2: PostgreSQL ($PG_URL) =="
  ATENDO_TEST_DATABASE_URL="$PG_URL" $BIN/python -m pytest -m "not dbless and not browser" "$@"
  rc=$?
  [ $rc -eq 5 ] && rc=0
  [ $rc -ne 0 ] && status=$rc
  echo "ran: SQLite and PostgreSQL"
elif required; then
  echo "ran: SQLite only -- FAILED: PostgreSQL is not reachable at $PG_URL and CI needs it"
  [ $status -eq 0 ] && status=1
else
  echo "ran: SQLite only (PostgreSQL is not reachable at $PG_URL; ATENDO_REQUIRE_SERVERS=0)"
fi
if [ -n "$missing" ] && required; then
  echo "missing (CI needs them):"
  echo "$missing" | sed 's/^/  /'
  [ $status -eq 0 ] && status=1
fi
exit $status
