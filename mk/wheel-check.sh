#!/usr/bin/env bash
# wheel-check.sh WHEEL OUTDIR PYTHON...: install WHEEL into a fresh venv of each
# PYTHON (no index, no dependencies) and use it there: import from the venv,
# a lock shared with a spawned child through pickling, the `prwlock` command.
# Exits non-zero if any interpreter fails; prints one line per interpreter.
set -u
wheel=$1 out=$2
shift 2
smoke='
import multiprocessing as mp, os, sys, sysconfig
import prwlock
from prwlock import RWLock

def child(lock):
    with lock.reader_lock(timeout=10):
        return os.getpid()

if __name__ == "__main__":
    assert prwlock.__file__.startswith(sysconfig.get_path("purelib")), prwlock.__file__
    lock = RWLock()
    with lock.writer_lock(timeout=10):
        pass
    with mp.get_context("spawn").Pool(1) as pool:
        assert pool.apply_async(child, (lock,)).get(timeout=60) != os.getpid()
    lock.close()
    print("prwlock %s, library %s" % (prwlock.__version__, prwlock.library_version()))
'
rm -rf "$out"
mkdir -p "$out"
# A file, not -c: spawned children import the main module by path.
printf '%s\n' "$smoke" >"$out/smoke.py"
ok=0 bad=0
for py in "$@"; do
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  venv=$out/py$ver
  log=$out/py$ver.log
  if "$py" -m venv "$venv" >"$log" 2>&1 &&
     "$venv/bin/python" -m pip install -q --no-index --no-deps --disable-pip-version-check "$wheel" >>"$log" 2>&1 &&
     (cd "$out" && "$venv/bin/python" smoke.py) >>"$log" 2>&1 &&
     "$venv/bin/prwlock" list >>"$log" 2>&1; then
    echo "ok    CPython $ver ($py): $(grep '^prwlock ' "$log")"
    ok=$((ok + 1))
  else
    echo "FAIL  CPython $ver ($py), log: $log"
    tail -5 "$log" | sed 's/^/      /'
    bad=$((bad + 1))
  fi
done
echo "wheel-check: $ok passed, $bad failed"
[ $bad -eq 0 ] && [ $ok -gt 0 ]
