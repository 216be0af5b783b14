#!/usr/bin/env bash
# Builds the fuzz targets (fuzz_targets/*.rs) with libFuzzer, coverage
# instrumentation and AddressSanitizer on the machine's stable Rust
# toolchain (no nightly, no cargo-fuzz: libfuzzer-sys builds libFuzzer
# itself with the C++ compiler; RUSTC_BOOTSTRAP=1 admits -Zsanitizer), then
# runs one.
#
# Usage: fuzz/run.sh TARGET [seconds] [libFuzzer options...]   (default 60 s)
# TARGET is peer_input or door_socket. The working corpus grows in
# fuzz/target/corpus/TARGET (not committed); it starts from the seeds in
# fuzz/corpus/TARGET (make_seeds.py). A crash leaves its input in
# fuzz/artifacts/ and ends the run with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [seconds] [libFuzzer options...]}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
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
cargo build --release --target "$triple" --bins
corpus=target/corpus/$target
mkdir -p "$corpus" artifacts
exec "target/$triple/release/$target" -max_total_time="$seconds" -print_final_stats=1 \
	-artifact_prefix=artifacts/ "$@" "$corpus" "corpus/$target"
