#!/usr/bin/env bash
# Checks libdoor's exported symbols against door-compat/exports.list: the
# built library must define exactly the listed names, and the "api" names
# must be exactly the functions the generated headers declare.
# Usage: tests/install/exports.sh [path/to/libdoor.so]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=${1:-$root/target/release/libdoor.so}
list="$root/door-compat/exports.list"
[ -e "$lib" ] || { echo "no $lib: run cargo build --release first" >&2; exit 2; }
status=0

names() {  # kind...: the listed names of those kinds, sorted
	awk -v kinds=" $* " '!/^#/ && NF == 2 && index(kinds, " " $1 " ") { print $2 }' "$list" | LC_ALL=C sort
}

compare() {  # what, expected, actual
	if [ "$2" != "$3" ]; then
		echo "FAIL exports: $1" >&2
		diff <(echo "$2") <(echo "$3") | sed -n 's/^</     only in the list: /p; s/^>/     not in the list:  /p' >&2 || true
		status=1
	fi
}

# Versioned names print as name@VERSION; none are expected, so keep them whole.
exported=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | LC_ALL=C sort)
compare "$lib exports differ from door-compat/exports.list" "$(names api libc)" "$exported"

# A prototype line of cbindgen's output: a return type, the name, "(".
declared=$(cd "$root/include" && grep -hv '^typedef' door.h sys/door.h ucred.h stropts.h \
	| sed -n 's/^[A-Za-z_][A-Za-z_0-9 ]*[ *]\([A-Za-z_][A-Za-z_0-9]*\)(.*/\1/p' | LC_ALL=C sort -u)
compare "the headers' functions differ from the list's api names" "$(names api)" "$declared"

[ $status -eq 0 ] && echo "exports: ok ($(echo "$exported" | wc -l) symbols)"
exit $status
