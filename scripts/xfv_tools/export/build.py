"""The reverse-mode pass: activity analysis, reverse sweep, head (L2 normalisation) and reduction.

One forward pass is shared by all K cotangent rows: gradients carry layout [N, K, *feature_shape].
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import helper

from .emit import Builder
from .errors import BatchMixingError, ExportError, UnsupportedOpError
from .probe import Probe
from .rules import RULES

#: names of the gradient graph's interface
INPUT, COTANGENT, EMBEDDING, JACOBIAN = "x", "cotangent", "embedding", "jacobian"
REDUCTIONS = ("none", "absmean", "fggb")
#: ops whose outputs never carry a gradient (integer / boolean results)
NON_DIFFERENTIABLE = {
    "Shape", "Size", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "And", "Or",
    "Xor", "ArgMax", "ArgMin", "NonZero", "IsNaN", "IsInf", "ConstantOfShape", "Constant", "Range",
    "Sign", "Floor", "Ceil", "Round", "EyeLike", "RandomNormalLike", "RandomUniformLike",
}


class Context:
    """What a VJP rule may ask about the forward graph, and where it emits nodes."""

    def __init__(self, P: Probe, b: Builder, varied: set[str], active: set[str]):
        self.P, self.b = P, b
        self.varied, self.active = varied, active
        self.pending_scale: dict[str, str] = {}
        g = P.model.graph
        self.producers = {o: n for n in g.node for o in n.output if o}
        self.consumers: dict[str, list] = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.graph_outputs = {o.name for o in g.output}

    # -- facts -------------------------------------------------------------------------------
    def name(self, node) -> str:
        return node.name or (node.output[0] if node.output else node.op_type)

    def is_active(self, t: str | None) -> bool:
        return bool(t) and t in self.active

    def shape(self, t: str) -> tuple:
        return self.P.shape(t)

    def feat(self, t: str) -> list[int]:
        return [int(s) for s in self.P.shape(t)[1:]]

    def value(self, t: str) -> np.ndarray:
        if t in self.varied:
            raise ExportError(f"tensor {t!r} is needed as a constant but depends on the input")
        return self.P.values[t]

    def producer(self, t: str):
        return self.producers.get(t)

    def single_use(self, t: str) -> bool:
        return len(self.consumers.get(t, [])) == 1

    def is_used(self, t: str) -> bool:
        return bool(self.consumers.get(t)) or t in self.graph_outputs

    def is_graph_output(self, t: str) -> bool:
        return t in self.graph_outputs

    # -- layout helpers ------------------------------------------------------------------------
    def kb(self, t: str) -> str:
        """A batch-carrying forward tensor [N, *f] as [N, 1, *f] (broadcasts against gradients)."""
        return self.b.cached(("kb", t), lambda: self.b.unsqueeze(t, [1]))

    def kalign(self, t: str, y: str) -> str:
        """Operand t of an op with output y, aligned to broadcast against y's gradient [N,K,*fy]."""
        ry = len(self.shape(y))
        if t in self.varied:
            if len(self.shape(t)) != ry:
                raise BatchMixingError(f"operand {t!r} carries the batch but has rank "
                                       f"{len(self.shape(t))} != {ry}")
            return self.kb(t)
        shp = self.shape(t)
        if len(shp) < ry:
            return t
        if shp[0] != 1:
            raise BatchMixingError(f"constant operand {t!r} of shape {list(shp)} broadcasts along the batch")
        return self.b.cached(("kc", t), lambda: self.b.squeeze(t, [0]))

    def unbroadcast(self, g: str, x: str, y: str, matmul: bool = False) -> str:
        """Sum g [N,K,*ref] down to x's feature shape (keepdims), ref = y's feature shape."""
        xf, yf = self.feat(x), self.feat(y)
        if matmul:
            yf = yf[:-2] + xf[-2:]
        if len(xf) != len(yf):
            raise BatchMixingError(f"tensor {x!r} (rank {len(xf) + 1}) broadcasts against {y!r} "
                                   f"(rank {len(yf) + 1}): the batch axis would move")
        axes = [i + 2 for i, (a, r) in enumerate(zip(xf, yf)) if a == 1 and r != 1]
        if not axes:
            return g
        return self.ksum(g, axes, yf)

    def ksum(self, g: str, axes: list[int], feat) -> str:
        """ReduceSum (keepdims) of a gradient [N,K,*feat] over feature axes, with a summation order that
        does not depend on K: when the reduced axes are the trailing ones and their size is not a
        multiple of 16 floats, rows are zero-padded to one (row starts then stay SIMD-aligned)."""
        feat = [int(s) for s in feat]
        rank = len(feat) + 2
        n = int(np.prod([feat[a - 2] for a in axes]))
        if n % 16 == 0 or axes != list(range(rank - len(axes), rank)):
            return self.b.reduce("ReduceSum", g, axes, 1)
        keep = feat[:len(feat) - len(axes)]
        flat = self.b.reshape(g, [0, 0, *keep, n])
        flat = self.b.pad(flat, [0] * (len(keep) + 3) + [0] * (len(keep) + 2) + [(-n) % 16])
        red = self.b.reduce("ReduceSum", flat, [len(keep) + 2], 1)
        return self.b.reshape(red, [0, 0, *keep, *([1] * len(axes))])

    def kdim(self) -> str:
        def make():
            if self.b.opset >= 15:
                return self.b.op("Shape", [COTANGENT], start=0, end=1)
            return self.b.slice(self.b.op("Shape", [COTANGENT]), [0], [1], [0])
        return self.b.cached(("kdim",), make)

    def flat(self, g: str, feat) -> str:
        """[N, K, *feat] -> [N*K, *feat] (convolutions see N*K images)."""
        return self.b.reshape(g, [-1, *feat])

    def unflat(self, g: str, feat) -> str:
        """[N*K, *feat] -> [N, K, *feat]."""
        feat = [int(s) for s in feat]
        shape = self.b.cached(("unflat", tuple(feat)), lambda: self.b.op(
            "Concat", [self.b.i64([-1]), self.kdim(), self.b.i64(feat)], axis=0))
        return self.b.reshape(g, shape)

    def zeros(self, feat) -> str:
        nk = self.b.cached(("nk",), lambda: self.b.op(
            "Concat", [self.b.slice(self.b.op("Shape", [INPUT]), [0], [1], [0]), self.kdim()], axis=0))
        shape = self.b.op("Concat", [nk, self.b.i64(feat)], axis=0)
        return self.b.op("ConstantOfShape", [shape], value=helper.make_tensor("z", onnx.TensorProto.FLOAT,
                                                                              [1], [0.0]))

    def weight_transform(self, key: tuple, make) -> str:
        """A transform of constant weights, emitted once (ORT folds it at session start)."""
        return self.b.cached(("w",) + key, make)


