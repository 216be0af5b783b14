#!/usr/bin/env bash
# Runs C tests built with AddressSanitizer (see LIBDOOR_TEST_ASAN in
# run.sh): no ASan error in any process, no leak in any process that exits
# through exit().
# Usage: tests/c/asan.sh [release|debug] [name-filter...]
# With no filter, every test.
here=$(dirname "$0")
profile=${1:-release}
[ $# -gt 0 ] && shift
export LIBDOOR_TEST_ASAN=1
[ $# -eq 0 ] && exec "$here/run.sh" "$profile"
status=0
for filter in "$@"; do
	"$here/run.sh" "$profile" "$filter" || status=1
done
exit $status
