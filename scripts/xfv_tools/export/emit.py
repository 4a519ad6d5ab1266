"""Node emission for the backward graph: unique names, deduplicated constants, opset-aware helpers.

Every helper emits ops valid for the forward model's opset (11..20): axes go in as initializers
where the opset takes them as inputs, as attributes where it does not.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

INT64_MIN = -(2 ** 63)


class Builder:
    def __init__(self, opset: int, prefix: str = "xfv_g"):
        self.opset = opset
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._const: dict[tuple, str] = {}
        self._count = 0
        self._cache: dict[tuple, str] = {}

    # -- names and constants -------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._count += 1
        hint = "".join(ch if ch.isalnum() or ch in "_." else "_" for ch in hint)[-40:]
        return f"{self.prefix}/{self._count}_{hint}"

    def const(self, value, dtype=np.float32, hint: str = "c") -> str:
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key in self._const:
            return self._const[key]
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        self._const[key] = name
        return name

    def i64(self, values, hint: str = "i") -> str:
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), np.int64, hint)

    def f32(self, value, hint: str = "f") -> str:
        return self.const(value, np.float32, hint)

    # -- raw node ------------------------------------------------------------------------------
    def op(self, op_type: str, inputs, n_out: int = 1, hint: str | None = None, **attrs):
        outs = [self.fresh(hint or op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.fresh("n_" + op_type),
                                           **attrs))
        return outs[0] if n_out == 1 else outs

    def cached(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- opset-aware helpers -------------------------------------------------------------------
    def unsqueeze(self, x: str, axes) -> str:
        axes = [int(a) for a in axes]
        if self.opset >= 13:
            return self.op("Unsqueeze", [x, self.i64(axes, "axes")])
        return self.op("Unsqueeze", [x], axes=axes)

    def squeeze(self, x: str, axes) -> str:
        axes = [int(a) for a in axes]
        if self.opset >= 13:
            return self.op("Squeeze", [x, self.i64(axes, "axes")])
        return self.op("Squeeze", [x], axes=axes)

    def reduce(self, op_type: str, x: str, axes, keepdims: int = 1) -> str:
        axes = [int(a) for a in axes]
        takes_input = self.opset >= 18 or (op_type == "ReduceSum" and self.opset >= 13)
        if takes_input:
            return self.op(op_type, [x, self.i64(axes, "axes")], keepdims=keepdims)
        return self.op(op_type, [x], axes=axes, keepdims=keepdims)

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        ins = [x, self.i64(starts, "starts"), self.i64(ends, "ends"), self.i64(axes, "axes")]
        if steps is not None:
            ins.append(self.i64(steps, "steps"))
        return self.op("Slice", ins)

    def pad(self, x: str, pads, value: float = 0.0) -> str:
        ins = [x, self.i64(pads, "pads")]
        if value != 0.0:
            ins.append(self.f32(value, "padval"))
        return self.op("Pad", ins, mode="constant")

    def reshape(self, x: str, shape) -> str:
        if isinstance(shape, str):
            return self.op("Reshape", [x, shape])
        return self.op("Reshape", [x, self.i64(shape, "shape")])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def sum(self, terms: list[str]) -> str:
        if len(terms) == 1:
            return terms[0]
        if len(terms) == 2:
            return self.op("Add", terms)
        return self.op("Sum", terms)

    def to_float(self, b: str) -> str:
        return self.op("Cast", [b], to=onnx.TensorProto.FLOAT)
