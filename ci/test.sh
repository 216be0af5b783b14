#!/usr/bin/env bash
# The whole test suite, as README.md gives it: builds the library (release
# and debug), runs the Rust tests (internals and the header drift check),
# short runs of the fuzz targets (fuzz/run.sh; docs/RELIABILITY.md,
# "Fuzzing"), the C tests (linked and under LD_PRELOAD), a selection of them
# under valgrind (all of them: tests/c/valgrind.sh release, see
# docs/RELIABILITY.md), nearly all under AddressSanitizer, a short load test, doorctl's tests, the reference
# pages (lint, drift of their generated parts) and their examples, the
# exported symbols, `make install` into a staging directory (and programs
# built against it with pkg-config), and every ported app's check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --release
cargo build --workspace
cargo test --workspace
# A short run of each fuzz target, 30 s each: the summary, or the end of
# the log if it found something.
fuzz_log=$(mktemp)
for target in peer_input door_socket; do
	if ! fuzz/run.sh "$target" 30 >"$fuzz_log" 2>&1; then
		tail -n 60 "$fuzz_log"
		exit 1
	fi
	echo "fuzz $target:"
	grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec)' "$fuzz_log"
done
rm -f "$fuzz_log"
tests/c/run.sh release
tests/c/valgrind.sh release call_basic unref_flood revoke_waiters nested fork_exec cancel private_pool server_death fd_reuse \
	fault_client_kill fault_memory splice_args unaligned_buffers stream_window
# Every program under AddressSanitizer but the two just run under valgrind,
# which measure what ASan changes (a process's mappings; memory under a low
# RLIMIT_AS); ASan runs the two valgrind cannot (docs/RELIABILITY.md). So
# every C test program runs under one of the two.
LIBDOOR_TEST_SKIP="fault_client_kill fault_memory" tests/c/asan.sh release
make -s -C tests/load quick
make -s -C tools/doorctl check
python3 docs/gen-reference.py --check
docs/examples/run.sh release
tests/install/exports.sh
tests/install/run.sh
for app in ported-apps/*/; do
	make -s -C "$app" check
done
