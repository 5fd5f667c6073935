#!/bin/sh
# check_exports.sh LIB HEADER: the dynamic symbols LIB defines must be
# exactly the functions HEADER declares (plus the version nodes), each with
# the PRWLOCK_1.0 version, and the one private table a copy of the library
# offers its loader in a fork child (prwlock_private_v1@@PRWLOCK_PRIVATE);
# and the SONAME must be libprwlock.so.1.
set -eu
lib=$1 header=$2
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Functions declared in the header: "type prw_name(" at the start of a line.
sed -n 's/^[a-z][a-z_ *]*[ *]\(prw_[a-z_]*\)(.*/\1/p' "$header" | sort -u >"$tmp/header"
private='prwlock_private_v1@@PRWLOCK_PRIVATE'
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' >"$tmp/all"
grep -vxF "$private" "$tmp/all" >"$tmp/raw" || true
if ! grep -qxF "$private" "$tmp/all"; then
  echo "FAIL: $private is not exported (fork children need it)"; status=1
fi
sed 's/@.*//' "$tmp/raw" | sort -u >"$tmp/lib"

if [ "$(wc -l <"$tmp/header")" -lt 15 ]; then
  echo "FAIL: found only $(wc -l <"$tmp/header") declarations in $header"; status=1
fi
if ! diff -u "$tmp/header" "$tmp/lib"; then
  echo "FAIL: exported symbols (+) differ from the header's declarations (-)"; status=1
fi
if grep -v '@@PRWLOCK_1.0$' "$tmp/raw"; then
  echo "FAIL: the symbols above lack the PRWLOCK_1.0 version"; status=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != libprwlock.so.1 ]; then
  echo "FAIL: SONAME is '$soname', want libprwlock.so.1"; status=1
fi
[ $status = 0 ] && echo "exports: $(wc -l <"$tmp/lib") prw_* functions, all declared, version PRWLOCK_1.0, SONAME $soname"
exit $status
