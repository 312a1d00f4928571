"""Prompt files: read them (text or JSONL with kinds), choose per kind, tokenise (with the chat template)."""

from __future__ import annotations

import json
import os
from typing import Any

from .._util.jsonsafe import loads as json_loads
from ..errors import InputError


def read_prompts(path: str) -> list[tuple[str, str]]:
    """Prompts as (text, kind): a text file (one per line) or JSONL with ``prompt`` (and ``kind``).

    Parameters
    ----------
    path
        The prompt file; ``.jsonl`` or ``.ndjson`` is read as JSONL, anything else as plain text.

    Returns
    -------
    list of tuple of (str, str)
        One ``(text, kind)`` per non-blank line, in file order; kind is ``"text"`` when not given.

    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such prompt file")
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8-sig") as fh:
        lines = fh.read().splitlines()
    jsonl = path.lower().endswith((".jsonl", ".ndjson"))
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if jsonl:
            try:
                obj = json_loads(line)
                text = obj["prompt"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"{path}: line {i} is not a JSON object with a 'prompt' field") from None
            if not isinstance(text, str) or not text:
                raise InputError(f"{path}: line {i}: 'prompt' must be a non-empty string")
            out.append((text, str(obj.get("kind", "text"))))
        else:
            out.append((line, "text"))
    if not out:
        raise InputError(f"{path}: no prompts in the file")
    return out


def choose_prompts(items: list[tuple[str, str]], per_kind: int | None) -> list[int]:
    """Prompt indices in file order; with ``per_kind``, only the first N of each kind.

    Parameters
    ----------
    items
        ``(text, kind)`` pairs, as from :func:`read_prompts`.
    per_kind
        Prompts kept per kind (None: all).

    Returns
    -------
    list of int
        Indices into ``items``, increasing.

    """
    if per_kind is None:
        return list(range(len(items)))
    seen: dict[str, int] = {}
    out = []
    for i, (_, kind) in enumerate(items):
        if seen.get(kind, 0) < per_kind:
            seen[kind] = seen.get(kind, 0) + 1
            out.append(i)
    return out


def encode_prompts(tokenizer: Any, texts: list[str], chat_template: bool = False) -> list[list[int]]:
    """Token ids of each prompt: as the tokenizer encodes it, or inside the tokenizer's chat template.

    Parameters
    ----------
    tokenizer
        A transformers tokenizer.
    texts
        The prompts.
    chat_template
        Wrap each prompt as one user message in the tokenizer's chat template
        (``apply_chat_template(..., add_generation_prompt=True)``) and encode
        the result without adding special tokens (the template holds them),
        as transformers does.

    Returns
    -------
    list of list of int
        One list of token ids per prompt, in order.

    Raises
    ------
    InputError
        With ``chat_template`` when the tokenizer has no chat template or it fails on a prompt.

    """
    if not chat_template:
        return [list(tokenizer(text).input_ids) for text in texts]
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            "--chat-template: the model's tokenizer has no chat template (tokenizer.chat_template is unset); "
            "drop --chat-template to tokenise prompts as they are"
        )
    out = []
    for i, text in enumerate(texts):
        try:
            rendered = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
            )
        except ImportError as exc:
            raise InputError(f"--chat-template needs jinja2 ({exc}): pip install jinja2") from None
        except Exception as exc:  # jinja2's TemplateError and whatever a template raises
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"--chat-template: the tokenizer's chat template failed on prompt {i} ({first})") from None
        out.append(list(tokenizer(rendered, add_special_tokens=False).input_ids))
    return out
