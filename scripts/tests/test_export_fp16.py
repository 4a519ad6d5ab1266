"""fp16 gradient graphs (`xfv-export --fp16`, xfv_tools/export/fp16.py) on the real models, and the
op-set check that every exported graph (fp32 and fp16) is one TensorRT 10's ONNX parser takes.

Accuracy: per-map cosine of the fp16 graph's FGGB maps against the fp32 graph's, >= 0.999 (issue 8).
The fp16 session runs with graph optimisations off so ONNX Runtime's CPU provider keeps every
fp16 cast (with them on it may fold cast pairs away and hide the rounding). 16 cotangent rows and
one image per model keep the test near half a minute.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from xfv_tools.export import ExportError, gradient_model
from xfv_tools.export.fp16 import to_fp16
from xfv_tools.paths import MODELS

REAL = ("sface", "mobilefacenet", "dlib")
ROWS = 16

#: ops of TensorRT 10's ONNX parser (onnx-tensorrt docs/operators.md) that xfv's graphs may use
TENSORRT_OPS = {
    "Abs", "Add", "And", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Div", "Dropout", "Elu", "Equal", "Exp", "Expand",
    "Flatten", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid",
    "HardSwish", "Identity", "LeakyRelu", "Less", "LessOrEqual", "Log", "MatMul", "Max", "MaxPool",
    "Mean", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "PRelu", "Reciprocal", "ReduceL1",
    "ReduceL2", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "ReduceSumSquare", "Relu",
    "Reshape", "Shape", "Sigmoid", "Slice", "Softplus", "Split", "Sqrt", "Squeeze", "Sub", "Sum",
    "Tanh", "Transpose", "Unsqueeze", "Where", "Xor",
}
#: inputs TensorRT needs as build-time constants (initializers), by op: input indices
CONSTANT_INPUTS = {
    "Unsqueeze": (1,), "Squeeze": (1,), "Pad": (1,), "Slice": (1, 2, 3, 4),
    **{op: (1,) for op in ("ReduceSum", "ReduceMean", "ReduceL2", "ReduceL1", "ReduceMax", "ReduceMin",
                           "ReduceSumSquare")},
}


def _need(name):
    if not (MODELS / f"{name}.onnx").is_file():
        pytest.skip(f"{MODELS / name}.onnx absent: run scripts/setup")


@pytest.fixture(scope="module", params=REAL)
def graphs(request):
    name = request.param
    _need(name)
    m32 = gradient_model(MODELS / f"{name}.onnx", MODELS / f"{name}.toml", reduce="fggb")
    return name, m32, to_fp16(m32)


def _session(m, optimise=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    if not optimise:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def test_fp16_maps_match_fp32_maps(graphs):
    name, m32, m16 = graphs
    md = {p.key: p.value for p in m16.metadata_props}
    assert md["xfv.precision"] == "fp16"
    assert md["xfv.cotangent_scale"] == "1024"
    h, w, d = (int(md[k]) for k in ("xfv.input_height_px", "xfv.input_width_px", "xfv.embedding_dim"))
    for vi in list(m16.graph.input) + list(m16.graph.output):       # float32 interface
        assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, vi.name
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 1.0, (1, 3, h, w)).astype(np.float32)
    c = np.eye(d, dtype=np.float32)[np.sort(rng.choice(d, ROWS, replace=False))]
    e32, j32 = _session(m32).run(None, {"x": x, "cotangent": c})
    e16, j16 = _session(m16, optimise=False).run(None, {"x": x, "cotangent": c})
    assert j16.dtype == np.float32 and j16.shape == j32.shape == (1, ROWS, h, w)
    assert np.isfinite(j16).all()
    np.testing.assert_allclose(e16, e32, atol=1e-6)                 # forward and head stay fp32
    a, b = j32.reshape(ROWS, -1), j16.reshape(ROWS, -1)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"{name}: fp16 vs fp32 per-map cosine min {cos.min():.7f} mean {cos.mean():.7f}")
    assert cos.min() >= 0.999, (name, cos)


def test_exported_graphs_use_only_tensorrt_parsable_ops(graphs):
    name, m32, m16 = graphs
    for label, m in (("fp32", m32), ("fp16", m16)):
        opsets = {o.domain: o.version for o in m.opset_import}
        assert set(opsets) <= {"", "ai.onnx"}, (name, label, opsets)
        assert max(opsets.values()) <= 20, (name, label, opsets)
        consts = {i.name for i in m.graph.initializer}
        consts |= {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
        for n in m.graph.node:
            assert n.domain in ("", "ai.onnx"), (name, label, n.name, n.domain)
            assert n.op_type in TENSORRT_OPS, f"{name} {label}: {n.op_type} ({n.name}) is not on the list"
            for i in CONSTANT_INPUTS.get(n.op_type, ()):
                if i < len(n.input) and n.input[i]:
                    assert n.input[i] in consts, f"{name} {label}: {n.op_type} {n.name} input {i} is computed"


def test_scale_outside_2_8_to_2_12_is_refused(graphs):
    _, m32, m16 = graphs
    with pytest.raises(ExportError, match="2\\^8..2\\^12"):
        to_fp16(m32, 4)
    with pytest.raises(ExportError, match="already fp16"):
        to_fp16(m16)
