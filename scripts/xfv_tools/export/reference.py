"""An independent float64 numpy evaluator of the forward graph, for verification.

It evaluates the differentiable ops itself (in float64) and takes the values of everything that does
not depend on the image's values (weights, Shape/Reshape chains) from the probe at batch 1. Central
differences of it in float64 give Jacobians accurate to ~1e-8, independent of the VJP rules and of
onnxruntime, which the exported graph's fp32 results are compared against.
"""

from __future__ import annotations

import functools

import numpy as np

from .probe import Probe
from .rules import attrs, explicit_pads


def _pad_spatial(x, pads, nd, value=0.0):
    width = [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)]
    if all(p >= 0 for p in pads):
        return np.pad(x, width, constant_values=value)
    x = np.pad(x, [(max(a, 0), max(b, 0)) for a, b in width], constant_values=value)
    sl = [slice(None), slice(None)] + [slice(max(-pads[i], 0), x.shape[2 + i] - max(-pads[nd + i], 0))
                                       for i in range(nd)]
    return x[tuple(sl)]


def _windows(xp, kernel, strides, dil, out_sp):
    """Iterate (tap index, strided view [N, C, *out_sp]) over kernel taps."""
    nd = len(kernel)
    for t in np.ndindex(*kernel):
        sl = [slice(None), slice(None)]
        for i in range(nd):
            st = t[i] * dil[i]
            sl.append(slice(st, st + (out_sp[i] - 1) * strides[i] + 1, strides[i]))
        yield t, xp[tuple(sl)]


def conv(x, w, b, a, out_sp):
    nd = w.ndim - 2
    kernel = list(w.shape[2:])
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    group = a.get("group", 1)
    pads = explicit_pads(a, list(x.shape[2:]), out_sp, kernel, strides, dil)
    xp = _pad_spatial(x, pads, nd)
    n, cin = x.shape[:2]
    cout, cin_g = w.shape[:2]
    cout_g = cout // group
    wg = w.reshape(group, cout_g, cin_g, *kernel)
    y = np.zeros((n, group, cout_g, *out_sp))
    for t, view in _windows(xp, kernel, strides, dil, out_sp):
        v = view.reshape(n, group, cin_g, *out_sp)
        wt = wg[(slice(None), slice(None), slice(None)) + t]          # [G, cout_g, cin_g]
        if cin_g == 1 and cout_g == 1:
            y += v * wt.reshape(1, group, 1, *([1] * nd))
        else:
            y += np.einsum("ngi...,goi->ngo...", v, wt, optimize=True)
    y = y.reshape(n, cout, *out_sp)
    if b is not None:
        y = y + b.reshape(1, cout, *([1] * nd))
    return y


def pool(x, a, out_sp, kind):
    kernel = list(a["kernel_shape"])
    nd = len(kernel)
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    pads = explicit_pads(a, list(x.shape[2:]), out_sp, kernel, strides, dil)
    end = [max(pads[nd + i], (out_sp[i] - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1 - pads[i] - x.shape[2 + i])
           for i in range(nd)]
    fill = -np.inf if kind == "max" else 0.0
    xp = _pad_spatial(x, pads[:nd] + end, nd, fill)
    if kind == "max":
        y = np.full(x.shape[:2] + tuple(out_sp), -np.inf)
        for _, v in _windows(xp, kernel, strides, dil, out_sp):
            y = np.maximum(y, v)
        return y
    ones = _pad_spatial(np.ones((1, 1) + x.shape[2:]), pads[:nd] + end, nd, 0.0)
    inpad = np.ones((1, 1) + x.shape[2:])
    inpad = np.pad(inpad, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)], constant_values=1.0)
    inpad = _pad_spatial(inpad, [0] * nd + [e - pads[nd + i] for i, e in enumerate(end)], nd, 0.0)
    cnt_src = inpad if a.get("count_include_pad", 0) else ones
    y = np.zeros(x.shape[:2] + tuple(out_sp))
    cnt = np.zeros((1, 1) + tuple(out_sp))
    for (_, v), (_, c) in zip(_windows(xp, kernel, strides, dil, out_sp),
                              _windows(cnt_src, kernel, strides, dil, out_sp)):
        y += v
        cnt += c
    return y / cnt


