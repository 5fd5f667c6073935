#!/usr/bin/env bash
# make test-pythons: run tests/python under each CPython version named on the
# command line (3.9 3.10 ...), found in $PYENV_ROOT/versions/<version>.*; the
# full suite on $PYTHONS_FULL (default: the newest found), the files of
# $PYTHONS_SMOKE on the others. A version that is not installed is skipped
# with a message. Exit status: non-zero if any run failed.
set -u
found=()
for v in "$@"; do
  py=$(ls -d "$PYENV_ROOT"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -V | tail -1)
  if [ -z "$py" ]; then
    echo "test-pythons: CPython $v not found in $PYENV_ROOT/versions: skipped (install it with 'pyenv install $v')"
    continue
  fi
  found+=("$v=$py")
done
if [ ${#found[@]} -eq 0 ]; then
  echo "test-pythons: no CPython of $* found: nothing run"
  exit 0
fi
full=${PYTHONS_FULL:-${found[-1]%%=*}}
tests=$ROOT/tests/python
failed=()
for entry in "${found[@]}"; do
  v=${entry%%=*} py=${entry#*=}
  venv=$BUILD/pythons/$v
  stamp=$venv/.pins
  if [ ! -f "$stamp" ] || [ "$ROOT/python/requirements-pythons.txt" -nt "$stamp" ]; then
    rm -rf "$venv"
    log=$BUILD/pythons/$v.log
    mkdir -p "$BUILD/pythons"
    if ! { "$py" -m venv "$venv" &&
      "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/python/requirements-pythons.txt"; } >"$log" 2>&1; then
      tail -5 "$log"
      echo "test-pythons: $v: could not make the venv (log: $log)"
      failed+=("$v")
      continue
    fi
    touch "$stamp"
  fi
  if [ "$v" = "$full" ]; then
    what="full suite"
    args=("$tests")
  else
    what="smoke subset"
    args=()
    for f in $PYTHONS_SMOKE; do
      [ -f "$tests/$f" ] && args+=("$tests/$f")
    done
  fi
  echo "test-pythons: $("$venv/bin/python" -V 2>&1), $what"
  start=$(date +%s)
  # test_packaging builds the wheel with the main venv's tools: run it there only.
  if (cd "$ROOT" && env -u PRWLOCK_LIBRARY PYTHONPATH="$ROOT/python/src" "$venv/bin/python" -m pytest -q -n 2 \
        -o tmp_path_retention_policy=failed --ignore="$tests/test_packaging.py" "${args[@]}"); then
    echo "test-pythons: $v passed ($what, $(($(date +%s) - start)) s)"
  else
    echo "test-pythons: $v FAILED ($what)"
    failed+=("$v")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-pythons: failed under ${failed[*]}"
  exit 1
fi
