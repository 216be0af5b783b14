#!/usr/bin/env bash
# The whole test suite, as README.md gives it: builds the library (release
# and debug), runs the Rust tests (internals and the header drift check),
# the C tests (linked and under LD_PRELOAD), a selection of them under
# valgrind (all of them: tests/c/valgrind.sh release, see
# docs/RELIABILITY.md), a short load test, and every ported app's check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --release
cargo build --workspace
cargo test --workspace
tests/c/run.sh release
tests/c/valgrind.sh release call_basic unref_flood revoke_waiters nested fork_exec cancel private_pool server_death
make -s -C tests/load quick
for app in ported-apps/*/; do
	make -s -C "$app" check
done
