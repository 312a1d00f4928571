"""A tiny random Llama and a character tokenizer, built offline for the real-model tests."""

from __future__ import annotations

from pathlib import Path

VOCAB = "abcde"


def tiny_llama(scale: float = 12.0, seed: int = 0, layers: int = 2):
    """A 5-token Llama with random weights; ``scale`` sharpens its distributions (no near-ties)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(scale)
    return model


def char_tokenizer():
    """A character-level tokenizer over ``VOCAB`` (tokenizers library, no download)."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    tk = Tokenizer(models.WordLevel(vocab={ch: i for i, ch in enumerate(VOCAB)}, unk_token="a"))
    tk.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="a", eos_token="e")


def save_tiny(folder: Path, model=None) -> Path:
    """Save a tiny model and its tokenizer as a local model folder."""
    (model or tiny_llama()).save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return folder
