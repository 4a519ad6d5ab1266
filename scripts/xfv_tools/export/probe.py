"""Load an inference ONNX model, check its interface, and probe it with onnxruntime.

The probe runs the forward graph with every intermediate tensor exposed, once at batch 1 and once at
batch 2. From that it learns each tensor's static shape, which tensors carry the batch on axis 0,
and the values of tensors that do not depend on the image (weights, folded constants). This is more
robust than `onnx.shape_inference` on exporter Shape/Gather/Concat/Reshape chains.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import InvalidModelError

#: lowest / highest default-domain opset the emitted graph may declare
MIN_OPSET, MAX_OPSET = 11, 20


@dataclass
class Probe:
    """What the exporter knows about the forward graph."""

    model: onnx.ModelProto          #: forward model (batch made dynamic where possible, output [N,D])
    input_name: str
    output_name: str
    height: int
    width: int
    dim: int                        #: embedding dimension D
    opset: int
    dynamic_batch: bool
    batch: int                      #: batch used for `values` (1)
    values: dict[str, np.ndarray] = field(default_factory=dict)   #: every tensor at batch 1
    shapes2: dict[str, tuple] = field(default_factory=dict)       #: every tensor's shape at batch 2
    source_sha256: str = ""
    source_input_name: str = ""
    source_output_name: str = ""

    def shape(self, name: str) -> tuple:
        return tuple(self.values[name].shape)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_model(path: str | Path) -> onnx.ModelProto:
    """onnx.load with a clear error for files that are not ONNX models."""
    path = Path(path)
    if not path.is_file():
        raise InvalidModelError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, external-data errors, ...
        raise InvalidModelError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from exc
    if not model.graph.node or not model.graph.output:
        raise InvalidModelError(f"{path}: not an ONNX model (no graph nodes or outputs)")
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    raise InvalidModelError("model declares no default-domain (ai.onnx) opset")


def _upgrade_opset(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    from onnx import version_converter

    target = min(max(opset, MIN_OPSET), MAX_OPSET)
    if target == 11 or opset < 11:
        target = 13
    try:
        return version_converter.convert_version(model, target)
    except Exception as exc:
        raise InvalidModelError(
            f"model opset {opset} is outside {MIN_OPSET}..{MAX_OPSET} and the ONNX version converter "
            f"could not convert it to {target}: {exc}") from exc


def _dims(vi: onnx.ValueInfoProto) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in vi.type.tensor_type.shape.dim]


def check_interface(model: onnx.ModelProto) -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    """The one image input [N,3,H,W] and the one embedding output of the model."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1:
        raise InvalidModelError(
            f"expected one image input [N,3,H,W], the model has {len(inputs)} inputs: "
            f"{[i.name for i in inputs]}")
    if len(g.output) != 1:
        raise InvalidModelError(
            f"expected one embedding output [N,D], the model has {len(g.output)} outputs: "
            f"{[o.name for o in g.output]}")
    inp = inputs[0]
    tt = inp.type.tensor_type
    if tt.elem_type != onnx.TensorProto.FLOAT:
        raise InvalidModelError(f"input {inp.name!r} must be float32, got "
                                f"{onnx.TensorProto.DataType.Name(tt.elem_type)}")
    dims = _dims(inp)
    if len(dims) != 4 or dims[1] != 3 or not isinstance(dims[2], int) or not isinstance(dims[3], int) \
            or not dims[2] or not dims[3]:
        raise InvalidModelError(f"input {inp.name!r} must be [N,3,H,W] with fixed H and W, got {dims}")
    if g.output[0].type.tensor_type.elem_type not in (0, onnx.TensorProto.FLOAT):
        raise InvalidModelError(f"output {g.output[0].name!r} must be float32")
    return inp, g.output[0]


def _run_all(model: onnx.ModelProto, input_name: str, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    m = copy.deepcopy(model)
    known = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in known:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                known.add(o)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {input_name: x})
    vals = {n: np.asarray(v) for n, v in zip(names, outs)}
    for t in m.graph.initializer:
        vals[t.name] = numpy_helper.to_array(t)
    vals[input_name] = x
    return vals


