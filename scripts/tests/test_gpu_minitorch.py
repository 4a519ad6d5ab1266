"""scripts/gpu/minitorch.py rebuilds xfv's models in PyTorch for the GPU check (a host without onnx).
Its embeddings must equal onnxruntime's on the real models. PyTorch lives only in the by-hand peer
environment (.xfv/peer-venv, scripts/peer/run), never in setup or CI: without it this test skips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

REPO = Path(__file__).resolve().parents[2]
PEER = REPO / ".xfv/peer-venv/bin/python"


@pytest.mark.parametrize("name,size", [("sface", 112), ("mobilefacenet", 112), ("dlib", 150)])
def test_minitorch_equals_onnxruntime(tmp_path, name, size):
    if not PEER.exists():
        pytest.skip("PyTorch is only in the by-hand peer environment (scripts/peer/run)")
    model = REPO / "models" / f"{name}.onnx"
    if not model.exists():
        pytest.skip(f"{model} missing (scripts/setup)")
    import sys

    sys.path.insert(0, str(REPO / "scripts/gpu"))
    import minitorch

    npz = tmp_path / f"{name}.npz"
    minitorch.pack(str(model), str(npz))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, size, size)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = (f"import sys, numpy as np, torch; sys.path.insert(0, {str(REPO / 'scripts/gpu')!r}); import minitorch;"
            f"net = minitorch.load({str(npz)!r});"
            f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}));"
            f"torch.set_grad_enabled(False); np.save({str(tmp_path / 'y.npy')!r}, net(x).numpy())")
    subprocess.run([str(PEER), "-c", code], check=True)
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    want = s.run(None, {s.get_inputs()[0].name: x})[0]
    got = np.load(tmp_path / "y.npy")
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max())) * 10
