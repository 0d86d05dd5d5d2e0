"""Small ONNX graphs with the inputs and outputs of the exports `openmux pull` fetches
(Whisper tiny, SD-Turbo), built with the `onnx` package: the hub is out of reach in tests.

The Whisper decoder's logits follow a fixed script, so its transcript is known
(`WHISPER_TRANSCRIPT`); the SD-Turbo parts are small convolutions in float16, like the
pulled export, so the image is real pixels of the size asked.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from openmux.local._media_pull import LocalMediaModel
from openmux.testing import FakeHub

WHISPER_WORDS = ["hello", "world"]
WHISPER_TRANSCRIPT = "hello world"
WHISPER_SPECIALS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|fr|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|notimestamps|>",
]


def _model_bytes(nodes: list, inputs: list, outputs: list, initializers: list) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# -- Whisper: encoder (input_features -> last_hidden_state), decoder (ids, states -> logits) --


def _whisper_tokenizer() -> bytes:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: index for index, token in enumerate(WHISPER_WORDS + WHISPER_SPECIALS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(WHISPER_SPECIALS)
    return tokenizer.to_str().encode()


def whisper_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    state = 16
    encoder = _model_bytes(
        [
            helper.make_node("Conv", ["input_features", "w"], ["conv"], strides=[2], pads=[1, 1]),
            helper.make_node("Transpose", ["conv"], ["last_hidden_state"], perm=[0, 2, 1]),
        ],
        [helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["batch", 80, 3000])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "t", "d"])],
        [numpy_helper.from_array(rng.standard_normal((state, 80, 3)).astype(np.float32), "w")],
    )
    vocab = len(WHISPER_WORDS) + len(WHISPER_SPECIALS)
    index = {token: i for i, token in enumerate(WHISPER_WORDS + WHISPER_SPECIALS)}
    # Row p: the logits after p + 1 tokens. After <|startoftranscript|> the likeliest
    # language is English; after the 4-token prompt the words, then the end.
    script = np.full((16, vocab), -5.0, dtype=np.float32)
    script[:, index["<|endoftext|>"]] = 1.0
    script[0, index["<|en|>"]] = 5.0
    script[3, index["hello"]] = 5.0
    script[4, index["world"]] = 5.0
    # The Gather that drives the script is what makes it a decoder: one row per position.
    decoder = _model_bytes(
        [
            helper.make_node("Shape", ["input_ids"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["length"]),
            helper.make_node("Range", ["zero", "length", "one"], ["positions"]),
            helper.make_node("Gather", ["script", "positions"], ["rows"]),
            helper.make_node("Unsqueeze", ["rows", "axis0"], ["scripted"]),
            helper.make_node("ReduceMean", ["encoder_hidden_states"], ["heard"], keepdims=1),
            helper.make_node("Mul", ["heard", "tiny"], ["nudge"]),
            helper.make_node("Add", ["scripted", "nudge"], ["logits"]),
        ],
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info(
                "encoder_hidden_states", TensorProto.FLOAT, ["batch", 1500, state]
            ),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s", "v"])],
        [
            numpy_helper.from_array(script, "script"),
            numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
            numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
            numpy_helper.from_array(np.array(1e-6, dtype=np.float32), "tiny"),
        ],
    )
    return {
        "onnx/encoder_model.onnx": encoder,
        "onnx/decoder_model.onnx": decoder,
        "tokenizer.json": _whisper_tokenizer(),
    }


# -- SD-Turbo: text encoder, UNet and VAE decoder, float16 like the pulled export -----------


def _clip_tokenizer_files() -> dict[str, bytes]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["!", "<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)]
    return {
        "tokenizer/vocab.json": json.dumps({t: i for i, t in enumerate(tokens)}).encode(),
        "tokenizer/merges.txt": b"#version: 0.2\n",
        "tokenizer/special_tokens_map.json": json.dumps({"pad_token": "!"}).encode(),
    }


def _float16_input(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT16, shape)


def diffusion_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    width = 8
    vocab = len(json.loads(_clip_tokenizer_files()["tokenizer/vocab.json"]))
    text_encoder = _model_bytes(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"])],
        [helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", 77])],
        [_float16_input("last_hidden_state", ["b", 77, "d"])],
        [numpy_helper.from_array(rng.standard_normal((vocab, width)).astype(np.float16), "table")],
    )
    unet = _model_bytes(
        [
            helper.make_node("Cast", ["sample"], ["sample32"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["encoder_hidden_states"], ["text32"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["timestep"], ["time32"], to=TensorProto.FLOAT),
            helper.make_node("Conv", ["sample32", "w"], ["mixed"]),
            helper.make_node("ReduceMean", ["text32"], ["prompt"], keepdims=1),
            helper.make_node("Mul", ["time32", "per_step"], ["when"]),
            helper.make_node("Add", ["mixed", "prompt"], ["guided"]),
            helper.make_node("Add", ["guided", "when"], ["noise"]),
            helper.make_node("Cast", ["noise"], ["out_sample"], to=TensorProto.FLOAT16),
        ],
        [
            _float16_input("sample", ["batch", 4, "h", "w"]),
            helper.make_tensor_value_info("timestep", TensorProto.INT64, [1]),
            _float16_input("encoder_hidden_states", ["batch", 77, width]),
        ],
        [_float16_input("out_sample", ["b", 4, "h", "w"])],
        [
            numpy_helper.from_array(
                (np.eye(4) + 0.1 * rng.standard_normal((4, 4))).astype(np.float32)[..., None, None],
                "w",
            ),
            numpy_helper.from_array(np.array([1e-4], dtype=np.float32), "per_step"),
        ],
    )
    # float16 throughout, as in the pulled export (onnxruntime's CPU provider runs it).
    vae_decoder = _model_bytes(
        [
            helper.make_node("Resize", ["latent_sample", "", "scales"], ["big"], mode="linear"),
            helper.make_node("Conv", ["big", "w"], ["rgb"]),
            helper.make_node("Tanh", ["rgb"], ["sample"]),
        ],
        [_float16_input("latent_sample", ["batch", 4, "h", "w"])],
        [_float16_input("sample", ["b", 3, "H", "W"])],
        [
            numpy_helper.from_array(np.array([1, 1, 8, 8], dtype=np.float32), "scales"),
            numpy_helper.from_array(
                rng.standard_normal((3, 4, 1, 1)).astype(np.float16) * 0.5, "w"
            ),
        ],
    )
    return {
        **_clip_tokenizer_files(),
        "text_encoder/model.onnx": text_encoder,
        "unet/model.onnx": unet,
        "vae_decoder/model.onnx": vae_decoder,
    }


def serve(hub: FakeHub, model: LocalMediaModel, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        hub.add(model.repo, name, data)
