"""Checks of a gradient graph: float64 finite differences, reductions, chunking.

- `fd_errors`: for random cotangent rows c_k and random directions v_m, compare <J^T c_k, v_m> from the
  exported graph (fp32, onnxruntime) with c_k . (e(x + h v_m) - e(x - h v_m)) / 2h from the independent
  float64 evaluator (`reference.py`). Reported per direction as ||analytic - fd|| / ||fd|| over k.
- `reduction_errors`: the `absmean` / `fggb` outputs against numpy's reduction of the `none` output.
- `chunk_identical`: K rows in chunks give bit-identical rows to one run with all K rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from .build import COTANGENT, EMBEDDING, INPUT, JACOBIAN, build
from .probe import Probe, probe_inputs
from .reference import embed64


def session(model: onnx.ModelProto | bytes | str, threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def run(sess, x: np.ndarray, cot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e, j = sess.run([EMBEDDING, JACOBIAN], {INPUT: x.astype(np.float32), COTANGENT: cot.astype(np.float32)})
    return e, j


def numpy_reduce(j_none: np.ndarray, reduce: str) -> np.ndarray:
    """The reductions, as numpy computes them from the full [N,K,3,H,W] Jacobian (float64)."""
    j = j_none.astype(np.float64)
    if reduce == "none":
        return j
    am = np.abs(j).mean(axis=2)
    if reduce == "absmean":
        return am
    return am / (np.sqrt((am * am).sum(axis=(2, 3), keepdims=True)) + 1e-8)


def fd_errors(sess_none, P: Probe, x: np.ndarray, k: int = 4, directions: int = 3, seed: int = 0,
              rel_step: float = 1e-7) -> list[float]:
    """Relative errors of the exported VJPs against float64 central differences, one per direction."""
    rng = np.random.default_rng(seed)
    cot = rng.standard_normal((k, P.dim)).astype(np.float32)
    _, j = run(sess_none, x, cot)
    j = j[0].astype(np.float64)                                 # [K,3,H,W]
    x64 = x.astype(np.float64)
    h = rel_step * max(1.0, float(np.sqrt((x64 ** 2).mean())))
    errs = []
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        d = (embed64(P, x64 + h * v) - embed64(P, x64 - h * v)) / (2 * h)     # [D]
        fd = cot.astype(np.float64) @ d
        an = j.reshape(len(j), -1) @ v[0].reshape(-1)
        errs.append(float(np.linalg.norm(an - fd) / max(np.linalg.norm(fd), 1e-300)))
    return errs


def reduction_errors(sess_none, sess_red, reduce: str, x: np.ndarray, cot: np.ndarray) -> float:
    """Max relative |difference| between the graph's reduction and numpy's on the `none` output."""
    _, jn = run(sess_none, x, cot)
    _, jr = run(sess_red, x, cot)
    ref = numpy_reduce(jn, reduce)
    return float(np.abs(jr - ref).max() / max(np.abs(ref).max(), 1e-30))


def chunk_identical(sess, x: np.ndarray, cot: np.ndarray, chunk: int) -> bool:
    """True when running the rows of `cot` in chunks gives bit-identical results to one run."""
    _, full = run(sess, x, cot)
    parts = [run(sess, x, cot[i:i + chunk])[1] for i in range(0, len(cot), chunk)]
    return bool(np.array_equal(full, np.concatenate(parts, axis=1)))


@dataclass
class Report:
    fd: list[float] = field(default_factory=list)
    embedding_vs_reference: float = 0.0
    reductions: dict[str, float] = field(default_factory=dict)
    chunks_identical: bool = False

    def ok(self, fd_tol: float = 1e-3, red_tol: float = 1e-5) -> bool:
        return (max(self.fd) < fd_tol and self.embedding_vs_reference < 1e-4 and self.chunks_identical
                and all(v < red_tol for v in self.reductions.values()))

    def lines(self) -> list[str]:
        return [
            f"finite differences (float64 reference), relative error per direction: "
            + ", ".join(f"{e:.2e}" for e in self.fd),
            f"embedding vs float64 reference: max |diff| {self.embedding_vs_reference:.2e}",
            *(f"{r} reduction vs numpy on 'none': max rel diff {v:.2e}" for r, v in self.reductions.items()),
            f"chunked K bit-identical to one K: {self.chunks_identical}",
        ]


def verify(P: Probe, reduce: str = "none", k: int = 4, directions: int = 3, chunk: int = 4, seed: int = 0,
           threads: int = 2, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)) -> Report:
    """All checks on a probed model; builds the `none` form (and `reduce`) in memory. The test image is
    uniform noise in 0..255 scaled by the card's (mean, std)."""
    s_none = session(build(P, "none"), threads)
    rng = np.random.default_rng(seed + 1)
    x = probe_inputs(1, P.height, P.width, mean, std, seed=seed + 7)
    rep = Report()
    rep.fd = fd_errors(s_none, P, x, k=k, directions=directions, seed=seed)
    e, _ = run(s_none, x, np.zeros((1, P.dim), np.float32))
    rep.embedding_vs_reference = float(np.abs(e[0] - embed64(P, x.astype(np.float64))).max())
    cot = rng.standard_normal((max(k, 2 * chunk), P.dim)).astype(np.float32)
    for r in {"absmean", "fggb", reduce} - {"none"}:
        rep.reductions[r] = reduction_errors(s_none, session(build(P, r), threads), r, x, cot)
    rep.chunks_identical = chunk_identical(s_none, x, cot, chunk)
    return rep
