"""fp16 gradient graphs: `xfv-export ... --fp16`.

A post-pass over the fp32 gradient graph made by `build()`; the interface does not change.

- `x`, `cotangent`, `embedding` and `jacobian` stay **float32** (no caller changes; the reduced maps
  are made in fp32 anyway, and fp32 `x` keeps the pixel scaling exact). Metadata `xfv.precision`
  is "fp16" (fp32 graphs may omit it: readers default to "fp32").
- Every float tensor of the reverse sweep that carries the K cotangent rows (`[N,K,...]`) is float16,
  as are the weights its convolutions use (fp16 copies beside the fp32 originals the forward uses:
  the file grows by about half). This is K times the forward's work, so nearly all of it.
- The model's forward pass and the per-image derivative factors of the sweep (ReLU/PReLU masks,
  slopes, MaxPool tap comparisons) stay fp32 and are cast once where they meet the gradient.
  Measured on CPU: an fp16 forward flips masks near 0 (MobileFaceNet per-map cosine 0.9956 vs the
  fp32 maps); this split gives >= 0.9999.
- fp32 islands: the embedding head (`f / ||f||`, `<c, e>`, the head VJP `(c - <c,e> e)/||f||`),
  the reduction (`Abs`, channel mean, FGGB's L2 normalisation, eps 1e-8 would be 0 in fp16) and every
  input-independent computation (shape arithmetic, folded weights: cast once, ORT folds the cast).
- Cotangent scaling: 77 % of Jacobian entries lie below fp16's smallest normal (6.1e-5), so the head
  VJP is multiplied by 2^k before the cast to fp16 and the input gradient divided by 2^k after the
  cast back to fp32 (before `Abs`). k = 10 by default; 8..12 allowed (`--cotangent-scale-log2`),
  recorded as metadata `xfv.cotangent_scale` (the factor, e.g. "1024"). Larger k risks overflow
  (fp16 max 65504) in layers with large gradient gain; smaller k flushes more entries.
On the CPU EP, ONNX Runtime has fp16 kernels for few ops and inserts casts around the others: the
numbers show fp16 storage (rounding, flushing) but not fp16 arithmetic, and it is slower. GPUs run
it natively.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .build import COTANGENT, EMBEDDING, INPUT, JACOBIAN
from .errors import ExportError

DEFAULT_SCALE_LOG2 = 10
SCALE_LOG2_RANGE = range(8, 13)
FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16)
#: (op, input index) that must stay float32 whatever the node's precision
KEEP_FP32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    g = model.graph
    types = {}
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=False)
    for vi in list(inferred.graph.value_info) + list(g.input) + list(g.output):
        if vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    for n in g.node:   # outputs shape inference left untyped: same type as the first input
        for o in n.output:
            if o and o not in types:
                if n.op_type == "Cast":
                    types[o] = helper.get_attribute_value(next(a for a in n.attribute if a.name == "to"))
                elif n.input and n.input[0] in types:
                    types[o] = types[n.input[0]]
    return types


def _ancestors(targets: set[str], producers: dict) -> set[int]:
    """Indices of nodes the targets depend on."""
    seen, out, stack = set(), set(), list(targets)
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        idx = producers.get(t)
        if idx is not None and idx not in out:
            out.add(idx)
            stack.extend(i for i in producers["__nodes__"][idx].input if i)
    return out


def _descendants(sources: set[str], nodes) -> set[int]:
    live, out = set(sources), set()
    for i, n in enumerate(nodes):
        if any(t in live for t in n.input):
            out.add(i)
            live.update(o for o in n.output if o)
    return out


def to_fp16(model: onnx.ModelProto, scale_log2: int = DEFAULT_SCALE_LOG2) -> onnx.ModelProto:
    """The fp16 form of a gradient graph made by `build()` (see the module docstring)."""
    if scale_log2 not in SCALE_LOG2_RANGE:
        raise ExportError(f"the cotangent scale must be 2^8..2^12, got 2^{scale_log2}")
    md = {p.key: p.value for p in model.metadata_props}
    if md.get("xfv.precision", "fp32") != "fp32":
        raise ExportError("the graph is already fp16")
    reduce = md.get("xfv.reduce", "none")
    types = _elem_types(model)
    g = model.graph
    nodes = list(g.node)
    producers = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    producers["__nodes__"] = nodes
    by_name = {n.name: n for n in nodes}

    # -- the interface points: raw output f, head VJP g_f, input gradient gx
    emb = by_name.get("xfv_embedding")
    jac = by_name.get("xfv_jacobian")
    g_f = [o for n in nodes for o in n.output if o.endswith("_g_embedding")]
    if emb is None or jac is None or len(g_f) != 1:
        raise ExportError("not a gradient graph made by xfv-export (head/reduction nodes not found)")
    g_f = g_f[0]
    f = emb.input[0]
    if reduce == "none":
        gx = jac.input[0]
    else:
        rm = nodes[producers[jac.input[0]]]            # ReduceMean over channels
        ab = nodes[producers[rm.input[0]]]             # Abs
        if rm.op_type != "ReduceMean" or ab.op_type != "Abs":
            raise ExportError("unexpected reduction layout in the gradient graph")
        gx = ab.input[0]

    forward = _ancestors({f}, producers)   # the model's own forward pass (to the raw output f)
    head = (_ancestors({g_f, EMBEDDING}, producers) - forward)
    tail = _descendants({gx}, nodes)
    # fp16: what carries the K cotangent rows (K times the work of the forward). The forward and
    # the per-image derivative factors of the sweep (masks, slopes, MaxPool tap comparisons) stay
    # fp32 and are cast once where they meet the gradient: measured, an fp16 forward flips ReLU/PReLU
    # masks near 0 (MobileFaceNet: per-map cosine 0.9956), and tap-equality masks compared across
    # differently rounded copies break outright.
    half = _descendants({COTANGENT}, nodes) - head - tail

    # -- rewrite
    inits = {i.name: i for i in g.initializer}
    new_inits: list[onnx.TensorProto] = []
    scale = float(2 ** scale_log2)
    s_up = "xfv_fp16/cotangent_scale"
    s_down = "xfv_fp16/cotangent_unscale"
    new_inits += [numpy_helper.from_array(np.float32(scale), s_up),
                  numpy_helper.from_array(np.float32(1.0 / scale), s_down)]
    g_f_scaled = g_f + "_x2k"
    gx_unscaled = gx + "_unscaled"
    out_type: dict[str, int] = {}     # new elem type of each float tensor
    for name, t in types.items():
        if t in FLOATS:
            out_type[name] = TensorProto.FLOAT
    casts: dict[tuple[str, int], str] = {}
    fp16_copies: dict[str, str] = {}
    out_nodes: list[onnx.NodeProto] = []

    def as_type(t: str, want: int) -> str:
        if out_type.get(t, want) == want:
            return t
        if t in inits and want == TensorProto.FLOAT16:
            if t not in fp16_copies:
                arr = numpy_helper.to_array(inits[t]).astype("float16")
                name = t + "_fp16"
                new_inits.append(numpy_helper.from_array(arr, name))
                fp16_copies[t] = name
                out_type[name] = TensorProto.FLOAT16
            return fp16_copies[t]
        key = (t, want)
        if key not in casts:
            name = f"{t}_as{'16' if want == TensorProto.FLOAT16 else '32'}"
            out_nodes.append(helper.make_node("Cast", [t], [name], to=want, name="xfv_fp16/cast_" + name))
            out_type[name] = want
            casts[key] = name
        return casts[key]

    for i, n in enumerate(nodes):
        want = TensorProto.FLOAT16 if i in half else TensorProto.FLOAT
        n = onnx.NodeProto.FromString(n.SerializeToString())
        for j, t in enumerate(n.input):
            if not t or types.get(t) not in FLOATS or (n.op_type, j) in KEEP_FP32_INPUTS:
                continue
            if i in half and t == g_f:
                t = g_f_scaled
            if i in tail and t == gx:
                t = gx_unscaled
            n.input[j] = as_type(t, want)
        if i in half:
            for a in n.attribute:
                if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype("float16"), a.t.name))
        out_nodes.append(n)
        for o in n.output:
            if o in out_type:
                out_type[o] = want
        if g_f in n.output:   # scale the head VJP (fp32) before it meets the fp16 sweep
            out_nodes.append(helper.make_node("Mul", [g_f, s_up], [g_f_scaled], name="xfv_fp16/scale_cotangent"))
            out_type[g_f_scaled] = TensorProto.FLOAT
        if gx in n.output or (gx == INPUT and i == 0):
            gx32 = as_type(gx, TensorProto.FLOAT)
            out_nodes.append(helper.make_node("Mul", [gx32, s_down], [gx_unscaled], name="xfv_fp16/unscale"))
            out_type[gx_unscaled] = TensorProto.FLOAT

    graph = helper.make_graph(out_nodes, g.name, list(g.input), list(g.output),
                              initializer=list(g.initializer) + new_inits)
    out = helper.make_model(graph, opset_imports=list(model.opset_import),
                            producer_name=model.producer_name, producer_version=model.producer_version)
    out.ir_version = model.ir_version
    for k, v in md.items():
        e = out.metadata_props.add()
        e.key, e.value = k, v
    for k, v in (("xfv.precision", "fp16"), ("xfv.cotangent_scale", str(int(scale)))):
        e = out.metadata_props.add()
        e.key, e.value = k, v
    for o in (EMBEDDING, JACOBIAN):
        if out_type.get(o) != TensorProto.FLOAT:
            raise ExportError(f"internal: output {o} is not float32 after the fp16 pass")
    onnx.checker.check_model(out)
    return out
