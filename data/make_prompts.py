"""Build data/prompts.jsonl: real text that ships with Python itself.

Two kinds, 120 prompts each, chosen deterministically:

* ``prose``: English paragraphs of the Python language reference, as shipped
  in the standard library module ``pydoc_data.topics`` (reflowed to one line,
  cut at a word boundary near 320 characters);
* ``code``: the first lines (up to 12, at most 400 characters) of functions
  from pure-Python standard-library modules, read with ``ast``.

Run:  python data/make_prompts.py data/prompts.jsonl
The standard library differs between Python versions, so the output records
the version it was built with; the shipped file is the reference.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import platform
import sys
import textwrap

N_EACH = 120
CODE_MODULES = [
    "argparse",
    "bisect",
    "calendar",
    "colorsys",
    "configparser",
    "csv",
    "dataclasses",
    "difflib",
    "fnmatch",
    "fractions",
    "functools",
    "glob",
    "gzip",
    "heapq",
    "ipaddress",
    "json.decoder",
    "json.encoder",
    "operator",
    "pathlib",
    "pprint",
    "quopri",
    "random",
    "shlex",
    "statistics",
    "string",
    "textwrap",
    "tokenize",
    "uuid",
    "zipfile",
]


def prose() -> list[str]:
    import pydoc_data.topics as topics

    paras = []
    for key in sorted(topics.topics):
        for block in topics.topics[key].split("\n\n"):
            lines = block.split("\n")
            if any(ln.startswith((" ", "*", "=", "-", "+", "|")) or "::=" in ln for ln in lines):
                continue
            text = " ".join(ln.strip() for ln in lines).strip()
            if len(text) < 200 or text.count('"') > 6:
                continue
            cut = text[:320]
            if len(text) > 320:
                cut = cut[: cut.rfind(" ")]
            paras.append(cut)
    step = len(paras) / N_EACH
    return [paras[int(i * step)] for i in range(N_EACH)]


def code() -> list[str]:
    snippets = []
    for mod in CODE_MODULES:
        spec = importlib.util.find_spec(mod)
        assert spec is not None
        assert spec.origin is not None
        src = open(spec.origin, encoding="utf-8").read()
        lines = src.splitlines()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 6:
                body = lines[node.lineno - 1 : min(node.end_lineno, node.lineno + 12)]
                text = textwrap.dedent("\n".join(body))
                if len(text) > 400:
                    text = text[: text.rfind("\n", 0, 400)]
                snippets.append(text)
    step = len(snippets) / N_EACH
    return [snippets[int(i * step)] for i in range(N_EACH)]


def main(out: str) -> None:
    items = [{"kind": "prose", "prompt": p} for p in prose()] + [{"kind": "code", "prompt": c} for c in code()]
    with open(out, "w", encoding="utf-8") as fh:
        for it in items:
            it["python"] = platform.python_version()
            fh.write(json.dumps(it) + "\n")
    print(f"wrote {len(items)} prompts to {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/prompts.jsonl")
