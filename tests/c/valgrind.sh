#!/usr/bin/env bash
# Runs the C tests under valgrind's memcheck (see valgrind_one in run.sh):
# every process of every test, forked or exec'd, with zero errors and no
# definitely or indirectly lost block allowed.
# Usage: tests/c/valgrind.sh [release|debug] [name-filter]
LIBDOOR_TEST_VALGRIND=1 exec "$(dirname "$0")/run.sh" "$@"
