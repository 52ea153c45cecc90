#!/usr/bin/env bash
# The local cluster's figures: the compose test (tests/it/compose_cluster.rs) run with its throughput
# windows on — documents stored per second with 1 and with 4 topic containers, over 15 s each — beside
# what it always prints (image sizes, start → healthy, start → first message, memory and CPU under load,
# where the time went). Needs a Docker engine; builds the images first (scripts/test.sh installs what
# that needs). Run it several times and take the median: docs/measurements.md says how.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCCLASS_BENCH_COMPOSE=1 exec cargo test --locked -p docclass-tests --test it compose_cluster -- --nocapture --test-threads 1
