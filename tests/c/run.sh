#!/usr/bin/env bash
# Builds every tests/c/*.c program against include/ and the built libdoor.so,
# and runs each twice: linked with -ldoor, and built without it and run under
# LD_PRELOAD. Also runs the tests/c/*.py scripts under LD_PRELOAD.
# Usage: tests/c/run.sh [release|debug] [name-filter]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=${1:-release}
filter=${2:-}
lib="$root/target/$profile"
[ -e "$lib/libdoor.so" ] || { echo "no $lib/libdoor.so: run cargo build --$profile first" >&2; exit 2; }
ln -sf libdoor.so "$lib/libdoor.so.1"
build="$here/build/$profile"
mkdir -p "$build"
tmp=$(mktemp -d /tmp/libdoor-tests.XXXXXX)
chmod 755 "$tmp"
export LIBDOOR_TEST_TMP="$tmp"
# The LD_PRELOAD variants link against a stub that defines every libdoor
# symbol as abort() under another soname: at run time the preloaded libdoor
# must supply them all (and its open interposers), or the test aborts.
nm -D --defined-only "$lib/libdoor.so" | awk '$2 == "T" && $3 ~ /^(door_|fattach|fdetach|ucred_|getpeerucred)/ { print "void " $3 "(void) { abort(); }" }' \
	| { echo '#include <stdlib.h>'; cat; } > "$build/stub.$$.c"
gcc -shared -fPIC -o "$build/libdoorstub.so.$$" "$build/stub.$$.c" -Wl,-soname,libdoorstub.so
mv -f "$build/libdoorstub.so.$$" "$build/libdoorstub.so"   # atomic: other runs may be using it
rm -f "$build/stub.$$.c"
cflags=(-std=gnu11 -O1 -g -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -I "$root/include" -pthread)
passed=0; failed=0; failures=()

run_one() {  # name, command...
	local name=$1; shift
	local out
	if out=$(timeout 120 "$@" 2>&1); then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; echo "$out" | sed 's/^/     | /' | tail -n 30
	fi
}

for src in "$here"/*.c; do
	name=$(basename "$src" .c)
	[ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
	if ! gcc "${cflags[@]}" -o "$build/$name" "$src" -L "$lib" -ldoor -Wl,-rpath,"$lib" 2>"$build/$name.err"; then
		failed=$((failed + 1)); failures+=("$name (build)"); echo "FAIL $name (build)"; sed 's/^/     | /' "$build/$name.err"; continue
	fi
	gcc "${cflags[@]}" -o "$build/$name.preload" "$src" -L "$build" -ldoorstub -Wl,-rpath,"$build"
	run_one "$name (linked)" "$build/$name"
	run_one "$name (LD_PRELOAD)" env LD_PRELOAD="$lib/libdoor.so" "$build/$name.preload"
done
for src in "$here"/*.py; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .py)
	[ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
	run_one "$name (python, LD_PRELOAD)" env LIBDOOR_BUILD="$build" LIBDOOR_LIB="$lib/libdoor.so" python3 "$src"
done
rm -rf "$tmp"
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "c-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
