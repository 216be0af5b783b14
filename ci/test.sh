#!/usr/bin/env bash
# The whole test suite, as README.md gives it: builds the library (release
# and debug), runs the Rust tests (internals and the header drift check),
# the C tests (linked and under LD_PRELOAD), doorctl's tests, the reference
# pages (lint, drift of their generated parts) and their examples, and every
# ported app's check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --release
cargo build --workspace
cargo test --workspace
tests/c/run.sh release
make -s -C tools/doorctl check
python3 docs/gen-reference.py --check
docs/examples/run.sh release
for app in ported-apps/*/; do
	make -s -C "$app" check
done
