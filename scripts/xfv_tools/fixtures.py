"""Tiny deterministic ONNX fixture models with closed-form / independently computed Jacobians.

`python -m xfv_tools.fixtures` (re)writes, byte for byte the same on every run, into tests/fixtures/:

    linear_3x8x8_d4.onnx        e = W vec(x) + b, W [4,192]: made by `linear_model()`
    linear_3x8x8_d4.toml        its model card (models/*.toml format)
    linear_3x8x8_d4.grad.onnx   its gradient graph, reduce=none
    linear_3x8x8_d4.fggb.onnx   its gradient graph, reduce=fggb
    linear_3x8x8_d4.expected.json   one input, K=4 cotangent rows and the closed-form results:
                                (I - e e^T) W / ||f|| contracted with the rows, and its fggb maps
    tinyconv_3x8x8_d4.onnx      Conv3x3 -> Relu -> depthwise Conv3x3/2 -> PRelu -> MaxPool -> GAP -> Gemm
                                (`tinyconv_model()`)
    tinyconv_3x8x8_d4.toml / .grad.onnx / .fggb.onnx / .expected.json: as above; the expected Jacobian
                                is float64 central differences of a numpy evaluation (`export.reference`)

The expected JSON holds flat row-major lists: x [1,3,8,8], cotangent [4,4], embedding [1,4],
jacobian [1,4,3,8,8] (reduce none) and jacobian_fggb [1,4,8,8], all float64 from the closed form or
the float64 reference, plus `ort_max_abs_diff`: how far Python onnxruntime's output is from them.

It also holds synthetic nets for the export tests (`op_zoo()`, `iresnet_like()`, `mobilefacenet_like()`),
built in memory with onnx.helper, covering the VJP rules' op list.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .paths import FIXTURES

OPSET = 17


# ---------------------------------------------------------------------------------------------------
# a small graph-building helper
# ---------------------------------------------------------------------------------------------------
class Net:
    """Builds a single-input single-output ONNX model node by node with deterministic weights."""

    def __init__(self, name: str, h: int, w: int, seed: int = 0, batch="N", opset: int = OPSET):
        self.name, self.h, self.w = name, h, w
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.batch = batch
        self.opset = opset
        self._n = 0

    def t(self, hint="t") -> str:
        self._n += 1
        return f"{hint}{self._n}"

    def init(self, arr, hint="w", dtype=np.float32) -> str:
        name = self.t(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def rand(self, shape, scale=1.0, hint="w") -> str:
        return self.init(self.rng.standard_normal(shape) * scale, hint)

    def op(self, op_type, inputs, n_out=1, **attrs):
        outs = [self.t(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.t("n_" + op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k=3, stride=1, pad=None, group=1, dil=1, bias=True):
        pad = (k // 2) * dil if pad is None else pad
        pads = list(pad) if isinstance(pad, (list, tuple)) else [pad] * 4
        w = self.rand((cout, cin // group, k, k), np.sqrt(2.0 / (cin // group * k * k)))
        ins = [x, w] + ([self.rand((cout,), 0.1, "b")] if bias else [])
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=pads, group=group,
                       dilations=[dil, dil])

    def bn(self, x, c):
        return self.op("BatchNormalization", [
            x, self.init(1.0 + 0.1 * self.rng.standard_normal(c)), self.init(0.1 * self.rng.standard_normal(c)),
            self.init(0.1 * self.rng.standard_normal(c)), self.init(0.5 + self.rng.random(c))], epsilon=1e-5)

    def prelu(self, x, c):
        return self.op("PRelu", [x, self.init((0.25 + 0.1 * self.rng.standard_normal(c)).reshape(c, 1, 1))])

    def gemm(self, x, fin, fout, bias=True):
        ins = [x, self.rand((fout, fin), 1.0 / np.sqrt(fin))] + ([self.rand((fout,), 0.1, "b")] if bias else [])
        return self.op("Gemm", ins, transB=1)

    def model(self, out: str, inp_name: str = "input") -> onnx.ModelProto:
        # rename the first use of the placeholder input
        g = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info(inp_name, TensorProto.FLOAT, [self.batch, 3, self.h, self.w])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, [self.batch, None])],
            initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="xfv-fixtures")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


# ---------------------------------------------------------------------------------------------------
# committed fixtures
# ---------------------------------------------------------------------------------------------------
def linear_model() -> onnx.ModelProto:
    """e = W vec(x) + b with W [4, 192]: its normalised Jacobian is (I - e e^T) W / ||f||."""
    n = Net("linear_3x8x8_d4", 8, 8, seed=1)
    f = n.op("Flatten", ["input"], axis=1)
    return n.model(n.gemm(f, 192, 4))


def tinyconv_model() -> onnx.ModelProto:
    n = Net("tinyconv_3x8x8_d4", 8, 8, seed=2)
    a = n.op("Relu", [n.conv("input", 3, 4, 3)])
    a = n.prelu(n.conv(a, 4, 4, 3, stride=2, group=4), 4)
    a = n.op("MaxPool", [a], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1])
    a = n.op("Flatten", [n.op("GlobalAveragePool", [a])], axis=1)
    return n.model(n.gemm(a, 4, 4))


def card_text(name: str, h: int, w: int, dim: int, description: str) -> str:
    return f"""# Model card of a test fixture made by scripts/xfv_tools/fixtures.py (not a face model).
