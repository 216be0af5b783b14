#!/usr/bin/env bash
# Builds fuzz_targets/peer_input.rs with libFuzzer, coverage instrumentation
# and AddressSanitizer on the machine's stable Rust toolchain (no nightly,
# no cargo-fuzz: libfuzzer-sys builds libFuzzer itself with the C++
# compiler; RUSTC_BOOTSTRAP=1 admits -Zsanitizer), then runs it.
#
# Usage: fuzz/run.sh [seconds] [libFuzzer options...]   (default 60 s)
# The working corpus grows in fuzz/target/corpus/ (not committed); it starts
# from the seeds in fuzz/corpus/peer_input/ (make_seeds.py). A crash leaves
# its input in fuzz/artifacts/ and ends the run with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
target=peer_input
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1
# What cargo-fuzz passes: SanitizerCoverage feeding libFuzzer (8-bit
# counters, PC table, comparison tracing), debug assertions and overflow
# checks on, cfg(fuzzing); and ASan. --target keeps these flags off build
# scripts.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks \
-Zsanitizer=address"
cargo build --release --target "$triple" --bin "$target"
corpus=target/corpus/$target
mkdir -p "$corpus" artifacts
exec "target/$triple/release/$target" -max_total_time="$seconds" -print_final_stats=1 \
	-artifact_prefix=artifacts/ "$@" "$corpus" "corpus/$target"
