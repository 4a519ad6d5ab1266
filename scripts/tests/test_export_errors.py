"""Clear errors for models the export cannot handle (issue 3: unsupported op, two inputs, non-ONNX)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from xfv_tools import fixtures
from xfv_tools.export import (BatchMixingError, CardMismatchError, InvalidModelError, UnsupportedOpError,
                              gradient_model)
from xfv_tools.export.cli import main as cli_main
from xfv_tools.paths import FIXTURES

CARD = FIXTURES / "linear_3x8x8_d4.toml"


def _save(tmp_path, m, name="m.onnx"):
    p = tmp_path / name
    onnx.save(m, str(p))
    return p


def test_unsupported_op_names_op_and_node(tmp_path):
    n = fixtures.Net("erf", 8, 8)
    a = n.conv("input", 3, 4)
    n.nodes.append(helper.make_node("Erf", [a], ["erf_out"], name="the_erf_node"))
    m = n.model(n.gemm(n.op("Flatten", ["erf_out"], axis=1), 256, 4))
    with pytest.raises(UnsupportedOpError) as ei:
        gradient_model(_save(tmp_path, m), CARD)
    assert "Erf" in str(ei.value) and "the_erf_node" in str(ei.value)
    assert ei.value.op_type == "Erf" and ei.value.node_name == "the_erf_node"


def test_unsupported_form_names_node(tmp_path):
    n = fixtures.Net("reflect", 8, 8)
    a = n.conv("input", 3, 4)
    p = n.op("Pad", [a, n.init([0, 0, 1, 1, 0, 0, 1, 1], "pads", np.int64)], mode="reflect")
    m = n.model(n.gemm(n.op("Flatten", [p], axis=1), 400, 4))
    with pytest.raises(UnsupportedOpError, match="Pad.*reflect"):
        gradient_model(_save(tmp_path, m), CARD)


def test_two_inputs(tmp_path):
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Flatten", ["s"], ["out"])], "two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3, 8, 8]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 192])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InvalidModelError, match="one image input.*2 inputs"):
        gradient_model(_save(tmp_path, m), CARD)


def test_not_onnx(tmp_path):
    p = tmp_path / "card.onnx"
    p.write_text("this is not a protobuf\n" * 10)
    with pytest.raises(InvalidModelError, match="not an ONNX model"):
        gradient_model(p, CARD)
    with pytest.raises(InvalidModelError, match="not an ONNX model|no such file"):
        gradient_model(tmp_path / "missing.onnx", CARD)


def test_card_mismatch():
    with pytest.raises(CardMismatchError, match="dim"):
        card = {"name": "x", "input": {"width_px": 8, "height_px": 8, "colour_order": "rgb"},
                "embedding": {"dim": 5, "comparison": "cosine", "threshold": 0.5}}
        gradient_model(FIXTURES / "linear_3x8x8_d4.onnx", card)


def test_batch_mixing_rejected(tmp_path):
    n = fixtures.Net("mix", 8, 8)
    a = n.conv("input", 3, 4)
    mean = n.op("ReduceMean", [a], axes=[0], keepdims=1)          # mean over the batch
    m = n.model(n.gemm(n.op("Flatten", [n.op("Sub", [a, mean])], axis=1), 256, 4))
    with pytest.raises((BatchMixingError, InvalidModelError, UnsupportedOpError)):
        gradient_model(_save(tmp_path, m), CARD)


def test_cli_exit_codes(tmp_path, capsys):
    out = tmp_path / "g.onnx"
    assert cli_main([str(FIXTURES / "linear_3x8x8_d4.onnx"), "--card", str(CARD), "-o", str(out),
                     "--reduce", "fggb", "--verify"]) == 0
    assert "verify: ok" in capsys.readouterr().out
    assert out.is_file()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    assert cli_main([str(bad), "--card", str(CARD), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "not an ONNX model" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    """`python -m xfv_tools.export` is the same CLI (console script `xfv-export` -> cli:main)."""
    import subprocess
    import sys

    out = tmp_path / "g.onnx"
    r = subprocess.run([sys.executable, "-m", "xfv_tools.export", str(FIXTURES / "tinyconv_3x8x8_d4.onnx"),
                        "--card", str(FIXTURES / "tinyconv_3x8x8_d4.toml"), "-o", str(out), "--reduce", "absmean"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = onnx.load(str(out))
    assert {p.key: p.value for p in m.metadata_props}["xfv.reduce"] == "absmean"
    r = subprocess.run([sys.executable, "-m", "xfv_tools.export", str(tmp_path / "missing.onnx"),
                        "--card", str(CARD), "-o", str(tmp_path / "x.onnx")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such file" in r.stderr
