"""`xfv-export MODEL.onnx --card CARD.toml -o OUT.onnx [--reduce none|absmean|fggb] [--fp16] [--verify]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import ExportError, export_model
from .build import REDUCTIONS
from .metadata import card_pixels, read_card


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="xfv-export",
        description="Turn an inference ONNX face model into one ONNX graph that outputs the L2-normalised "
                    "embedding and vector-Jacobian products of it w.r.t. the input pixels.")
    p.add_argument("model", type=Path, help="inference ONNX model: one input [N,3,H,W], one output [N,D]")
    p.add_argument("--card", type=Path, required=True, help="model card (TOML, models/*.toml format)")
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write the gradient graph")
    p.add_argument("--reduce", choices=REDUCTIONS, default="none",
                   help="form of the `jacobian` output: none [N,K,3,H,W]; absmean / fggb [N,K,H,W]")
    p.add_argument("--verify", action="store_true",
                   help="check against float64 finite differences, numpy reductions and chunked K")
    p.add_argument("--fp16", action="store_true",
                   help="fp16 gradient sweep with a scaled cotangent; forward, head and reduction in fp32 "
                        "(see xfv_tools/export/fp16.py; metadata xfv.precision, xfv.cotangent_scale)")
    p.add_argument("--cotangent-scale-log2", type=int, default=None, metavar="K",
                   help="with --fp16: scale the cotangent by 2^K, K in 8..12 (default 10)")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads for --verify")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        card = read_card(args.card)
        t = time.perf_counter()
        m = export_model(args.model, card, args.output, args.reduce)
        if args.fp16:
            import onnx

            from .fp16 import DEFAULT_SCALE_LOG2, to_fp16

            k = DEFAULT_SCALE_LOG2 if args.cotangent_scale_log2 is None else args.cotangent_scale_log2
            m = to_fp16(m, k)
            onnx.save(m, str(args.output))
        print(f"wrote {args.output} ({len(m.graph.node)} nodes, {args.output.stat().st_size / 1e6:.1f} MB, "
              f"reduce={args.reduce}{', fp16' if args.fp16 else ''}) in {time.perf_counter() - t:.1f} s")
        if args.verify:
            from .probe import load_model, probe
            from .verify import verify

            mean, std = card_pixels(card)
            P = probe(load_model(args.model), mean, std)
            rep = verify(P, args.reduce, threads=args.threads, mean=mean, std=std)
            for line in rep.lines():
                print("verify:", line)
            if not rep.ok():
                print("verify: FAILED", file=sys.stderr)
                return 3
            print("verify: ok")
    except ExportError as exc:
        print(f"xfv-export: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
