#!/usr/bin/env bash
# The one test command (README.md, .ci/run): formatting, lints, then every test — unit, integration and
# end to end over the labelled corpus in ../shared/data (or $DOCCLASS_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "scripts/test.sh: cargo is missing; install Rust (https://rustup.rs) first" >&2
    exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
