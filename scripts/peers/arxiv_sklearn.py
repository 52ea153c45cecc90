#!/usr/bin/env python3
"""The peer docclass's arXiv model is measured against: scikit-learn's TF-IDF + LinearSVC.

Trains on the arXiv train split (title + abstract, the two retired categories left out as docclass
leaves them out) and prints the figures `docclass eval --json` prints, as one JSON line:
topic accuracy (the group of the predicted category), primary-category accuracy and macro-F1, top-3
and "listed" accuracy, papers/s and training seconds. Needs `pip install scikit-learn`.

    python3 scripts/peers/arxiv_sklearn.py [DATA_DIR]     # default ../shared/data
"""
import gzip
import json
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

RETIRED = {"astro-ph", "cond-mat"}
PHYSICS = {"astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nlin",
           "nucl-ex", "nucl-th", "physics", "quant-ph"}


def group(category):
    archive = category.split(".")[0]
    return "physics" if archive in PHYSICS else archive


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    train = [d for d in read(f"{data}/arxiv/train.jsonl.gz") if d["subtopic"] not in RETIRED]
    dev = read(f"{data}/arxiv/dev.jsonl.gz")
    text = lambda d: d["title"] + "\n" + d["text"]
    started = time.time()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform([text(d) for d in train])
    model = LinearSVC().fit(x_train, [d["subtopic"] for d in train])
    train_seconds = time.time() - started
    started = time.time()
    scores = model.decision_function(vectorizer.transform([text(d) for d in dev]))
    seconds = time.time() - started
    best = scores.argsort(axis=1)[:, ::-1][:, :3]
    predicted = [model.classes_[row[0]] for row in best]
    truth = [d["subtopic"] for d in dev]
    print(json.dumps({
        "peer": "sklearn TfidfVectorizer(1-2 grams, sublinear, min_df=2) + LinearSVC",
        "documents": len(dev),
        "topic_accuracy": accuracy_score([group(t) for t in truth], [group(p) for p in predicted]),
        "subtopic_accuracy": accuracy_score(truth, predicted),
        "subtopic_macro_f1": f1_score(truth, predicted, average="macro"),
        "subtopic_top3_accuracy": sum(t in {model.classes_[c] for c in row} for t, row in zip(truth, best)) / len(dev),
        "subtopic_listed_accuracy": sum(p in d["categories"] for p, d in zip(predicted, dev)) / len(dev),
        "predict_docs_per_second": len(dev) / seconds,
        "train_seconds": train_seconds,
    }))


if __name__ == "__main__":
    main()