def _bcast_unary(op, x, a, node, vals):
    if op == "Relu":
        return np.maximum(x, 0)
    if op == "LeakyRelu":
        return np.where(x > 0, x, a.get("alpha", 0.01) * x)
    if op == "Sigmoid":
        return 1 / (1 + np.exp(-x))
    if op == "Tanh":
        return np.tanh(x)
    if op == "HardSigmoid":
        return np.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1)
    if op == "HardSwish":
        return x * np.clip(x / 6 + 0.5, 0, 1)
    if op == "Softplus":
        return np.log1p(np.exp(x))
    if op == "Elu":
        return np.where(x > 0, x, a.get("alpha", 1.0) * (np.exp(x) - 1))
    if op == "Exp":
        return np.exp(x)
    if op == "Log":
        return np.log(x)
    if op == "Sqrt":
        return np.sqrt(x)
    if op == "Reciprocal":
        return 1 / x
    if op == "Abs":
        return np.abs(x)
    if op == "Neg":
        return -x
    if op in ("Identity", "Dropout", "Cast"):
        return x
    return None


_LOGIC = {
    "Greater": np.greater, "Less": np.less, "Equal": np.equal, "GreaterOrEqual": np.greater_equal,
    "LessOrEqual": np.less_equal, "Not": np.logical_not, "And": np.logical_and, "Or": np.logical_or,
    "Sign": np.sign,
}


