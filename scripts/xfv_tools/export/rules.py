"""VJP rules: one function per ONNX op, mapping output gradients to input gradients.

Layout: a gradient of a forward tensor of shape [N, *feat] has shape [N, K, *feat] (K cotangent rows
share one forward pass). A rule gets the node and the gradients of its outputs (None where an output
gets none) and returns one gradient name (or None) per input; it only returns gradients for *active*
inputs (float tensors on the path image -> embedding).

Forward tensors a rule needs are used by name (weights are shared, never copied); tensors that carry
the batch are unsqueezed to [N, 1, *feat] so they broadcast against [N, K, *feat].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import onnx
from onnx import helper

from .emit import INT64_MIN
from .errors import UnsupportedOpError

if TYPE_CHECKING:  # pragma: no cover
    from .build import Context

Rule = Callable[["Context", onnx.NodeProto, list], list]
RULES: dict[str, Rule] = {}


def rule(*ops: str):
    def deco(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn
    return deco


def attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _inp(node, i):
    return node.input[i] if len(node.input) > i and node.input[i] else None


# ---------------------------------------------------------------------------------------------------
# pass-through and shape ops
# ---------------------------------------------------------------------------------------------------
@rule("Identity", "Dropout")
def _identity(ctx, node, gy):
    if node.op_type == "Dropout" and attrs(node).get("is_test", 1) == 0 and ctx.P.opset < 7:
        raise UnsupportedOpError(node.op_type, ctx.name(node), "Dropout in training mode")
    if node.op_type == "Dropout" and _inp(node, 2) and ctx.value(node.input[2]).item():
        raise UnsupportedOpError(node.op_type, ctx.name(node), "Dropout with training_mode=True")
    return [gy[0]] + [None] * (len(node.input) - 1)


@rule("Cast")
def _cast(ctx, node, gy):
    if attrs(node)["to"] != onnx.TensorProto.FLOAT:
        raise UnsupportedOpError("Cast", ctx.name(node), "only float32 -> float32 casts are differentiable")
    return [gy[0]]


@rule("Flatten", "Reshape", "Squeeze", "Unsqueeze")
def _reshape(ctx, node, gy):
    x = node.input[0]
    out = [ctx.b.reshape(gy[0], [0, 0, *ctx.feat(x)])]
    return out + [None] * (len(node.input) - 1)


@rule("Transpose")
def _transpose(ctx, node, gy):
    x = node.input[0]
    rank = len(ctx.shape(x))
    perm = list(attrs(node).get("perm", list(reversed(range(rank)))))
    if perm[0] != 0:
        raise UnsupportedOpError("Transpose", ctx.name(node), "transposes the batch axis")
    inv = [0] * rank
    for i, p in enumerate(perm):
        inv[p] = i
    kperm = [0, 1] + [inv[i] + 1 for i in range(1, rank)]
    return [ctx.b.op("Transpose", [gy[0]], perm=kperm)]


@rule("Expand")
def _expand(ctx, node, gy):
    x = node.input[0]
    return [ctx.unbroadcast(gy[0], x, node.output[0]), None]


@rule("Concat")
def _concat(ctx, node, gy):
    y = node.output[0]
    rank = len(ctx.shape(y))
    axis = attrs(node)["axis"] % rank
    if axis == 0:
        raise UnsupportedOpError("Concat", ctx.name(node), "concatenates along the batch axis")
    out, start = [], 0
    for x in node.input:
        size = ctx.shape(x)[axis]
        if ctx.is_active(x):
            out.append(ctx.b.slice(gy[0], [start], [start + size], [axis + 1]))
        else:
            out.append(None)
        start += size
    return out


@rule("Split")
def _split(ctx, node, gy):
    x = node.input[0]
    rank = len(ctx.shape(x))
    axis = attrs(node).get("axis", 0) % rank
    if axis == 0:
        raise UnsupportedOpError("Split", ctx.name(node), "splits along the batch axis")
    parts = [g if g is not None else ctx.zeros(ctx.feat(o)) for g, o in zip(gy, node.output)]
    return [ctx.b.op("Concat", parts, axis=axis + 1)] + [None] * (len(node.input) - 1)


@rule("Slice")
def _slice(ctx, node, gy):
    x = node.input[0]
    shp = ctx.shape(x)
    rank = len(shp)
    if ctx.P.opset < 10:
        a = attrs(node)
        starts, ends = a["starts"], a["ends"]
        axes = a.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = ctx.value(node.input[1]).tolist()
        ends = ctx.value(node.input[2]).tolist()
        axes = ctx.value(node.input[3]).tolist() if _inp(node, 3) else list(range(len(starts)))
        steps = ctx.value(node.input[4]).tolist() if _inp(node, 4) else [1] * len(starts)
    pads = [0] * (2 * rank)
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax %= rank
        if sp != 1:
            raise UnsupportedOpError("Slice", ctx.name(node), "only step 1 slices are supported")
        if ax == 0:
            raise UnsupportedOpError("Slice", ctx.name(node), "slices the batch axis")
        b, e, _ = slice(int(st), int(en)).indices(shp[ax])
        pads[ax] = b
        pads[rank + ax] = shp[ax] - max(e, b)
    kpads = [0] + pads[:rank] + [0] + pads[rank:]
    return [ctx.b.pad(gy[0], kpads)] + [None] * (len(node.input) - 1)


@rule("Pad")
def _pad(ctx, node, gy):
    x = node.input[0]
    a = attrs(node)
    if a.get("mode", "constant") != "constant":
        raise UnsupportedOpError("Pad", ctx.name(node), f"mode {a.get('mode')!r} (only constant)")
    rank = len(ctx.shape(x))
    if ctx.P.opset < 11:
        pads = list(a["pads"])
    else:
        pads = [int(p) for p in ctx.value(node.input[1]).tolist()]
        if _inp(node, 3):
            axes = [int(v) % rank for v in ctx.value(node.input[3]).tolist()]
            full = [0] * (2 * rank)
            for i, ax in enumerate(axes):
                full[ax] = pads[i]
                full[rank + ax] = pads[len(axes) + i]
            pads = full
    if pads[0] or pads[rank]:
        raise UnsupportedOpError("Pad", ctx.name(node), "pads the batch axis")
    g = gy[0]
    grow = [max(-p, 0) for p in pads]
    if any(grow):
        g = ctx.b.pad(g, [0] + grow[:rank] + [0] + grow[rank:])
    if any(p > 0 for p in pads):
        shp = ctx.shape(x)
        axes = [i for i in range(1, rank) if pads[i] > 0 or pads[rank + i] > 0]
        starts = [max(pads[i], 0) for i in axes]
        ends = [max(pads[i], 0) + shp[i] for i in axes]
        g = ctx.b.slice(g, starts, ends, [i + 1 for i in axes])
    return [g] + [None] * (len(node.input) - 1)


# ---------------------------------------------------------------------------------------------------
# elementwise binary with broadcasting
# ---------------------------------------------------------------------------------------------------
@rule("Add", "Sub", "Sum", "Mean")
def _add(ctx, node, gy):
    y = node.output[0]
    g = gy[0]
    if node.op_type == "Mean":
        g = ctx.b.mul(g, ctx.b.f32(1.0 / len(node.input)))
    out = []
    for i, x in enumerate(node.input):
        if not ctx.is_active(x):
            out.append(None)
            continue
        gi = ctx.b.op("Neg", [g]) if (node.op_type == "Sub" and i == 1) else g
        out.append(ctx.unbroadcast(gi, x, y))
    return out


@rule("Mul")
def _mul(ctx, node, gy):
    a, b_ = node.input
    y = node.output[0]
    out = []
    for x, other in ((a, b_), (b_, a)):
        if not ctx.is_active(x):
            out.append(None)
            continue
        out.append(ctx.unbroadcast(ctx.b.mul(gy[0], ctx.kalign(other, y)), x, y))
    return out


@rule("Div")
def _div(ctx, node, gy):
    a, b_ = node.input
    y = node.output[0]
    ga = gb = None
    if ctx.is_active(a):
        ga = ctx.unbroadcast(ctx.b.op("Div", [gy[0], ctx.kalign(b_, y)]), a, y)
    if ctx.is_active(b_):
        q = ctx.b.op("Div", [y, b_])          # y / b in forward layout
        gb = ctx.unbroadcast(ctx.b.op("Neg", [ctx.b.mul(gy[0], ctx.kb(q))]), b_, y)
    return [ga, gb]


@rule("Pow")
def _pow(ctx, node, gy):
    a, p = node.input
    y = node.output[0]
    if ctx.is_active(p):
        raise UnsupportedOpError("Pow", ctx.name(node), "exponent depends on the input")
    pv = ctx.value(p).astype(np.float32)
    if pv.size == 1 and float(pv) == 2.0:
        d = ctx.b.mul(a, ctx.b.f32(2.0))
    elif pv.size == 1 and float(pv) == 1.0:
        return [ctx.unbroadcast(gy[0], a, y), None]
    else:
        d = ctx.b.mul(ctx.b.op("Pow", [a, ctx.b.f32(pv - 1.0)]), ctx.b.f32(pv))
    return [ctx.unbroadcast(ctx.b.mul(gy[0], ctx.kb(d)), a, y), None]


@rule("Max", "Min")
def _maxmin(ctx, node, gy):
    if len(node.input) == 1:
        return [gy[0]]
    if len(node.input) != 2:
        raise UnsupportedOpError(node.op_type, ctx.name(node), "more than two operands")
    a, b_ = node.input
    y = node.output[0]
    cmp = "Greater" if node.op_type == "Max" else "Less"
    out = []
    for x, other in ((a, b_), (b_, a)):
        if not ctx.is_active(x):
            out.append(None)
            continue
        win = ctx.b.to_float(ctx.b.op(cmp, [x, other]))
        tie = ctx.b.mul(ctx.b.to_float(ctx.b.op("Equal", [x, other])), ctx.b.f32(0.5))
        m = ctx.b.add(win, tie)             # ties share the gradient, as PyTorch's maximum/minimum do
        out.append(ctx.unbroadcast(ctx.b.mul(gy[0], ctx.kb(m)), x, y))
    return out


@rule("Where")
def _where(ctx, node, gy):
    c, a, b_ = node.input
    y = node.output[0]
    if ctx.is_active(c):
        raise UnsupportedOpError("Where", ctx.name(node), "float condition")
    cond = ctx.kalign(c, y)
    zero = ctx.b.f32(0.0)
    ga = ctx.unbroadcast(ctx.b.op("Where", [cond, gy[0], zero]), a, y) if ctx.is_active(a) else None
    gb = ctx.unbroadcast(ctx.b.op("Where", [cond, zero, gy[0]]), b_, y) if ctx.is_active(b_) else None
    return [None, ga, gb]


# ---------------------------------------------------------------------------------------------------
# elementwise unary: derivative computed once in forward layout, then one Mul per K-batch
# ---------------------------------------------------------------------------------------------------
def _unary(ctx, node, gy, d):
    return [ctx.b.mul(gy[0], ctx.kb(d))] + [None] * (len(node.input) - 1)


@rule("Relu")
def _relu(ctx, node, gy):
    x = node.input[0]
    return _unary(ctx, node, gy, ctx.b.to_float(ctx.b.op("Greater", [x, ctx.b.f32(0.0)])))


@rule("LeakyRelu")
def _leaky(ctx, node, gy):
    x = node.input[0]
    alpha = attrs(node).get("alpha", 0.01)
    d = ctx.b.op("Where", [ctx.b.op("Greater", [x, ctx.b.f32(0.0)]), ctx.b.f32(1.0), ctx.b.f32(alpha)])
    return _unary(ctx, node, gy, d)


@rule("PRelu")
def _prelu(ctx, node, gy):
    x, slope = node.input
    if ctx.is_active(slope):
        raise UnsupportedOpError("PRelu", ctx.name(node), "slope depends on the input")
    d = ctx.b.op("Where", [ctx.b.op("Greater", [x, ctx.b.f32(0.0)]), ctx.b.f32(1.0), slope])
    return _unary(ctx, node, gy, d)


@rule("Elu")
def _elu(ctx, node, gy):
    x, y = node.input[0], node.output[0]
    alpha = attrs(node).get("alpha", 1.0)
    d = ctx.b.op("Where", [ctx.b.op("Greater", [x, ctx.b.f32(0.0)]), ctx.b.f32(1.0),
                           ctx.b.add(y, ctx.b.f32(alpha))])
    return _unary(ctx, node, gy, d)


@rule("Clip")
def _clip(ctx, node, gy):
    x = node.input[0]
    if ctx.P.opset < 11:
        a = attrs(node)
        lo, hi = a.get("min"), a.get("max")
    else:
        lo = float(ctx.value(node.input[1])) if _inp(node, 1) else None
        hi = float(ctx.value(node.input[2])) if _inp(node, 2) else None
    m = None
    if lo is not None:
        m = ctx.b.op("Greater", [x, ctx.b.f32(lo)])
    if hi is not None:
        m2 = ctx.b.op("Less", [x, ctx.b.f32(hi)])
        m = m2 if m is None else ctx.b.op("And", [m, m2])
    if m is None:
        return [gy[0]] + [None] * (len(node.input) - 1)
    return _unary(ctx, node, gy, ctx.b.to_float(m))


@rule("Sigmoid")
def _sigmoid(ctx, node, gy):
    y = node.output[0]
    d = ctx.b.mul(y, ctx.b.op("Sub", [ctx.b.f32(1.0), y]))
    return _unary(ctx, node, gy, d)


@rule("Tanh")
def _tanh(ctx, node, gy):
    y = node.output[0]
    d = ctx.b.op("Sub", [ctx.b.f32(1.0), ctx.b.mul(y, y)])
    return _unary(ctx, node, gy, d)


@rule("HardSigmoid")
def _hardsigmoid(ctx, node, gy):
    x = node.input[0]
    a = attrs(node)
    alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
    t = ctx.b.add(ctx.b.mul(x, ctx.b.f32(alpha)), ctx.b.f32(beta))
    inside = ctx.b.op("And", [ctx.b.op("Greater", [t, ctx.b.f32(0.0)]), ctx.b.op("Less", [t, ctx.b.f32(1.0)])])
    return _unary(ctx, node, gy, ctx.b.mul(ctx.b.to_float(inside), ctx.b.f32(alpha)))


@rule("HardSwish")
def _hardswish(ctx, node, gy):
    x = node.input[0]
    # y = x * clip(x/6 + 1/2, 0, 1): dy/dx = 0 (x < -3), x/3 + 1/2 (-3 < x < 3), 1 (x > 3)
    mid = ctx.b.add(ctx.b.mul(x, ctx.b.f32(1.0 / 3.0)), ctx.b.f32(0.5))
    d = ctx.b.op("Where", [ctx.b.op("Less", [x, ctx.b.f32(-3.0)]), ctx.b.f32(0.0),
                           ctx.b.op("Where", [ctx.b.op("Greater", [x, ctx.b.f32(3.0)]), ctx.b.f32(1.0), mid])])
    return _unary(ctx, node, gy, d)


@rule("Softplus")
def _softplus(ctx, node, gy):
    return _unary(ctx, node, gy, ctx.b.op("Sigmoid", [node.input[0]]))


@rule("Exp")
def _exp(ctx, node, gy):
    return _unary(ctx, node, gy, node.output[0])


@rule("Log")
def _log(ctx, node, gy):
    return _unary(ctx, node, gy, ctx.b.op("Reciprocal", [node.input[0]]))


@rule("Sqrt")
def _sqrt(ctx, node, gy):
    return _unary(ctx, node, gy, ctx.b.op("Div", [ctx.b.f32(0.5), node.output[0]]))


@rule("Reciprocal")
def _reciprocal(ctx, node, gy):
    y = node.output[0]
    return _unary(ctx, node, gy, ctx.b.op("Neg", [ctx.b.mul(y, y)]))


@rule("Abs")
def _abs(ctx, node, gy):
    return _unary(ctx, node, gy, ctx.b.op("Sign", [node.input[0]]))


@rule("Neg")
def _neg(ctx, node, gy):
    return [ctx.b.op("Neg", [gy[0]])]


# ---------------------------------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------------------------------
@rule("BatchNormalization")
def _batchnorm(ctx, node, gy):
    a = attrs(node)
    if a.get("training_mode", 0):
        raise UnsupportedOpError("BatchNormalization", ctx.name(node), "training mode")
    x, gamma, _beta, _mean, var = node.input[:5]
    for t in (gamma, var):
        if ctx.is_active(t):
            raise UnsupportedOpError("BatchNormalization", ctx.name(node), "parameters depend on the input")
    eps = a.get("epsilon", 1e-5)
    scale = (ctx.value(gamma).astype(np.float64) / np.sqrt(ctx.value(var).astype(np.float64) + eps))
    scale = scale.astype(np.float32)
    src = ctx.producer(x)
    if src is not None and src.op_type == "Conv" and ctx.single_use(x) and not ctx.is_graph_output(x):
        # fold gamma/sqrt(var+eps) into the Conv VJP's weights (no pass over the gradient)
        ctx.pending_scale[x] = ctx.b.f32(scale, "bn_scale")
        return [gy[0]] + [None] * (len(node.input) - 1)
    feat = ctx.feat(x)
    s = ctx.b.f32(scale.reshape([feat[0]] + [1] * (len(feat) - 1)), "bn_scale")
    return [ctx.b.mul(gy[0], s)] + [None] * (len(node.input) - 1)


@rule("LpNormalization")
def _lpnorm(ctx, node, gy):
    a = attrs(node)
    x, y = node.input[0], node.output[0]
    rank = len(ctx.shape(x))
    axis = a.get("axis", -1) % rank
    if a.get("p", 2) != 2 or axis == 0:
        raise UnsupportedOpError("LpNormalization", ctx.name(node), "only p=2 over a feature axis")
    n = ctx.b.reduce("ReduceL2", x, [axis], 1)
    yk = ctx.kb(y)
    dot = ctx.ksum(ctx.b.mul(gy[0], yk), [axis + 1], ctx.feat(y))
    g = ctx.b.op("Div", [ctx.b.op("Sub", [gy[0], ctx.b.mul(dot, yk)]), ctx.kb(n)])
    return [g]


# ---------------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------------
def _reduce_axes(ctx, node):
    x = node.input[0]
    rank = len(ctx.shape(x))
    a = attrs(node)
    if "axes" in a:
        axes = list(a["axes"])
    elif _inp(node, 1):
        axes = [int(v) for v in ctx.value(node.input[1]).tolist()]
    else:
        axes = []
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            return [], a.get("keepdims", 1)
        axes = list(range(rank))
    axes = sorted(ax % rank for ax in axes)
    if 0 in axes:
        raise UnsupportedOpError(node.op_type, ctx.name(node), "reduces over the batch axis")
    return axes, a.get("keepdims", 1)


@rule("ReduceSum", "ReduceMean", "ReduceL2", "ReduceSumSquare", "ReduceMax", "ReduceMin", "ReduceL1")
def _reduce(ctx, node, gy):
    x, y = node.input[0], node.output[0]
    axes, keepdims = _reduce_axes(ctx, node)
    nin = len(node.input)
    if not axes:
        return [gy[0]] + [None] * (nin - 1)
    xfeat = ctx.feat(x)
    keepfeat = [1 if (i + 1) in axes else s for i, s in enumerate(xfeat)]
    g = gy[0] if keepdims else ctx.b.reshape(gy[0], [0, 0, *keepfeat])
    expand = ctx.b.i64([1, 1, *xfeat], "expand")
    op = node.op_type
    if op == "ReduceSum":
        return [ctx.b.op("Expand", [g, expand])] + [None] * (nin - 1)
    if op == "ReduceMean":
        count = int(np.prod([xfeat[ax - 1] for ax in axes]))
        g = ctx.b.mul(g, ctx.b.f32(1.0 / count))
        return [ctx.b.op("Expand", [g, expand])] + [None] * (nin - 1)
    if op == "ReduceSumSquare":
        return [ctx.b.mul(ctx.b.op("Expand", [g, expand]), ctx.kb(ctx.b.mul(x, ctx.b.f32(2.0))))] + \
            [None] * (nin - 1)
    if op == "ReduceL1":
        return [ctx.b.mul(ctx.b.op("Expand", [g, expand]), ctx.kb(ctx.b.op("Sign", [x])))] + [None] * (nin - 1)
    yk = y if keepdims else ctx.b.reshape(y, [0, *keepfeat])
    if op == "ReduceL2":
        q = ctx.b.op("Div", [g, ctx.kb(yk)])           # [N,K,keep]: g / ||x||
        return [ctx.b.mul(q, ctx.kb(x))] + [None] * (nin - 1)
    # ReduceMax / ReduceMin: ties share the gradient evenly
    eq = ctx.b.to_float(ctx.b.op("Equal", [x, yk]))
    cnt = ctx.b.reduce("ReduceSum", eq, axes, 1)
    m = ctx.b.op("Div", [eq, cnt])
    return [ctx.b.mul(g, ctx.kb(m))] + [None] * (nin - 1)


# ---------------------------------------------------------------------------------------------------
# linear layers
# ---------------------------------------------------------------------------------------------------
@rule("Gemm")
def _gemm(ctx, node, gy):
    a_, b_ = node.input[:2]
    c_ = _inp(node, 2)
    at = attrs(node)
    alpha, beta = at.get("alpha", 1.0), at.get("beta", 1.0)
    if at.get("transA", 0):
        raise UnsupportedOpError("Gemm", ctx.name(node), "transA=1 puts the batch on axis 1")
    if ctx.is_active(b_):
        raise UnsupportedOpError("Gemm", ctx.name(node), "weight B depends on the input")
    ga = gc = None
    g = gy[0]
    if ctx.is_active(a_):
        # A' = A; B' = B^T if transB. dA = g @ B'^T: B [M,F] (transB) is used as is; B [F,M] transposed
        w = b_ if at.get("transB", 0) else ctx.weight_transform(("T", b_), lambda: ctx.b.op("Transpose", [b_]))
        ga = ctx.b.op("MatMul", [g, w])
        if alpha != 1.0:
            ga = ctx.b.mul(ga, ctx.b.f32(alpha))
    if c_ is not None and ctx.is_active(c_):
        gc = g if beta == 1.0 else ctx.b.mul(g, ctx.b.f32(beta))
        gc = ctx.unbroadcast(gc, c_, node.output[0])
    return [ga, None, gc][:len(node.input)]


def _swap_last2(ctx, t, rank):
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return ctx.b.op("Transpose", [t], perm=perm)


@rule("MatMul")
def _matmul(ctx, node, gy):
    a_, b_ = node.input
    y = node.output[0]
    ra, rb, ry = len(ctx.shape(a_)), len(ctx.shape(b_)), len(ctx.shape(y))
    if ra < 2 or rb < 2:
        raise UnsupportedOpError("MatMul", ctx.name(node), "1-D operands")
    ga = gb = None
    if ctx.is_active(a_):
        if ctx.is_active(b_):
            bt = _swap_last2(ctx, ctx.kb(b_), rb + 1)
        else:
            bt = _swap_last2(ctx, ctx.kalign(b_, y), min(rb, ry - 1) if rb == ry else rb)
        ga = ctx.unbroadcast(ctx.b.op("MatMul", [gy[0], bt]), a_, y, matmul=True)
    if ctx.is_active(b_):
        if rb < 3:
            raise UnsupportedOpError("MatMul", ctx.name(node), "2-D right operand carrying the batch")
        if ctx.is_active(a_):
            at_ = _swap_last2(ctx, ctx.kb(a_), ra + 1)
        else:
            at_ = _swap_last2(ctx, ctx.kalign(a_, y), ra - 1 if ra == ry else ra)
        gb = ctx.unbroadcast(ctx.b.op("MatMul", [at_, gy[0]]), b_, y, matmul=True)
    return [ga, gb]


# ---------------------------------------------------------------------------------------------------
# convolution and pooling
# ---------------------------------------------------------------------------------------------------
def explicit_pads(a: dict, in_sp, out_sp, kernel, strides, dilations) -> list[int]:
    """Begin pads then end pads, resolving auto_pad from the probed shapes."""
    nd = len(in_sp)
    ap = a.get("auto_pad", "NOTSET")
    if ap in ("NOTSET", ""):
        return list(a.get("pads", [0] * (2 * nd)))
    if ap == "VALID":
        return [0] * (2 * nd)
    begin, end = [], []
    for i in range(nd):
        total = max((out_sp[i] - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - in_sp[i], 0)
        lo = total // 2 if ap == "SAME_UPPER" else total - total // 2
        begin.append(lo)
        end.append(total - lo)
    return begin + end


def _transpose_conv_geometry(in_sp, out_sp, kernel, strides, dilations, pads):
    """ConvTranspose pads / output_padding that map out_sp back onto exactly in_sp."""
    nd = len(in_sp)
    ct_pads_begin, ct_pads_end, outpad = [], [], []
    for i in range(nd):
        full = strides[i] * (out_sp[i] - 1) + dilations[i] * (kernel[i] - 1) + 1 - pads[i]
        ct_pads_begin.append(pads[i])
        if full >= in_sp[i]:
            ct_pads_end.append(full - in_sp[i])
            outpad.append(0)
        else:
            ct_pads_end.append(0)
            outpad.append(in_sp[i] - full)
    return ct_pads_begin + ct_pads_end, outpad


@rule("Conv")
def _conv(ctx, node, gy):
    x, w = node.input[:2]
    y = node.output[0]
    if ctx.is_active(w) or (_inp(node, 2) and ctx.is_active(node.input[2])):
        raise UnsupportedOpError("Conv", ctx.name(node), "weights depend on the input")
    a = attrs(node)
    wshape = ctx.shape(w)
    cout, cin_g = wshape[0], wshape[1]
    kernel = list(wshape[2:])
    nd = len(kernel)
    group = a.get("group", 1)
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    xfeat, yfeat = ctx.feat(x), ctx.feat(y)
    cin = xfeat[0]
    pads = explicit_pads(a, xfeat[1:], yfeat[1:], kernel, strides, dil)

    scale = ctx.pending_scale.pop(y, None)
    wuse = w
    if scale is not None:
        wuse = ctx.weight_transform(("scale", w, scale), lambda: ctx.b.mul(
            w, ctx.b.reshape(scale, [cout] + [1] * (nd + 1))))

    gf = ctx.flat(gy[0], yfeat)
    back = [dil[i] * (kernel[i] - 1) for i in range(nd)]
    conv_pads = [back[i] - pads[i] for i in range(nd)] + [back[i] - pads[nd + i] for i in range(nd)]
    if all(s == 1 for s in strides) and all(p >= 0 for p in conv_pads):
        # stride 1: the input gradient is a Conv with spatially flipped, in/out-swapped weights
        # (measured faster than ConvTranspose on ORT CPU, 3-6x for depthwise)
        def flipped():
            f = ctx.b.slice(wuse, [-1] * nd, [INT64_MIN] * nd, list(range(2, 2 + nd)), [-1] * nd)
            cout_g = cout // group
            if group == 1:
                return ctx.b.op("Transpose", [f], perm=[1, 0] + list(range(2, 2 + nd)))
            if cout_g == 1 or cin_g == 1:
                return ctx.b.reshape(f, [cin, cout_g] + kernel)
            f = ctx.b.reshape(f, [group, cout_g, cin_g] + kernel)
            f = ctx.b.op("Transpose", [f], perm=[0, 2, 1] + list(range(3, 3 + nd)))
            return ctx.b.reshape(f, [cin, cout_g] + kernel)

        wf = ctx.weight_transform(("flip", wuse), flipped)
        gx = ctx.b.op("Conv", [gf, wf], kernel_shape=kernel, pads=conv_pads, dilations=dil, group=group,
                      strides=[1] * nd)
    else:
        ct_pads, outpad = _transpose_conv_geometry(xfeat[1:], yfeat[1:], kernel, strides, dil, pads)
        kw = dict(kernel_shape=kernel, pads=ct_pads, dilations=dil, group=group, strides=strides)
        if any(outpad):
            kw["output_padding"] = outpad
        gx = ctx.b.op("ConvTranspose", [gf, wuse], **kw)
    return [ctx.unflat(gx, xfeat)] + [None] * (len(node.input) - 1)


def _pool_geometry(ctx, node):
    x, y = node.input[0], node.output[0]
    a = attrs(node)
    xfeat, yfeat = ctx.feat(x), ctx.feat(y)
    kernel = list(a["kernel_shape"])
    nd = len(kernel)
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    pads = explicit_pads(a, xfeat[1:], yfeat[1:], kernel, strides, dil)
    return a, xfeat, yfeat, kernel, nd, strides, dil, pads


@rule("MaxPool")
def _maxpool(ctx, node, gy):
    x, y = node.input[0], node.output[0]
    a, xfeat, yfeat, kernel, nd, strides, dil, pads = _pool_geometry(ctx, node)
    if len(node.output) > 1 and node.output[1] and ctx.is_used(node.output[1]):
        raise UnsupportedOpError("MaxPool", ctx.name(node), "Indices output is used")
    c = xfeat[0]
    in_sp, out_sp = xfeat[1:], yfeat[1:]
    # pad with -inf so every tap of every window is a valid slice
    end_pad = [max(pads[nd + i], (out_sp[i] - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1
                   - pads[i] - in_sp[i]) for i in range(nd)]
    xp = x
    if any(pads[:nd]) or any(end_pad):
        xp = ctx.b.pad(x, [0, 0] + pads[:nd] + [0, 0] + end_pad, value=float("-inf"))
    taps = list(np.ndindex(*kernel))
    taken = None
    masks = []
    for t in taps:
        starts = [t[i] * dil[i] for i in range(nd)]
        ends = [starts[i] + (out_sp[i] - 1) * strides[i] + 1 for i in range(nd)]
        tap = ctx.b.slice(xp, starts, ends, list(range(2, 2 + nd)), strides)
        eq = ctx.b.op("Equal", [tap, y])
        # ties go to the first maximum (row-major tap order), as PyTorch and ORT pick
        m = eq if taken is None else ctx.b.op("And", [eq, ctx.b.op("Not", [taken])])
        taken = eq if taken is None else ctx.b.op("Or", [taken, eq])
        masks.append(ctx.b.unsqueeze(ctx.b.to_float(m), [2]))
    mstack = ctx.b.op("Concat", masks, axis=2)                     # [N, C, T, *out]
    gt = ctx.b.mul(ctx.b.unsqueeze(gy[0], [3]), ctx.kb(mstack))    # [N, K, C, T, *out]
    T = len(taps)
    gf = ctx.b.reshape(gt, [-1, c * T] + out_sp)
    onehot = np.zeros([c * T, 1] + kernel, dtype=np.float32)
    for ci in range(c):
        for ti, t in enumerate(taps):
            onehot[(ci * T + ti, 0) + t] = 1.0
    ct_pads, outpad = _transpose_conv_geometry(in_sp, out_sp, kernel, strides, dil, pads)
    kw = dict(kernel_shape=kernel, pads=ct_pads, dilations=dil, group=c, strides=strides)
    if any(outpad):
        kw["output_padding"] = outpad
    gx = ctx.b.op("ConvTranspose", [gf, ctx.b.f32(onehot, "maxpool_taps")], **kw)
    return [ctx.unflat(gx, xfeat)]


@rule("AveragePool")
def _avgpool(ctx, node, gy):
    x = node.input[0]
    a, xfeat, yfeat, kernel, nd, strides, dil, pads = _pool_geometry(ctx, node)
    c = xfeat[0]
    in_sp, out_sp = xfeat[1:], yfeat[1:]
    include_pad = a.get("count_include_pad", 0)
    # divisor of every output position (windows are clipped to the padded / unpadded image)
    div = np.ones(out_sp, dtype=np.float64)
    for idx in np.ndindex(*out_sp):
        n = 1
        for i in range(nd):
            lo = idx[i] * strides[i] - pads[i]
            taps = [lo + k * dil[i] for k in range(kernel[i])]
            lim_lo, lim_hi = (-pads[i], in_sp[i] + pads[nd + i]) if include_pad else (0, in_sp[i])
            n *= sum(1 for p in taps if lim_lo <= p < lim_hi)
        div[idx] = n
    g = gy[0]
    uniform = np.all(div == div.flat[0])
    if (uniform and kernel == strides and dil == [1] * nd and not any(pads)
            and all(out_sp[i] * kernel[i] <= in_sp[i] for i in range(nd))):
        # non-overlapping windows: the gradient is a nearest upsampling, one broadcast Mul
        inter = []
        for i in range(nd):
            inter += [out_sp[i], 1]
        gr = ctx.b.reshape(g, [0, 0, c] + inter)
        rep = []
        for i in range(nd):
            rep += [kernel[i]] + ([1] if i < nd - 1 else [])
        up = ctx.b.mul(gr, ctx.b.f32(np.full(rep, 1.0 / div.flat[0], np.float32), "avg_up"))
        up = ctx.b.reshape(up, [0, 0, c] + [out_sp[i] * kernel[i] for i in range(nd)])
        extra = [in_sp[i] - out_sp[i] * kernel[i] for i in range(nd)]
        if any(extra):
            up = ctx.b.pad(up, [0] * (3 + nd) + [0, 0, 0] + extra)
        return [up]
    if uniform:
        kern = np.full([c, 1] + kernel, 1.0 / div.flat[0], dtype=np.float32)
    else:
        g = ctx.b.mul(g, ctx.b.f32((1.0 / div).astype(np.float32), "avg_inv_count"))
        kern = np.ones([c, 1] + kernel, dtype=np.float32)
    gf = ctx.flat(g, yfeat)
    ct_pads, outpad = _transpose_conv_geometry(in_sp, out_sp, kernel, strides, dil, pads)
    kw = dict(kernel_shape=kernel, pads=ct_pads, dilations=dil, group=c, strides=strides)
    if any(outpad):
        kw["output_padding"] = outpad
    gx = ctx.b.op("ConvTranspose", [gf, ctx.b.f32(kern, "avg_kernel")], **kw)
    return [ctx.unflat(gx, xfeat)]


@rule("GlobalAveragePool")
def _gap(ctx, node, gy):
    x = node.input[0]
    sp = ctx.feat(x)[1:]
    return [ctx.b.mul(gy[0], ctx.b.f32(np.full(sp, 1.0 / np.prod(sp), np.float32), "gap"))]


@rule("GlobalMaxPool")
def _gmp(ctx, node, gy):
    x, y = node.input[0], node.output[0]
    nd = len(ctx.feat(x)) - 1
    eq = ctx.b.to_float(ctx.b.op("Equal", [x, y]))
    m = ctx.b.op("Div", [eq, ctx.b.reduce("ReduceSum", eq, list(range(2, 2 + nd)), 1)])
    return [ctx.b.mul(gy[0], ctx.kb(m))]
