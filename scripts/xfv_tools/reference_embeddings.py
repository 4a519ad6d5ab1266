"""Record Python onnxruntime's embeddings of each converted recognition model on a fixed pattern
input, so the Rust runtime can be checked against them (crates/xfv-runtime/tests/real_models.rs).

The input is the same closed-form pattern on both sides: pixel[n, c, y, x] = (31n + 17c + 3y + 5x) mod 256,
then the card's (pixel - mean) / std. Two images (n = 0, 1).

    python -m xfv_tools.reference_embeddings     # writes tests/reference/embeddings_pattern.json
"""

from __future__ import annotations

import json
import tomllib

import numpy as np
import onnxruntime as ort

from . import paths

MODELS = ("sface", "mobilefacenet", "dlib")


def pattern(n: int, h: int, w: int) -> np.ndarray:
    i = np.arange(n)[:, None, None, None]
    c = np.arange(3)[None, :, None, None]
    y = np.arange(h)[None, None, :, None]
    x = np.arange(w)[None, None, None, :]
    return ((31 * i + 17 * c + 3 * y + 5 * x) % 256).astype(np.float32)


def main() -> int:
    out = {"about": __doc__.strip().splitlines()[0], "onnxruntime": ort.__version__, "models": {}}
    for name in MODELS:
        with open(paths.MODELS / f"{name}.toml", "rb") as f:
            card = tomllib.load(f)
        inp = card["input"]
        x = pattern(2, inp["height_px"], inp["width_px"])
        mean = np.array(inp["mean"], np.float32)[None, :, None, None]
        std = np.array(inp["std"], np.float32)[None, :, None, None]
        x = (x - mean) / std
        sess = ort.InferenceSession(str(paths.MODELS / card["converted"]["file"]), providers=["CPUExecutionProvider"])
        e = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        out["models"][name] = {"sha256": card["converted"]["sha256"], "embedding": e.astype(float).round(7).tolist()}
    dst = paths.REFERENCE / "embeddings_pattern.json"
    dst.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
