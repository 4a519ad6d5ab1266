#!/usr/bin/env python3
"""xfv and the PyTorch peer in ONE invocation, same machine state, same crops (`scripts/bench-compare`).

1. `xfv explain A B -o OUT/pair` (detect + align; writes the aligned crops and xfv's .npy maps),
2. `xfv bench OUT/pair/a_crop.png OUT/pair/b_crop.png --aligned --workload single` (xfv's time per pair),
3. the peer (scripts/peer/fggb_torch.py) on the same crops: loop, batched, vmap; maps checked vs xfv,
4. a table of ratios (peer time / xfv time), peak memory, map differences, load before and after.

    scripts/bench-compare [--model sface] [--a data/obama/obama.jpg --b data/obama/obama2.jpg]
                          [--threads 2] [--repeat 3] [--methods loop batched vmap] [--out out/bench-compare]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(cmd: list[str], check: bool = True) -> str:
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if p.returncode != 0 and check:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sface")
    ap.add_argument("--a", default="data/obama/obama.jpg")
    ap.add_argument("--b", default="data/obama/obama2.jpg")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-rows", type=int, default=None)
    ap.add_argument("--methods", nargs="+", default=["loop", "batched", "vmap"])
    ap.add_argument("--xfv", default=os.environ.get("XFV_BIN", str(REPO / "target/release/xfv")))
    ap.add_argument("--out", default=str(REPO / "out/bench-compare"))
    args = ap.parse_args()
    out = Path(args.out)
    pair = out / f"{args.model}-pair"
    load_start = load()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t = ["--threads", str(args.threads)]
    run([args.xfv, "explain", args.a, args.b, "-o", str(pair), "--model", args.model, *t])
    bench_json = out / f"{args.model}-xfv-bench.json"
    chunk = ["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []
    run([args.xfv, "bench", str(pair / "a_crop.png"), str(pair / "b_crop.png"), "--aligned",
         "--workload", "single", "--model", args.model, "-n", str(args.repeat), "--warmup", "1",
         "--json-out", str(bench_json), "--json", *chunk, *t])
    xfv = json.loads(bench_json.read_text())
    peer_out = run([sys.executable, str(REPO / "scripts/peer/fggb_torch.py"), "--model", args.model,
                    "--pair", str(pair), "--threads", str(args.threads), "--repeat", str(args.repeat),
                    "--methods", *args.methods], check=False) if args.methods else ""
    peers = [json.loads(line) for line in peer_out.splitlines() if line.startswith("{")]
    load_end = load()
    xfv_s = xfv["latency_ms"]["p50"] / 1e3
    lines = [
        f"date {started}; machine: {cpu_model()}, {os.cpu_count()} logical CPUs; threads {args.threads}; "
        f"load average at start {load_start}, at end {load_end}",
        f"model {args.model} (D = {xfv['dim']}); pair {args.a} vs {args.b}; repeat {args.repeat} (median)",
        f"xfv: {xfv_s:.3f} s per pair (p95 {xfv['latency_ms']['p95'] / 1e3:.3f}; gradients "
        f"{xfv['stages_ms']['gradients_ms'] / 1e3:.3f} s, {xfv['gradient_gflop_per_s'] or 0:.1f} GFLOP/s = "
        f"{xfv['gradient_pct_of_sgemm'] or 0:.0f} % of the sgemm ceiling "
        f"{(xfv['sgemm'] or {}).get('gflop_per_s', 0):.1f}); peak {xfv['peak_rss_mb']:.0f} MB; "
        f"chunk rows {xfv['chunk_rows']}",
        "",
        "| peer method | peer s/pair | xfv s/pair | peer / xfv | peer peak MB | xfv peak MB | max abs diff of maps vs xfv | equal (1e-4) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in peers:
        if "error" in p:
            lines.append(f"| {p['method']} | failed: {p['error'][-1] if p['error'] else '?'} | | | | | | |")
            continue
        lines.append(f"| {p['method']} (torch {p['torch']}) | {p['time_per_pair_s']:.3f} | {xfv_s:.3f} | "
                     f"{p['time_per_pair_s'] / xfv_s:.2f}x | {p['peak_rss_mb']:.0f} | {xfv['peak_rss_mb']:.0f} | "
                     f"{p['max_abs_diff_vs_xfv']:.2e} (maps up to {p['xfv_map_max_abs']:.3g}) | "
                     f"{'yes' if p['maps_equal_1e-4'] else 'NO'} |")
    text = "\n".join(lines)
    print(text)
    (out / f"{args.model}-compare.md").write_text(text + "\n")
    (out / f"{args.model}-compare.json").write_text(json.dumps({"xfv": xfv, "peer": peers, "load_start": load_start,
                                                                 "load_end": load_end, "date": started}, indent=1))
    return 0 if all(p.get("maps_equal_1e-4") for p in peers) else 1


if __name__ == "__main__":
    sys.exit(main())