schema = 1
name = "{name}"
kind = "recognition"
description = "{description}"
licence = "Apache-2.0"

[input]
width_px = {w}
height_px = {h}
colour_order = "rgb"
mean = [127.5, 127.5, 127.5]
std = [127.5, 127.5, 127.5]

[embedding]
dim = {dim}
comparison = "cosine"
threshold = 0.5
threshold_source = "arbitrary (fixture)"
"""


def _linear_closed_form(model: onnx.ModelProto, x: np.ndarray, cot: np.ndarray):
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    gemm = next(nd for nd in model.graph.node if nd.op_type == "Gemm")
    W, b = inits[gemm.input[1]], inits[gemm.input[2]]
    f = W @ x.reshape(-1).astype(np.float64) + b
    nrm = np.linalg.norm(f)
    e = f / nrm
    J = (np.eye(len(f)) - np.outer(e, e)) @ W / nrm           # [D, 192]
    return e, (cot.astype(np.float64) @ J).reshape(1, len(cot), *x.shape[1:])


def _reference_jacobian(model: onnx.ModelProto, x: np.ndarray, cot: np.ndarray):
    from .export.probe import probe
    from .export.reference import embed64

    P = probe(model)
    x64 = x.astype(np.float64)
    e = embed64(P, x64)
    h = 1e-7 * max(1.0, float(np.sqrt((x64 ** 2).mean())))
    J = np.zeros((len(e), x.size))
    for i in range(x.size):
        d = np.zeros(x.size)
        d[i] = h
        d = d.reshape(x.shape)
        J[:, i] = (embed64(P, x64 + d) - embed64(P, x64 - d)) / (2 * h)
    return e, (cot.astype(np.float64) @ J).reshape(1, len(cot), *x.shape[1:])


def _fggb(j: np.ndarray) -> np.ndarray:
    am = np.abs(j).mean(axis=2)
    return am / (np.sqrt((am ** 2).sum(axis=(2, 3), keepdims=True)) + 1e-8)


FIXTURE_MODELS = {
    "linear_3x8x8_d4": (linear_model, _linear_closed_form, "e = W vec(x) + b, W [4,192]; closed-form Jacobian"),
    "tinyconv_3x8x8_d4": (tinyconv_model, _reference_jacobian,
                          "Conv-Relu-depthwise Conv/2-PRelu-MaxPool-GAP-Gemm; float64 reference Jacobian"),
}


def fixture_input(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(x [1,3,8,8] as the card scales pixels, cotangent [4,4]) used by the expected files."""
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, size=(1, 3, 8, 8)).astype(np.float64)
    x = ((px - 127.5) / 127.5).astype(np.float32)
    cot = np.round(rng.standard_normal((4, 4)), 3).astype(np.float32)
    return x, cot


