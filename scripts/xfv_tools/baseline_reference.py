"""Independent references for the baselines (similarity gradient, xSSAB, CorrRISE) on the tinyconv
fixture, written straight from shared/spec/fggb.md in numpy - no Rust code, no gradient graph:

    python -m xfv_tools.baseline_reference      # writes tests/fixtures/tinyconv_3x8x8_d4.baselines.json

- similarity gradient: float64 central finite differences of s = <e(x_A), e_B> w.r.t. x_A (the
  numpy float64 evaluation of the fixture, `export.reference.embed64`), mean over RGB of |.|;
- xSSAB: the keep masks from v_i = e_A[i] e_B[i] against theta / D, then finite differences of
  each partial score sum_i e(x_A)[i] keep_i, mean over RGB of |.|, combined = pos - neg;
- CorrRISE: the masks regenerated from SplitMix64 (same recipe as crates/xfv-explain corrrise.rs),
  masked images through Python onnxruntime (float32, like the Rust side), Spearman per pixel as
  np.corrcoef of average ranks, NaN -> 0.
The Rust test crates/xfv/tests/baselines.rs compares the engine's maps with these.
"""

from __future__ import annotations

import json

import numpy as np

from . import paths

NAME = "tinyconv_3x8x8_d4"
THRESHOLD = 0.3
MASKS = 64
SEED = 5
PATCHES = 3
M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed: int):
        self.s = seed & M64

    def next(self) -> int:
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def masks(n: int, h: int, w: int, seed: int, patches: int = 3, side_at_112: int = 30) -> np.ndarray:
    side = int(min(max(round(side_at_112 * min(h, w) / 112), 1), min(h, w)))
    rng = SplitMix64(seed)
    m = np.ones((n, h, w), dtype=np.uint8)
    for i in range(n):
        for _ in range(patches):
            y = rng.next() % (h - side + 1)
            x = rng.next() % (w - side + 1)
            m[i, y:y + side, x:x + side] = 0
    return m


def avg_ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = h
        g[idx] = (f(x + d) - f(x - d)) / (2 * h)
    return g


def inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    px = rng.integers(0, 256, size=(2, 3, 8, 8)).astype(np.float64)
    x = ((px - 127.5) / 127.5).astype(np.float32)
    return x[0], x[1]


def main() -> int:
    import onnx
    import onnxruntime as ort

    from .export.probe import probe
    from .export.reference import embed64

    src = paths.FIXTURES / f"{NAME}.onnx"
    model = onnx.load(str(src))
    P = probe(model)
    xa, xb = inputs()
    e = lambda x: embed64(P, x[None].astype(np.float64))  # noqa: E731
    ea, eb = e(xa), e(xb)
    d = len(ea)
    out = {"description": __doc__.splitlines()[0], "threshold": THRESHOLD,
           "x_a": xa.reshape(-1).tolist(), "x_b": xb.reshape(-1).tolist(), "shape": list(xa.shape)}
    for name, x, other in (("a", xa, eb), ("b", xb, ea)):
        x64 = x.astype(np.float64)
        g = fd_grad(lambda z: e(z) @ other, x64)
        out[f"similarity_gradient_{name}"] = np.abs(g).mean(axis=0).reshape(-1).tolist()
        v = e(x64) * other
        keep_pos = np.where(v >= THRESHOLD / d, other, 0.0)
        keep_neg = np.where(v < THRESHOLD / d, other, 0.0)
        pos = np.abs(fd_grad(lambda z: e(z) @ keep_pos, x64)).mean(axis=0)
        neg = np.abs(fd_grad(lambda z: e(z) @ keep_neg, x64)).mean(axis=0)
        out[f"xssab_pos_{name}"] = pos.reshape(-1).tolist()
        out[f"xssab_neg_{name}"] = neg.reshape(-1).tolist()
    # CorrRISE with onnxruntime float32 forwards
    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    black = (0 - 127.5) / 127.5
    m = masks(MASKS, 8, 8, SEED, PATCHES)

    def embed32(batch):
        f = sess.run(None, {inp: batch.astype(np.float32)})[0].astype(np.float64)
        return f / np.linalg.norm(f, axis=1, keepdims=True)

    e32 = embed32(np.stack([xa, xb]))
    for name, x, other in (("a", xa, e32[1]), ("b", xb, e32[0])):
        batch = np.where(m[:, None].astype(bool), x[None], np.float32(black))
        s = embed32(batch) @ other
        rs = avg_ranks(s)
        cmap = np.zeros((8, 8))
        for y in range(8):
            for xx in range(8):
                mp = m[:, y, xx].astype(np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    c = np.corrcoef(avg_ranks(mp), rs)[0, 1]
                cmap[y, xx] = 0.0 if not np.isfinite(c) else c
        out[f"corrrise_{name}"] = cmap.reshape(-1).tolist()
        out[f"corrrise_scores_{name}"] = s.tolist()
    out["corrrise"] = {"masks": MASKS, "seed": SEED, "patches": PATCHES, "patch_side": 2}
    dst = paths.FIXTURES / f"{NAME}.baselines.json"
    dst.write_text(json.dumps(out, indent=0) + "\n")
    print(f"{dst}  {dst.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
