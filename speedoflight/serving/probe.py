"""What a server says about itself: its engine, model, vocabulary size, version and context length.

Each fact comes from the first endpoint that gives it, and is None where none does:

* ``/v1/models``: the model ids, ``owned_by`` (vLLM ``vllm``, llama.cpp ``llamacpp``, SGLang ``sglang``, OpenAI
  ``openai``/``system``), llama.cpp's ``meta.n_vocab`` and ``meta.n_ctx_train``, vLLM's ``max_model_len``;
* ``/props`` (llama.cpp): ``build_info``, ``default_generation_settings.n_ctx``;
* ``/version`` (vLLM): ``version``;
* ``/get_server_info`` (SGLang): ``version``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError
from .http import Client

__all__ = ["ENGINES", "ServerInfo", "probe"]

#: ``owned_by`` values of ``/v1/models`` and the engine they mean.
ENGINES = {"vllm": "vllm", "llamacpp": "llama.cpp", "sglang": "sglang", "openai": "openai", "system": "openai"}


@dataclass(frozen=True)
class ServerInfo:
    """What a server said about itself.

    Attributes
    ----------
    url : str
        Its base URL, without credentials.
    engine : str
        ``"vllm"``, ``"llama.cpp"``, ``"sglang"``, ``"openai"`` or ``"unknown"``.
    model : str
        The model id requests name.
    vocab_size : int or None
        The vocabulary size, where the server tells it (llama.cpp).
    version : str or None
        The server's version or build.
    n_ctx : int or None
        The context length a request may use, where told.

    """

    url: str
    engine: str
    model: str
    vocab_size: int | None = None
    version: str | None = None
    n_ctx: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as a JSON-ready dict (the collect header's ``server``).

        Returns
        -------
        dict
            Every field.

        """
        return asdict(self)


def _int(x: Any) -> int | None:
    return int(x) if isinstance(x, int) and not isinstance(x, bool) and x > 0 else None


def probe(client: Client, model: str | None = None) -> ServerInfo:
    """Ask a server what it serves; pick the model.

    Parameters
    ----------
    client
        The server's client.
    model
        The model to use (one of the ids ``/v1/models`` lists); None: the only one it lists.

    Returns
    -------
    ServerInfo

    Raises
    ------
    InputError
        For an unreachable server, a server without ``/v1/models`` when no model is named, several models and none
        named, or a named model it does not serve.

    """
    listing = client.probe("/v1/models")
    entries = listing.get("data") if isinstance(listing, dict) else None
    entries = [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)] if entries else []
    ids = [e["id"] for e in entries]
    if model is None:
        if not ids:
            raise InputError(
                f"{client.shown}/v1/models lists no model; is {{url}} an OpenAI-compatible server? Name the model with "
                "{model}",
                param=("url", "model"),
            )
        if len(ids) > 1:
            raise InputError(
                f"{client.shown} serves {len(ids)} models ({', '.join(ids[:5])}); choose one with {{model}}",
                param="model",
            )
        model = ids[0]
    elif ids and model not in ids:
        raise InputError(
            f"{client.shown} does not serve {{model}} {model!r}; it serves {', '.join(ids[:5])}", param="model"
        )
    entry: dict[str, Any] = next((e for e in entries if e["id"] == model), {})
    owner = str(entry.get("owned_by", "")).lower()
    engine = ENGINES.get(owner, "unknown")
    meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
    vocab = _int(meta.get("n_vocab"))
    n_ctx = _int(entry.get("max_model_len"))
    version = None
    props = client.probe("/props") if engine in ("llama.cpp", "unknown") else None
    if isinstance(props, dict) and ("build_info" in props or "default_generation_settings" in props):
        engine = "llama.cpp"
        version = str(props.get("build_info") or "") or None
        gen = props.get("default_generation_settings")
        n_ctx = n_ctx or (_int(gen.get("n_ctx")) if isinstance(gen, dict) else None)
    if engine in ("vllm", "unknown") and version is None:
        got = client.probe("/version")
        if isinstance(got, dict) and isinstance(got.get("version"), str):
            version = got["version"]
    if engine in ("sglang", "unknown") and version is None:
        got = client.probe("/get_server_info")
        if isinstance(got, dict) and isinstance(got.get("version"), str):
            version = got["version"]
            engine = "sglang" if engine == "unknown" else engine
    n_ctx = n_ctx or _int(meta.get("n_ctx")) or _int(meta.get("n_ctx_train"))
    return ServerInfo(url=client.shown, engine=engine, model=model, vocab_size=vocab, version=version, n_ctx=n_ctx)
