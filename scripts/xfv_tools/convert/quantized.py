"""Turn an int8 block-quantised OpenCV Zoo ONNX graph (SFace, YuNet) into a plain fp32 graph.

The vendor files store every weight as ``DequantizeLinear(q, scale, zero_point, axis, block_size)``
(opset 21), usually followed by a ``Reshape`` back to the conv kernel shape. SFace also lists stale
weight names as graph inputs, so onnxruntime refuses it as shipped. This module:

1. constant-folds each DequantizeLinear (+ Reshape) of initializers into one float32 initializer,
   computed exactly as the runtime does: ``float32(q - zp) * scale`` (one float32 rounding);
2. removes Dropout (inference: identity) and the constants only it used;
3. folds BatchNormalization into the preceding Conv, into the following Gemm
   (BN -> Flatten -> Gemm) and into the preceding Gemm (Gemm -> BN), in float64, rounded once;
4. drops graph inputs that are initializers or that nothing reads;
5. makes the batch axis symbolic (input and output dim 0 named ``batch_dim``; ``Reshape`` targets
   of the form ``[1, -1, k]`` become ``[0, -1, k]``, i.e. "copy the batch");
6. writes opset 17 (IR 8), no com.microsoft ops, checked by ``onnx.checker`` (full check),
   serialised deterministically so the same input gives the same sha256.

The folded graph is not bit-identical to the quantised one (BN folding reorders float operations):
``reference_diff`` measures the difference against onnxruntime on the original graph; the tests
record it and the model cards quote it.

    python -m xfv_tools.convert.quantized SRC.onnx DST.onnx [--batch-dim N]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: opset written into the converted graph (TensorRT 10 parses it; every op below has the same
#: semantics here as in the vendor's opset 21 for the attributes these graphs use).
TARGET_OPSET = 17
TARGET_IR_VERSION = 8
#: op types allowed in the output; anything else is an error (the opset relabel is only checked
#: for these).
ALLOWED_OPS = frozenset(
    {
        "Add", "Conv", "Flatten", "Gemm", "MaxPool", "Mul", "PRelu", "Relu", "Reshape",
        "Resize", "Sigmoid", "Sub", "Transpose",
    }
)
PRODUCER = "xfv_tools.convert.quantized"


class ConversionError(RuntimeError):
    """The graph holds something this converter does not know how to fold faithfully."""


# --------------------------------------------------------------------------------------------
# Small graph helpers over (nodes, consts): nodes are NodeProto, consts name -> np.ndarray.


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _consumers(nodes: Sequence[onnx.NodeProto]) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = collections.defaultdict(list)
    for n in nodes:
        for i in n.input:
            if i:
                out[i].append(n)
    return out


def _dequantize(q: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    """DequantizeLinear-21 on constants: y = float32(q - zp) * scale, per tensor, axis or block."""
    qi = q.astype(np.int32)
    zi = np.zeros_like(scale, dtype=np.int32) if zp is None else zp.astype(np.int32)
    scale = scale.astype(np.float32)
    if scale.ndim == 0:  # per tensor
        s, z = scale, zi.reshape(())
    elif block and block > 0:
        axis = axis % q.ndim
        # each scale entry covers `block` consecutive elements along `axis` (the last may be short)
        s = np.repeat(scale, block, axis=axis)
        z = np.repeat(zi, block, axis=axis)
        index = [slice(None)] * q.ndim
        index[axis] = slice(0, q.shape[axis])
        s, z = s[tuple(index)], z[tuple(index)]
        if s.shape != q.shape:
            raise ConversionError(f"block scales {scale.shape} do not cover {q.shape} (block {block})")
    else:
        axis = axis % q.ndim
        shape = [1] * q.ndim
        shape[axis] = -1
        s, z = scale.reshape(shape), zi.reshape(shape)
    return ((qi - z).astype(np.float32) * s).astype(np.float32)


def _fold_dequantize(nodes: list, consts: dict) -> list:
    """Replace DequantizeLinear (+ Reshape by a constant shape) of constants by float32 constants."""
    consumers = _consumers(nodes)
    renamed: dict[str, str] = {}  # old tensor name -> new constant name
    dropped: set[int] = set()
    for n in nodes:
        if n.op_type != "DequantizeLinear":
            continue
        if not all(i in consts for i in n.input if i):
            raise ConversionError(f"DequantizeLinear {n.name or n.output[0]} of a non-constant input")
        a = _attrs(n)
        q = consts[n.input[0]]
        scale = consts[n.input[1]]
        zp = consts[n.input[2]] if len(n.input) > 2 and n.input[2] else None
        value = _dequantize(q, scale, zp, a.get("axis", 1), a.get("block_size", 0))
        out = n.output[0]
        dropped.add(id(n))
        # readable name: the quantised initializer's name without its suffix
        base = n.input[0][: -len("_quantized")] if n.input[0].endswith("_quantized") else out
        users = consumers[out]
        if (
            len(users) == 1
            and users[0].op_type == "Reshape"
            and users[0].input[0] == out
            and users[0].input[1] in consts
        ):
            r = users[0]
            target = [int(d) for d in consts[r.input[1]]]
            if _attrs(r).get("allowzero", 0) == 0:
                target = [value.shape[k] if d == 0 else d for k, d in enumerate(target)]
            value = value.reshape(target)
            dropped.add(id(r))
            old = r.output[0]
        else:
            old = out
        if base in consts or base in renamed.values():
            base = old
        consts[base] = value
        renamed[old] = base
    kept = [n for n in nodes if id(n) not in dropped]
    for n in kept:
        for k, i in enumerate(n.input):
            if i in renamed:
                n.input[k] = renamed[i]
    return kept


def _rewire(nodes: list, old: str, new: str, graph_outputs: set[str]) -> None:
    if old in graph_outputs:
        raise ConversionError(f"cannot bypass graph output {old}")
    for n in nodes:
        for k, i in enumerate(n.input):
            if i == old:
                n.input[k] = new


def _remove_dropout(nodes: list, graph_outputs: set[str]) -> list:
    kept = []
    for n in nodes:
        if n.op_type == "Dropout":
            if len(n.output) > 1 and n.output[1]:
                raise ConversionError("Dropout mask output is used")
            _rewire(nodes, n.output[0], n.input[0], graph_outputs)
        else:
            kept.append(n)
    return kept


def _constant_nodes_to_consts(nodes: list, consts: dict) -> list:
    kept = []
    for n in nodes:
        if n.op_type == "Constant":
            a = n.attribute[0]
            if a.name != "value":
                raise ConversionError(f"Constant with attribute {a.name}")
            consts[n.output[0]] = numpy_helper.to_array(a.t)
        else:
            kept.append(n)
    return kept


def _bn_scale_shift(n: onnx.NodeProto, consts: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """BatchNormalization (inference) as y = x * s + t, in float64; None if not constant."""
    if len(n.output) > 1 and any(n.output[1:]):
        return None
    if not all(i in consts for i in n.input[1:5]):
        return None
    gamma, beta, mean, var = (consts[i].astype(np.float64) for i in n.input[1:5])
    eps = float(np.float32(_attrs(n).get("epsilon", 1e-5)))
    s = gamma / np.sqrt(var + eps)
    return s, beta - mean * s


def _fold_batchnorm(nodes: list, consts: dict, graph_outputs: set[str]) -> tuple[list, int]:
    """Fold BN into Conv (before), Gemm (after, through Flatten) and Gemm (before). Returns count."""
    folded = 0
    changed = True
    while changed:
        changed = False
        consumers = _consumers(nodes)
        producer = {o: n for n in nodes for o in n.output}
        for bn in nodes:
            if bn.op_type != "BatchNormalization":
                continue
            st = _bn_scale_shift(bn, consts)
            if st is None:
                continue
            s, t = st
            x = bn.input[0]
            prev = producer.get(x)
            # Conv -> BN: W' = W * s (per output channel), b' = b * s + t
            if (
                prev is not None
                and prev.op_type in ("Conv", "Gemm")
                and len(consumers[x]) == 1
                and x not in graph_outputs
                and prev.input[1] in consts
                and len(consumers[prev.input[1]]) == 1
                and (len(prev.input) < 3 or not prev.input[2] or prev.input[2] in consts)
            ):
                w = consts[prev.input[1]].astype(np.float64)
                has_b = len(prev.input) > 2 and bool(prev.input[2])
                b = consts[prev.input[2]].astype(np.float64) if has_b else np.zeros(w.shape[0])
                if prev.op_type == "Conv":
                    if w.shape[0] != s.shape[0]:
                        continue
                    w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
                else:
                    a = _attrs(prev)
                    if a.get("transB", 0) != 1 or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                        continue
                    if w.shape[0] != s.shape[0] or b.shape not in ((w.shape[0],), ()):
                        continue
                    w = w * s[:, None]
                b = b * s + t
                wname = prev.input[1]
                bname = prev.input[2] if has_b else prev.output[0] + "_bias"
                consts[wname] = w.astype(np.float32)
                consts[bname] = b.astype(np.float32)
                if not has_b:
                    while len(prev.input) < 3:
                        prev.input.append("")
                    prev.input[2] = bname
                prev.output[0] = bn.output[0]
                nodes.remove(bn)
                folded += 1
                changed = True
                break
            # BN -> Flatten -> Gemm: x' = x * s + t per channel, so Gemm(x') = x (W*s)^T + (b + W t)
            users = consumers[bn.output[0]]
            if len(users) == 1 and users[0].op_type == "Flatten" and bn.output[0] not in graph_outputs:
                fl = users[0]
                gemms = consumers[fl.output[0]]
                if (
                    _attrs(fl).get("axis", 1) == 1
                    and len(gemms) == 1
                    and gemms[0].op_type == "Gemm"
                    and gemms[0].input[0] == fl.output[0]
                    and fl.output[0] not in graph_outputs
                    and gemms[0].input[1] in consts
                    and len(consumers[gemms[0].input[1]]) == 1
                ):
                    g = gemms[0]
                    a = _attrs(g)
                    if a.get("transA", 0) != 0 or a.get("transB", 0) != 1 or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                        continue
                    w = consts[g.input[1]].astype(np.float64)
                    k = w.shape[1]
                    if k % s.shape[0]:
                        continue
                    per = k // s.shape[0]  # Flatten keeps channel-major order: C x (H*W)
                    sf, tf = np.repeat(s, per), np.repeat(t, per)
                    has_b = len(g.input) > 2 and bool(g.input[2])
                    b = consts[g.input[2]].astype(np.float64) if has_b else np.zeros(w.shape[0])
                    consts[g.input[1]] = (w * sf[None, :]).astype(np.float32)
                    bname = g.input[2] if has_b else g.output[0] + "_bias"
                    consts[bname] = (b + w @ tf).astype(np.float32)
                    if not has_b:
                        while len(g.input) < 3:
                            g.input.append("")
                        g.input[2] = bname
                    fl.input[0] = x
                    nodes.remove(bn)
                    folded += 1
                    changed = True
                    break
    return nodes, folded


def _symbolic_batch(model_inputs: list, model_outputs: list, nodes: list, consts: dict, batch_dim: str) -> bool:
    """Name dim 0 of every input/output `batch_dim`; Reshape [1,-1,...] -> [0,-1,...]."""
    for vi in list(model_inputs) + list(model_outputs):
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = batch_dim
    changed = False
    for n in nodes:
        if n.op_type == "Reshape" and n.input[1] in consts:
            shape = consts[n.input[1]]
            if shape.ndim == 1 and shape.size >= 2 and shape[0] == 1 and -1 in shape[1:]:
                if _attrs(n).get("allowzero", 0) != 0:
                    raise ConversionError("Reshape with allowzero=1 and a fixed batch of 1")
                new = shape.copy()
                new[0] = 0
                name = n.input[1] + "_batch"
                consts[name] = new
                n.input[1] = name
                changed = True
    return changed


# --------------------------------------------------------------------------------------------


def _real_inputs(graph: onnx.GraphProto) -> list:
    """Graph inputs that are neither initializers nor unused (the stale ones the vendor left)."""
    init = {i.name for i in graph.initializer}
    used = {i for n in graph.node for i in n.input}
    return [vi for vi in graph.input if vi.name not in init and vi.name in used]


def runnable_original(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy of the vendor graph that onnxruntime accepts, with the same arithmetic.

    Two accommodations, nothing else: (1) graph inputs are only the real ones (SFace lists stale
    weight names as inputs); (2) a DequantizeLinear whose scale is a 1-element 1-D tensor loses its
    `block_size` (YuNet's biases: one block covering the whole vector). onnxruntime takes such a
    scale as per-tensor and then refuses a block size; per-tensor and one-block dequantisation are
    the same numbers.
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [onnx.ValueInfoProto.FromString(vi.SerializeToString()) for vi in _real_inputs(m.graph)]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    inits = {t.name: t for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[1] in inits:
            dims = list(inits[n.input[1]].dims)
            if len(dims) == 1 and dims[0] == 1:
                kept = [a for a in n.attribute if a.name != "block_size"]
                del n.attribute[:]
                n.attribute.extend(kept)
    return m


def convert_model(src_model: onnx.ModelProto, *, batch_dim: str = "N") -> tuple[onnx.ModelProto, dict]:
    """In-memory conversion; see the module docstring. Returns (model, report)."""
    g = src_model.graph
    if any(o.domain not in ("", "ai.onnx") for o in src_model.opset_import):
        raise ConversionError("graph imports a non-default domain")
    ops_before = collections.Counter(n.op_type for n in g.node)
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in g.node]
    graph_outputs = {o.name for o in g.output}

    nodes = _fold_dequantize(nodes, consts)
    nodes = _constant_nodes_to_consts(nodes, consts)
    nodes = _remove_dropout(nodes, graph_outputs)
    nodes, bn_folded = _fold_batchnorm(nodes, consts, graph_outputs)

    inputs = [onnx.ValueInfoProto.FromString(vi.SerializeToString()) for vi in _real_inputs(g)]
    outputs = [onnx.ValueInfoProto.FromString(vi.SerializeToString()) for vi in g.output]
    reshapes_batched = _symbolic_batch(inputs, outputs, nodes, consts, batch_dim) if batch_dim else False

    for n in nodes:
        if n.domain not in ("", "ai.onnx"):
            raise ConversionError(f"op {n.domain}::{n.op_type} left in graph")
        if n.op_type not in ALLOWED_OPS:
            raise ConversionError(f"op {n.op_type} left in graph (not in ALLOWED_OPS)")
        if n.op_type == "Resize" and (_attrs(n).get("antialias", 0) or "axes" in _attrs(n)):
            raise ConversionError("Resize attributes newer than opset 17")

    # initializers in order of first use: deterministic and readable
    order: list[str] = []
    seen: set[str] = set()
    for n in nodes:
        for i in n.input:
            if i in consts and i not in seen:
                seen.add(i)
                order.append(i)
    initializers = []
    for name in order:
        v = consts[name]
        if v.dtype == np.float64:
            v = v.astype(np.float32)
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(v), name))

    for n in nodes:
        n.doc_string = ""
    graph = helper.make_graph(nodes, g.name or "main", inputs, outputs, initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", TARGET_OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
        ir_version=TARGET_IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)

    ops_after = collections.Counter(n.op_type for n in nodes)
    report = {
        "ops_before": dict(sorted(ops_before.items())),
        "ops_after": dict(sorted(ops_after.items())),
        "batchnorm_folded": bn_folded,
        "reshape_batch_made_symbolic": reshapes_batched,
        "opset": TARGET_OPSET,
        "parameters": int(sum(int(np.prod(t.dims)) for t in initializers)),
    }
    return model, report


def serialize(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString(deterministic=True)


def convert(src: Path, dst: Path, *, batch_dim: str = "N") -> dict:
    """Convert `src` (block-quantised ONNX) into `dst` (plain fp32 ONNX). Returns a report dict."""
    src, dst = Path(src), Path(dst)
    raw = src.read_bytes()
    model, report = convert_model(onnx.load_from_string(raw), batch_dim=batch_dim)
    data = serialize(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dst)
    report.update(
        src=str(src),
        dst=str(dst),
        src_bytes=len(raw),
        dst_bytes=len(data),
        src_sha256=hashlib.sha256(raw).hexdigest(),
        dst_sha256=hashlib.sha256(data).hexdigest(),
    )
    return report


def _session(model_bytes: bytes, optimize: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # reproducible reductions
    so.log_severity_level = 3
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def reference_diff(src: Path, dst: Path, inputs, *, optimize: bool = True) -> float:
    """Max |converted - original| over all outputs, both run by onnxruntime (CPU, one thread).

    The original is the vendor's quantised graph made runnable by `runnable_original` (in memory).
    `inputs`: an array for the single input, or a mapping name -> array. Each array is a batch;
    the original (fixed batch 1) is run one row at a time, the converted graph on the whole batch.
    `optimize=False` turns onnxruntime's graph optimisations off on both sides: then only the
    converter's own arithmetic differs (YuNet: 0 exactly; SFace: the BN folding, ~3e-6). With them
    on, onnxruntime lays out and fuses the converted graph's constant weights differently from
    the original's runtime-dequantised ones, which adds float reordering of its own.
    """
    ref = _session(serialize(runnable_original(onnx.load(str(src)))), optimize)
    new = _session(Path(dst).read_bytes(), optimize)
    if not isinstance(inputs, Mapping):
        inputs = {ref.get_inputs()[0].name: inputs}
    inputs = {k: np.asarray(v, dtype=np.float32) for k, v in inputs.items()}
    n = next(iter(inputs.values())).shape[0]
    ref_rows = [ref.run(None, {k: v[i : i + 1] for k, v in inputs.items()}) for i in range(n)]
    ref_out = [np.concatenate([r[j] for r in ref_rows], axis=0) for j in range(len(ref_rows[0]))]
    new_out = new.run([o.name for o in ref.get_outputs()], inputs)
    return float(max(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))) for a, b in zip(ref_out, new_out)))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--batch-dim", default="N", help="name of the symbolic batch axis ('' keeps it fixed)")
    args = p.parse_args(argv)
    report = convert(args.src, args.dst, batch_dim=args.batch_dim)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
