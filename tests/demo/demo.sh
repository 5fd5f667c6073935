#!/usr/bin/env bash
# make demo: Python, C and Go processes share one named lock; a writer is
# SIGKILLed while holding it; everyone carries on, and `python -m prwlock
# inspect` shows holders, waiters and recoveries live.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
PY=$ROOT/.venv/bin/python
NAME=demo-$$
GOWORK=$BUILD/demo/gowork
CWORK=$BUILD/demo/prw_demo
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$PY" -m prwlock unlink "$NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$BUILD/demo"
(cd "$ROOT" && go build -o "$GOWORK" ./tests/demo/gowork)
cc -O2 -I"$ROOT/include" -I"$ROOT/tests/c" "$ROOT/tests/c/prw_demo.c" -L"$BUILD" -lprwlock \
   -Wl,-rpath,"$BUILD" -o "$CWORK"

inspect() {
  echo "---------------- python -m prwlock inspect $NAME ----------------"
  "$PY" -m prwlock inspect "$NAME" | sed 's/^/    /'
  echo "------------------------------------------------------------------"
}

echo "== one named lock '$NAME' (/dev/shm/prwlock.$NAME), shared by Go, C and Python processes"
echo "== each worker alternates write and read holds of 300 ms; readers share, writers exclude"
"$GOWORK" "$NAME" 6 300 & pids+=($!)
sleep 0.1
"$CWORK" "$NAME" 6 300 & pids+=($!)
PYTHONPATH=$ROOT/python/src "$PY" "$ROOT/tests/demo/pywork.py" "$NAME" 6 300 & pids+=($!)
PYTHONPATH=$ROOT/python/src "$PY" "$ROOT/tests/demo/pywork.py" "$NAME" 6 300 & pids+=($!)
sleep 1.2
inspect

echo "== a Go process takes the write lock and is killed with SIGKILL while holding it"
"$GOWORK" "$NAME" crash > "$BUILD/demo/crash.out" & crash=$!
pids+=("$crash")
for _ in $(seq 100); do grep -q taken "$BUILD/demo/crash.out" 2>/dev/null && break; sleep 0.05; done
cat "$BUILD/demo/crash.out"
inspect
{ kill -9 "$crash"; wait "$crash"; } 2>/dev/null || true
echo "== killed pid $crash; the waiters recover within milliseconds; the next acquirers are told"
echo "== the data may be inconsistent until a writer that was told releases (repairs) it"
for p in "${pids[@]}"; do [ "$p" = "$crash" ] || wait "$p"; done
pids=()
inspect
echo "== done: every process finished; the dead writer was recovered, not waited for"
