"""The mu/mu2 estimator: logged distributions in, :class:`Moments` out.

``mu = E[H(p)]`` (expected entropy) and ``mu2 = E[sum_i p_i (log p_i)^2]``
(expected second log-moment), in nats, averaged over every logged row. These
are the two numbers the speed-of-light bound of Pankratov & Alistarh
(arXiv 2512.11718) takes.

Uncertainty: rows of one sequence are correlated, so when the files give
sequence ids the confidence intervals resample whole sequences (percentile
bootstrap of the ratio estimator, seeded); otherwise they use batch means
over about sqrt(n) consecutive batches (Student t).

Top-k input (API logs, narrow arrays) yields an interval per row, hence
``mu_interval`` and ``mu2_interval``; the point values are the midpoints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._config import DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE
from .._util.paths import expand_paths
from .._util.stats import ratio_stats
from ..errors import InputError
from ..kernels.rowmoments import row_moments
from ..options import ReadOptions, RunOptions, split_legacy
from ..readers import Source
from ..readers.scan import scan
from ..readers.sources import SourceInfo, Sources

__all__ = ["Moments", "MomentsScan", "PerRow", "check_shards", "estimate"]


@dataclass(frozen=True)
class PerRow:
    """Per-row values behind a :class:`Moments` (rows in reading order)."""

    source: np.ndarray
    row: np.ndarray
    h_lo: np.ndarray
    h_hi: np.ndarray
    m2_lo: np.ndarray
    m2_hi: np.ndarray
    seq: np.ndarray
    pos: np.ndarray
    surprisal: np.ndarray
    prompt: np.ndarray


@dataclass(frozen=True)
class Moments:
    """Estimated mu and mu2 with their uncertainty, and the inputs behind them.

    All values in nats. ``mu``/``mu2`` are point estimates (midpoints of the
    truncation interval for top-k input); ``*_se`` and ``*_ci`` describe
    sampling error; ``*_interval`` (top-k input only) the unknown tails;
    ``*_interval_ci`` joins both (lower CI end of the packed value, upper CI
    end of the spread value).
    """

    mu: float
    mu2: float
    mu_se: float
    mu2_se: float
    mu_ci: tuple[float, float]
    mu2_ci: tuple[float, float]
    n_rows: int
    n_sequences: int | None
    truncated: bool
    kind: str
    temperature: float
    vocab_size: int | None
    confidence: float
    ci_method: str
    sources: tuple[str, ...]
    formats: tuple[str, ...]
    mu_interval: tuple[float, float] | None = None
    mu2_interval: tuple[float, float] | None = None
    mu_interval_ci: tuple[float, float] | None = None
    mu2_interval_ci: tuple[float, float] | None = None
    n_exact_rows: int = 0
    sampled_surprisal_mean: float | None = None
    per_row: PerRow | None = field(default=None, repr=False, compare=False)

    @property
    def surprisal_variance(self) -> float:
        """``mu2 - mu^2``: variance of one token's surprisal under the i.i.d. law."""
        return self.mu2 - self.mu**2

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no per-row arrays).

        Returns
        -------
        dict
            Every field but ``per_row``, tuples as lists, plus ``surprisal_variance``; the four
            ``*_interval*`` fields only for truncated (top-k) input.

        """
        d = asdict(self)
        d.pop("per_row")
        d["surprisal_variance"] = self.surprisal_variance
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        if not self.truncated:
            for k in ("mu_interval", "mu2_interval", "mu_interval_ci", "mu2_interval_ci"):
                d.pop(k)
        return d


class _Clusters:
    """Running per-cluster sums: count and the four per-row columns, plus surprisal."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.sums = np.zeros((0, 5))
        self.surprisal = [0.0, 0]

    def add(self, keys: np.ndarray, vals: np.ndarray) -> None:
        uniq, inv = np.unique(keys, return_inverse=True, axis=0)
        part = np.zeros((len(uniq), 5))
        np.add.at(part[:, 0], inv, 1.0)
        for c in range(4):
            part[:, c + 1] = np.bincount(inv, weights=vals[:, c], minlength=len(uniq))
        rows = []
        for u in map(tuple, uniq):
            if u not in self.index:
                self.index[u] = len(self.index)
            rows.append(self.index[u])
        if len(self.index) > len(self.sums):
            grow = np.zeros((max(len(self.index), 2 * len(self.sums)), 5))
            grow[: len(self.sums)] = self.sums
            self.sums = grow
        np.add.at(self.sums, np.array(rows), part)

    def table(self) -> np.ndarray:
        return self.sums[: len(self.index)]