def forward64(P: Probe, x: np.ndarray) -> np.ndarray:
    """Raw model output (before the L2 normalisation) in float64 for one image x [1,3,H,W]."""
    if x.shape[0] != 1:
        raise ValueError("the reference evaluator runs at batch 1")
    env: dict[str, np.ndarray] = {P.input_name: np.asarray(x, dtype=np.float64)}
    varied = {P.input_name}

    def get(t):
        if not t:
            return None
        if t in env:
            return env[t]
        v = P.values[t]
        return v.astype(np.float64) if v.dtype == np.float32 else v

    for node in P.model.graph.node:
        if not any(i in varied for i in node.input if i):
            continue
        varied.update(o for o in node.output if o)
        outs = [o for o in node.output if o]
        float_in = [i for i in node.input if i in varied and np.asarray(get(i)).dtype.kind == "f"]
        if not float_in and node.op_type not in ("Not", "And", "Or", "Where"):
            for o in outs:                     # derived from shapes only (Shape, Gather, Concat...): probe's
                env[o] = P.values[o]
            continue
        op, a = node.op_type, attrs(node)
        ins = [get(i) for i in node.input]
        if op in _LOGIC:
            env[node.output[0]] = _LOGIC[op](*ins)
            continue
        if op in ("Shape", "Size"):
            env[node.output[0]] = P.values[node.output[0]]
            continue
        out_sp = list(P.shape(node.output[0])[2:])
        x0 = ins[0]
        y = _bcast_unary(op, x0, a, node, P.values)
        if y is not None:
            pass
        elif op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"):
            if op == "Add": y = ins[0] + ins[1]
            elif op == "Sub": y = ins[0] - ins[1]
            elif op == "Mul": y = ins[0] * ins[1]
            elif op == "Div": y = ins[0] / ins[1]
            elif op == "Pow": y = np.power(ins[0], ins[1])
            elif op == "Max": y = functools.reduce(np.maximum, ins)
            elif op == "Min": y = functools.reduce(np.minimum, ins)
            elif op == "Sum": y = sum(ins)
            else: y = sum(ins) / len(ins)
        elif op == "PRelu":
            y = np.where(x0 > 0, x0, ins[1] * x0)
        elif op == "Clip":
            lo = a.get("min", None) if P.opset < 11 else (ins[1] if len(ins) > 1 and ins[1] is not None else None)
            hi = a.get("max", None) if P.opset < 11 else (ins[2] if len(ins) > 2 and ins[2] is not None else None)
            y = x0
            if lo is not None: y = np.maximum(y, lo)
            if hi is not None: y = np.minimum(y, hi)
        elif op == "Where":
            y = np.where(ins[0], ins[1], ins[2])
        elif op == "Conv":
            y = conv(x0, ins[1], ins[2] if len(ins) > 2 else None, a, out_sp)
        elif op == "MaxPool":
            y = pool(x0, a, out_sp, "max")
        elif op == "AveragePool":
            y = pool(x0, a, out_sp, "avg")
        elif op == "GlobalAveragePool":
            y = x0.mean(axis=tuple(range(2, x0.ndim)), keepdims=True)
        elif op == "GlobalMaxPool":
            y = x0.max(axis=tuple(range(2, x0.ndim)), keepdims=True)
        elif op == "BatchNormalization":
            g_, b_, m_, v_ = ins[1:5]
            sh = (1, -1) + (1,) * (x0.ndim - 2)
            y = (x0 - m_.reshape(sh)) / np.sqrt(v_.reshape(sh) + a.get("epsilon", 1e-5)) * g_.reshape(sh) \
                + b_.reshape(sh)
        elif op == "Gemm":
            A = ins[0].T if a.get("transA", 0) else ins[0]
            B = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Expand"):
            shp = P.shape(node.output[0])
            y = np.broadcast_to(x0, shp).copy() if op == "Expand" else x0.reshape(shp)
        elif op == "Transpose":
            y = np.transpose(x0, a.get("perm", None))
        elif op == "Concat":
            y = np.concatenate(ins, axis=a["axis"])
        elif op == "Split":
            sizes = [P.shape(o)[a.get("axis", 0)] for o in node.output]
            y = np.split(x0, np.cumsum(sizes)[:-1], axis=a.get("axis", 0))
        elif op == "Slice":
            starts, ends = ins[1].tolist(), ins[2].tolist()
            axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
            steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x0.ndim
            for s_, e_, ax, st in zip(starts, ends, axes, steps):
                sl[ax] = slice(int(s_), int(e_), int(st))
            y = x0[tuple(sl)]
        elif op == "Pad":
            pads = list(a["pads"]) if P.opset < 11 else [int(v) for v in ins[1].tolist()]
            r = x0.ndim
            if len(ins) > 3 and ins[3] is not None:
                axes = [int(v) % r for v in ins[3].tolist()]
                full = [0] * (2 * r)
                for i, ax in enumerate(axes):
                    full[ax], full[r + ax] = pads[i], pads[len(axes) + i]
                pads = full
            val = float(np.asarray(ins[2]).reshape(-1)[0]) if len(ins) > 2 and ins[2] is not None and ins[2].size else 0.0
            y = np.pad(x0, [(max(pads[i], 0), max(pads[r + i], 0)) for i in range(r)], constant_values=val)
            y = y[tuple(slice(max(-pads[i], 0), y.shape[i] - max(-pads[r + i], 0)) for i in range(r))]
        elif op in ("ReduceSum", "ReduceMean", "ReduceL2", "ReduceSumSquare", "ReduceMax", "ReduceMin", "ReduceL1"):
            axes = list(a["axes"]) if "axes" in a else ([int(v) for v in ins[1].tolist()]
                                                        if len(ins) > 1 and ins[1] is not None else None)
            ax = tuple(axes) if axes else None
            kd = bool(a.get("keepdims", 1))
            f = {"ReduceSum": lambda t: t.sum(ax, keepdims=kd), "ReduceMean": lambda t: t.mean(ax, keepdims=kd),
                 "ReduceL2": lambda t: np.sqrt((t * t).sum(ax, keepdims=kd)),
                 "ReduceSumSquare": lambda t: (t * t).sum(ax, keepdims=kd),
                 "ReduceL1": lambda t: np.abs(t).sum(ax, keepdims=kd),
                 "ReduceMax": lambda t: t.max(ax, keepdims=kd), "ReduceMin": lambda t: t.min(ax, keepdims=kd)}[op]
            y = f(x0)
        elif op == "LpNormalization":
            y = x0 / np.sqrt((x0 * x0).sum(axis=a.get("axis", -1), keepdims=True))
        else:
            raise NotImplementedError(f"reference evaluator has no {op}")
        if isinstance(y, list):
            for o, v in zip(node.output, y):
                env[o] = v
        else:
            env[node.output[0]] = np.asarray(y, dtype=np.float64)
    return env[P.output_name]


def embed64(P: Probe, x: np.ndarray) -> np.ndarray:
    f = forward64(P, x).reshape(-1)
    return f / np.linalg.norm(f)
