#!/usr/bin/env bash
# Compiles every docs/examples/*.c (the EXAMPLES of the reference pages in
# man/man3) against include/ and the built libdoor.so with -Wall -Wextra
# -Werror, runs it, and requires exit status 0 and exactly the output in
# the matching .out file (which the page shows too).
# Usage: docs/examples/run.sh [release|debug] [name-filter]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=${1:-release}
filter=${2:-}
lib="$root/target/$profile"
[ -e "$lib/libdoor.so" ] || { echo "no $lib/libdoor.so: run cargo build --$profile first" >&2; exit 2; }
ln -sf libdoor.so "$lib/libdoor.so.1"
build=$(mktemp -d /tmp/libdoor-examples.XXXXXX)
trap 'rm -rf "$build"' EXIT
cflags=(-std=gnu11 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -I "$root/include" -pthread)
passed=0; failures=()

for src in "$here"/*.c; do
	name=$(basename "$src" .c)
	[ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
	if [ ! -e "$here/$name.out" ]; then
		failures+=("$name (no $name.out)"); echo "FAIL $name: no $name.out"; continue
	fi
	if ! gcc "${cflags[@]}" -o "$build/$name" "$src" -L "$lib" -ldoor -Wl,-rpath,"$lib" 2>"$build/$name.err"; then
		failures+=("$name (build)"); echo "FAIL $name (build)"; sed 's/^/     | /' "$build/$name.err"; continue
	fi
	if (cd "$build" && timeout 60 "./$name" >"$name.stdout" 2>"$name.stderr") &&
	   cmp -s "$here/$name.out" "$build/$name.stdout" && [ ! -s "$build/$name.stderr" ]; then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failures+=("$name"); echo "FAIL $name (status, output or stderr)"
		diff -u "$here/$name.out" "$build/$name.stdout" | sed 's/^/     | /'
		sed 's/^/     stderr| /' "$build/$name.stderr"
	fi
done
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "examples: $passed passed, ${#failures[@]} failed"
[ ${#failures[@]} -eq 0 ] && [ "$passed" -gt 0 ]
