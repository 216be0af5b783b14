#!/usr/bin/env bash
# The whole test suite, as README.md gives it: builds the library (release
# and debug), runs the Rust tests (internals and the header drift check),
# the C tests (linked and under LD_PRELOAD), the exported symbols, `make
# install` into a staging directory (and programs built against it with
# pkg-config), and every ported app's check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --release
cargo build --workspace
cargo test --workspace
tests/c/run.sh release
tests/install/exports.sh
tests/install/run.sh
for app in ported-apps/*/; do
	make -s -C "$app" check
done
