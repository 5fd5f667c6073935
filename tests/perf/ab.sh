#!/bin/sh
# ab.sh BASE_REV: build two trees that differ only in the files of the call
# path (export.go, shim.c, python/src/prwlock/_lib.py, _lock.py), taking
# those from BASE_REV for "base" and from the working tree for "new", with
# everything else (the engine) from the working tree; then count
# instructions (count.sh) on both. Trees go to /tmp/prw-ab/{base,new}.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rev=${1:?usage: ab.sh BASE_REV}
out=/tmp/prw-ab
rm -rf "$out" && mkdir -p "$out/base" "$out/new"
for t in base new; do
  (cd "$root" && tar --exclude=./build --exclude=./.venv --exclude=./.git -cf - .) | tar -xf - -C "$out/$t"
done
for f in export.go shim.c python/src/prwlock/_lib.py python/src/prwlock/_lock.py; do
  git -C "$root" show "$rev:$f" >"$out/base/$f"
done
for t in base new; do
  (cd "$out/$t" && mkdir -p build && CGO_ENABLED=1 go build -buildvcs=false -trimpath -buildmode=c-shared \
    -ldflags "-extldflags '-Wl,--version-script=$out/$t/libprwlock.map -Wl,-soname,libprwlock.so.1'" \
    -o build/libprwlock.so . && ln -sfn libprwlock.so build/libprwlock.so.1)
done
"$here/count.sh" "$out/base"
"$here/count.sh" "$out/new"