def rename_tensors(P: Probe, mapping: dict[str, str]) -> None:
    """Rename tensors of the probed forward graph in place (and in the probe's tables)."""
    if not mapping:
        return
    g = P.model.graph
    for n in g.node:
        for i, t in enumerate(n.input):
            if t in mapping:
                n.input[i] = mapping[t]
        for i, t in enumerate(n.output):
            if t in mapping:
                n.output[i] = mapping[t]
    for coll in (g.input, g.output, g.value_info):
        for vi in coll:
            if vi.name in mapping:
                vi.name = mapping[vi.name]
    for t in g.initializer:
        if t.name in mapping:
            t.name = mapping[t.name]
    P.values = {mapping.get(k, k): v for k, v in P.values.items()}
    P.shapes2 = {mapping.get(k, k): v for k, v in P.shapes2.items()}
    P.input_name = mapping.get(P.input_name, P.input_name)
    P.output_name = mapping.get(P.output_name, P.output_name)


def _prepare_names(P: Probe) -> None:
    g = P.model.graph
    taken = {t for n in g.node for t in list(n.input) + list(n.output)} | {t.name for t in g.initializer}
    mapping = {}
    for reserved in (INPUT, COTANGENT, EMBEDDING, JACOBIAN):
        if reserved in taken and reserved != P.input_name:
            new = reserved + "_src"
            while new in taken:
                new += "_"
            mapping[reserved] = new
    rename_tensors(P, mapping)
    if P.input_name != INPUT:
        rename_tensors(P, {P.input_name: INPUT})


def activity(P: Probe) -> tuple[set[str], set[str]]:
    """(varied, active): tensors depending on the input; float tensors also on a path to the output."""
    g = P.model.graph
    varied = {P.input_name}
    for n in g.node:
        if any(i in varied for i in n.input if i):
            varied.update(o for o in n.output if o)
    useful = {P.output_name}
    for n in reversed(g.node):
        if n.op_type in NON_DIFFERENTIABLE:
            continue
        if any(o in useful for o in n.output):
            useful.update(i for i in n.input if i)
    active = {t for t in varied & useful
              if t in P.values and P.values[t].dtype == np.float32}
    return varied, active


def check_batch(P: Probe, active: set[str], producers) -> None:
    for t in active:
        s1 = P.shape(t)
        s2 = P.shapes2.get(t) if P.shapes2 else None
        ok = len(s1) >= 1 and s1[0] == 1 and (s2 is None or (s2[0] == 2 and tuple(s2[1:]) == tuple(s1[1:])))
        if not ok:
            node = producers.get(t)
            where = f" (output of {node.op_type} node {node.name or node.output[0]!r})" if node is not None else ""
            raise BatchMixingError(
                f"tensor {t!r}{where} does not keep the batch on axis 0: shape {list(s1)} at N=1, "
                f"{list(s2) if s2 else '?'} at N=2")


