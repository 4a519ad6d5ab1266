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
