"""The IResNet-style 512-d check model of `scripts/gpu-check`: a seeded, untrained network with the
layout of ArcFace's IResNet (conv-BN-PRelu stem; BN-conv-BN-PRelu-conv/2-BN residual blocks with
strided 1x1 shortcuts; BN-Flatten-Gemm-BN head) and a 512-d embedding, at 112x112. It stands in for
the 512-d models users bring (ArcFace/IResNet), to time D = 512 next to SFace (128) and
MobileFaceNet (192). Widths are cut (32-64-128-128) so that the model and its gradient graphs fit
the GPU host's transfers; it is not a face model and its maps mean nothing.

    .xfv/venv/bin/python scripts/gpu/iresnet.py OUT_DIR     # iresnet512.{onnx,toml,grad.onnx,grad.fp16.onnx}
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import onnx

from xfv_tools import export
from xfv_tools.export.fp16 import DEFAULT_SCALE_LOG2, to_fp16
from xfv_tools.fixtures import Net

NAME = "iresnet512"
REPO = Path(__file__).resolve().parents[2]


def model() -> onnx.ModelProto:
    n = Net(NAME, 112, 112, seed=512)
    a = n.prelu(n.bn(n.conv("input", 3, 32, bias=False), 32), 32)
    c = 32
    for cout in (64, 128, 128, 128):                     # 112 -> 56 -> 28 -> 14 -> 7
        r = n.bn(a, c)
        r = n.prelu(n.bn(n.conv(r, c, cout, bias=False), cout), cout)
        r = n.bn(n.conv(r, cout, cout, stride=2, bias=False), cout)
        s = n.bn(n.conv(a, c, cout, k=1, stride=2, pad=0, bias=False), cout)
        a, c = n.op("Add", [r, s]), cout
    a = n.op("Dropout", [n.bn(a, c)])
    f = n.op("Flatten", [a], axis=1)
    return n.model(n.bn(n.gemm(f, c * 7 * 7, 512), 512))


def card(sha: str) -> str:
    sface = (REPO / "models" / "sface.toml").read_text()
    template = sface[sface.index("[alignment]"):]
    return f"""# Model card of the IResNet-style 512-d check model (scripts/gpu/iresnet.py). Not a face model:
# seeded random weights, for timing D = 512 on a GPU. Made by scripts/gpu-check pack.
schema = 1
name = "{NAME}"
kind = "recognition"
description = "IResNet-style 512-d timing model (untrained, seeded)"
licence = "Apache-2.0"

[source]
registry = "local"
package = "xfv scripts/gpu/iresnet.py"
version = "1"
path = "{NAME}.onnx"
sha256 = "{sha}"
format = "onnx opset 17, generated"

[converted]
file = "{NAME}.onnx"
sha256 = "{sha}"
converter = "scripts/gpu/iresnet.py"

[input]
width_px = 112
height_px = 112
colour_order = "rgb"
mean = [127.5, 127.5, 127.5]
std = [127.5, 127.5, 127.5]

[embedding]
dim = 512
comparison = "cosine"
threshold = 0.3
threshold_source = "arbitrary (untrained timing model)"

{template}"""


def main(out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = model()
    src = out / f"{NAME}.onnx"
    onnx.save(m, str(src))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    (out / f"{NAME}.toml").write_text(card(sha))
    c = out / f"{NAME}.toml"
    g = export.export_model(src, c, out / f"{NAME}.grad.onnx", reduce="fggb")
    onnx.save(to_fp16(g, DEFAULT_SCALE_LOG2), str(out / f"{NAME}.grad.fp16.onnx"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
