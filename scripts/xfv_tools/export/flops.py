"""Multiply-accumulate counts of a forward graph (for GFLOP/s figures of the gradient graph)."""

from __future__ import annotations

import numpy as np

from .probe import Probe
from .rules import attrs


def forward_macs(P: Probe) -> dict[str, int]:
    """MACs per Conv / Gemm / MatMul node at batch 1 (node name or first output -> MACs)."""
    out = {}
    for n in P.model.graph.node:
        if n.op_type == "Conv":
            w = P.shape(n.input[1])
            y = P.shape(n.output[0])
            out[n.name or n.output[0]] = int(np.prod(y[1:]) * np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            a = P.shape(n.input[0])
            y = P.shape(n.output[0])
            k = a[-1] if not (n.op_type == "Gemm" and attrs(n).get("transA", 0)) else a[-2]
            out[n.name or n.output[0]] = int(np.prod(y[1:]) * k)
    return out


def backward_flops(P: Probe, k: int) -> float:
    """FLOPs (2 x MACs) of the K-row input-gradient pass through Conv / Gemm / MatMul layers."""
    return 2.0 * k * sum(forward_macs(P).values())
