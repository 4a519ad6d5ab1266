#!/usr/bin/env python3
"""Benchmark of the gradient graph (not a test): SFace and MobileFaceNet at N=1.

For K = D cotangent rows (the FGGB case: all rows of the identity), run in one piece and in chunks:
wall time (best of --repeat), peak RSS of a fresh worker process, and achieved GFLOP/s next to a large
sgemm timed in the same run (onnxruntime MatMul and numpy, 2048^3; the faster is the ceiling).

FLOPs counted: 2 x K x the forward MACs of the Conv/Gemm/MatMul layers (the input-gradient pass
through every linear layer; masks, reshapes and reductions are not counted).

    .xfv/venv/bin/python scripts/bench_export.py [--models sface mobilefacenet] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from xfv_tools.paths import MODELS  # noqa: E402


def sgemm_gflops(threads: int, n: int = 2048, reps: int = 5) -> dict[str, float]:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "sgemm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
                          initializer=[numpy_helper.from_array(a, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    s.run(None, {"a": a})
    best_ort = min(_timed(lambda: s.run(None, {"a": a})) for _ in range(reps))
    best_np = min(_timed(lambda: a @ a) for _ in range(reps))
    f = 2.0 * n ** 3 / 1e9
    return {"ort_matmul": f / best_ort, "numpy": f / best_np}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _vm_hwm_mb() -> float:
    """Peak resident set size of this process (VmHWM; unlike ru_maxrss it starts afresh at exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(graph: str, dim: int, k: int, chunk: int, threads: int, repeat: int, opt: str) -> dict:
    """Runs in a fresh process so that the peak RSS is this configuration's."""
    import onnxruntime as ort

    from xfv_tools.export.probe import probe_inputs

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}[opt]
    sess = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])
    rss_loaded = _vm_hwm_mb()
    x = probe_inputs(1, *sess.get_inputs()[0].shape[2:], seed=1)
    cot = np.eye(dim, dtype=np.float32)[:k]

    def once():
        for i in range(0, k, chunk):
            sess.run(None, {"x": x, "cotangent": cot[i:i + chunk]})

    once()  # warm-up: memory planning, arena growth
    # an sgemm of the same size class timed next to every run: the machine may be shared
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    times, sgemm = [], []
    for _ in range(repeat):
        sgemm.append(2.0 * 2048 ** 3 / _timed(lambda: a @ a) / 1e9)
        times.append(_timed(once))
    return {"time_s": min(times), "peak_rss_mb": _vm_hwm_mb(), "rss_after_load_mb": rss_loaded,
            "sgemm_gflops": max(sgemm)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["sface", "mobilefacenet"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--reduce", default="fggb", choices=["none", "absmean", "fggb"])
    ap.add_argument("--chunks", nargs="+", type=int, default=[16, 32, 64])
    ap.add_argument("--opt", default="all", choices=["all", "extended"],
                    help="onnxruntime graph optimisation level (all = with NCHWc conv layout)")
    ap.add_argument("--worker", nargs=5, metavar=("GRAPH", "DIM", "K", "CHUNK", "REPEAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        g, d, k, c, r = args.worker
        print(json.dumps(worker(g, int(d), int(k), int(c), args.threads, int(r), args.opt)))
        return 0

    import onnx
    import onnxruntime as ort

    from xfv_tools.export import gradient_model
    from xfv_tools.export.flops import forward_macs
    from xfv_tools.export.metadata import card_pixels, read_card
    from xfv_tools.export.probe import load_model, probe

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
          f"onnxruntime {ort.__version__}; threads {args.threads}; reduce {args.reduce}")
    peaks = [sgemm_gflops(args.threads)]
    print("sgemm 2048^3: onnxruntime MatMul {ort_matmul:.1f} GFLOP/s, numpy {numpy:.1f} GFLOP/s".format(**peaks[0]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = MODELS / f"{name}.onnx"
            if not path.is_file():
                print(f"{name}: {path} absent, skipped")
                continue
            card = read_card(MODELS / f"{name}.toml")
            P = probe(load_model(path), *card_pixels(card))
            macs = sum(forward_macs(P).values())
            gpath = Path(tmp) / f"{name}.grad.onnx"
            onnx.save(gradient_model(path, card, args.reduce), str(gpath))
            d = P.dim
            print(f"\n{name}: D={d}, forward {macs / 1e9:.3f} GMAC, gradient graph "
                  f"{gpath.stat().st_size / 1e6:.1f} MB vs source {path.stat().st_size / 1e6:.1f} MB")
            for chunk in [d] + [c for c in args.chunks if c < d]:
                out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--opt", args.opt,
                                      "--worker",
                                      str(gpath), str(d), str(d), str(chunk), str(args.repeat)],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                gf = 2.0 * d * macs / r["time_s"] / 1e9
                rows.append((name, d, chunk, r, gf))
                print(f"  K={d:4d} chunk={chunk:4d}: {r['time_s']:.3f} s  {gf:6.1f} GFLOP/s  "
                      f"(sgemm next to it {r['sgemm_gflops']:.1f})  peak RSS {r['peak_rss_mb']:.0f} MB "
                      f"(after session load {r['rss_after_load_mb']:.0f} MB)")
    peaks.append(sgemm_gflops(args.threads))
    peak = max(max(p.values()) for p in peaks)
    print(f"\nsgemm after: onnxruntime {peaks[-1]['ort_matmul']:.1f}, numpy {peaks[-1]['numpy']:.1f} GFLOP/s;"
          f" ceiling used: {peak:.1f} GFLOP/s")
    print("\nmodel           K  chunk   time s  GFLOP/s  sgemm(adjacent)  % of adjacent  % of best sgemm"
          "  peak RSS MB")
    for name, d, chunk, r, gf in rows:
        print(f"{name:14s} {d:4d} {chunk:5d} {r['time_s']:8.3f} {gf:8.1f} {r['sgemm_gflops']:16.1f} "
              f"{100 * gf / r['sgemm_gflops']:14.0f} {100 * gf / max(peak, r['sgemm_gflops']):16.0f} "
              f"{r['peak_rss_mb']:12.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
