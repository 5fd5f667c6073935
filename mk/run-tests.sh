#!/usr/bin/env bash
# `make test`: run every suite named on the command line, even after one
# fails, then check that this run left nothing behind, print a summary and
# exit non-zero if anything failed.
#
# The run gets a temporary directory of its own (TMPDIR; every suite puts
# its scratch files there), so whatever is left there is certainly the
# run's. It is 0711: tests that run a helper as another user (uid 65534)
# make their own world-searchable directory inside it. /dev/shm is shared
# with every other process of the machine, so there only what this run
# created counts: a listing taken before the suites is compared with one
# taken after, leaving out files that live processes have mapped (locks in
# use by concurrent runs). /tmp itself is not judged: concurrent runs of
# other checkouts keep their scratch directories there while they work.
set -u
MAKE=${MAKE:-make}
shm=/dev/shm
base=${TMPDIR:-/tmp}
run=$(mktemp -d "$base/prwlock-test.XXXXXX") || exit 1
chmod 0711 "$run"

# listing DIR: "inode name" of its prwlock entries owned by this user.
listing() {
  find "$1" -mindepth 1 -maxdepth 1 -name 'prwlock*' -user "$(id -u)" -printf '%i %f\n' 2>/dev/null | sort
}

# in_use: the /dev/shm prwlock files some live process has mapped (a lock in
# use by a concurrent run is not a leftover; ours have all exited by now).
in_use() {
  cat /proc/[0-9]*/maps 2>/dev/null | grep -o "$shm/prwlock[^ ]*" | sort -u
}

# new_entries DIR BEFORE: entries of DIR not in the BEFORE listing.
new_entries() {
  comm -13 <(printf '%s\n' "$2") <(listing "$1") | cut -d' ' -f2-
}

before_shm=$(listing "$shm")

passed=() failed=() times=()
for suite in "$@"; do
  echo "=== $suite"
  start=$SECONDS
  if TMPDIR=$run $MAKE --no-print-directory "$suite"; then
    passed+=("$suite")
    times+=("PASS  $suite ($((SECONDS - start)) s)")
  else
    failed+=("$suite")
    times+=("FAIL  $suite ($((SECONDS - start)) s)")
  fi
done

echo "=== leftovers"
left=()
check_shm() {
  local busy f out=()
  busy=$(in_use)
  for f in $(new_entries "$shm" "$before_shm"); do
    grep -qxF "$shm/$f" <<<"$busy" || out+=("$shm/$f")
  done
  printf '%s\n' "${out[@]}"
}
suspects=$(check_shm)
if [ -n "$suspects" ]; then
  sleep 2 # a concurrent run may be between two uses of its lock
  suspects=$(check_shm)
fi
[ -n "$suspects" ] && left+=($suspects)
# In the run's own directory every lock file is this run's: named like one,
# or holding a segment (its first bytes are the magic "PRWLOCK\0"). pytest
# removes the temporary directories of the tests that passed.
while IFS= read -r -d '' f; do
  case "${f##*/}" in
    prwlock.*) left+=("$f") ;;
    *) [ "$(head -c 7 "$f" 2>/dev/null)" = PRWLOCK ] && left+=("$f") ;;
  esac
done < <(find "$run" -type f -print0 2>/dev/null)
if [ ${#left[@]} -gt 0 ]; then
  echo "FAIL: this run left prwlock files behind:"
  printf '  %s\n' "${left[@]}"
  failed+=(leftovers)
  times+=("FAIL  leftovers")
else
  echo "nothing left in $shm or $run"
  passed+=(leftovers)
  times+=("PASS  leftovers")
fi

if [ ${#failed[@]} -eq 0 ]; then
  rm -rf "$run"
else
  echo "kept for inspection: $run"
fi
echo "=== summary"
printf '%s\n' "${times[@]}"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
