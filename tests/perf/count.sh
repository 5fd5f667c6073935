#!/bin/sh
# count.sh: instructions per iteration (callgrind, deterministic on a noisy
# machine) of the C and Python uncontended loops.
#   tests/perf/count.sh [ROOT]     ROOT: a checkout with build/libprwlock.so
# Needs valgrind. Go's async preemption signals upset callgrind: off.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${1:-$here/../..}" && pwd)
py=${PYTHON:-$here/../../.venv/bin/python}
export GODEBUG=asyncpreemptoff=1 PRWLOCK_ROOT="$root" PRWLOCK_LIBRARY="$root/build/libprwlock.so"
cc -O2 -I"$root/include" "$here/cpair.c" -L"$root/build" -lprwlock -Wl,-rpath,"$root/build" -o /tmp/prw_cpair.$$
# Count only the main thread (the loop, and below it the calls into Go):
# Go's background threads (sysmon, GC) run a time-dependent amount.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {
  rm -f "$tmp"/cg.*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg" "$@" >/dev/null 2>&1
  sed -n 's/^summary: //p' "$tmp"/cg-01 | awk '{print $1}'
}
per() { # per LABEL N1 N2 CMD... (CMD gets N appended... via placeholder @N)
  label=$1; a=$2; b=$3; shift 3
  ca=$(count $(echo "$@" | sed "s/@N/$a/")); cb=$(count $(echo "$@" | sed "s/@N/$b/"))
  echo "$label $(( (cb - ca) / (b - a) ))"
}
echo "instructions per iteration ($root)"
per "C   read pair          " 10000 20000 /tmp/prw_cpair.$$ @N 0
per "C   write pair         " 10000 20000 /tmp/prw_cpair.$$ @N 1
# A writer scans the bitmap of used slots, a word per 64 slots: by capacity.
for c in 128 1024 4096; do
  PRW_CAPACITY=$c per "C   write pair, $(printf %-4s $c) slots" 10000 20000 /tmp/prw_cpair.$$ @N 1
done
unset PRW_CAPACITY
per "C   prw_is_anonymous   " 10000 20000 /tmp/prw_cpair.$$ @N 4
none=$(per x 10000 20000 "$py" "$here/pyloop.py" none @N | awk '{print $2}')
for k in ${KINDS:-read write try with raw version isa}; do
  v=$(per x 10000 20000 "$py" "$here/pyloop.py" $k @N | awk '{print $2}')
  printf 'Py  %-19s %s\n' "$k" $((v - none))
done
rm -f /tmp/prw_cpair.$$
