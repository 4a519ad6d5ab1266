#!/usr/bin/env python3
"""Where the gradient graph's time goes: onnxruntime's profiler on models/<name>.grad.onnx, one image,
K cotangent rows per run (xfv's chunk size), time share per op type (not a test).

    .xfv/venv/bin/python scripts/profile_gradient.py [--model sface] [--k 32] [--threads 2] [--runs 4]
                                                    [--opt all|extended] [--top-nodes N]

Op types as ORT runs them after its graph optimisations (ReorderInput/ReorderOutput are the NCHWc
layout conversions around convolutions; Conv nodes include the fused/flipped stride-1 VJP convs).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sface")
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--opt", default="all", choices=["all", "extended"],
                    help="ORT graph optimisation level (extended = without the NCHWc layout pass)")
    ap.add_argument("--top-nodes", type=int, default=0, help="also list the N slowest nodes")
    args = ap.parse_args()
    graph = REPO / "models" / f"{args.model}.grad.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        }[args.opt]
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "prof")
        s = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
        h, w = s.get_inputs()[0].shape[2:]
        d = s.get_inputs()[1].shape[1]
        x = np.random.default_rng(0).uniform(0, 255, (1, 3, h, w)).astype(np.float32)
        cot = np.eye(d, dtype=np.float32)[: args.k]
        s.run(None, {"x": x, "cotangent": cot})  # warm-up, profiled too: dropped below
        for _ in range(args.runs):
            s.run(None, {"x": x, "cotangent": cot})
        events = json.loads(Path(s.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    first_end = runs[0]["ts"] + runs[0]["dur"] if runs else 0
    by_op: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] > first_end:
            by_op[e["args"].get("op_name", "?")] += e["dur"]
            by_node[f'{e["args"].get("op_name", "?")} {e["name"][: -len("_kernel_time")]}'] += e["dur"]
    total = sum(by_op.values())
    run_us = sum(r["dur"] for r in runs[1:])
    print(f"{args.model}: K={args.k}, {args.threads} threads, {args.runs} runs, "
          f"{run_us / 1e3 / max(1, args.runs):.0f} ms per run (kernels {total / 1e3 / max(1, args.runs):.0f} ms)")
    print("| op type | share of kernel time | ms per run |")
    print("|---|---|---|")
    for op, us in by_op.most_common():
        if us / total < 0.005:
            continue
        print(f"| {op} | {100 * us / total:.1f} % | {us / 1e3 / args.runs:.1f} |")
    if args.top_nodes:
        print("\n| node | share | ms per run |\n|---|---|---|")
        for node, us in by_node.most_common(args.top_nodes):
            print(f"| {node} | {100 * us / total:.1f} % | {us / 1e3 / args.runs:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
