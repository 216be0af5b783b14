#!/usr/bin/env bash
# Runs C tests under valgrind's memcheck (see valgrind_one in run.sh): every
# process of each test, forked or exec'd; no memcheck error and no lost
# block of libdoor's allowed.
# Usage: tests/c/valgrind.sh [release|debug] [name-filter...]
# With no filter, every test (the full run, see docs/RELIABILITY.md).
here=$(dirname "$0")
profile=${1:-release}
[ $# -gt 0 ] && shift
export LIBDOOR_TEST_VALGRIND=1
[ $# -eq 0 ] && exec "$here/run.sh" "$profile"
status=0
for filter in "$@"; do
	"$here/run.sh" "$profile" "$filter" || status=1
done
exit $status
