#!/bin/sh
# Profile one streamed export in a gunicorn worker with py-spy (run from the repository root).
#   sh bench/data/profile_export.sh TOKEN
set -e
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/hm_bench_data DEBUG=false
.venv/bin/gunicorn harbourmaster.wsgi -w 1 -b 127.0.0.1:8766 --timeout 600 --log-level warning &
MASTER=$!
sleep 3
WORKER=$(cat /proc/$MASTER/task/$MASTER/children | tr -d ' ')
.venv/bin/py-spy record -p "$WORKER" -d 25 -f raw -o var/export-profile.txt &
SPY=$!
sleep 1
curl -s -o /dev/null -w 'export %{time_total}s\n' -H "Authorization: Bearer $1" \
  'http://127.0.0.1:8766/api/v1/purposes/newsletter/users?format=jsonl'
wait $SPY || true
kill $MASTER
