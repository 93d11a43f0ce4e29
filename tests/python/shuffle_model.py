"""A small CIFAR-size network with ShuffleNet-style channel shuffles, written as torch.onnx.export writes
`x.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)` with a symbolic batch: the shape arithmetic
is a Shape -> Gather -> Unsqueeze -> Concat subgraph of int64 tensors per shuffle. Seeded random weights."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_shuffle_model(path, blocks=6, channels=16, groups=4, seed=0, in_ch=3, hw=32):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def conv(x, cin, cout, name, k=3, group=1):
        w = rng.normal(0, (2.0 / (cin // group * k * k)) ** 0.5, size=(cout, cin // group, k, k)).astype(np.float32)
        b = rng.normal(0, 0.05, size=(cout,)).astype(np.float32)
        nodes.append(helper.make_node("Conv", [x, const(name + ".w", w), const(name + ".b", b)], [name],
                                      name=name, pads=[k // 2] * 4, group=group))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def shuffle(x, i):
        p = f"shuffle{i}/"
        shp = node("Shape", [x], p + "shape")
        dims = [node("Gather", [shp, const(p + f"i{d}", np.array(d, np.int64))], p + f"dim{d}", axis=0)
                for d in range(4)]
        cpg = node("Div", [dims[1], const(p + "g", np.array(groups, np.int64))], p + "cpg")
        un = [node("Unsqueeze", [t, const(p + f"ax{k}", np.array([0], np.int64))], p + f"u{k}")
              for k, t in enumerate([dims[0], cpg, dims[2], dims[3], dims[1]])]
        s5 = node("Concat", [un[0], const(p + "gg", np.array([groups], np.int64)), un[1], un[2], un[3]], p + "s5", axis=0)
        r5 = node("Reshape", [x, s5], p + "view")
        t = node("Transpose", [r5], p + "transpose", perm=[0, 2, 1, 3, 4])
        s4 = node("Concat", [un[0], un[4], un[2], un[3]], p + "s4", axis=0)
        return node("Reshape", [t, s4], p + "out")

    x = node("Relu", [conv("input", in_ch, channels, "stem")], "stem_relu")
    for i in range(blocks):
        y = node("Relu", [conv(x, channels, channels, f"b{i}.conv1", k=1, group=groups)], f"b{i}.relu1")
        y = shuffle(y, i)
        y = conv(y, channels, channels, f"b{i}.dw", k=3, group=channels)
        y = conv(y, channels, channels, f"b{i}.conv2", k=1, group=groups)
        x = node("Relu", [node("Add", [x, y], f"b{i}.add")], f"b{i}.relu2")
    # squeeze-excite style gate: x * sigmoid(...), whose sigmoid outputs sit near 1
    s = node("Sigmoid", [conv(node("GlobalAveragePool", [x], "gap0"), channels, channels, "se", k=1)], "se_sigmoid")
    x = node("Mul", [x, s], "se_mul")
    f = node("Flatten", [node("GlobalAveragePool", [x], "gap")], "flat", axis=1)
    w = rng.normal(0, 0.2, size=(10, channels)).astype(np.float32)
    node("Gemm", [f, const("fc.w", w), const("fc.b", np.zeros(10, np.float32))], "logits", transB=1)
    graph = helper.make_graph(nodes, "shuffle", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_ch, hw, hw])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
