"""Gradient-graph export: an inference ONNX face model -> ONE ONNX graph giving the L2-normalised
embedding and vector-Jacobian products of it with respect to the input pixels.

How: an ONNX -> ONNX reverse-mode pass with onnx + onnxruntime + numpy (docs/gradient-graph.md).
The forward graph is kept as it is; a backward graph is appended that shares its weights.

Interface of the exported graph
    inputs   x          float32 [N, 3, H, W]   the model's input, renamed to `x` (original name in
                                                metadata `xfv.source_input_name`); N dynamic where the
                                                model allows it (else 1, see `xfv.batch`)
             cotangent  float32 [K, D]         K dynamic: rows c_k; row k of the output is c_k^T J
    outputs  embedding  float32 [N, D]         f(x) / ||f(x)||
             jacobian   float32                d<c_k, embedding[n]>/dx[n]; by `xfv.reduce`:
                                                none    -> [N, K, 3, H, W]
                                                absmean -> [N, K, H, W], mean over channels of |.|
                                                fggb    -> absmean, then each [H, W] map divided by
                                                           (its L2 norm + 1e-8)

metadata_props (all values are strings; JSON where marked)
    xfv.graph_version      "1": version of this interface
    xfv.model_name         model card `name`
    xfv.input_width_px     W
    xfv.input_height_px    H
    xfv.colour_order       "rgb" | "bgr": channel order of `x`
    xfv.mean               JSON [3 floats]: x = (pixel(0..255) - mean) / std, per channel of `x`
    xfv.std                JSON [3 floats]
    xfv.embedding_dim      D
    xfv.comparison         "cosine" | "euclidean"
    xfv.threshold          decision threshold (float, Python repr)
    xfv.reduce             "none" | "absmean" | "fggb": form of `jacobian`
    xfv.source_sha256      sha256 (hex) of the inference ONNX file the graph was made from
    xfv.template_px        JSON [[x, y] x 5]: alignment landmarks in crop pixels ([] if none)
    xfv.source_input_name  name of the image input in the source model
    xfv.batch              "dynamic" | "1": whether N is dynamic
    xfv.forward_gflop      2 x the MACs of the Conv/Gemm/MatMul layers for one image, for
                           benchmarks (`xfv bench` GFLOP/s); optional for readers
    xfv.backward_gflop_per_row  FLOPs of one cotangent row's input-gradient pass through the same
                           layers for one image (equal to xfv.forward_gflop); optional for readers

Usage: `xfv-export MODEL.onnx --card models/sface.toml -o models/sface.grad.onnx --reduce fggb --verify`
or `export_model(...)` from Python.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from .build import COTANGENT, EMBEDDING, INPUT, JACOBIAN, REDUCTIONS, build
from .errors import (BatchMixingError, CardMismatchError, ExportError, InvalidModelError,
                     UnsupportedOpError)
from .flops import backward_flops
from .metadata import card_pixels, check_card, metadata, read_card
from .probe import load_model, probe, sha256_file

__all__ = [
    "export_model", "gradient_model", "ExportError", "InvalidModelError", "UnsupportedOpError",
    "BatchMixingError", "CardMismatchError", "REDUCTIONS", "INPUT", "COTANGENT", "EMBEDDING", "JACOBIAN",
]


def gradient_model(model_path: str | Path, card: dict | str | Path, reduce: str = "none") -> onnx.ModelProto:
    """The gradient graph of an inference ONNX model, with the card's facts as metadata."""
    if not isinstance(card, dict):
        card = read_card(card)
    model = load_model(model_path)
    mean, std = card_pixels(card)
    P = probe(model, mean, std, source_sha256=sha256_file(Path(model_path)))
    check_card(card, P.height, P.width, P.dim)
    md = metadata(card, reduce, P.source_sha256, P.source_input_name, P.dynamic_batch)
    # Benchmark facts, kept out of metadata() so that graphs exported before them stay current
    # for the setup (it compares metadata() keys only).
    gflop = backward_flops(P, 1) / 1e9
    md["xfv.forward_gflop"] = "%.6g" % gflop
    md["xfv.backward_gflop_per_row"] = "%.6g" % gflop
    return build(P, reduce, md)


def export_model(model_path: str | Path, card: dict | str | Path, out_path: str | Path,
                 reduce: str = "none") -> onnx.ModelProto:
    """Write the gradient graph of `model_path` to `out_path` and return it."""
    m = gradient_model(model_path, card, reduce)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(out_path))
    return m
