"""Convert dlib's ResNet face recogniser (raw float32 weights of npm face-api.js@0.10.0) to fp32 ONNX.

The weights file ``weights_uncompressed/face_recognition_model.weights`` holds no topology: it is
5,614,592 little-endian float32 values in the order of face-api.js's
``src/faceRecognitionNet/extractParams.ts``. The graph below follows face-api.js's
``FaceRecognitionNet.forwardInput``, ``residualLayer.ts``, ``convLayer.ts`` and ``scaleLayer.ts``
(the same code is still in @vladmandic/face-api 1.7.15), which in turn mirrors
dlib_face_recognition_resnet_model_v1:

    conv 7x7/2 valid -> relu -> maxpool 3/2 valid                        150 -> 72 -> 35
    3 x residual(32)                                                      35
    residual_down(32->64), 3 x residual(64)                               17
    residual_down(64->128), 2 x residual(128)                              8
    residual_down(128->256), 2 x residual(256), residual_down(256->256)   3(+1) -> 4, 1(+1) -> 2
    global mean over H,W -> fc 256->128 (no bias)

Every conv layer is ``relu?(scale(conv(x) + bias))`` with a per-channel affine ``x * w + b``
("scale layer", dlib's affine layer standing in for batch norm); it is folded into the conv
(filters * w, bias * w + b, computed in float64 and rounded once to float32).

    residual(x)      = relu(conv2(relu(conv1(x))) + x)           3x3/1 'same' convs (pad 1)
    residual_down(x) = relu(pad_hw(conv2(relu(conv1(x)))) + pad_c(avgpool2/2(x)))
        conv1 is 3x3/2 'valid', conv2 3x3/1 'same'. When the strided branch comes out one pixel
        smaller than the 2x2 average pool (8 -> 3 vs 4, 4 -> 1 vs 2), face-api.js appends a row
        of zeros at the bottom and a column at the right of the branch (dlib's add_prev does the
        same zero extension); when channels double, the pooled shortcut gets zero channels
        appended at the end. Both become a constant ``Pad`` (pads as an initializer).

ONNX graph: input ``input`` float32 [N,3,150,150] (NCHW, RGB), already normalised by the caller as
(pixel - [122.782, 117.001, 104.298]) / 256 (dlib's and face-api.js 0.10.0's scaling;
@vladmandic/face-api divides by 255 instead); output ``embedding`` float32 [N,128], compared by
euclidean distance. Opset 17, IR version 8, ops: Conv, Relu, Add, MaxPool, AveragePool, Pad,
GlobalAveragePool, Flatten, Gemm - nothing outside the default domain. The output bytes are a
pure function of the weights (fixed node/initializer names and order, no timestamps).

Checked by ``scripts/tests/test_convert_dlib.py`` against embeddings recorded once from
@vladmandic/face-api 1.7.15 (tfjs 4.22.0 CPU backend) running these same float32 weights; see
``scripts/reference/dlib_resnet/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: number of float32 values in face_recognition_model.weights (22,458,368 bytes)
N_WEIGHTS = 5_614_592
INPUT_SIZE_PX = 150
EMBEDDING_DIM = 128
OPSET = 17
IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"
#: the caller's normalisation, recorded in the model's metadata (RGB order)
MEAN_RGB = (122.782, 117.001, 104.298)
STD_RGB = (256.0, 256.0, 256.0)


@dataclass(frozen=True)
class ConvSpec:
    """One conv layer of the network: name (face-api.js param path), channels, kernel, stride."""

    name: str
    c_in: int
    c_out: int
    kernel: int
    stride: int


def layer_specs() -> list[ConvSpec]:
    """All conv layers in the order their parameters appear in the weights file (extractParams.ts)."""
    specs = [ConvSpec("conv32_down", 3, 32, 7, 2)]
    blocks = [  # (name, c_in, c_out, is_down)
        ("conv32_1", 32, 32, False),
        ("conv32_2", 32, 32, False),
        ("conv32_3", 32, 32, False),
        ("conv64_down", 32, 64, True),
        ("conv64_1", 64, 64, False),
        ("conv64_2", 64, 64, False),
        ("conv64_3", 64, 64, False),
        ("conv128_down", 64, 128, True),
        ("conv128_1", 128, 128, False),
        ("conv128_2", 128, 128, False),
        ("conv256_down", 128, 256, True),
        ("conv256_1", 256, 256, False),
        ("conv256_2", 256, 256, False),
        # not "down" in extractParams (same channel count) but run through residualDown
        ("conv256_down_out", 256, 256, True),
    ]
    for name, c_in, c_out, is_down in blocks:
        specs.append(ConvSpec(f"{name}/conv1", c_in, c_out, 3, 2 if is_down else 1))
        specs.append(ConvSpec(f"{name}/conv2", c_out, c_out, 3, 1))
    return specs


#: residual blocks in forward order: (name, is_down)
BLOCKS = [
    ("conv32_1", False),
    ("conv32_2", False),
    ("conv32_3", False),
    ("conv64_down", True),
    ("conv64_1", False),
    ("conv64_2", False),
    ("conv64_3", False),
    ("conv128_down", True),
    ("conv128_1", False),
    ("conv128_2", False),
    ("conv256_down", True),
    ("conv256_1", False),
    ("conv256_2", False),
    ("conv256_down_out", True),
]


def read_params(weights: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Read the raw weights; return {conv name: (folded OIHW filters, folded bias)} and fc [128,256].

    Per conv layer the file holds filters (O*I*k*k, OIHW), conv bias (O), scale weights (O) and
    scale biases (O); the fc matrix comes last as [128, 256] (out, in).
    """
    raw = np.fromfile(weights, dtype="<f4")
    if raw.size != N_WEIGHTS:
        raise ValueError(f"{weights}: expected {N_WEIGHTS} float32 values, got {raw.size}")
    pos = 0

    def take(n: int) -> np.ndarray:
        nonlocal pos
        out = raw[pos : pos + n].astype(np.float64)
        pos += n
        return out

    convs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for s in layer_specs():
        filters = take(s.c_out * s.c_in * s.kernel * s.kernel).reshape(s.c_out, s.c_in, s.kernel, s.kernel)
        bias = take(s.c_out)
        scale_w = take(s.c_out)
        scale_b = take(s.c_out)
        # scale(conv(x) + bias) = conv(x) * w + (bias * w + b)
        folded_w = (filters * scale_w[:, None, None, None]).astype(np.float32)
        folded_b = (bias * scale_w + scale_b).astype(np.float32)
        convs[s.name] = (folded_w, folded_b)
    fc = take(EMBEDDING_DIM * 256).reshape(EMBEDDING_DIM, 256).astype(np.float32)
    if pos != raw.size:
        raise ValueError(f"{weights}: {raw.size - pos} values left after extracting all layers")
    return convs, fc


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class _GraphBuilder:
    """Appends nodes and initializers with deterministic names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv(self, x: str, name: str, params: tuple[np.ndarray, np.ndarray], stride: int, pad: int) -> str:
        w, b = params
        k = w.shape[2]
        return self.node(
            "Conv",
            [x, self.init(f"{name}/weight", w), self.init(f"{name}/bias", b)],
            f"{name}/conv",
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
            dilations=[1, 1],
            group=1,
        )

    def pad(self, x: str, name: str, pads: list[int]) -> str:
        pads_name = self.init(f"{name}/pads", np.asarray(pads, dtype=np.int64))
        zero_name = self.init(f"{name}/value", np.zeros((), dtype=np.float32))
        return self.node("Pad", [x, pads_name, zero_name], name, mode="constant")


def build_model(convs: dict[str, tuple[np.ndarray, np.ndarray]], fc: np.ndarray, metadata: dict[str, str]) -> onnx.ModelProto:
    """The ONNX graph of FaceRecognitionNet.forwardInput (after normalisation), NCHW."""
    g = _GraphBuilder()
    size = INPUT_SIZE_PX
    x = g.conv(INPUT_NAME, "conv32_down", convs["conv32_down"], stride=2, pad=0)
    x = g.node("Relu", [x], "conv32_down/relu")
    size = _out_size(size, 7, 2, 0)
    x = g.node("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 0, 0])
    size = _out_size(size, 3, 2, 0)
    channels = 32

    for name, is_down in BLOCKS:
        c_out = convs[f"{name}/conv1"][0].shape[0]
        if not is_down:
            y = g.conv(x, f"{name}/conv1", convs[f"{name}/conv1"], stride=1, pad=1)
            y = g.node("Relu", [y], f"{name}/conv1/relu")
            y = g.conv(y, f"{name}/conv2", convs[f"{name}/conv2"], stride=1, pad=1)
            x = g.node("Add", [y, x], f"{name}/add")
            x = g.node("Relu", [x], f"{name}/relu")
            continue
        y = g.conv(x, f"{name}/conv1", convs[f"{name}/conv1"], stride=2, pad=0)
        y = g.node("Relu", [y], f"{name}/conv1/relu")
        y = g.conv(y, f"{name}/conv2", convs[f"{name}/conv2"], stride=1, pad=1)
        branch_size = _out_size(size, 3, 2, 0)
        pooled_size = _out_size(size, 2, 2, 0)
        s = g.node("AveragePool", [x], f"{name}/shortcut/avgpool", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
        if branch_size != pooled_size:
            # residualDown's isAdjustShape: face-api.js concatenates one zero row (bottom) and one
            # zero column (right); it never needs more than one
            grow = pooled_size - branch_size
            if grow != 1:
                raise ValueError(f"{name}: branch {branch_size} vs shortcut {pooled_size}, face-api.js pads by 1 only")
            y = g.pad(y, f"{name}/branch/pad_hw", [0, 0, 0, 0, 0, 0, grow, grow])
        if c_out != channels:
            # isPad: zero channels appended after the pooled ones
            s = g.pad(s, f"{name}/shortcut/pad_c", [0, 0, 0, 0, 0, c_out - channels, 0, 0])
        x = g.node("Add", [y, s], f"{name}/add")
        x = g.node("Relu", [x], f"{name}/relu")
        size = pooled_size
        channels = c_out

    x = g.node("GlobalAveragePool", [x], "global_mean")
    x = g.node("Flatten", [x], "global_mean/flatten", axis=1)
    g.node("Gemm", [x, g.init("fc/weight", fc)], OUTPUT_NAME, transB=1)

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, INPUT_SIZE_PX, INPUT_SIZE_PX])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", EMBEDDING_DIM])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="xfv_tools.convert.dlib_resnet",
        producer_version="1",
    )
    model.ir_version = IR_VERSION
    for key in sorted(metadata):
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = metadata[key]
    onnx.checker.check_model(model, full_check=True)
    return model


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(weights: Path, dst: Path) -> dict:
    """Write the ONNX model for ``weights`` to ``dst``; return a summary (sha256s, ops, opset)."""
    weights = Path(weights)
    dst = Path(dst)
    weights_sha = sha256_file(weights)
    convs, fc = read_params(weights)
    metadata = {
        "xfv.model": "dlib_face_recognition_resnet_model_v1",
        "xfv.source": "npm face-api.js 0.10.0 weights_uncompressed/face_recognition_model.weights",
        "xfv.source_sha256": weights_sha,
        "xfv.input": "float32 [N,3,150,150] RGB, (pixel - mean) / std",
        "xfv.mean_rgb": json.dumps(list(MEAN_RGB)),
        "xfv.std_rgb": json.dumps(list(STD_RGB)),
        "xfv.comparison": "euclidean",
    }
    model = build_model(convs, fc, metadata)
    data = model.SerializeToString(deterministic=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dst)
    return {
        "path": str(dst),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "weights_sha256": weights_sha,
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "ops": sorted({n.op_type for n in model.graph.node}),
        "nodes": len(model.graph.node),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="face-api.js 0.10.0 weights_uncompressed/face_recognition_model.weights")
    parser.add_argument("dst", type=Path, help="ONNX file to write, e.g. models/dlib.onnx")
    args = parser.parse_args(argv)
    summary = convert(args.weights, args.dst)
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
