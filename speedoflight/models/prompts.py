"""Prompts for a model: tokenise them (with the chat template); prompt files are read by :mod:`..readers.prompts`."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from ..readers.prompts import choose_prompts, read_prompts

__all__ = ["TEMPLATE_SECONDS", "choose_prompts", "encode_prompts", "read_prompts"]

#: Seconds a chat template may take to render one prompt (a template is code from the model's folder).
TEMPLATE_SECONDS = 10.0


class _TooSlow(Exception):
    """A chat template ran past :data:`TEMPLATE_SECONDS`."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_TooSlow` in the block after ``seconds`` (a timer signal: main thread on Unix; else no limit)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: Any) -> None:
        raise _TooSlow

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
        With ``chat_template`` when the tokenizer has no chat template, or it fails on a prompt or takes more than
        :data:`TEMPLATE_SECONDS` to render one.

    """
    if not chat_template:
        return [list(tokenizer(text).input_ids) for text in texts]
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            "{chat_template}: the model's tokenizer has no chat template (tokenizer.chat_template is unset); "
            "drop {chat_template} to tokenise prompts as they are",
            param="chat_template",
        )
    out = []
    for i, text in enumerate(texts):
        try:
            with _time_limit(TEMPLATE_SECONDS):
                rendered = tokenizer.apply_chat_template(
                    [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
                )
        except _TooSlow:
            raise InputError(
                f"{{chat_template}}: the tokenizer's chat template took more than {TEMPLATE_SECONDS:g} s on prompt {i}; "
                "the template is damaged or hostile: fix it, or drop {chat_template}",
                param="chat_template",
            ) from None
        except ImportError as exc:
            raise InputError(
                f"{{chat_template}} needs jinja2 ({exc}): pip install jinja2", param="chat_template"
            ) from None
        except Exception as exc:  # jinja2's TemplateError and whatever a template raises
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"{{chat_template}}: the tokenizer's chat template failed on prompt {i} ({first})",
                param="chat_template",
            ) from None
        out.append(list(tokenizer(rendered, add_special_tokens=False).input_ids))
    return out