def write_all(out_dir: Path = FIXTURES) -> list[Path]:
    from .export import export_model
    from .export.metadata import read_card
    from .export.verify import run, session

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (make, jac, desc) in FIXTURE_MODELS.items():
        model = make()
        src = out_dir / f"{name}.onnx"
        src.write_bytes(model.SerializeToString())
        card_path = out_dir / f"{name}.toml"
        card_path.write_text(card_text(name, 8, 8, 4, desc))
        card = read_card(card_path)
        grad = export_model(src, card, out_dir / f"{name}.grad.onnx", "none")
        fggb = export_model(src, card, out_dir / f"{name}.fggb.onnx", "fggb")
        x, cot = fixture_input()
        e, j = jac(model, x, cot)
        _, j_ort = run(session(grad), x, cot)
        e_ort, jf_ort = run(session(fggb), x, cot)
        jf = _fggb(j)
        exp = {
            "description": desc,
            "made_by": f"xfv_tools.fixtures.{make.__name__} + xfv_tools.export (reduce none / fggb)",
            "x_shape": list(x.shape), "x": [float(v) for v in x.reshape(-1)],
            "cotangent_shape": list(cot.shape), "cotangent": [float(v) for v in cot.reshape(-1)],
            "embedding_shape": [1, len(e)], "embedding": [round(float(v), 9) for v in e],
            "jacobian_shape": list(j.shape), "jacobian": [float(f"{v:.9g}") for v in j.reshape(-1)],
            "jacobian_fggb_shape": list(jf.shape),
            "jacobian_fggb": [float(f"{v:.9g}") for v in jf.reshape(-1)],
            "ort_max_abs_diff": {
                "embedding": float(f"{np.abs(e_ort[0] - e).max():.3g}"),
                "jacobian": float(f"{np.abs(j_ort - j).max():.3g}"),
                "jacobian_fggb": float(f"{np.abs(jf_ort - jf).max():.3g}"),
            },
        }
        exp_path = out_dir / f"{name}.expected.json"
        exp_path.write_text(json.dumps(exp, indent=1) + "\n")
        written += [src, card_path, out_dir / f"{name}.grad.onnx", out_dir / f"{name}.fggb.onnx", exp_path]
    return written


