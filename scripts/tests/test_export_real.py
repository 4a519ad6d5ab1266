"""Gradient graphs of the real models (SFace, MobileFaceNet, dlib ResNet) made by the setup.

Skipped when models/<name>.onnx is absent. Float64 finite differences of an independent numpy evaluator
along random directions, reductions vs numpy, chunked K bit-identical, metadata; small K (2 cores)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest

from xfv_tools.export import gradient_model
from xfv_tools.export.metadata import card_pixels, read_card
from xfv_tools.export.probe import load_model, probe
from xfv_tools.export.verify import verify
from xfv_tools.paths import MODELS

REAL = ["sface", "mobilefacenet", "dlib"]


def _need(name):
    onnx_path, card_path = MODELS / f"{name}.onnx", MODELS / f"{name}.toml"
    if not onnx_path.is_file():
        pytest.skip(f"{onnx_path} absent: run the setup (xfv-setup) to fetch and convert it")
    if not card_path.is_file():
        pytest.skip(f"{card_path} absent")
    return onnx_path, read_card(card_path)


@pytest.mark.parametrize("name", REAL)
def test_real_model_verifies(name):
    path, card = _need(name)
    mean, std = card_pixels(card)
    P = probe(load_model(path), mean, std)
    rep = verify(P, "fggb", k=3, directions=2, chunk=2, mean=mean, std=std)
    print(name, *rep.lines(), sep="\n  ")
    assert max(rep.fd) < 1e-4, rep.lines()
    assert rep.embedding_vs_reference < 1e-5, rep.lines()
    assert all(v < 1e-5 for v in rep.reductions.values()), rep.lines()
    assert rep.chunks_identical, rep.lines()


@pytest.mark.parametrize("name", REAL)
def test_real_model_graph(name):
    path, card = _need(name)
    g = gradient_model(path, card, "fggb")
    md = {p.key: p.value for p in g.metadata_props}
    assert md["xfv.model_name"] == card["name"]
    assert int(md["xfv.embedding_dim"]) == card["embedding"]["dim"]
    assert int(md["xfv.input_width_px"]) == card["input"]["width_px"]
    assert json.loads(md["xfv.template_px"]) == card.get("alignment", {}).get("template_px", [])
    assert md["xfv.source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [o.name for o in g.graph.input] == ["x", "cotangent"]
    assert [o.name for o in g.graph.output] == ["embedding", "jacobian"]
    assert all(n.domain in ("", "ai.onnx") for n in g.graph.node)
    assert not {n.op_type for n in g.graph.node} & {"ScatterND", "Einsum"}
    src = onnx.load(str(path))
    fwd = sum(t.ByteSize() for t in src.graph.initializer)
    assert sum(t.ByteSize() for t in g.graph.initializer) < 1.05 * fwd   # weights shared, not copied