class _MicroBatches:
    """Sums over blocks of consecutive rows, at most ``cap`` blocks.

    Blocks start one row long; when there are more than ``cap`` of them,
    neighbours are merged pairwise and the block length doubles, so memory
    stays bounded whatever the number of rows.
    """

    def __init__(self, cap: int = 4096) -> None:
        self.size = 1
        self.cap = cap
        self.sums = np.zeros((0, 5))

    def add(self, first_row: int, vals: np.ndarray) -> None:
        ids = (first_row + np.arange(len(vals))) // self.size
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        counts = np.diff(np.r_[starts, len(vals)])
        part = np.concatenate([counts[:, None], np.add.reduceat(vals, starts, axis=0)], axis=1)
        last = int(ids[-1])
        if last >= len(self.sums):
            self.sums = np.concatenate([self.sums, np.zeros((last + 1 - len(self.sums), 5))])
        self.sums[ids[starts]] += part
        while len(self.sums) > self.cap:
            if len(self.sums) % 2:
                self.sums = np.concatenate([self.sums, np.zeros((1, 5))])
            self.sums = self.sums[0::2] + self.sums[1::2]
            self.size *= 2


def _batches(micro: np.ndarray, n_rows: int) -> np.ndarray:
    """Merge consecutive micro-batches into about sqrt(n) batches."""
    b = int(max(2, min(len(micro), round(np.sqrt(n_rows)))))
    if len(micro) <= b:
        return micro
    groups = np.array_split(np.arange(len(micro)), b)
    return np.stack([micro[g].sum(axis=0) for g in groups])


def estimate(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_BOOTSTRAP,
    per_row: bool = False,
    sources_out: list[SourceInfo] | None = None,
    read: ReadOptions | None = None,
    run: RunOptions | None = None,
    **legacy: Any,
) -> Moments:
    """Estimate mu and mu2 from one or more files of logged distributions.

    Parameters
    ----------
    paths
        A file, a glob, or a list of them; all are aggregated into one result.
    confidence
        Level of the confidence intervals.
    n_boot
        Bootstrap replicates (sequence resampling).
    per_row
        Keep the per-row values in ``Moments.per_row``.
    sources_out
        If given, each file's facts (:class:`~speedoflight.readers.sources.SourceInfo`) are appended to it once read.

    read
        How to read the files (:class:`~speedoflight.options.ReadOptions`): what the rows hold (``kind``:
        ``"logits"``, ``"logprobs"``, ``"probs"``; None lets the format decide or detects it where unambiguous), the
        temperature (``z / T``), the vocabulary size (for top-k rows that do not record it), the array inside a
        multi-array file, and the bytes of rows read at a time (bounds the working memory).
    run
        The bootstrap's seed, a progress bar on stderr, and a dask client (:class:`~speedoflight.options.RunOptions`;
        :func:`speedoflight._util.dist.connect`): one task per file, each returning its per-sequence sums only; the
        result equals the single-process one bit for bit (same sums, same bootstrap). A client needs sequence ids
        (dumps, API logs), and refuses shards of different models, vocabularies or temperatures.
    **legacy
        Deprecated: the old keywords ``kind``, ``temperature``, ``vocab_size``, ``tensor``, ``chunk_bytes``, ``seed``, ``progress``, ``client``, folded into ``read`` and ``run`` with a DeprecationWarning.

    Returns
    -------
    Moments

    """
    read, run = split_legacy("estimate", legacy, read=(ReadOptions, read), run=(RunOptions, run))
    kind, temperature, vocab_size, tensor, chunk_bytes = (
        read.kind,
        read.temperature,
        read.vocab_size,
        read.tensor,
        read.chunk_bytes,
    )
    seed, progress, client = run.seed, run.progress, run.client
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files = expand_paths(paths)
    if not 0.0 < confidence < 1.0:
        raise InputError(f"{{confidence}} must lie in (0, 1), got {confidence}", param="confidence")
    if n_boot < 10:
        raise InputError(f"{{n_boot}} needs at least 10 replicates, got {n_boot}", param="n_boot")
    # opened one at a time, each checked against the first (one verifier) and closed after its rows
    sources = Sources(files, kind=kind, vocab_size=vocab_size, tensor=tensor)
    acc = MomentsScan(sources.infos, temperature=temperature, per_row=per_row)
    if client is not None:
        if per_row:
            raise InputError(
                "{per_row} keeps every row on one machine: drop it with {client}", param=("per_row", "client")
            )
        from ..readers.scan import scan_shards

        open_kw = {"kind": kind, "vocab_size": vocab_size, "tensor": tensor}
        scan_shards(
            client,
            sources.check_all(),
            [acc],
            open_kw=open_kw,
            temperature=temperature,
            chunk_bytes=chunk_bytes,
            progress=progress,
        )
    else:
        scan(sources, [acc], temperature=temperature, chunk_bytes=chunk_bytes, progress=progress)
    if sources_out is not None:
        sources_out.extend(sources.infos)
    return acc.finish(confidence=confidence, n_boot=n_boot, seed=seed)


