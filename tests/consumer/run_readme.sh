#!/bin/bash
# run_readme.sh README REPO WORK_DIR: the README's C snippet and its build
# commands, exactly as written. The ```c block becomes app.c; the ```sh block
# that builds it runs in a project directory beside app.c, with HOME set to a
# fresh directory (so $HOME/.local is a throwaway prefix) and `make` meaning
# make in the repository, as the block's comment says.
set -euo pipefail
readme=$1 repo=$2 work=$3

# block LANG PATTERN: the first ```LANG block of the README containing PATTERN.
block() {
  awk -v lang="$1" -v pat="$2" '
    !inb && $0 == "```" lang { inb = 1; text = ""; next }
    inb && /^```/ { inb = 0; if (index(text, pat)) { printf "%s", text; exit } ; next }
    inb { text = text $0 "\n" }' "$readme"
}

rm -rf "$work"
mkdir -p "$work/home" "$work/project"
block c 'prw_open(' >"$work/project/app.c"
block sh 'pkg-config --cflags --libs prwlock' >"$work/build.sh"
test -s "$work/project/app.c" || { echo "no C snippet in $readme"; exit 1; }
test -s "$work/build.sh" || { echo "no build commands for it in $readme"; exit 1; }
echo "--- app.c"; cat "$work/project/app.c"
echo "--- commands"; cat "$work/build.sh"

# The snippet uses the lock name "jobs", as do the Python snippets
# (tests/python/test_readme.py): take the same flock on /dev/shm so that no
# other checkout's run of them on this machine shares the name meanwhile.
exec 9</dev/shm
flock 9
jobs=/dev/shm/prwlock.jobs
existed=0
[ -e "$jobs" ] && existed=1
cd "$work/project"
status=0
HOME=$work/home bash -euo pipefail -c '
  make() { command make -C "$0" --no-print-directory "$@"; }
  source "$1"' "$repo" "$work/build.sh" >"$work/out.log" 2>&1 || status=$?
# The snippet creates the named lock "jobs"; it is ours to remove unless it
# was there before (someone else's).
[ $existed = 1 ] || rm -f "$jobs"
if [ $status != 0 ]; then
  cat "$work/out.log"
  echo "FAIL: the README's C snippet or its commands failed (exit $status)"
  exit 1
fi
test -x "$work/project/app"
test -f "$work/home/.local/include/prwlock.h"
rm -rf "$work"
echo "readme: the C snippet built with the README's commands and ran"
