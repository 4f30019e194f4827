"""A tiny Piper-compatible voice, built with onnx.helper (no download).

It has Piper's interface (inputs `input`, `input_lengths`, `scales` and, for a
multi-speaker voice, `sid`; output `output` [1, 1, samples]) and turns every phoneme
id into 256 samples of a tone whose pitch follows the id, so the audio depends on the
text and on the speaker.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HOP = 256


def build(path: Path, language: str, speakers: int = 1, sample_rate: int = 16000) -> Path:
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, [1, "n"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    const = [
        helper.make_tensor("axes", TensorProto.INT64, [1], [2]),
        helper.make_tensor("repeats", TensorProto.INT64, [3], [1, 1, HOP]),
        helper.make_tensor("shape", TensorProto.INT64, [3], [1, 1, -1]),
        helper.make_tensor("step", TensorProto.FLOAT, [], [0.37]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [0.4]),
    ]
    nodes = [
        helper.make_node("Cast", ["input"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids", "axes"], ["ids3"]),
        helper.make_node("Tile", ["ids3", "repeats"], ["tiled"]),
        helper.make_node("Reshape", ["tiled", "shape"], ["flat"]),
        # A running phase so every sample moves: cumsum of the per-sample pitch.
        helper.make_node("Mul", ["flat", "step"], ["pitch"]),
        # scales and input_lengths are used (Piper feeds them), without effect.
        helper.make_node("ReduceSum", ["scales"], ["s_sum"], keepdims=0),
        helper.make_node("Mul", ["s_sum", "zero"], ["s_zero"]),
        helper.make_node("Cast", ["input_lengths"], ["len_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["len_f"], ["len_sum"], keepdims=0),
        helper.make_node("Mul", ["len_sum", "zero"], ["l_zero"]),
        helper.make_node("Add", ["pitch", "s_zero"], ["p1"]),
        helper.make_node("Add", ["p1", "l_zero"], ["p2"]),
    ]
    last = "p2"
    if speakers > 1:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
        const.append(helper.make_tensor("per_speaker", TensorProto.FLOAT, [], [0.9]))
        nodes += [
            helper.make_node("Cast", ["sid"], ["sid_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["sid_f", "per_speaker"], ["shift"]),
            helper.make_node("Add", [last, "shift"], ["p3"]),
        ]
        last = "p3"
    nodes += [
        helper.make_node("Sin", [last], ["wave"]),
        helper.make_node("Mul", ["wave", "gain"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_voice", inputs,
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "samples"])],
        initializer=const,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    symbols = ["_", "^", "$", " "] + [chr(c) for c in range(0x21, 0x370) if chr(c) not in "_^$"]
    config = {
        "audio": {"sample_rate": sample_rate},
        "espeak": {"voice": language},
        "phoneme_type": "espeak",
        "num_symbols": len(symbols),
        "num_speakers": speakers,
        "phoneme_id_map": {s: [i] for i, s in enumerate(symbols)},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "dataset": f"tiny-{language}",
    }
    Path(f"{path}.json").write_text(json.dumps(config, ensure_ascii=False))
    return path
