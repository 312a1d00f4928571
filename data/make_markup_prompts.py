"""Build data/prompts-markup.jsonl: HTML markup that ships with Python itself (a third kind of text).

The IDLE help page, ``idlelib/help.html`` (Sphinx-generated HTML: tags, attributes, entities, links, and the
prose between them), cut into consecutive pieces of about 300 characters, each starting at a line start;
the first 48 pieces after the ``<body`` tag, every other one (so no two prompts overlap), kind ``markup``.

Run:  python data/make_markup_prompts.py data/prompts-markup.jsonl
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys

N = 48
SIZE = 300


def pieces() -> list[str]:
    spec = importlib.util.find_spec("idlelib")
    assert spec is not None
    assert spec.origin is not None
    with open(os.path.join(os.path.dirname(spec.origin), "help.html"), encoding="utf-8") as fh:
        text = fh.read()
    lines = text[text.index("<body") :].splitlines(keepends=True)
    out, cur = [], ""
    for line in lines:
        if len(cur) + len(line) > SIZE and cur.strip():
            out.append(cur.rstrip("\n"))
            cur = ""
        cur += line
    return [p for p in out if len(p.strip()) > 100][::2][:N]


def main(out: str) -> None:
    items = pieces()
    if len(items) < N:
        raise SystemExit(f"only {len(items)} pieces in idlelib/help.html")
    with open(out, "w", encoding="utf-8") as fh:
        for p in items:
            fh.write(json.dumps({"kind": "markup", "prompt": p, "python": platform.python_version()}) + "\n")
    print(f"wrote {len(items)} prompts to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/prompts-markup.jsonl")
