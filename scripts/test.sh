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
# The chaos and compose tests (tests/it/chaos.rs, tests/it/compose_cluster.rs) run on ministack, which keeps
# connections alive as AWS does and answers several times faster than moto; without it, on moto.
if ! python3 -c 'import ministack' >/dev/null 2>&1; then
    echo "scripts/test.sh: installing ministack (the emulator the chaos and compose tests run on)" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'ministack>=1.5,<2' ||
        echo "scripts/test.sh: could not install ministack; the chaos and compose tests run on moto" >&2
fi
# The feed parser's parity test reads its corpus with feedparser too (crates/feeds/tests/it/feedparser_parity.rs).
if ! python3 -c 'import feedparser' >/dev/null 2>&1; then
    echo "scripts/test.sh: installing feedparser (the parser feed-ingest is measured beside)" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'feedparser>=6,<7'
fi

# The container test (tests/it/compose_cluster.rs) builds static images: the musl target, and musl-gcc for
# aws-lc-sys's C. It skips, loudly, where no Docker engine answers; then neither is needed.
if docker info >/dev/null 2>&1; then
    rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 ||
        echo "scripts/test.sh: could not add the x86_64-unknown-linux-musl target" >&2
    if ! command -v musl-gcc >/dev/null; then
        echo "scripts/test.sh: installing musl-tools (musl-gcc, for the static binaries of the images)" >&2
        export DEBIAN_FRONTEND=noninteractive
        if [[ $(id -u) == 0 ]]; then
            { apt-get install -y -q musl-tools || { apt-get update -q && apt-get install -y -q musl-tools; }; } >/dev/null
        else
            sudo -n apt-get install -y -q musl-tools >/dev/null
        fi
    fi
fi

# The dashboard's test loads the page in a real browser: Debian's chromium, headless.
if ! command -v chromium >/dev/null; then
    echo "scripts/test.sh: installing chromium (the dashboard is tested in a real browser)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [[ $(id -u) == 0 ]]; then
        { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null
    else
        sudo -n apt-get install -y -q chromium >/dev/null
    fi
fi

cargo fmt --all -- --check
# The default members: all but the optional libtorch backend (scripts/test-bert.sh covers that one).
cargo clippy --all-targets --locked -- -D warnings
# Every test binary runs even after one fails, so one CI log shows every failure.
cargo test --locked --no-fail-fast
