"""xfv_tools.convert.dlib_resnet on the real weights (npm face-api.js 0.10.0, raw float32).

Checks: the converted graph against embeddings recorded once from @vladmandic/face-api 1.7.15
(tfjs 4.22.0, pure-JS CPU backend) running the same float32 weights (tests/reference/
dlib_resnet_reference.npz, made by scripts/reference/dlib_resnet/record.py), op set and opset,
symbolic batch (N=1 vs N=3 per row), byte-identical output across two conversions (and equal to the
sha256 models/dlib.toml records), and that the model tells Obama from Biden at dlib's 0.6 threshold.
Node is not needed: the reference was recorded by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from xfv_tools import paths
from xfv_tools.convert import dlib_resnet

WEIGHTS = paths.source("face-api.js-0.10.0", "package", "weights_uncompressed", "face_recognition_model.weights")
REFERENCE_NPZ = paths.REFERENCE / "dlib_resnet_reference.npz"
CARD = paths.MODELS / "dlib.toml"

#: max |converted - face-api (float32 weights)|. Measured 2.4e-7 (embeddings up to ~0.4): folding the
#: scale layers and onnxruntime's summation order vs tfjs's float32 loops. Margin for other CPUs.
REFERENCE_TOL = 1e-5
#: max |converted - face-api's own uint8-quantised model|: the same weights +-0.5 quantisation step.
#: Measured 0.0136; this only shows the two packages hold the same network.
UINT8_MODEL_TOL = 0.05
#: rows of a batch vs the same inputs one at a time
BATCH_TOL = 1e-6

ALLOWED_OPS = {"Conv", "Relu", "Add", "MaxPool", "AveragePool", "Pad", "GlobalAveragePool", "Flatten", "Gemm"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Two independent conversions: (path of the first, summary of the first, summary of the second)."""
    if not WEIGHTS.exists():
        pytest.skip(f"weights absent: {WEIGHTS} (run the setup's fetch step: npm face-api.js 0.10.0)")
    out = tmp_path_factory.mktemp("dlib")
    first = dlib_resnet.convert(WEIGHTS, out / "a" / "dlib.onnx")
    second = dlib_resnet.convert(WEIGHTS, out / "b" / "dlib.onnx")
    return out / "a" / "dlib.onnx", first, second


