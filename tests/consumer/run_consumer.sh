#!/bin/sh
# run_consumer.sh BUILD_DIR WORK_DIR: install the CMake build BUILD_DIR into
# a fresh prefix under WORK_DIR, check the installed layout, then build the
# outside project twice, with find_package and with pkg-config, and run it.
set -eu
build=$1 work=$2
src=$(cd "$(dirname "$0")/project" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
step() { echo "--- $*"; }

step "cmake --install --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
real=$(find "$prefix" -name libprwlock.so.1.0.0)
libdir=$(dirname "$real")
test -f "$prefix/include/prwlock.h"
test -f "$prefix/include/prwlock.hpp"
test ! -e "$prefix/include/libprwlock.h"     # cgo's header stays private
test "$(readlink "$libdir/libprwlock.so.1")" = libprwlock.so.1.0.0
test "$(readlink "$libdir/libprwlock.so")" = libprwlock.so.1
readelf -d "$real" | grep -q 'Library soname: \[libprwlock.so.1\]'
test -f "$libdir/pkgconfig/prwlock.pc"
test -f "$libdir/cmake/prwlock/prwlockConfig.cmake"
test -f "$libdir/cmake/prwlock/prwlockConfigVersion.cmake"

step "find_package(prwlock 1 CONFIG REQUIRED)"
cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cm.log"
grep -q "prwlock 1.0.0 from $libdir/cmake/prwlock" "$work/cm.log"
cmake --build "$work/cm" >"$work/cm-build.log"
readelf -d "$work/cm/consumer" | grep -q 'NEEDED.*\[libprwlock.so.1\]'
env -u LD_LIBRARY_PATH "$work/cm/consumer"
env -u LD_LIBRARY_PATH "$work/cm/consumer_cpp"

step "find_package(prwlock 2) must fail (SameMajorVersion)"
if cmake -S "$src" -B "$work/cm2" -DCMAKE_PREFIX_PATH="$prefix" -DPRWLOCK_WANT=2 \
     >"$work/cm2.log" 2>&1; then
  echo "FAIL: find_package(prwlock 2) succeeded"; exit 1
fi

step "pkg-config prwlock"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
test "$(pkg-config --modversion prwlock)" = 1.0.0
cc=${CC:-cc}
# shellcheck disable=SC2046
$cc -Wall -Werror -o "$work/pc_consumer" "$src/consumer.c" $(pkg-config --cflags --libs prwlock)
LD_LIBRARY_PATH="$libdir" "$work/pc_consumer"
# The installed header is clean C99 and C++.
echo '#include <prwlock.h>' | $cc -std=c99 -Wall -Wextra -Wpedantic -Werror \
  $(pkg-config --cflags prwlock) -fsyntax-only -x c -
echo '#include <prwlock.h>' | ${CXX:-c++} -std=c++11 -Wall -Wextra -Wpedantic -Werror \
  $(pkg-config --cflags prwlock) -fsyntax-only -x c++ -

rm -rf "$work"
echo "consumer: install layout, find_package and pkg-config builds all OK"
