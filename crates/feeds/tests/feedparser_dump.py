"""What feedparser reads from each feed of a corpus folder, as one JSON object on stdout:
{file: {"bozo": bool, "entries": [{"title": text, "link": str or null}]}}.

Titles are given as text: feedparser keeps (sanitised) markup in an HTML title, which is turned into
its text here, as feed-ingest does. `HEADERS` are the HTTP answers' headers some cases are served with.
Run by feed-ingest/tests/feedparser_parity.rs; needs `pip install feedparser`.
"""
import html.parser
import json
import os
import sys

import feedparser

BASE = "https://example.org/feed"
HEADERS = {"rss-header-1252.xml": {"content-type": "application/rss+xml; charset=windows-1252"}}


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def text_of(value, kind):
    if kind in ("text/html", "application/xhtml+xml"):
        parser = _Text()
        parser.feed(value)
        value = "".join(parser.parts)
    return " ".join(value.split())


def main(folder):
    answers = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as file:
            data = file.read()
        headers = {"content-location": BASE, **HEADERS.get(name, {})}
        parsed = feedparser.parse(data, response_headers=headers)
        entries = []
        for entry in parsed.entries:
            detail = entry.get("title_detail") or {}
            entries.append({"title": text_of(entry.get("title", ""), detail.get("type")), "link": entry.get("link")})
        answers[name] = {"bozo": bool(parsed.bozo), "entries": entries}
    json.dump(answers, sys.stdout, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