def check_shards(sources: Sequence[Source], temperature: float) -> None:
    """Refuse shards that do not come from one verifier: another vocabulary, model or sampling temperature.

    Parameters
    ----------
    sources
        The opened shards, in order.
    temperature
        The temperature asked for (the shards' own are compared with each other).

    Raises
    ------
    InputError
        Naming the first shard that differs from the first.

    """
    from ..readers.verifier import check_shards as check

    del temperature  # the shards' own temperatures are compared with each other
    check(sources)


class MomentsScan:
    """The estimator as a consumer of :func:`speedoflight.readers.scan.scan`: one pass, any other consumers beside.

    Parameters
    ----------
    sources
        The opened sources (all of one kind).
    temperature
        Rescales logits (``z / T``); dumps cannot be rescaled.
    per_row
        Keep the per-row values (``Moments.per_row``, and the trajectories).

    """

    wants_logprobs = False
    #: :func:`row_moments` validates every chunk it is given (the scan then need not).
    checks_rows = True

    def __init__(
        self, sources: Sequence[Source | SourceInfo], *, temperature: float = 1.0, per_row: bool = False
    ) -> None:
        kinds = {s.kind for s in sources}
        if len(kinds) > 1:
            raise InputError(f"the files hold different kinds ({', '.join(sorted(kinds))}); estimate them separately")
        #: The sources' facts (a list a :class:`~speedoflight.readers.sources.Sources` fills as it opens them).
        self.sources = sources
        self._kind: tuple[str, str] | None = None
        self.temperature = temperature
        self.per_row = per_row
        self.by_seq = _Clusters()
        self.micro = _MicroBatches()
        self.keep: list[dict[str, np.ndarray]] = []
        self.n_rows = 0
        self.n_exact = 0
        self.truncated = False
        self.all_have_seq = True
        self.by_prompt = False
        self.seq_ids: set[tuple[int, int]] = set()
        self.surprisal_sum, self.surprisal_n = 0.0, 0
        self.extra_seq = 0  # sequences counted by shards merged from workers
        self._path = ""  # the last file begun (for a worker's messages)

    def begin(self, si: int, src: Source) -> None:
        """Check a source before its rows: a dump cannot be rescaled to another temperature.

        Parameters
        ----------
        si
            Index of the source in the scan.
        src
            The source about to be read.

        Raises
        ------
        InputError
            For a speedoflight dump when the temperature is not 1.

        """
        if src.format.startswith("speedoflight-dump") and self.temperature != 1.0:
            raise InputError(
                f"{src.path}: the dump holds the distributions sampled at temperature "
                f"{src.metadata.get('temperature')}, which cannot be rescaled; drop {{temperature}} "
                "(or use 1), or re-dump with `speedoflight dump --temperature T`",
                param="temperature",
            )
        if self._kind is None:
            self._kind = (src.path, src.kind)
        elif src.kind != self._kind[1]:
            raise InputError(
                f"{src.path} holds {src.kind} but {self._kind[0]} holds {self._kind[1]}; estimate them separately"
            )
        self.truncated |= src.truncated or src.width is None
        self._path = src.path

    def add(self, si: int, src: Source, chunk: Any, logprobs: np.ndarray | None, full: bool) -> None:
        """Take one chunk: row moments (exact ones where the file records them), cluster sums, per-row values.

        Parameters
        ----------
        si
            Index of the source in the scan (part of the sequence cluster key).
        src
            The chunk's source.
        chunk
            The rows as stored, with their sequence, prompt, position and surprisal columns where recorded.
        logprobs
            Unused: always None, as the estimator does not ask for log-probabilities.
        full
            Unused: whether the rows are full distributions.

        """
        vals = row_moments(
            chunk.values,
            src.kind,
            vocab_size=src.vocab_size,
            temperature=self.temperature,
            caps=chunk.caps,
            where=src.path,
            row_offset=chunk.start,
        )
        if chunk.entropy is not None and chunk.m2 is not None:
            exact = np.isfinite(chunk.entropy) & np.isfinite(chunk.m2)
            vals[exact, 0] = vals[exact, 1] = chunk.entropy[exact]
            vals[exact, 2] = vals[exact, 3] = chunk.m2[exact]
            self.n_exact += int(exact.sum())
        if chunk.seq is None:
            self.all_have_seq = False
        else:
            # several continuations of one prompt are one cluster
            cluster = chunk.seq if chunk.prompt is None else chunk.prompt
            self.by_prompt |= chunk.prompt is not None
            self.seq_ids.update((si, int(q)) for q in np.unique(chunk.seq))
            keys = np.stack([np.full(chunk.n, si), cluster], axis=1)
            self.by_seq.add(keys, vals)
        self.micro.add(self.n_rows, vals)
        if chunk.surprisal is not None:
            ok = np.isfinite(chunk.surprisal)
            self.surprisal_sum += float(chunk.surprisal[ok].sum())
            self.surprisal_n += int(ok.sum())
        if self.per_row:
            self.keep.append(_per_row_part(si, chunk, vals))
        self.n_rows += chunk.n

    def blank(self) -> MomentsScan:
        """Return an empty estimator with the same settings, for a worker (:func:`~speedoflight.readers.scan.scan_shards`).

        Returns
        -------
        MomentsScan
            With no sources: a worker feeds it one file.

        """
        return MomentsScan([], temperature=self.temperature)

    def part(self) -> dict[str, Any]:
        """One file's partial sums: per-sequence (or per-prompt) sums and counts, never rows.

        Returns
        -------
        dict
            ``table`` (clusters x [count, H lower, H upper, M2 lower, M2 upper], in order of first appearance),
            ``n_seq`` and the scalars :meth:`merge` adds up.

        Raises
        ------
        InputError
            When the file records no sequence ids (its rows could not be summed per sequence).

        """
        if not self.all_have_seq:
            path = self._path or "a file"
            raise InputError(
                f"{path}: no sequence ids, so its rows cannot be summed per sequence on a worker; run it without "
                "{client}",
                param="client",
            )
        return {
            "table": self.by_seq.table().copy(),
            "n_seq": len(self.seq_ids),
            "n_rows": self.n_rows,
            "n_exact": self.n_exact,
            "truncated": self.truncated,
            "by_prompt": self.by_prompt,
            "surprisal": (self.surprisal_sum, self.surprisal_n),
        }

    def merge(self, index: int, part: dict[str, Any]) -> None:
        """Add file ``index``'s partial sums (:meth:`part`); files in their order, as the scan would have.

        Parameters
        ----------
        index
            The file's place among the sources.
        part
            A worker's result for it.

        """
        table = part["table"]
        base = len(self.by_seq.index)
        for j in range(len(table)):
            self.by_seq.index[(index, j)] = base + j  # clusters of one file never meet another's
        self.by_seq.sums = np.concatenate([self.by_seq.table(), table])
        self.extra_seq += int(part["n_seq"])
        self.n_rows += int(part["n_rows"])
        self.n_exact += int(part["n_exact"])
        self.truncated |= bool(part["truncated"])
        self.by_prompt |= bool(part["by_prompt"])
        self.surprisal_sum += float(part["surprisal"][0])
        self.surprisal_n += int(part["surprisal"][1])

    def finish(
        self, *, confidence: float = DEFAULT_CONFIDENCE, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0
    ) -> Moments:
        """Return the estimate (see :func:`estimate`).

        Parameters
        ----------
        confidence, n_boot, seed
            Interval level, bootstrap replicates and seed.

        Returns
        -------
        Moments
            mu and mu2 with their intervals.

        """
        sources = self.sources
        n_rows = self.n_rows
        if n_rows == 0:
            raise InputError(f"{sources[0].path}: no rows to estimate from")
        if self.all_have_seq:
            table = self.by_seq.table()
            unit = "prompt" if self.by_prompt else "sequence"
            method = f"{unit} bootstrap (B={n_boot}, seed={seed})"
            n_seq: int | None = len(self.seq_ids) + self.extra_seq
        else:
            table = _batches(self.micro.sums, n_rows)
            method = f"batch means ({len(table)} batches of consecutive rows)"
            n_seq = None
        counts, totals = table[:, 0], table[:, 1:]
        mid = np.stack([(totals[:, 0] + totals[:, 1]) / 2, (totals[:, 2] + totals[:, 3]) / 2], axis=1)
        mean, se, ci = ratio_stats(
            counts, np.concatenate([mid, totals], axis=1), self.all_have_seq, confidence, n_boot, seed
        )
        truncated = self.truncated and bool(
            np.any(totals[:, 1] - totals[:, 0] > 0) or np.any(totals[:, 3] != totals[:, 2])
        )
        extra: dict[str, Any] = {}
        if truncated:
            extra = {
                "mu_interval": (float(mean[2]), float(mean[3])),
                "mu2_interval": (float(mean[4]), float(mean[5])),
                "mu_interval_ci": (float(ci[2, 0]), float(ci[3, 1])),
                "mu2_interval_ci": (float(ci[4, 0]), float(ci[5, 1])),
            }
        vocabs = {s.vocab_size for s in sources}
        return Moments(
            mu=float(mean[0]),
            mu2=float(mean[1]),
            mu_se=float(se[0]),
            mu2_se=float(se[1]),
            mu_ci=(float(ci[0, 0]), float(ci[0, 1])),
            mu2_ci=(float(ci[1, 0]), float(ci[1, 1])),
            n_rows=n_rows,
            n_sequences=n_seq,
            truncated=truncated,
            kind=sources[0].kind,
            temperature=float(self.temperature),
            vocab_size=vocabs.pop() if len(vocabs) == 1 else None,
            confidence=confidence,
            ci_method=method,
            sources=tuple(s.path for s in sources),
            formats=tuple(s.format for s in sources),
            n_exact_rows=self.n_exact,
            sampled_surprisal_mean=self.surprisal_sum / self.surprisal_n if self.surprisal_n else None,
            per_row=_join_per_row(self.keep) if self.per_row else None,
            **extra,
        )


def _per_row_part(si: int, chunk, vals: np.ndarray) -> dict[str, np.ndarray]:
    n = chunk.n
    nan = np.full(n, np.nan)
    minus = np.full(n, -1, dtype=np.int64)
    return {
        "source": np.full(n, si, dtype=np.int64),
        "row": chunk.start + np.arange(n, dtype=np.int64),
        "h_lo": vals[:, 0].copy(),
        "h_hi": vals[:, 1].copy(),
        "m2_lo": vals[:, 2].copy(),
        "m2_hi": vals[:, 3].copy(),
        "seq": minus if chunk.seq is None else np.asarray(chunk.seq, dtype=np.int64),
        "pos": minus if chunk.pos is None else np.asarray(chunk.pos, dtype=np.int64),
        "surprisal": nan if chunk.surprisal is None else np.asarray(chunk.surprisal, dtype=np.float64),
        "prompt": (minus if chunk.seq is None else np.asarray(chunk.seq, dtype=np.int64))
        if chunk.prompt is None
        else np.asarray(chunk.prompt, dtype=np.int64),
    }


def _join_per_row(parts: list[dict[str, np.ndarray]]) -> PerRow:
    return PerRow(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
