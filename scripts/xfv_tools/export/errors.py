"""Errors raised by the gradient-graph export. Each carries the evidence needed to act on it."""

from __future__ import annotations


class ExportError(Exception):
    """Base class: the model cannot be turned into a gradient graph."""


class InvalidModelError(ExportError):
    """The file is not an ONNX model, or not a single-image-input / single-embedding-output model."""


class UnsupportedOpError(ExportError):
    """A node on the path from the image to the embedding has no VJP rule (or an unsupported form)."""

    def __init__(self, op_type: str, node_name: str, reason: str = "no VJP rule for this op"):
        self.op_type = op_type
        self.node_name = node_name
        self.reason = reason
        super().__init__(f"unsupported op {op_type!r} at node {node_name!r}: {reason}")


class BatchMixingError(ExportError):
    """A tensor on the image->embedding path does not keep the batch on axis 0 (samples would mix)."""


class CardMismatchError(ExportError):
    """The model card disagrees with the model (input size, embedding dimension, ...)."""

    def __init__(self, key: str, card: object, model: object):
        self.key = key
        self.card = card
        self.model = model
        super().__init__(f"model card says {key} = {card!r} but the model has {model!r}")
