"""The `transformers` protocol: a Hugging Face model already on disk, run in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmux import ChatOpenMux, ConfigError, TaskClassification, TaskType

pytest.importorskip("torch", reason="the transformers protocol needs torch (bring your own)")
pytest.importorskip("transformers", reason='pip install "openmux[transformers]"')
pytest.importorskip("langchain_huggingface", reason='pip install "openmux[transformers]"')

WORDS = ["<unk>", "<eos>", "user", "assistant", ":", "hello", "world", "hi", "there", "is", "a"]


def _as_chat(_: object) -> TaskClassification:
    return TaskClassification(TaskType.CHAT, 0.9, [], "fixed for the test")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer GPT-2 with a word-level tokenizer, made here: nothing is downloaded."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    vocab = {word: i for i, word in enumerate(WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="<eos>")
    fast.chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}assistant :"
    )
    config = GPT2Config(
        vocab_size=len(WORDS), n_positions=64, n_embd=16, n_layer=1, n_head=2, eos_token_id=1
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _config(model: str) -> dict[str, object]:
    return {
        "router": {"providers": ["hf"]},
        "providers": {"hf": {"protocol": "transformers", "models": [model]}},
    }


def test_a_saved_model_answers_in_process(tiny_model: Path) -> None:
    llm = ChatOpenMux(config=_config(str(tiny_model)), classifier=_as_chat)
    assert llm.settings.providers["hf"].local and llm.settings.providers["hf"].free
    message = llm.invoke("hello world")
    meta = message.response_metadata["openmux"]
    assert (meta["provider"], meta["model"]) == ("hf", str(tiny_model))
    assert message.text.strip()


def test_a_model_not_on_disk_is_never_downloaded(tmp_path: Path) -> None:
    from openmux.config import load_settings
    from openmux.providers import ModelPool

    settings = load_settings(_config("someone/not-downloaded"))
    with pytest.raises(ConfigError, match="not on this machine"):
        ModelPool(settings.timeouts).chat(settings.providers["hf"], "someone/not-downloaded")
