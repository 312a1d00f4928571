"""Library errors name the Python parameter; only the CLI writes it as its flag (speedoflight.cli._params)."""

from __future__ import annotations

import ast
import pathlib
import pickle
import re

import pytest

from speedoflight.errors import InputError
from tests.helpers import assert_user_error

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "speedoflight"
FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


#: The calls that make a user error's message, and how many of their first arguments go into it.
MESSAGE_CALLS = {"InputError": 1, "check_memory": 3}


def _input_errors():
    """Every ``InputError(...)`` (and message helper) outside cli/: (where, the literal text, the params given)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in MESSAGE_CALLS):
                continue
            text = "".join(_literal(a) for a in node.args[: MESSAGE_CALLS[node.func.id]])
            params: tuple[str, ...] | None = ()
            for kw in node.keywords:
                if kw.arg == "param":
                    values = kw.value.elts if isinstance(kw.value, ast.Tuple) else [kw.value]
                    consts = [v.value for v in values if isinstance(v, ast.Constant)]
                    params = tuple(consts) if len(consts) == len(values) else None  # None: computed
            yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", text, params


def _literal(node: ast.AST) -> str:
    """The literal text of a message: its string constants, each formatted value as ``\\x00``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal(v) if isinstance(v, ast.Constant) else "\x00" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) + _literal(node.right)
    return "\x00"


def test_the_scan_sees_the_library_messages():
    found = list(_input_errors())
    assert len(found) > 300  # the walk reaches the package (about 700 raises)
    assert sum(1 for _, _, params in found if params) > 150


def test_no_library_message_names_a_flag():
    """Outside cli/ a message names parameters as ``{name}``; a flag only inside a quoted command (`...`)."""
    bad = []
    for where, text, _ in _input_errors():
        outside_quotes = re.sub(r"`[^`]*`", "", text)
        flags = [f for f in FLAG.findall(outside_quotes) if f.startswith("--")]
        if flags:
            bad.append(f"{where}: {flags} in {text!r}")
    assert not bad, "\n".join(bad)


def test_every_placeholder_is_a_declared_parameter_and_back():
    """A message's literal text names only its params; a message with no formatted part names all of them."""
    bad = []
    for where, text, params in _input_errors():
        if params is None:  # computed names (a loop over fields): checked by the tests of that module
            continue
        named = set(PLACEHOLDER.findall(text))
        if not named <= set(params) or ("\x00" not in text and named != set(params)):
            bad.append(f"{where}: placeholders {sorted(named)} but param={params}")
    assert not bad, "\n".join(bad)


def test_every_parameter_has_a_flag():
    """The CLI can write each parameter the library names: no message falls back to a bare Python name."""
    from speedoflight.cli._params import flag_namer
    from speedoflight.cli.app import build_parser

    name = flag_namer(build_parser(), None)
    params = {p for _, _, ps in _input_errors() for p in ps or ()}
    assert {p for p in params if not name(p).startswith("-")} == set()


def test_render_writes_each_parameter_and_nothing_else():
    exc = InputError("data{mu}.npz: {mu} must be >= {mu2} (see {x})", param=("mu", "mu2"))
    assert str(exc) == "datamu.npz: mu must be >= mu2 (see {x})"
    assert exc.param == "mu"
    assert exc.params == ("mu", "mu2")
    assert exc.render(lambda p: "--" + p) == "data--mu.npz: --mu must be >= --mu2 (see {x})"
    plain = InputError("a {b} c")
    assert str(plain) == "a {b} c"
    assert plain.param is None
    back = pickle.loads(pickle.dumps(exc))  # a dask worker's error comes back with its parameters
    assert (type(back), back.template, back.params) == (InputError, exc.template, exc.params)


def test_the_library_names_the_parameter_and_the_cli_the_flag(capsys):
    from speedoflight.theory.curve import bound_curve

    with pytest.raises(InputError) as info:
        bound_curve([1, 2], mu=-1.0, mu2=1.0)
    assert str(info.value).startswith("mu must be >= 0")
    assert "--" not in str(info.value)
    line = assert_user_error(capsys, ["bound", "--mu", "-1", "--mu2", "1", "-P", "1,2"])
    assert line.startswith("speedoflight: error: --mu must be >= 0")


def test_a_parameter_spelled_otherwise_than_its_flag(capsys):
    """``compare(dumps=)`` is ``compare --dump``, ``estimate(client=)`` is ``--scheduler``; the CLI says the flag."""
    from speedoflight.analysis.compare import compare

    with pytest.raises(InputError) as info:
        compare([])
    assert str(info.value).endswith("(dumps)")
    from speedoflight.cli._params import flag_namer
    from speedoflight.cli.app import build_parser

    name = flag_namer(build_parser(), "compare")
    assert info.value.render(name).endswith("(--dump)")
    assert (name("client"), name("n_boot"), name("sources"), name("keep")) == (
        "--scheduler",
        "--bootstrap",
        "--from",
        "--top-k",
    )
