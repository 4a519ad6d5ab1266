"""Gradient graphs of the committed fixture models against closed-form / independent Jacobians.

Fixtures are made by `python -m xfv_tools.fixtures` (xfv_tools.fixtures.write_all)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from xfv_tools import fixtures
from xfv_tools.export import COTANGENT, EMBEDDING, INPUT, JACOBIAN, gradient_model
from xfv_tools.export.verify import numpy_reduce, run, session
from xfv_tools.paths import FIXTURES

NAMES = list(fixtures.FIXTURE_MODELS)


def test_fixtures_regenerate_byte_identical(tmp_path):
    written = fixtures.write_all(tmp_path)
    for p in written:
        committed = FIXTURES / p.name
        assert committed.is_file(), f"{committed} is not committed; run python -m xfv_tools.fixtures"
        assert p.read_bytes() == committed.read_bytes(), f"{p.name} differs from the committed fixture"
        assert p.stat().st_size < 100_000


@pytest.mark.parametrize("name", NAMES)
def test_interface_and_metadata(name):
    m = onnx.load(str(FIXTURES / f"{name}.grad.onnx"))
    ins = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
    outs = {o.name: [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in m.graph.output}
    assert ins == {INPUT: ["N", 3, 8, 8], COTANGENT: ["K", 4]}
    assert outs == {EMBEDDING: ["N", 4], JACOBIAN: ["N", "K", 3, 8, 8]}
    md = {p.key: p.value for p in m.metadata_props}
    assert md["xfv.graph_version"] == "1"
    assert md["xfv.model_name"] == name
    assert md["xfv.reduce"] == "none"
    assert (md["xfv.input_width_px"], md["xfv.input_height_px"], md["xfv.embedding_dim"]) == ("8", "8", "4")
    assert json.loads(md["xfv.mean"]) == [127.5] * 3 and json.loads(md["xfv.std"]) == [127.5] * 3
    assert md["xfv.comparison"] == "cosine" and float(md["xfv.threshold"]) == 0.5
    assert md["xfv.colour_order"] == "rgb" and md["xfv.batch"] == "dynamic"
    import hashlib
    assert md["xfv.source_sha256"] == hashlib.sha256((FIXTURES / f"{name}.onnx").read_bytes()).hexdigest()
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) <= 20
    assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)
    assert not {n.op_type for n in m.graph.node} & {"ScatterND", "Einsum"}
    fggb = onnx.load(str(FIXTURES / f"{name}.fggb.onnx"))
    assert {p.key: p.value for p in fggb.metadata_props}["xfv.reduce"] == "fggb"
    assert [d.dim_value or d.dim_param for d in fggb.graph.output[1].type.tensor_type.shape.dim] == ["N", "K", 8, 8]


@pytest.mark.parametrize("name", NAMES)
def test_against_expected(name):
    """Python onnxruntime on the committed graphs vs the closed-form / float64 reference Jacobian."""
    exp = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    x = np.array(exp["x"], np.float32).reshape(exp["x_shape"])
    cot = np.array(exp["cotangent"], np.float32).reshape(exp["cotangent_shape"])
    e, j = run(session(str(FIXTURES / f"{name}.grad.onnx")), x, cot)
    _, jf = run(session(str(FIXTURES / f"{name}.fggb.onnx")), x, cot)
    j_ref = np.array(exp["jacobian"]).reshape(exp["jacobian_shape"])
    jf_ref = np.array(exp["jacobian_fggb"]).reshape(exp["jacobian_fggb_shape"])
    np.testing.assert_allclose(e[0], exp["embedding"], atol=1e-6)
    assert np.abs(j - j_ref).max() <= 1e-5 * np.abs(j_ref).max()
    assert np.abs(jf - jf_ref).max() <= 1e-5 * np.abs(jf_ref).max()


def test_linear_closed_form_identity_rows():
    """All D rows of the identity at once = the full Jacobian (I - e e^T) W / ||f||."""
    m = fixtures.linear_model()
    g = session(str(FIXTURES / "linear_3x8x8_d4.grad.onnx"))
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
        cot = np.eye(4, dtype=np.float32)
        e_ref, j_ref = fixtures._linear_closed_form(m, x, cot)
        e, j = run(g, x, cot)
        np.testing.assert_allclose(e[0], e_ref, atol=1e-6)
        assert np.abs(j - j_ref).max() <= 2e-6 * np.abs(j_ref).max()


def test_batch_rows_are_independent():
    """N images at once give the same rows as one image at a time."""
    g = session(str(FIXTURES / "tinyconv_3x8x8_d4.grad.onnx"))
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (3, 3, 8, 8)).astype(np.float32)
    cot = rng.standard_normal((5, 4)).astype(np.float32)
    e, j = run(g, x, cot)
    assert j.shape == (3, 5, 3, 8, 8)
    for n in range(3):
        e1, j1 = run(g, x[n:n + 1], cot)
        np.testing.assert_allclose(e1[0], e[n], atol=1e-7)
        np.testing.assert_allclose(j1[0], j[n], rtol=1e-5, atol=1e-7 * np.abs(j).max())


@pytest.mark.parametrize("reduce", ["absmean", "fggb"])
def test_reductions_equal_numpy(reduce):
    card = FIXTURES / "tinyconv_3x8x8_d4.toml"
    s_none = session(gradient_model(FIXTURES / "tinyconv_3x8x8_d4.onnx", card, "none"))
    s_red = session(gradient_model(FIXTURES / "tinyconv_3x8x8_d4.onnx", card, reduce))
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    cot = rng.standard_normal((6, 4)).astype(np.float32)
    _, jn = run(s_none, x, cot)
    _, jr = run(s_red, x, cot)
    assert jr.shape == (2, 6, 8, 8)
    ref = numpy_reduce(jn, reduce)
    assert np.abs(jr - ref).max() <= 1e-6 * np.abs(ref).max()


def test_chunked_k_bit_identical():
    s = session(str(FIXTURES / "tinyconv_3x8x8_d4.grad.onnx"))
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    cot = rng.standard_normal((12, 4)).astype(np.float32)
    _, full = run(s, x, cot)
    for chunk in (1, 3, 4, 5):
        parts = np.concatenate([run(s, x, cot[i:i + chunk])[1] for i in range(0, 12, chunk)], axis=1)
        assert np.array_equal(full, parts), f"chunk {chunk}"
