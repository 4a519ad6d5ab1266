"""An independent reference for `xfv explain`: FGGB written here in numpy, straight from
shared/spec/fggb.md, over the FULL Jacobian (`reduce = none`) from Python onnxruntime - no Rust
code involved - must give the same four maps as the Rust engine (within 1e-5 relative), on the
real Obama pairs with SFace.

The Rust binary's own aligned crops (a_crop.png, b_crop.png) are the shared input, so what is
compared is the explanation, not the detector.
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from xfv_tools import paths
from xfv_tools.export import gradient_model
from xfv_helpers import need, need_binary


def numpy_fggb(J: np.ndarray, e_a: np.ndarray, e_b: np.ndarray, theta: float):
    """FGGB steps 2-6 for image A from its full Jacobian J [D, 3, H, W]."""
    g = np.abs(J.astype(np.float64)).mean(axis=1)                      # step 2: [D, H, W]
    norms = np.sqrt((g ** 2).sum(axis=(1, 2), keepdims=True))
    gn = g / (norms + 1e-8)                                              # step 3
    w = e_a.astype(np.float64) * e_b.astype(np.float64) - theta / len(e_a)  # step 4
    s = np.tensordot(w, gn, axes=1)                                      # step 5: [H, W]
    return s, np.maximum(s, 0.0), np.maximum(-s, 0.0)                    # step 6


@pytest.fixture(scope="module")
def sface_none_session(tmp_path_factory):
    card_path = paths.MODELS / "sface.toml"
    model = paths.MODELS / "sface.onnx"
    need(card_path, model)
    m = gradient_model(model, card_path, reduce="none")
    path = tmp_path_factory.mktemp("graph") / "sface.none.onnx"
    path.write_bytes(m.SerializeToString())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("other", ["obama2.jpg", "biden.jpg"])
def test_rust_fggb_maps_equal_numpy_reference(tmp_path, sface_none_session, other):
    a, b = paths.DATA / "obama" / "obama.jpg", paths.DATA / "obama" / other
    need(a, b, paths.MODELS / "sface.grad.onnx")
    exe = need_binary()
    out = tmp_path / "out"
    res = subprocess.run([str(exe), "explain", str(a), str(b), "-o", str(out), "--model", "sface"],
                         capture_output=True, text=True, cwd=paths.REPO)
    assert res.returncode == 0, res.stderr
    record = json.loads((out / "record.json").read_text())

    with open(paths.MODELS / "sface.toml", "rb") as f:
        card = tomllib.load(f)
    mean = np.array(card["input"]["mean"], np.float32)[:, None, None]
    std = np.array(card["input"]["std"], np.float32)[:, None, None]
    crops = [np.asarray(Image.open(out / name).convert("RGB"), np.float32) for name in ("a_crop.png", "b_crop.png")]
    assert card["input"]["colour_order"] == "rgb"
    x = np.stack([(c.transpose(2, 0, 1) - mean) / std for c in crops]).astype(np.float32)

    D = card["embedding"]["dim"]
    eye = np.eye(D, dtype=np.float32)
    J = np.zeros((2, D, 3, x.shape[2], x.shape[3]), np.float32)
    e = None
    for k0 in range(0, D, 32):  # chunks keep memory small
        e, j = sface_none_session.run(None, {"x": x, "cotangent": eye[k0:k0 + 32]})
        J[:, k0:k0 + 32] = j
    theta = card["embedding"]["threshold"]
    score = float(e[0].astype(np.float64) @ e[1].astype(np.float64))
    assert record["verdict"]["score"] == pytest.approx(score, abs=1e-5)
    assert record["verdict"]["threshold"] == pytest.approx(theta)
    want_decision = "accept" if other == "obama2.jpg" else "reject"
    assert record["verdict"]["decision"] == want_decision

    for img, (ea, eb) in (("a", (e[0], e[1])), ("b", (e[1], e[0]))):
        s, sim, dis = numpy_fggb(J[0 if img == "a" else 1], ea, eb, theta)
        for kind, want in (("similarity", sim), ("dissimilarity", dis), ("signed", s)):
            got = np.load(out / f"{img}_{kind}.npy")
            assert got.dtype == np.float32 and got.shape == want.shape == (112, 112)
            scale = max(np.abs(s).max(), 1e-12)
            err = np.abs(got.astype(np.float64) - want).max() / scale
            assert err < 1e-5, f"{img}_{kind}: max relative difference {err:.2e}"
        # properties of the real maps: finite, non-negative, never both positive
        sim_r, dis_r = np.load(out / f"{img}_similarity.npy"), np.load(out / f"{img}_dissimilarity.npy")
        assert np.isfinite(sim_r).all() and np.isfinite(dis_r).all()
        assert (sim_r >= 0).all() and (dis_r >= 0).all()
        assert not ((sim_r > 0) & (dis_r > 0)).any()
