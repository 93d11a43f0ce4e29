"""ONNX Runtime's quantize_static told to round what octet's INT8 plan rounds.

`octet tune ... --exclusions X.json` writes, under "onnxruntime" -> "quantize_static", the arguments with which
ORT's QDQ quantizer puts Q/DQ on exactly the tensors octet's tuned INT8 plan rounds, with octet's scales: the
nodes it quantizes (the others, tune's FP32 layers among them, excluded), output Q/DQ off for those op types,
octet's scales as TensorQuantOverrides, float biases. This module only needs numpy and onnxruntime::

    import octet.ort
    from onnxruntime.quantization import quantize_static
    quantize_static("model.onnx", "model.qdq.onnx", reader, **octet.ort.quantize_static_kwargs("X.json"))
"""
import json
import pathlib

import numpy as np


def quantize_static_kwargs(exclusions):
    """kwargs for onnxruntime.quantization.quantize_static from octet tune's --exclusions file (a path, or the
    parsed JSON): enums and numpy scales in place of their JSON spelling. Raises ValueError when the file has no
    "quantize_static" entry (written by an older octet)."""
    data = exclusions if isinstance(exclusions, dict) else _read_json(pathlib.Path(exclusions))
    try:
        raw = data["onnxruntime"]["quantize_static"]["kwargs"]
    except (KeyError, TypeError):
        raise ValueError(f"{exclusions if not isinstance(exclusions, dict) else 'the exclusions'}: no "
                         "'onnxruntime' -> 'quantize_static' entry; write it with a newer octet tune --exclusions") from None
    from onnxruntime.quantization import QuantFormat, QuantType
    kw = dict(raw)
    kw["quant_format"] = QuantFormat[raw["quant_format"]]
    kw["activation_type"] = QuantType[raw["activation_type"]]
    kw["weight_type"] = QuantType[raw["weight_type"]]
    extra = dict(raw["extra_options"])
    overrides = {}
    for tensor, entries in extra.get("TensorQuantOverrides", {}).items():
        out = []
        for e in entries:
            e = dict(e)
            if "scale" in e:
                scale = e["scale"]
                if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < float("inf"):
                    raise ValueError(f"{exclusions if not isinstance(exclusions, dict) else 'the exclusions'}: "
                                     f"tensor '{tensor}' has scale {scale!r}; a scale is a positive finite number")
                e["scale"] = np.array(scale, dtype=np.float32)
                e["zero_point"] = np.array(e.get("zero_point", 0), dtype=np.int8)
            if "quant_type" in e:
                e["quant_type"] = QuantType[e["quant_type"]]
            out.append(e)
        overrides[tensor] = out
    extra["TensorQuantOverrides"] = overrides
    kw["extra_options"] = extra
    return kw


def _read_json(path):
    """The JSON of an exclusions file; ValueError naming the file when it is no regular file or no JSON."""
    if path.exists() and not path.is_file():  # a FIFO or a device would block the read
        raise ValueError(f"{path}: not a regular file; give the --exclusions JSON octet tune wrote")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not the JSON octet tune --exclusions writes ({e})") from None
