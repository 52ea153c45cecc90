#!/usr/bin/env bash
# Benchmark of the four services on SQS and DynamoDB against moto server: documents per second end to
# end, CPU seconds per 1,000 documents spent by our services (moto's own CPU excluded), and each
# service's peak RSS. Prints figures; asserts nothing.
#
#   scripts/bench-aws.sh [JSONL_FILE]     (default: the corpus's dev split)
#
# DOCCLASS_BENCH_EMULATOR=ministack uses ministack (PyPI) instead: it keeps connections alive and answers
# several times faster than moto, which closes each connection (HTTP/1.0) and so makes every call of
# ours pay a TCP connect.
set -euo pipefail
cd "$(dirname "$0")/.."
input=${1:-../shared/data/20ng/dev.jsonl.gz}
[ -x /usr/bin/time ] || { echo "scripts/bench-aws.sh needs GNU time (apt-get install time)" >&2; exit 1; }
emulator=${DOCCLASS_BENCH_EMULATOR:-moto}
case $emulator in
    moto) python3 -c 'import moto.server, boto3' 2>/dev/null || python3 -m pip install --quiet 'moto[server]>=5,<6' ;;
    ministack) python3 -c 'import ministack, boto3' 2>/dev/null || python3 -m pip install --quiet ministack boto3 ;;
    *) echo "DOCCLASS_BENCH_EMULATOR is moto or ministack" >&2; exit 2 ;;
esac
cargo build --release --quiet --bins
bin=$PWD/target/release
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$emulator" = moto ]; then
    python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/emulator.log" 2>&1 &
else
    GATEWAY_PORT=$port python3 -m ministack >"$work/emulator.log" 2>&1 &
fi
moto=$!
pids=()
cleanup() { kill "${pids[@]}" "$moto" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export DOCCLASS_STACK=bench DOCCLASS_METRICS_ADDR=127.0.0.1:0 DOCCLASS_WORKERS=${DOCCLASS_WORKERS:-4}
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null; do sleep 0.2; done
"$bin/docclass" train --out "$work/model.bin" >/dev/null
export DOCCLASS_MODEL=$work/model.bin
eval "$("$bin/docclass" infra up)"
documents=$(python3 -c "import gzip,sys; f=sys.argv[1]; o=gzip.open if open(f,'rb').read(2)==b'\x1f\x8b' else open; print(sum(1 for l in o(f,'rt') if l.strip()))" "$input")

for service in topic-classifier subtopic-classifier table-writer; do
    "$bin/$service" 2>"$work/$service.log" &
    pids+=($!)
done
start=$(date +%s.%N)
/usr/bin/time -f "%e %U %S %M" -o "$work/ingest.time" "$bin/feed-ingest" --input "$input" 2>/dev/null
count() {
    python3 - "$DOCCLASS_TABLE" <<'PY'
import boto3, os, sys
d = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
# A scan page stops at 1 MB: count every page.
pages = d.get_paginator("scan").paginate(TableName=sys.argv[1], Select="COUNT")
print(sum(page["Count"] for page in pages))
PY
}
while [ "$(count 2>/dev/null || echo 0)" -lt "$documents" ]; do sleep 0.5; done
end=$(date +%s.%N)

# CPU (user + system clock ticks) and peak RSS of each long-running service, read before stopping it.
ticks=$(getconf CLK_TCK)
total_cpu=0
echo "docclass AWS benchmark on $emulator: $documents documents from $input"
names=(topic-classifier subtopic-classifier table-writer)
for index in 0 1 2; do
    pid=${pids[$index]}
    name=${names[$index]}
    cpu=$(awk -v t="$ticks" '{print ($14 + $15) / t}' /proc/"$pid"/stat)
    rss=$(awk '/VmHWM/ {print $2 / 1024}' /proc/"$pid"/status)
    total_cpu=$(python3 -c "print($total_cpu + $cpu)")
    # Messages per receive call: each call costs about the same CPU whether it brings 1 message or 10.
    port=$(grep -o 'address[^ ]*127\.0\.0\.1:[0-9]*' "$work/$name.log" | grep -o '[0-9]*$' | head -1)
    batch=$(curl -s "127.0.0.1:$port/metrics" | awk '/^docclass_batch_size_sum/ {s=$2} /^docclass_batch_size_count/ {c=$2} END {if (c) printf "%.1f", s/c; else print "?"}')
    printf '  %-20s CPU %6.2f s   peak RSS %6.1f MB   %s messages per receive\n' "$name" "$cpu" "$rss" "$batch"
done
read -r _ user system rss_kb <"$work/ingest.time"
total_cpu=$(python3 -c "print($total_cpu + $user + $system)")
printf '  %-20s CPU %6.2f s   peak RSS %6.1f MB\n' feed-ingest "$(python3 -c "print($user + $system)")" "$(python3 -c "print($rss_kb / 1024)")"
python3 - "$documents" "$start" "$end" "$total_cpu" <<'PY'
import sys
documents, start, end, cpu = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"  end to end            {documents / (end - start):8.0f} docs/s ({end - start:.1f} s)")
print(f"  CPU of our services   {cpu / documents * 1000:8.3f} CPU-s per 1,000 documents")
PY
"$bin/docclass" infra down 2>/dev/null
