"""Model card (TOML) -> ONNX metadata_props of the gradient graph. See the package docstring for keys."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from .errors import CardMismatchError, ExportError

GRAPH_VERSION = "1"


def read_card(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise ExportError(f"model card {path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ExportError(f"model card {path}: not valid TOML ({exc})") from exc


def _get(card: dict, section: str, key: str):
    try:
        return card[section][key]
    except KeyError as exc:
        raise ExportError(f"model card lacks [{section}] {key}") from exc


def card_pixels(card: dict) -> tuple[list[float], list[float]]:
    """(mean, std) of the card's pixel -> tensor scaling."""
    inp = card.get("input", {})
    return list(inp.get("mean", [0.0, 0.0, 0.0])), list(inp.get("std", [1.0, 1.0, 1.0]))


def check_card(card: dict, height: int, width: int, dim: int) -> None:
    for key, section, model_value in (("height_px", "input", height), ("width_px", "input", width),
                                      ("dim", "embedding", dim)):
        v = _get(card, section, key)
        if int(v) != model_value:
            raise CardMismatchError(f"[{section}] {key}", v, model_value)
    mean, std = card_pixels(card)
    if len(mean) != 3 or len(std) != 3:
        raise ExportError("model card [input] mean and std must have 3 entries")
    if _get(card, "input", "colour_order") not in ("rgb", "bgr"):
        raise ExportError("model card [input] colour_order must be 'rgb' or 'bgr'")
    if _get(card, "embedding", "comparison") not in ("cosine", "euclidean"):
        raise ExportError("model card [embedding] comparison must be 'cosine' or 'euclidean'")


def metadata(card: dict, reduce: str, source_sha256: str, source_input: str, dynamic_batch: bool) -> dict[str, str]:
    mean, std = card_pixels(card)
    md = {
        "xfv.graph_version": GRAPH_VERSION,
        "xfv.model_name": str(card.get("name", "")),
        "xfv.input_width_px": str(int(_get(card, "input", "width_px"))),
        "xfv.input_height_px": str(int(_get(card, "input", "height_px"))),
        "xfv.colour_order": str(_get(card, "input", "colour_order")),
        "xfv.mean": json.dumps([float(v) for v in mean]),
        "xfv.std": json.dumps([float(v) for v in std]),
        "xfv.embedding_dim": str(int(_get(card, "embedding", "dim"))),
        "xfv.comparison": str(_get(card, "embedding", "comparison")),
        "xfv.threshold": repr(float(_get(card, "embedding", "threshold"))),
        "xfv.reduce": reduce,
        "xfv.source_sha256": source_sha256,
        "xfv.template_px": json.dumps(card.get("alignment", {}).get("template_px", [])),
        "xfv.source_input_name": source_input,
        "xfv.batch": "dynamic" if dynamic_batch else "1",
    }
    return md
