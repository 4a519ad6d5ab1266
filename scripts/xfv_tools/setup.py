"""xfv's setup, after the venv exists: fetch and check everything, convert the models, export their
gradient graphs. Idempotent: what is present with the right sha256 is left alone, so a second run
does nothing and needs no network. Called by `scripts/setup` (which makes the venv first).

    python -m xfv_tools.setup [--skip-photos] [--skip-gradients]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import tomllib
from pathlib import Path

from . import fetch, paths
from .fetch import SetupError, log, sha256_file

# Models the setup converts, in order. Each has a card models/<name>.toml whose
# [converted].converter names the module with `convert(src, dst)`.
MODELS = ("yunet", "sface", "mobilefacenet", "dlib")


def read_card(name: str) -> dict:
    path = paths.MODELS / f"{name}.toml"
    with open(path, "rb") as f:
        card = tomllib.load(f)
    card["_path"] = path
    return card


def convert_model(name: str) -> Path:
    """models/<file> from the card's source, unless it is already there with the card's sha256."""
    card = read_card(name)
    conv = card["converted"]
    dst = paths.MODELS / conv["file"]
    want = conv.get("sha256", "")
    if dst.is_file() and sha256_file(dst) == want:
        return dst
    src = fetch.source_file_for(_package_key(card), card["source"]["path"])
    module = importlib.import_module(conv["converter"])
    log(f"converting {name}: {src.name} -> {dst.name} ({conv['converter']})")
    t0 = time.perf_counter()
    tmp = dst.with_name(dst.name + ".partial")
    module.convert(src, tmp)
    os.replace(tmp, dst)
    got = sha256_file(dst)
    if got != want:
        # The tests check the conversion against the original runtime; a different hash means a
        # different (not necessarily wrong) conversion - say so loudly rather than hide it.
        log(
            f"warning: {dst} has sha256 {got}, the card {card['_path'].name} records {want}. "
            "The converted graph differs from the one the card describes; the conversion tests "
            "(scripts/tests/test_convert_*.py) tell whether it is still faithful."
        )
    log(f"converted {name} in {time.perf_counter() - t0:.1f} s")
    return dst


def _package_key(card: dict) -> str:
    src = card["source"]
    for key, pkg in fetch.packages().items():
        if pkg.name == src["package"] and pkg.version == src["version"]:
            return key
    raise SetupError(f"{card['_path']}: source package {src['package']}=={src['version']} is not in sources.toml")


GRADIENT_REDUCE = "fggb"
# Further graphs per model: file suffix -> reduce. `absmean` serves the baselines that need plain
# (un-normalised) VJPs with pair-dependent cotangents: similarity gradient, xSSAB.
EXTRA_GRADIENT_GRAPHS = {"absmean": "absmean"}


def _graph_is_current(dst: Path, card: dict, src_sha: str, reduce: str = GRADIENT_REDUCE) -> bool:
    """True when dst is a gradient graph of this source file, this card and this export version."""
    import onnx

    from .export.metadata import metadata as export_metadata

    if not dst.is_file():
        return False
    try:
        have = {p.key: p.value for p in onnx.load(str(dst), load_external_data=False).metadata_props}
    except Exception:  # unreadable or truncated: rebuild it
        return False
    want = export_metadata(card, reduce, src_sha, have.get("xfv.source_input_name", ""),
                           have.get("xfv.batch") == "dynamic")
    return all(have.get(k) == v for k, v in want.items())


def _precision(path: Path) -> str:
    """A gradient graph's `xfv.precision` (absent: fp32)."""
    import onnx

    have = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return have.get("xfv.precision", "fp32")


def export_gradients(name: str, suffix: str = "grad", reduce: str = GRADIENT_REDUCE,
                     fp16: bool = False) -> Path:
    """models/<name>.<suffix>.onnx: the gradient-augmented graph (default `grad` with reduce = fggb;
    docs/gradient-graph.md; `fp16`: the fp16 sweep of export/fp16.py), rebuilt only when the source
    model, the card or the export version changed."""
    from . import export

    card = read_card(name)
    src = paths.MODELS / card["converted"]["file"]
    dst = paths.MODELS / f"{name}.{suffix}.onnx"
    src_sha = sha256_file(src)
    if _graph_is_current(dst, card, src_sha, reduce) and _precision(dst) == ("fp16" if fp16 else "fp32"):
        return dst
    log(f"exporting the gradient graph of {name} -> {dst.name}")
    t0 = time.perf_counter()
    tmp = dst.with_name(dst.name + ".partial")
    try:
        m = export.export_model(src, card, tmp, reduce=reduce)
        if fp16:
            import onnx

            from .export.fp16 import DEFAULT_SCALE_LOG2, to_fp16

            onnx.save(to_fp16(m, DEFAULT_SCALE_LOG2), str(tmp))
    except export.ExportError as e:
        tmp.unlink(missing_ok=True)
        raise SetupError(f"gradient export of {src} failed: {e}") from e
    os.replace(tmp, dst)
    log(f"exported {name} in {time.perf_counter() - t0:.1f} s")
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="xfv-setup", description=__doc__.splitlines()[0])
    ap.add_argument("--skip-photos", action="store_true", help="do not fetch the photo sets")
    ap.add_argument("--skip-gradients", action="store_true", help="do not export gradient graphs")
    ap.add_argument("--fp16", action="store_true",
                    help="also export fp16 gradient graphs models/<name>.grad.fp16.onnx (xfv --precision fp16)")
    ap.add_argument("--gpu", action="store_true",
                    help="also fetch the GPU build of ONNX Runtime and the CUDA 13 / cuDNN 9 runtime (~2 GB; xfv_tools/gpu.py)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        fetch.install_library()
        for name in MODELS:
            if (paths.MODELS / f"{name}.toml").exists():
                convert_model(name)
        if not args.skip_gradients:
            for name in MODELS:
                card_path = paths.MODELS / f"{name}.toml"
                if card_path.exists() and read_card(name).get("kind") == "recognition":
                    export_gradients(name)
                    for suffix, reduce in EXTRA_GRADIENT_GRAPHS.items():
                        export_gradients(name, suffix, reduce)
                    if args.fp16:
                        export_gradients(name, "grad.fp16", GRADIENT_REDUCE, fp16=True)
        if not args.skip_photos:
            fetch.ensure_photos()
        if args.gpu:
            from .gpu import install_gpu

            install_gpu()
    except SetupError as e:
        log(f"error: {e}")
        return 1
    log(f"setup complete in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
