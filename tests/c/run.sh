#!/usr/bin/env bash
# Builds every tests/c/*.c program against include/ and the built libdoor.so,
# and runs each twice: linked with -ldoor, and built without it and run under
# LD_PRELOAD. Also runs the tests/c/*.py scripts under LD_PRELOAD.
# Usage: tests/c/run.sh [release|debug] [name-filter]
#
# With LIBDOOR_TEST_VALGRIND=1 (tests/c/valgrind.sh) each program runs once,
# linked, under valgrind's memcheck, following forked and exec'd children:
# a memcheck error in any process, or a lost block that counts (see
# valgrind_one below), fails the program.
#
# With LIBDOOR_TEST_ASAN=1 (tests/c/asan.sh) each program is built with
# gcc's AddressSanitizer and runs once, linked: an ASan error in any
# process, or a leak LeakSanitizer finds in a process that exits through
# exit(), fails it. libdoor itself is not instrumented, but every
# allocation it makes goes through ASan's malloc, so its leaks and bad
# frees count. For the programs valgrind cannot run as they are meant to
# (docs/RELIABILITY.md, "Sanitizers").
#
# LIBDOOR_TEST_SKIP: names of programs not to run (space-separated).
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
valgrind_mode=${LIBDOOR_TEST_VALGRIND:-}
asan_mode=${LIBDOOR_TEST_ASAN:-}
if [ -n "$asan_mode" ]; then
	cflags+=(-fsanitize=address -fno-omit-frame-pointer)
	build="$build/asan"
	mkdir -p "$build"
	# Any report fails the process (ASan's and LSan's exit codes).
	export ASAN_OPTIONS=detect_leaks=1:exitcode=86
	export LSAN_OPTIONS=exitcode=87
fi
if [ -n "$valgrind_mode" ]; then
	command -v valgrind >/dev/null || { echo "valgrind mode: no valgrind installed" >&2; exit 2; }
	vglogs="$tmp/valgrind"
	mkdir -p "$vglogs"
	# Deadlines in the tests stretch this much (memcheck runs them 10-50x slower).
	export LIBDOOR_TEST_TIME_SCALE=${LIBDOOR_TEST_TIME_SCALE:-10}
fi

run_one() {  # name, command...
	local name=$1; shift
	local out
	if out=$(timeout "${run_timeout:-120}" "$@" 2>&1); then
		passed=$((passed + 1)); echo "ok   $name"
	else
		failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"
		# The test's own FAIL lines wherever they are (a long listing
		# after them must not hide them), then the end of its output.
		echo "$out" | grep -m 20 '^FAIL ' | sed 's/^/     ! /'
		echo "$out" | sed 's/^/     | /' | tail -n 30
	fi
}

# Runs test $1 under memcheck, one log per process (%p). A test fails on
# any memcheck error (ERROR SUMMARY, also the exit status) in any process,
# and on any definitely or indirectly lost block (after valgrind.supp) in
# a process that ran from its start: the test itself, or a program it
# exec'd. A child that only forked has only the thread that called fork:
# whatever the parent's other threads held (on their stacks, in their
# thread-locals) is unreachable there, whoever allocated it, so in such a
# child only blocks allocated by the child itself after the fork count:
# those whose allocation passed through the tests' spawn helpers.
# --fair-sched: libdoor's spin-then-sleep waits need the spinning thread to
# give way.
valgrind_one() {
	local name=$1 log bad="" parent_log
	rm -f "$vglogs/$name".*.log
	run_timeout=900 run_one "$name (valgrind)" valgrind --error-exitcode=99 \
		--trace-children=yes --child-silent-after-fork=no --track-fds=yes --fair-sched=yes \
		--leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=none \
		--suppressions="$here/valgrind.supp" --log-file="$vglogs/$name.%p.log" "$build/$name"
	for log in "$vglogs/$name".*.log; do
		[ -e "$log" ] || continue
		parent_log="$vglogs/$name.$(sed -n 's/^==[0-9]*== Parent PID: //p' "$log" | head -n 1).log"
		local forked=no
		if [ -e "$parent_log" ] && [ "$(grep -m1 'Command:' "$log" | cut -d' ' -f2-)" = "$(grep -m1 'Command:' "$parent_log" | cut -d' ' -f2-)" ]; then
			forked=yes
		fi
		if grep -qE 'ERROR SUMMARY: [1-9]' "$log" || leaks_in "$log" "$forked"; then
			bad="$bad $log"
		fi
	done
	if [ -n "$bad" ]; then
		if [ "${failures[${#failures[@]}-1]:-}" != "$name (valgrind)" ]; then
			passed=$((passed - 1)); failed=$((failed + 1)); failures+=("$name (valgrind)")
			echo "FAIL $name (valgrind report)"
		fi
		for log in $bad; do
			# The report without --track-fds' listing of descriptors open at exit.
			echo "     | $log:"
			awk '/^==[0-9]+== *$/ { if (keep) printf "%s", blk; blk = ""; keep = 0; next }
			     { if (blk == "") keep = ($0 !~ /Open (file descriptor|AF_)|FILE DESCRIPTORS|Memcheck, a memory|Copyright|Using Valgrind|Command:|Parent PID/); blk = blk $0 "\n" }
			     END { if (keep) printf "%s", blk }' "$log" | sed 's/^/     | /' | head -n 80
			mkdir -p "$build/valgrind-failures" && cp "$log" "$build/valgrind-failures/"
		done
	fi
}

# Whether memcheck log $1 reports a lost block that counts ($2: yes if the
# process only forked, see valgrind_one).
leaks_in() {
	awk -v forked="$2" '
		/(definitely|indirectly) lost in loss record/ { inrec = 1; own = 0; next }
		inrec && /spawn(_tied)? \((common|door_test)\.h:/ { own = 1 }
		inrec && /^==[0-9]+== *$/ { if (forked != "yes" || own) found = 1; inrec = 0 }
		END { exit found ? 0 : 1 }' "$1"
}

for src in "$here"/*.c; do
	name=$(basename "$src" .c)
	[ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
	[[ " ${LIBDOOR_TEST_SKIP:-} " == *" $name "* ]] && continue
	if ! gcc "${cflags[@]}" -o "$build/$name" "$src" -L "$lib" -ldoor -Wl,-rpath,"$lib" 2>"$build/$name.err"; then
		failed=$((failed + 1)); failures+=("$name (build)"); echo "FAIL $name (build)"; sed 's/^/     | /' "$build/$name.err"; continue
	fi
	if [ -n "$valgrind_mode" ]; then
		valgrind_one "$name"
		continue
	fi
	if [ -n "$asan_mode" ]; then
		run_one "$name (asan)" "$build/$name"
		continue
	fi
	gcc "${cflags[@]}" -o "$build/$name.preload" "$src" -L "$build" -ldoorstub -Wl,-rpath,"$build"
	run_one "$name (linked)" "$build/$name"
	run_one "$name (LD_PRELOAD)" env LD_PRELOAD="$lib/libdoor.so" "$build/$name.preload"
done
[ -n "$valgrind_mode$asan_mode" ] && exec_python=no || exec_python=yes
for src in "$here"/*.py; do
	[ "$exec_python" = yes ] || break
	[ -e "$src" ] || continue
	name=$(basename "$src" .py)
	[ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
	run_one "$name (python, LD_PRELOAD)" env LIBDOOR_BUILD="$build" LIBDOOR_LIB="$lib/libdoor.so" python3 "$src"
done
rm -rf "$tmp"
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "c-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
