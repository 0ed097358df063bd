#!/usr/bin/env bash
# Runs every benchmark in bench/ (each prints its figures beside a baseline from the same run).
set -u
cd "$(dirname "$0")/.."
status=0
for script in bench/*.py; do
  [ "$(basename "$script")" = "__init__.py" ] && continue
  case "$(basename "$script")" in _*) continue;; esac
  echo "== $script =="
  .venv/bin/python "$script" || status=1
done
exit $status
