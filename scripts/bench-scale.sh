#!/usr/bin/env bash
# The scale benchmark with chaos: N documents of the arXiv train split (default 100,000) through the four
# services as processes on an emulator it starts itself (ministack from PyPI where it installs, else
# moto), with optional chaos; prints the figures and the audit as text, then as one JSON object on the
# last line of stdout. Exits 1 when the audit finds anything lost, misplaced or left, or a service dead.
#
#   scripts/bench-scale.sh [--docs N] [--kill-every SECS] [--outage SECS] [--poison FRACTION]
#                          [--outages N] [--emulator ministack|moto] [--model FILE] [--keep DIR] ...
#
# e.g. the run of the README: scripts/bench-scale.sh --kill-every 10 --outage 20 --poison 0.05
# (`scripts/bench-scale.sh --help` lists every flag). Release build; the model is trained first unless
# --model names one.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import ministack' 2>/dev/null && ! python3 -c 'import moto.server' 2>/dev/null; then
    echo "scripts/bench-scale.sh: installing ministack (the emulator it runs on)" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'ministack>=1.5,<2' ||
        python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
# The services' release binaries, then the driver (crates/test-support/src/bin/bench-scale.rs) beside them;
# `cargo run` finds them wherever CARGO_TARGET_DIR puts them.
cargo build --release --quiet --locked --bins
exec cargo run --release --quiet --locked -p test-support --bin bench-scale -- "$@"
