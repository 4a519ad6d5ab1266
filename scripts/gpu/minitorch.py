"""A face model as a PyTorch module without onnx or onnx2torch on the machine that runs it.

The GPU host of `scripts/gpu-check` has PyTorch but no network, no `onnx` and no `onnx2torch`.
So the models travel as `.npz` files made here (`pack`: the graph's nodes as JSON plus the
initializers as arrays) and are rebuilt there by a small interpreter (`load`) that knows the ops
of xfv's converted models (SFace, MobileFaceNet, dlib ResNet) and of the IResNet-style check graph:
Conv, ConvTranspose-free nets only - Conv, BatchNormalization, PRelu, Relu, Add, Sub, Mul, Flatten,
Gemm, MatMul, Pad (constant), MaxPool, AveragePool, GlobalAveragePool, Dropout/Identity.

    python -m ... pack MODEL.onnx OUT.npz     (needs onnx; run here)
    load(OUT.npz) -> torch.nn.Module          (needs torch and numpy only)

Checked against onnxruntime on the CPU by scripts/tests/test_gpu_minitorch.py (when torch is
installed).
"""

from __future__ import annotations

import json
import sys

import numpy as np

SUPPORTED = {"Conv", "BatchNormalization", "PRelu", "Relu", "Add", "Sub", "Mul", "Flatten", "Gemm",
             "MatMul", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool", "Dropout", "Identity"}


def pack(onnx_path: str, out_npz: str) -> None:
    """ONNX file -> npz: `__graph__` (JSON: input, output, nodes with attributes) + initializers."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(onnx_path)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type not in SUPPORTED:
            raise ValueError(f"{onnx_path}: op {n.op_type} is not supported by minitorch")
        attrs = {}
        for a in n.attribute:
            v = helper.get_attribute_value(a)
            attrs[a.name] = v.decode() if isinstance(v, bytes) else (list(v) if isinstance(v, (list, tuple)) else v)
        nodes.append({"op": n.op_type, "in": list(n.input), "out": list(n.output), "attrs": attrs})
    graph = {"input": [i.name for i in g.input if i.name not in inits][0], "output": g.output[0].name,
             "nodes": nodes}
    arrays = {f"w{k}": v for k, v in enumerate(inits.values())}
    names = {f"w{k}": name for k, name in enumerate(inits)}
    np.savez(out_npz, __graph__=np.array(json.dumps(graph)), __names__=np.array(json.dumps(names)), **arrays)


def load(npz_path: str):
    """npz from `pack` -> an eval-mode torch.nn.Module (weights as buffers, no gradients)."""
    import torch
    import torch.nn.functional as F

    z = np.load(npz_path)
    graph = json.loads(str(z["__graph__"]))
    names = json.loads(str(z["__names__"]))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.graph = graph
            self.keys = {}
            for k, name in names.items():
                self.register_buffer(k, torch.from_numpy(np.ascontiguousarray(z[k])))
                self.keys[name] = k

        def forward(self, x):
            env = {self.graph["input"]: x}

            def get(name):
                return env[name] if name in env else getattr(self, self.keys[name])

            for n in self.graph["nodes"]:
                op, a = n["op"], n["attrs"]
                xs = [get(i) if i else None for i in n["in"]]
                if op == "Conv":
                    p = a.get("pads", [0, 0, 0, 0])
                    inp = xs[0]
                    if p[0] != p[2] or p[1] != p[3]:
                        inp, pad = F.pad(inp, [p[1], p[3], p[0], p[2]]), 0
                    else:
                        pad = (p[0], p[1])
                    y = F.conv2d(inp, xs[1], xs[2] if len(xs) > 2 else None, stride=a.get("strides", [1, 1]),
                                 padding=pad, dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
                elif op == "BatchNormalization":
                    y = F.batch_norm(xs[0], xs[3], xs[4], xs[1], xs[2], False, 0.0, a.get("epsilon", 1e-5))
                elif op == "PRelu":
                    s = xs[1]
                    y = torch.where(xs[0] >= 0, xs[0], xs[0] * s)
                elif op == "Relu":
                    y = F.relu(xs[0])
                elif op in ("Add", "Sub", "Mul"):
                    y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul}[op](xs[0], xs[1])
                elif op == "Flatten":
                    y = torch.flatten(xs[0], a.get("axis", 1))
                elif op == "Gemm":
                    w = xs[1].t() if a.get("transB", 0) else xs[1]
                    y = a.get("alpha", 1.0) * (xs[0] @ w)
                    if len(xs) > 2 and xs[2] is not None:
                        y = y + a.get("beta", 1.0) * xs[2]
                elif op == "MatMul":
                    y = xs[0] @ xs[1]
                elif op == "Pad":
                    pads = [int(v) for v in xs[1].tolist()]
                    r = len(pads) // 2
                    tp = []
                    for d in reversed(range(r)):
                        tp += [pads[d], pads[d + r]]
                    y = F.pad(xs[0], tp, mode="constant", value=0.0)
                elif op in ("MaxPool", "AveragePool"):
                    p = a.get("pads", [0, 0, 0, 0])
                    k, st = a["kernel_shape"], a.get("strides", [1, 1])
                    ceil = bool(a.get("ceil_mode", 0))
                    inp = xs[0]
                    if p[0] != p[2] or p[1] != p[3]:
                        fill = float("-inf") if op == "MaxPool" else 0.0
                        inp, pad = F.pad(inp, [p[1], p[3], p[0], p[2]], value=fill), 0
                    else:
                        pad = (p[0], p[1])
                    if op == "MaxPool":
                        y = F.max_pool2d(inp, k, st, pad, ceil_mode=ceil)
                    else:
                        y = F.avg_pool2d(inp, k, st, pad, ceil_mode=ceil,
                                         count_include_pad=bool(a.get("count_include_pad", 0)))
                elif op == "GlobalAveragePool":
                    y = xs[0].mean(dim=(2, 3), keepdim=True)
                else:  # Dropout, Identity
                    y = xs[0]
                env[n["out"][0]] = y
            return env[self.graph["output"]]

    return Net().eval()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "pack":
        sys.exit("usage: minitorch.py pack MODEL.onnx OUT.npz")
    pack(sys.argv[2], sys.argv[3])