def probe_inputs(n: int, height: int, width: int, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                 seed: int = 0) -> np.ndarray:
    """Plausible model inputs: uniform 0..255 pixels, scaled as the model card says."""
    rng = np.random.default_rng(seed)
    px = rng.uniform(0.0, 255.0, size=(n, 3, height, width))
    m = np.asarray(mean, dtype=np.float64).reshape(1, 3, 1, 1)
    s = np.asarray(std, dtype=np.float64).reshape(1, 3, 1, 1)
    return ((px - m) / s).astype(np.float32)


def probe(model: onnx.ModelProto, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
          source_sha256: str = "") -> Probe:
    """Check the interface and probe every tensor's shape and (constant) value."""
    inp, out = check_interface(model)
    opset = default_opset(model)
    for o in model.opset_import:
        if o.domain not in ("", "ai.onnx") and any(n.domain == o.domain for n in model.graph.node):
            raise InvalidModelError(f"model uses ops from domain {o.domain!r}; only ai.onnx ops are supported")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        model = _upgrade_opset(model, opset)
        opset = default_opset(model)
    model = copy.deepcopy(model)
    inp, out = check_interface(model)
    height, width = _dims(inp)[2], _dims(inp)[3]
    in_name, out_name = inp.name, out.name

    batch_dim = inp.type.tensor_type.shape.dim[0]
    static_batch = batch_dim.HasField("dim_value") and batch_dim.dim_value > 0
    x1 = probe_inputs(1, height, width, mean, std, seed=1)
    x2 = probe_inputs(2, height, width, mean, std, seed=2)

    trial = copy.deepcopy(model)
    for vi in (trial.graph.input[[i.name for i in trial.graph.input].index(in_name)], trial.graph.output[0]):
        if len(vi.type.tensor_type.shape.dim):
            vi.type.tensor_type.shape.dim[0].Clear()
            vi.type.tensor_type.shape.dim[0].dim_param = "N"
    dynamic = True
    try:
        v1 = _run_all(trial, in_name, x1)
        v2 = _run_all(trial, in_name, x2)
        # the batch must stay independent: sample 0 of the batch-2 run equals a batch-1 run of it
        v1b = _run_all(trial, in_name, x2[:1])
        ref = v1b[out_name]
        if np.abs(ref - v2[out_name][:1]).max() > 1e-4 * max(float(np.abs(ref).max()), 1e-30):
            dynamic = False
        if v2[out_name].shape[0] != 2:
            dynamic = False
    except Exception:
        if not static_batch:
            raise
        dynamic = False
    if dynamic:
        model = trial
    else:
        if not static_batch:
            raise InvalidModelError("model with a dynamic batch axis mixes samples across the batch")
        if batch_dim.dim_value != 1:
            raise InvalidModelError(f"static batch {batch_dim.dim_value} is not supported (only 1 or dynamic)")
        v1 = _run_all(model, in_name, x1)
        v2 = {}

    f = v1[out_name]
    if f.ndim < 2 or f.shape[0] != 1 or f.ndim > 2 and any(s != 1 for s in f.shape[2:]):
        raise InvalidModelError(f"output {out_name!r} must be [N,D], got shape {list(f.shape)} at N=1")
    if f.ndim > 2:  # [N,D,1,1] -> [N,D]: flatten in the forward graph, the Flatten rule differentiates it
        new_out = out_name + "__flat"
        model.graph.node.append(onnx.helper.make_node("Flatten", [out_name], [new_out], axis=1,
                                                      name="xfv_flatten_output"))
        model.graph.output[0].name = new_out
        v1[new_out] = f.reshape(1, -1)
        if v2:
            v2[new_out] = v2[out_name].reshape(2, -1)
        out_name = new_out

    return Probe(model=model, input_name=in_name, output_name=out_name, height=height, width=width,
                 dim=int(v1[out_name].shape[1]), opset=opset, dynamic_batch=dynamic, batch=1,
                 values=v1, shapes2={k: tuple(v.shape) for k, v in v2.items()},
                 source_sha256=source_sha256, source_input_name=in_name, source_output_name=out_name)