def main() -> int:
    for p in write_all():
        print(f"{p.relative_to(FIXTURES.parent.parent)}  {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# ---------------------------------------------------------------------------------------------------
# synthetic nets for the export tests (built in memory, not committed)
# ---------------------------------------------------------------------------------------------------
def iresnet_like(h: int = 16, dim: int = 8, seed: int = 10) -> onnx.ModelProto:
    """IResNet-style: conv-BN-PRelu stem, BN-conv-BN-PRelu-conv/2-BN residual block with a strided
    1x1 shortcut, BN-Flatten-Gemm-BN1d head."""
    n = Net("iresnet_like", h, h, seed)
    a = n.prelu(n.bn(n.conv("input", 3, 8, bias=False), 8), 8)
    r = n.bn(a, 8)
    r = n.prelu(n.bn(n.conv(r, 8, 8, bias=False), 8), 8)
    r = n.bn(n.conv(r, 8, 16, stride=2, bias=False), 16)
    s = n.bn(n.conv(a, 8, 16, k=1, stride=2, pad=0, bias=False), 16)
    a = n.op("Add", [r, s])
    a = n.op("Dropout", [n.bn(a, 16)])
    f = n.op("Flatten", [a], axis=1)
    e = n.gemm(f, 16 * (h // 2) ** 2, dim)
    return n.model(n.bn(e, dim))


def mobilefacenet_like(h: int = 16, dim: int = 8, seed: int = 11) -> onnx.ModelProto:
    """MobileFaceNet-style: strided stem, depthwise, inverted bottlenecks (stride 2 and residual),
    1x1 conv, global depthwise conv (GDC), linear embedding; TF-style asymmetric pads."""
    n = Net("mobilefacenet_like", h, h, seed)
    a = n.prelu(n.bn(n.conv("input", 3, 8, stride=2, pad=[0, 0, 1, 1], bias=False), 8), 8)
    a = n.prelu(n.bn(n.conv(a, 8, 8, group=8, bias=False), 8), 8)
    b = n.prelu(n.bn(n.conv(a, 8, 16, k=1, pad=0, bias=False), 16), 16)
    b = n.prelu(n.bn(n.conv(b, 16, 16, stride=2, pad=[0, 0, 1, 1], group=16, bias=False), 16), 16)
    a = n.bn(n.conv(b, 16, 8, k=1, pad=0, bias=False), 8)
    b = n.prelu(n.bn(n.conv(a, 8, 16, k=1, pad=0, bias=False), 16), 16)
    b = n.prelu(n.bn(n.conv(b, 16, 16, group=16, bias=False), 16), 16)
    a = n.op("Add", [a, n.bn(n.conv(b, 16, 8, k=1, pad=0, bias=False), 8)])
    a = n.prelu(n.bn(n.conv(a, 8, 16, k=1, pad=0, bias=False), 16), 16)
    a = n.bn(n.conv(a, 16, 16, k=h // 4, pad=0, group=16, bias=False), 16)   # GDC
    f = n.op("Flatten", [a], axis=1)
    return n.model(n.gemm(f, 16, dim))


def dlib_like(h: int = 18, dim: int = 8, seed: int = 12) -> onnx.ModelProto:
    """dlib ResNet-style: 7x7/2 stem, MaxPool 3x3/2, residual block whose shortcut is AveragePool 2x2/2
    plus a channel Pad, GlobalAveragePool, Gemm."""
    n = Net("dlib_like", h, h, seed)
    a = n.op("Relu", [n.conv("input", 3, 4, k=7, stride=2, pad=0)])       # 18 -> 6
    a = n.op("MaxPool", [a], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])   # 6 -> 3... keep size
    r = n.op("Relu", [n.conv(a, 4, 8, stride=2)])
    r = n.conv(r, 8, 8)
    s = n.op("AveragePool", [a], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=0)
    s = n.op("Pad", [s, n.init([0, 0, 0, 0, 0, 4, 0, 0], "pads", np.int64)], mode="constant")
    a = n.op("Relu", [n.op("Add", [r, s])])
    f = n.op("Flatten", [n.op("GlobalAveragePool", [a])], axis=1)
    return n.model(n.gemm(f, 8, dim))


def _tail(n: Net, x: str, c: int, sp: int, dim: int) -> str:
    f = n.op("Flatten", [x], axis=1)
    return n.gemm(f, c * sp, dim)


def zoo_activations(seed: int = 20) -> onnx.ModelProto:
    n = Net("zoo_activations", 8, 8, seed)
    a = n.conv("input", 3, 6)
    branches = [
        n.op("LeakyRelu", [a], alpha=0.1),
        n.op("Clip", [a, n.init(0.0), n.init(6.0)]),
        n.op("HardSwish", [a]),
        n.op("Mul", [a, n.op("HardSigmoid", [a], alpha=0.2, beta=0.5)]),
        n.op("Sigmoid", [a]),
        n.op("Tanh", [a]),
        n.op("Elu", [a], alpha=0.7),
        n.op("Softplus", [a]),
        n.op("Relu", [a]),
        n.op("Neg", [n.op("Abs", [a])]),
    ]
    acc = branches[0]
    for i, b in enumerate(branches[1:]):
        scale = n.rand((6, 1, 1) if i % 2 else (1, 6, 1, 1), 0.5, "s")
        acc = n.op("Add", [acc, n.op("Mul", [b, scale])])
    acc = n.op("Sub", [acc, n.rand((8,), 0.1, "s")])
    acc = n.op("Div", [acc, n.init(1.5)])
    return n.model(_tail(n, acc, 6, 64, 5))


def zoo_math(seed: int = 21) -> onnx.ModelProto:
    n = Net("zoo_math", 6, 6, seed)
    a = n.conv("input", 3, 4)
    p = n.op("Add", [n.op("Mul", [a, a]), n.init(1.0)])                      # positive
    b = n.op("Sqrt", [p])
    b = n.op("Add", [b, n.op("Pow", [p, n.init(1.5)])])
    b = n.op("Add", [b, n.op("Reciprocal", [p])])
    b = n.op("Add", [b, n.op("Log", [p])])
    b = n.op("Add", [b, n.op("Exp", [n.op("Mul", [a, n.init(0.3)])])])
    b = n.op("Add", [b, n.op("Div", [a, p])])                                # both operands active
    b = n.op("Add", [b, n.op("Max", [a, n.op("Neg", [a])])])
    b = n.op("Add", [b, n.op("Min", [a, n.init(0.2)])])
    b = n.op("Add", [b, n.op("Where", [n.op("Greater", [a, n.init(0.1)]), a, n.op("Mul", [a, a])])])
    b = n.op("Sum", [b, a, p])
    b = n.op("Mean", [b, a])
    b = n.op("Cast", [n.op("Identity", [b])], to=TensorProto.FLOAT)
    return n.model(_tail(n, b, 4, 36, 5))


def zoo_shapes(seed: int = 22) -> onnx.ModelProto:
    n = Net("zoo_shapes", 6, 6, seed)
    a = n.conv("input", 3, 4)                                                # [N,4,6,6]
    t = n.op("Transpose", [a], perm=[0, 2, 3, 1])                            # [N,6,6,4]
    m = n.op("MatMul", [t, n.rand((4, 5), 0.5)])                             # [N,6,6,5]
    m = n.op("MatMul", [n.rand((3, 6), 0.5), m])                             # [N,6,3,5]
    u = n.op("Unsqueeze", [m, n.init([1], "ax", np.int64)])                  # [N,1,6,3,5]
    s = n.op("Squeeze", [u, n.init([1], "ax", np.int64)])                    # [N,6,3,5]
    r = n.op("Reshape", [s, n.init([0, 6, 15], "shape", np.int64)])          # [N,6,15]
    p1, p2 = n.op("Split", [r, n.init([2, 4], "split", np.int64)], n_out=2, axis=1)   # [N,2,15], [N,4,15]
    c = n.op("Concat", [p2, n.op("Mul", [p1, n.init(2.0)]), p1], axis=1)     # [N,8,15]
    sl = n.op("Slice", [c, n.init([1, 2], "st", np.int64), n.init([7, 14], "en", np.int64),
                        n.init([1, 2], "ax", np.int64)])                     # [N,6,12]
    rm = n.op("ReduceMean", [sl], axes=[2], keepdims=1)   # [N,6,1]
    ex = n.op("Expand", [rm, n.init([1, 6, 12], "shape", np.int64)])         # [N,6,12]
    rs = n.op("ReduceSum", [sl, n.init([1], "ax", np.int64)], keepdims=0)    # [N,12]
    rl = n.op("ReduceL2", [sl], axes=[1], keepdims=0)     # [N,12]
    rx = n.op("ReduceMax", [sl], axes=[1], keepdims=0)    # [N,12]
    rq = n.op("ReduceSumSquare", [sl], axes=[1], keepdims=0)
    v = n.op("Add", [n.op("Add", [rs, rl]), n.op("Add", [rx, n.op("Mul", [rq, n.init(0.1)])])])
    w = n.op("Flatten", [n.op("Add", [ex, sl])], axis=1)                     # [N,72]
    f = n.op("Concat", [w, v], axis=1)                                       # [N,84]
    f = n.op("Pad", [n.op("Unsqueeze", [f, n.init([1], "ax", np.int64)]),
                     n.init([0, 0, 1, 0, 0, 2], "pads", np.int64)])          # [N,1,87]
    f = n.op("Flatten", [f], axis=1)
    return n.model(n.gemm(f, 87, 5))


def zoo_pooling(seed: int = 23) -> onnx.ModelProto:
    n = Net("zoo_pooling", 9, 9, seed)
    a = n.conv("input", 3, 4)                                                # [N,4,9,9]
    m1 = n.op("MaxPool", [a], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])        # 5x5
    m2 = n.op("MaxPool", [a], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)              # 5x5
    m3 = n.op("AveragePool", [a], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
              count_include_pad=0)                                                          # 5x5
    m4 = n.op("AveragePool", [a], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
              count_include_pad=1)                                                          # 5x5
    m5 = n.op("MaxPool", [a], kernel_shape=[3, 3], strides=[1, 1], dilations=[2, 2],
              pads=[0, 0, 0, 0])                                                            # 5x5
    m6 = n.op("AveragePool", [n.op("Pad", [a, n.init([0, 0, 0, 0, 0, 0, 1, 1], "pads", np.int64)])],
              kernel_shape=[2, 2], strides=[2, 2])                                          # 5x5
    x = n.op("Concat", [m1, m2, m3, m4, m5, m6], axis=1)                     # [N,24,5,5]
    g1 = n.op("GlobalMaxPool", [x])
    g2 = n.op("GlobalAveragePool", [n.op("Mul", [x, x])])
    f = n.op("Concat", [n.op("Flatten", [x], axis=1), n.op("Flatten", [g1], axis=1),
                        n.op("Flatten", [g2], axis=1)], axis=1)
    return n.model(n.gemm(f, 24 * 25 + 48, 5))


def zoo_l2norm(seed: int = 24) -> onnx.ModelProto:
    """Exporter-style flatten (Shape/Gather/Concat/Reshape) and three in-graph L2-normalisation forms."""
    n = Net("zoo_l2norm", 6, 6, seed)
    a = n.op("Relu", [n.conv("input", 3, 4)])
    shp = n.op("Shape", [a])
    bsz = n.op("Gather", [shp, n.init(0, "idx", np.int64)], axis=0)
    tgt = n.op("Concat", [n.op("Unsqueeze", [bsz, n.init([0], "ax", np.int64)]), n.init([-1], "m1", np.int64)],
               axis=0)
    f = n.gemm(n.op("Reshape", [a, tgt]), 144, 6)
    # form 1: x / Expand(ReduceL2(x), Shape(x))
    nrm = n.op("ReduceL2", [f], axes=[1], keepdims=1)
    f1 = n.op("Div", [f, n.op("Expand", [nrm, n.op("Shape", [f])])])
    # form 2: x / sqrt(sum(x^2) + eps) via Pow / ReduceSum / Sqrt / Max
    ss = n.op("ReduceSum", [n.op("Pow", [f, n.init(2.0)]), n.init([1], "ax", np.int64)], keepdims=1)
    f2 = n.op("Div", [f, n.op("Max", [n.op("Sqrt", [ss]), n.init(1e-12)])])
    # form 3: LpNormalization
    f3 = n.op("LpNormalization", [f], axis=1, p=2)
    out = n.op("Add", [n.op("Add", [f1, n.op("Mul", [f2, n.init(0.5)])]), n.op("Mul", [f3, n.init(0.25)])])
    return n.model(out)


def static_batch_model(seed: int = 25) -> onnx.ModelProto:
    """Batch fixed at 1 with a hard-coded Reshape [1,-1]: exported with N = 1."""
    n = Net("static_batch", 6, 6, seed, batch=1)
    a = n.op("Relu", [n.conv("input", 3, 4)])
    f = n.op("Reshape", [a, n.init([1, -1], "shape", np.int64)])
    return n.model(n.gemm(f, 144, 5))


def opset11_model(seed: int = 26) -> onnx.ModelProto:
    """Opset 11: axes as attributes (Squeeze/Unsqueeze/Reduce*), Clip bounds as inputs."""
    n = Net("opset11", 6, 6, seed, opset=11)
    a = n.op("Clip", [n.conv("input", 3, 4), n.init(-1.0), n.init(1.0)])
    u = n.op("Squeeze", [n.op("Unsqueeze", [a], axes=[1])], axes=[1])
    r = n.op("ReduceMean", [u], axes=[3], keepdims=1)
    b = n.op("Add", [u, r])
    f = n.gemm(n.op("Flatten", [b], axis=1), 144, 5)
    s = n.op("ReduceSum", [f], axes=[1], keepdims=1)
    return n.model(n.op("Add", [f, n.op("Mul", [s, n.init(0.1)])]))


def op_zoo() -> dict[str, onnx.ModelProto]:
    """Every synthetic net, by name."""
    return {
        "iresnet_like": iresnet_like(), "mobilefacenet_like": mobilefacenet_like(), "dlib_like": dlib_like(),
        "activations": zoo_activations(), "math": zoo_math(), "shapes": zoo_shapes(), "pooling": zoo_pooling(),
        "l2norm": zoo_l2norm(), "static_batch": static_batch_model(), "opset11": opset11_model(),
    }
