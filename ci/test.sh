#!/usr/bin/env bash
# The whole test suite, as README.md gives it: builds the library (release
# and debug), runs the Rust tests (internals and the header drift check),
# the C tests (linked and under LD_PRELOAD), every ported app's check, and a
# 60 s run of the fuzz target (fuzz/run.sh; docs/RELIABILITY.md, "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --release
cargo build --workspace
cargo test --workspace
# A short fuzz run: its summary, or the end of its log if it found something.
fuzz_log=$(mktemp)
if ! fuzz/run.sh 60 >"$fuzz_log" 2>&1; then
	tail -n 60 "$fuzz_log"
	exit 1
fi
grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec)' "$fuzz_log"
rm -f "$fuzz_log"
tests/c/run.sh release
for app in ported-apps/*/; do
	make -s -C "$app" check
done
