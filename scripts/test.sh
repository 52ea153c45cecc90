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

# The AWS adapter tests talk to moto server, which they start themselves on a free 127.0.0.1 port.
if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
    echo "scripts/test.sh: installing moto server (the AWS emulator the tests start)" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi

cargo fmt --all -- --check
# The default members: all but the optional libtorch backend (scripts/test-bert.sh covers that one).
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
