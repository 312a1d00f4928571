"""The devices of the timing model: GPU presets with their sources, and measured latency tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["GPU", "GPUS", "GPU_ALIASES", "Latency", "read_latency", "resolve_gpu"]


@dataclass(frozen=True)
class GPU:
    """Peak memory bandwidth (bytes/s) and dense BF16 tensor throughput (FLOP/s)."""

    name: str
    bandwidth: float
    flops: float
    source: str


#: Presets: dense BF16 tensor peaks (datasheets also quote 2x "with sparsity", which a dense model cannot use).
GPUS: dict[str, GPU] = {
    "h100-sxm": GPU(
        "NVIDIA H100 SXM5 80GB",
        3.35e12,
        989.4e12,
        "NVIDIA H100 Tensor Core GPU datasheet (HBM3 3.35 TB/s; BF16 1,979 TFLOPS with sparsity)",
    ),
    "h100-pcie": GPU(
        "NVIDIA H100 PCIe 80GB",
        2.0e12,
        756.5e12,
        "NVIDIA H100 Tensor Core GPU datasheet, PCIe column (HBM2e 2 TB/s; BF16 1,513 TFLOPS with sparsity)",
    ),
    "h200": GPU(
        "NVIDIA H200 SXM 141GB",
        4.8e12,
        989.4e12,
        "NVIDIA H200 Tensor Core GPU datasheet (HBM3e 4.8 TB/s; BF16 1,979 TFLOPS with sparsity)",
    ),
    "b200": GPU(
        "NVIDIA B200 (HGX, 1000 W)",
        8.0e12,
        2250e12,
        "NVIDIA HGX B200 datasheet (HBM3e 8 TB/s per GPU; FP16/BF16 4.5 PFLOPS with sparsity, 2.25 dense)",
    ),
    "a100-80gb": GPU(
        "NVIDIA A100 80GB SXM",
        2.039e12,
        312e12,
        "NVIDIA A100 Tensor Core GPU datasheet (HBM2e 2,039 GB/s; BF16 312 TFLOPS dense)",
    ),
    "mi300x": GPU(
        "AMD Instinct MI300X 192GB",
        5.3e12,
        1307.4e12,
        "AMD Instinct MI300X datasheet (HBM3 5.3 TB/s; BF16 1,307.4 TFLOPS dense, 2,614.9 with sparsity)",
    ),
    "l40s": GPU(
        "NVIDIA L40S 48GB",
        864e9,
        362.05e12,
        "NVIDIA L40S datasheet (GDDR6 864 GB/s; BF16 362.05 TFLOPS dense, 733 with sparsity)",
    ),
    "l4": GPU(
        "NVIDIA L4 24GB",
        300e9,
        121e12,
        "NVIDIA L4 Tensor Core GPU datasheet (GDDR6 300 GB/s; BF16 242 TFLOPS with sparsity)",
    ),
    "a10g": GPU(
        "NVIDIA A10G 24GB (AWS G5)",
        600e9,
        70e12,
        "AWS G5 / NVIDIA A10G (GDDR6 600 GB/s; about 70 TFLOPS BF16 tensor dense: NVIDIA publishes no A10G "
        "datasheet, the A10 datasheet's 125 TFLOPS is for the A10's higher tensor clocks; override --flops)",
    ),
    "rtx4090": GPU(
        "NVIDIA GeForce RTX 4090 24GB",
        1008e9,
        165.2e12,
        "NVIDIA Ada Lovelace architecture whitepaper, RTX 4090 (GDDR6X 1,008 GB/s; BF16 tensor with FP32 "
        "accumulate 165.2 TFLOPS dense, 330.3 with sparsity)",
    ),
}

#: Other spellings of the presets (lower case, after removing spaces and underscores).
GPU_ALIASES: dict[str, str] = {
    "h100": "h100-sxm",
    "h100sxm": "h100-sxm",
    "h100-sxm5": "h100-sxm",
    "h100pcie": "h100-pcie",
    "h200-sxm": "h200",
    "b200-sxm": "b200",
    "a100": "a100-80gb",
    "a100-80g": "a100-80gb",
    "a100-sxm": "a100-80gb",
    "mi300": "mi300x",
    "rtx-4090": "rtx4090",
    "4090": "rtx4090",
    "a10": "a10g",
}


def resolve_gpu(name: str | None, bandwidth: float | None = None, flops: float | None = None) -> GPU:
    """Return the GPU a user named, with overridden peaks relabelled ``custom``.

    Parameters
    ----------
    name
        A preset (see :data:`GPUS`) or an alias (:data:`GPU_ALIASES`, e.g. ``h100``); None: a custom device,
        which then needs both ``bandwidth`` and ``flops``.
    bandwidth, flops
        Peaks (bytes/s, FLOP/s) that replace the preset's.

    Returns
    -------
    GPU
        The preset, or a device named ``custom (...)`` saying what was overridden.

    Raises
    ------
    InputError
        For an unknown name, or no name and not both peaks.

    """
    if name is None:
        if bandwidth is None or flops is None:
            raise InputError(
                "give {gpu} NAME, or both {bandwidth} and {flops} for a custom device",
                param=("gpu", "bandwidth", "flops"),
            )
        return GPU(
            f"custom ({bandwidth / 1e12:.3g} TB/s, {flops / 1e12:.4g} TFLOP/s)",
            bandwidth,
            flops,
            "given with --bandwidth and --flops",
        )
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = GPU_ALIASES.get(key, GPU_ALIASES.get(key.replace("-", ""), key))
    if key not in GPUS:
        raise InputError(
            f"{{gpu}} {name!r} is not one of {', '.join(GPUS)} (aliases: {', '.join(GPU_ALIASES)})", param="gpu"
        )
    g = GPUS[key]
    if bandwidth is None and flops is None:
        return g
    changed = [f"{k} {v:.4g}" for k, v in (("bandwidth", bandwidth), ("flops", flops)) if v is not None]
    return GPU(
        f"custom ({g.name} with {', '.join(changed)})",
        bandwidth if bandwidth is not None else g.bandwidth,
        flops if flops is not None else g.flops,
        f"{g.source}; overridden: {', '.join(changed)}",
    )


@dataclass(frozen=True)
class Latency:
    """Measured verifier latency: seconds of one pass checking P draft tokens, interpolated linearly.

    Attributes
    ----------
    P : ndarray
        Measured tree sizes, increasing, the first 0 (plain decoding).
    seconds : ndarray
        Latency at each P.
    source : str
        Where it came from (the file).

    """

    P: np.ndarray
    seconds: np.ndarray
    source: str = "measured"

    def __post_init__(self) -> None:
        p, s = np.asarray(self.P, dtype=np.float64), np.asarray(self.seconds, dtype=np.float64)
        if p.ndim != 1 or p.shape != s.shape or len(p) < 2:
            raise InputError(f"{self.source}: give at least two rows of P, milliseconds (P = 0 and a larger P)")
        if p[0] != 0:
            raise InputError(
                f"{self.source}: the first row must be P = 0, the latency of plain decoding (the speedup's baseline)"
            )
        if not np.all(np.diff(p) > 0):
            raise InputError(f"{self.source}: P must increase from row to row")
        if not np.all(np.isfinite(s) & (s > 0)):
            raise InputError(f"{self.source}: every latency must be a finite number > 0 (milliseconds)")

    @property
    def pmax(self) -> float:
        """The largest measured P; beyond it there is no latency (no extrapolation)."""
        return float(self.P[-1])

    def at(self, p: np.ndarray | float) -> np.ndarray:
        """Seconds at P, linear between measured points; NaN beyond the largest (never extrapolated).

        Parameters
        ----------
        p
            Tree sizes (draft tokens per pass), a number or an array.

        Returns
        -------
        ndarray
            Latency in seconds, of the shape of ``p``.

        """
        pp = np.asarray(p, dtype=np.float64)
        out = np.interp(pp, self.P, self.seconds)
        return np.where(pp > self.pmax + 1e-9, np.nan, out)


def read_latency(path: str) -> Latency:
    """Read a latency table: CSV rows of ``P, milliseconds`` (a header line is allowed).

    Parameters
    ----------
    path
        The file: measured verifier latency per P on the user's GPU, the first row P = 0 (plain decoding).

    Returns
    -------
    Latency

    Raises
    ------
    InputError
        For a missing or malformed file, naming the line.

    """
    import csv
    import os

    if os.path.isdir(path):
        raise InputError(f"{{latency}} {path}: a folder, not a file (give a CSV of P, milliseconds)", param="latency")
    if not os.path.isfile(path):
        raise InputError(f"{{latency}} {path}: no such file (give a CSV of P, milliseconds)", param="latency")
    if os.path.getsize(path) > 1 << 20:
        raise InputError(
            f"{{latency}} {path}: over 1 MiB; a latency table is a few rows of P, milliseconds", param="latency"
        )
    ps: list[float] = []
    ms: list[float] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"{{latency}} {path}: not a text CSV ({exc.__class__.__name__}); give rows of P, milliseconds",
            param="latency",
        ) from None
    for n, row in enumerate(rows, 1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or cells[0].startswith("#"):
            continue
        try:
            p, t = float(cells[0]), float(cells[1])
        except (ValueError, IndexError):
            if n == 1 and not ps:
                continue  # a header
            raise InputError(
                f"{{latency}} {path}, line {n}: expected P, milliseconds (two numbers), got {','.join(cells)!r}",
                param="latency",
            ) from None
        if not (p == p and abs(p) != float("inf")) or p != int(p) or p < 0:
            raise InputError(
                f"{{latency}} {path}, line {n}: P must be a whole number >= 0, got {cells[0]}", param="latency"
            )
        ps.append(p)
        ms.append(t)
    return Latency(np.array(ps), np.array(ms) / 1e3, source=f"--latency {path}")