@pytest.fixture(scope="module")
def session(converted):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 4
    return ort.InferenceSession(str(converted[0]), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def reference():
    """names, images [K,150,150,3] uint8, the npz (see record.py for the keys)."""
    ref = np.load(REFERENCE_NPZ, allow_pickle=False)
    png, offsets = ref["images_png"], ref["images_png_offsets"]
    images = np.stack([np.asarray(Image.open(io.BytesIO(png[a:b].tobytes())).convert("RGB")) for a, b in zip(offsets[:-1], offsets[1:])])
    assert hashlib.sha256(images.tobytes()).hexdigest() == str(ref["images_sha256"]), "decoded reference pixels differ from the recorded ones"
    return [str(n) for n in ref["names"]], images, ref


@pytest.fixture(scope="module")
def card():
    with open(CARD, "rb") as f:
        return tomllib.load(f)


def _to_input(images: np.ndarray, mean_rgb, divisor) -> np.ndarray:
    """[K,150,150,3] uint8 -> [K,3,150,150] float32, (pixel - mean) / divisor in float32 like tfjs."""
    x = (images.astype(np.float32) - np.asarray(mean_rgb, dtype=np.float32)) / np.float32(divisor)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _embed(session, x: np.ndarray) -> np.ndarray:
    return session.run(["embedding"], {"input": x})[0]


def test_graph_io_opset_and_ops(converted):
    path, summary, _ = converted
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert all(o.domain in ("", "ai.onnx") and o.version <= 20 for o in model.opset_import)
    ops = {n.op_type for n in model.graph.node}
    assert ops <= ALLOWED_OPS, f"unexpected ops: {ops - ALLOWED_OPS}"
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    for n in model.graph.node:
        if n.op_type == "Pad":
            assert {a.name: a.s for a in n.attribute}.get("mode", b"constant") == b"constant"
            init_names = {i.name for i in model.graph.initializer}
            assert n.input[1] in init_names and n.input[2] in init_names, "pads must be initializers"
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == "input" and out.name == "embedding"
    in_dims = inp.type.tensor_type.shape.dim
    out_dims = out.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and not in_dims[0].HasField("dim_value"), "batch axis must be symbolic"
    assert [d.dim_value for d in in_dims[1:]] == [3, 150, 150]
    assert out_dims[0].dim_param == in_dims[0].dim_param and out_dims[1].dim_value == 128
    assert all(i.data_type == onnx.TensorProto.FLOAT for i in model.graph.initializer if i.name.endswith(("weight", "bias")))
    assert summary["ops"] == sorted(ops)


def test_conversion_is_deterministic_and_matches_card(converted, card):
    path, first, second = converted
    assert first["sha256"] == second["sha256"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first["sha256"]
    assert first["weights_sha256"] == card["source"]["sha256"], "weights file differs from the model card's"
    assert first["sha256"] == card["converted"]["sha256"], "converter output differs from the sha256 in models/dlib.toml"


def test_matches_face_api_reference(session, reference, card, capsys):
    names, images, ref = reference
    x = _to_input(images, ref["mean_rgb"], ref["input_divisor"])
    got = _embed(session, x)
    want = ref["embeddings"]
    diff = np.abs(got - want)
    with capsys.disabled():
        print(f"\n[dlib] max |onnx - face-api f32| = {diff.max():.3g} (per input: {', '.join(f'{n} {v:.3g}' for n, v in zip(names, diff.max(1)))})")
    assert diff.max() < REFERENCE_TOL, f"max abs diff {diff.max():.3g} vs face-api (float32 weights)"
    assert float(card["converted"]["max_abs_diff"]) < REFERENCE_TOL, "models/dlib.toml claims a difference over the tolerance"
    diff_u8 = np.abs(got - ref["embeddings_uint8_model"]).max()
    with capsys.disabled():
        print(f"[dlib] max |onnx - face-api uint8 model| = {diff_u8:.3g}")
    assert diff_u8 < UINT8_MODEL_TOL


def test_dynamic_batch(session, reference):
    _, images, ref = reference
    x = _to_input(images[:3], ref["mean_rgb"], ref["input_divisor"])
    batched = _embed(session, x)
    assert batched.shape == (3, 128)
    for i in range(3):
        single = _embed(session, x[i : i + 1])
        assert single.shape == (1, 128)
        np.testing.assert_allclose(batched[i], single[0], rtol=0, atol=BATCH_TOL)


def test_obama_vs_biden(session, reference, card):
    """With the card's own preprocessing (mean, /256) and threshold: same person accepted, different rejected."""
    names, images, _ = reference
    idx = {n: i for i, n in enumerate(names)}
    photos = images[[idx["obama"], idx["obama2"], idx["biden"]]]
    std = card["input"]["std"]
    assert std[0] == std[1] == std[2]
    emb = _embed(session, _to_input(photos, card["input"]["mean"], std[0]))
    dist = lambda a, b: float(np.linalg.norm(emb[a] - emb[b]))  # noqa: E731
    d_oo, d_ob, d_o2b = dist(0, 1), dist(0, 2), dist(1, 2)
    print(json.dumps({"obama-obama2": d_oo, "obama-biden": d_ob, "obama2-biden": d_o2b}))
    assert d_oo < d_ob and d_oo < d_o2b
    threshold = card["embedding"]["threshold"]
    assert card["embedding"]["comparison"] == "euclidean"
    assert d_oo <= threshold < min(d_ob, d_o2b)