def build(P: Probe, reduce: str = "none", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """The gradient-augmented model for a probed forward model."""
    if reduce not in REDUCTIONS:
        raise ExportError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    P = copy.copy(P)
    P.model = copy.deepcopy(P.model)
    _prepare_names(P)
    g = P.model.graph
    b = Builder(P.opset)
    varied, active = activity(P)
    if P.output_name not in active:
        raise ExportError("the embedding does not depend on the input")
    ctx = Context(P, b, varied, active)
    check_batch(P, active, ctx.producers)

    # -- head: e = f / ||f||; its VJP for cotangent c [K,D]: (c - <c,e> e) / ||f||  -> [N,K,D]
    f = P.output_name
    norm = b.op("Sqrt", [b.reduce("ReduceSumSquare", f, [1], 1)], hint="norm")
    b.nodes.append(helper.make_node("Div", [f, norm], [EMBEDDING], name="xfv_embedding"))
    # <c_k, e_n> as Mul + ReduceSum over rows padded to a multiple of 16 floats: every row then starts
    # SIMD-aligned whatever K is, so chunked K gives bit-identical rows (a GEMM / GEMV here, or rows of
    # odd length, change the summation order with K)
    e_k = b.unsqueeze(EMBEDDING, [1])                                                 # [N,1,D]
    pad = (-P.dim) % 16
    e_p = b.pad(e_k, [0, 0, 0, 0, 0, pad]) if pad else e_k
    c_p = b.pad(COTANGENT, [0, 0, 0, pad]) if pad else COTANGENT
    ce = b.reduce("ReduceSum", b.mul(e_p, c_p), [2], 1)                               # [N,K,1]
    proj = b.mul(ce, e_k)                                                             # [N,K,D]
    g_f = b.op("Div", [b.op("Sub", [COTANGENT, proj]), b.unsqueeze(norm, [1])], hint="g_embedding")

    # -- reverse sweep
    grads: dict[str, list[str]] = {f: [g_f]}
    for node in reversed(list(g.node)):
        outs = [o for o in node.output if o in active]
        if not outs:
            continue
        if not any(i in active for i in node.input):
            continue
        gy = []
        for o in node.output:
            terms = grads.pop(o, None)
            gy.append(b.sum(terms) if terms else None)
        if all(t is None for t in gy):
            continue
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(node.op_type, ctx.name(node), f"custom domain {node.domain!r}")
        fn = RULES.get(node.op_type)
        if fn is None:
            raise UnsupportedOpError(node.op_type, ctx.name(node))
        gx = fn(ctx, node, gy)
        for i, gi in zip(node.input, gx):
            if gi is not None and i in active:
                grads.setdefault(i, []).append(gi)
    if INPUT not in grads:
        raise ExportError("no gradient reaches the input")
    gx = b.sum(grads[INPUT])                                          # [N,K,3,H,W]

    # -- reduction
    if reduce == "none":
        b.nodes.append(helper.make_node("Identity", [gx], [JACOBIAN], name="xfv_jacobian"))
    else:
        am = b.reduce("ReduceMean", b.op("Abs", [gx]), [2], 0)          # [N,K,H,W]
        if reduce == "absmean":
            b.nodes.append(helper.make_node("Identity", [am], [JACOBIAN], name="xfv_jacobian"))
        else:
            hw = P.height * P.width
            if hw % 16:   # rows of a multiple of 16 floats: K-invariant summation order (see above)
                flat = b.pad(b.reshape(am, [0, 0, hw]), [0, 0, 0, 0, 0, (-hw) % 16])
                nrm = b.unsqueeze(b.reduce("ReduceL2", flat, [2], 1), [3])
            else:
                nrm = b.reduce("ReduceL2", am, [2, 3], 1)
            nrm = b.add(nrm, b.f32(1e-8))
            b.nodes.append(helper.make_node("Div", [am, nrm], [JACOBIAN], name="xfv_jacobian"))

    # -- assemble
    nb = "N" if P.dynamic_batch else 1
    H, W, D = P.height, P.width, P.dim
    jshape = [nb, "K", 3, H, W] if reduce == "none" else [nb, "K", H, W]
    graph = helper.make_graph(
        list(g.node) + b.nodes,
        (g.name or "xfv") + "_grad",
        [helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, [nb, 3, H, W]),
         helper.make_tensor_value_info(COTANGENT, onnx.TensorProto.FLOAT, ["K", D])],
        [helper.make_tensor_value_info(EMBEDDING, onnx.TensorProto.FLOAT, [nb, D]),
         helper.make_tensor_value_info(JACOBIAN, onnx.TensorProto.FLOAT, jshape)],
        initializer=list(g.initializer) + b.initializers,
    )
    opsets = [helper.make_opsetid("", P.opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="xfv-export",
                              producer_version="1")
    model.ir_version = min(P.model.ir_version or 8, 10) if P.model.ir_version >= 7 else 8
    for k, v in (metadata or {}).items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    return model
