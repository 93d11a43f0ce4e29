#!/usr/bin/env python3
"""Writes the seed corpora and reproducers of the fuzz targets that can be made with numpy + onnx:

  fuzz/corpus/fuzz_npy/        small valid .npy / .npz
  fuzz/corpus/fuzz_onnx/       tiny valid models, incl. external data (weights.bin, sub/w.bin of fuzz_onnx.cpp's folder)
  fuzz/regressions/fuzz_onnx/  hostile models of issue 17: huge declared dims with little data, external data through
                               a link out of the folder, '..', absolute, a FIFO, a folder, offset near 2^63, offset=abc

The cache and plan seeds come from octet itself, the image seeds from OpenCV (see fuzz/corpus/README.md).
Run from the repository root:  python3 fuzz/make_corpus.py
"""
import io
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parent


def out(kind, target, name, data):
    p = ROOT / kind / target / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def model(nodes, inits, in_dims=(1, 4), out_name="y", opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_dims))
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="octet-fuzz")
    m.ir_version = 8
    return m.SerializeToString()


def add_w(w):
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add0")], [w])


def external(name, dims, kv, dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in kv:
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def main():
    # --- npy ---
    out("corpus", "fuzz_npy", "f32_2x3.npy", npy_bytes(np.arange(6, dtype=np.float32).reshape(2, 3)))
    out("corpus", "fuzz_npy", "u8_1x1x2x2.npy", npy_bytes(np.arange(4, dtype=np.uint8).reshape(1, 1, 2, 2)))
    out("corpus", "fuzz_npy", "i64_fortran.npy", npy_bytes(np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3))))
    b = io.BytesIO()
    np.savez(b, x=np.ones((1, 3), np.float32), y=np.zeros((2,), np.float64))
    out("corpus", "fuzz_npy", "two.npz", b.getvalue())
    b = io.BytesIO()
    np.savez_compressed(b, x=np.ones((2, 2), np.float32))
    out("corpus", "fuzz_npy", "compressed.npz", b.getvalue())

    # --- onnx: valid seeds ---
    out("corpus", "fuzz_onnx", "add_float_data.onnx",
        add_w(helper.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4])))
    out("corpus", "fuzz_onnx", "add_raw_data.onnx",
        add_w(helper.make_tensor("w", TensorProto.FLOAT, [4], np.arange(4, dtype=np.float32).tobytes(), raw=True)))
    out("corpus", "fuzz_onnx", "relu.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")], []))
    c = helper.make_node("Constant", [], ["c"], name="c0",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [4], [1, 1, 1, 1]))
    out("corpus", "fuzz_onnx", "constant.onnx",
        model([c, helper.make_node("Mul", ["x", "c"], ["y"], name="m")], []))
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [2, 2])
    out("corpus", "fuzz_onnx", "reshape_i64.onnx",
        model([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")], [shape]))
    conv_w = helper.make_tensor("cw", TensorProto.FLOAT, [2, 1, 3, 3], np.ones(18, np.float32).tobytes(), raw=True)
    out("corpus", "fuzz_onnx", "conv.onnx",
        model([helper.make_node("Conv", ["x", "cw"], ["y"], name="conv", pads=[1, 1, 1, 1])], [conv_w],
              in_dims=(1, 1, 4, 4)))
    out("corpus", "fuzz_onnx", "external_weights.onnx",
        add_w(external("w", [4], [("location", "weights.bin"), ("offset", "16"), ("length", "16")])))
    out("corpus", "fuzz_onnx", "external_sub.onnx",
        add_w(external("w", [4], [("location", "sub/w.bin")])))
    out("corpus", "fuzz_onnx", "external_const.onnx",
        model([helper.make_node("Constant", [], ["c"], name="c0",
                                value=external("v", [4], [("location", "weights.bin"), ("offset", "64")])),
               helper.make_node("Mul", ["x", "c"], ["y"], name="m")], []))

    # --- onnx: reproducers (issue 17) ---
    big = [
        ("huge_dims_float_data.onnx", helper.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4]), [3, 1 << 30]),
        ("huge_dims_raw_data.onnx",
         helper.make_tensor("w", TensorProto.FLOAT, [4], np.ones(4, np.float32).tobytes(), raw=True), [1 << 20, 1 << 12]),
        ("huge_dims_int64.onnx", helper.make_tensor("w", TensorProto.INT64, [2], [1, 2]), [1 << 31]),
        ("huge_dims_double_empty.onnx", helper.make_tensor("w", TensorProto.DOUBLE, [0], []), [1 << 11, 1 << 20]),
    ]
    for name, t, dims in big:
        del t.dims[:]
        t.dims.extend(dims)
        out("regressions", "fuzz_onnx", name, add_w(t))
    attr_t = helper.make_tensor("v", TensorProto.FLOAT, [4], [1, 2, 3, 4])
    del attr_t.dims[:]
    attr_t.dims.extend([1 << 16, 1 << 16])
    out("regressions", "fuzz_onnx", "huge_dims_constant.onnx",
        model([helper.make_node("Constant", [], ["c"], name="c0", value=attr_t),
               helper.make_node("Mul", ["x", "c"], ["y"], name="m")], []))
    out("regressions", "fuzz_onnx", "overflow_dims.onnx",
        add_w(external("w", [1 << 62, 1 << 62, 4], [("location", "weights.bin")])))
    cases = {
        "ext_symlink_outside.onnx": [("location", "outside.bin")],
        "ext_symlinked_dir_outside.onnx": [("location", "uplink/secret.bin")],
        "ext_dotdot.onnx": [("location", "../secret.bin")],
        "ext_absolute.onnx": [("location", "/etc/passwd")],
        "ext_fifo.onnx": [("location", "fifo.bin")],
        "ext_directory.onnx": [("location", "dir.bin")],
        "ext_missing.onnx": [("location", "missing.bin")],
        "ext_no_location.onnx": [("offset", "0")],
        "ext_offset_huge.onnx": [("location", "weights.bin"), ("offset", str((1 << 63) - 8))],
        "ext_offset_2p64.onnx": [("location", "weights.bin"), ("offset", str(1 << 64))],
        "ext_offset_abc.onnx": [("location", "weights.bin"), ("offset", "abc")],
        "ext_offset_negative.onnx": [("location", "weights.bin"), ("offset", "-16")],
        "ext_length_wrong.onnx": [("location", "weights.bin"), ("length", "4096")],
        "ext_length_overflow.onnx": [("location", "weights.bin"), ("offset", "4000"), ("length", "18446744073709551600")],
        "ext_past_end.onnx": [("location", "weights.bin"), ("offset", "4090")],
    }
    for name, kv in cases.items():
        out("regressions", "fuzz_onnx", name, add_w(external("w", [4], kv)))
    out("regressions", "fuzz_onnx", "ext_outside_big.onnx",
        add_w(external("w", [1024], [("location", "outside.bin")])))


if __name__ == "__main__":
    main()
