#!/usr/bin/env python3
"""The peer: FGGB maps of one pair in PyTorch, on the same ONNX model and the same aligned crops as
xfv, timed two ways (run by hand through `scripts/peer/run`; never part of setup or CI).

    scripts/peer/run --model sface --pair OUT_DIR_OF_XFV_EXPLAIN [--methods loop batched vmap]

The pair folder is what `xfv explain A B -o DIR` wrote: a_crop.png, b_crop.png (the aligned crops
xfv used), a_signed.npy, b_signed.npy (xfv's signed FGGB maps) and record.json (the threshold).

The model: models/<name>.onnx converted to torch with onnx2torch. FGGB (shared/spec/fggb.md):
e = f(x)/||f(x)||; per dimension k: G^k = de[k]/dx, g^k = mean_c |G^k|, gn^k = g^k / (||g^k|| + 1e-8);
w_k = eA[k] eB[k] - theta/D; S = sum_k gn^k w_k (signed map, compared with xfv's *_signed.npy).

Methods (both images of the pair per timing):
  loop     one forward, then D backward passes with retain_graph (as published implementations do)
  batched  one forward, autograd.grad(e, x, grad_outputs=I_D, is_grads_batched=True)
  vmap     torch.func.vmap over torch.func.vjp (one forward, vmapped backward)

Each method runs in a fresh worker process so that its peak memory (VmHWM) is its own. Prints one
JSON line per method: time per pair (median of --repeat after a warm-up), peak MB, max |S - xfv|.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_crop(path: Path, card: dict):
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    inp = card["input"]
    if (img.shape[0], img.shape[1]) != (inp["height_px"], inp["width_px"]):
        raise SystemExit(f"{path}: crop is {img.shape[:2]}, the card says {inp['height_px']}x{inp['width_px']}")
    if inp["colour_order"] == "bgr":
        img = img[..., ::-1]
    x = (img - np.array(inp["mean"], np.float32)) / np.array(inp["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def maps_loop(model, x, torch):
    """One forward, D backward passes (retain_graph): the published form."""
    x = x.clone().requires_grad_(True)
    f = model(x)
    e = f / f.norm(dim=1, keepdim=True)
    d = e.shape[1]
    out = []
    for k in range(d):
        (g,) = torch.autograd.grad(e[0, k], x, retain_graph=k + 1 < d)
        out.append(g[0])
    return e.detach()[0], torch.stack(out)  # [D,3,H,W]


def maps_batched(model, x, torch):
    x = x.clone().requires_grad_(True)
    f = model(x)
    e = f / f.norm(dim=1, keepdim=True)
    d = e.shape[1]
    eye = torch.eye(d, dtype=e.dtype, device=e.device).unsqueeze(1)  # [D,1,D]
    (g,) = torch.autograd.grad(e, x, grad_outputs=eye, is_grads_batched=True)
    return e.detach()[0], g[:, 0]


def maps_vmap(model, x, torch):
    from torch.func import vjp, vmap

    def emb(inp):
        f = model(inp)
        return f / f.norm(dim=1, keepdim=True)

    e, pullback = vjp(emb, x)
    d = e.shape[1]
    eye = torch.eye(d, dtype=e.dtype, device=e.device).unsqueeze(1)
    (g,) = vmap(pullback)(eye)
    return e.detach()[0], g[:, 0]


METHODS = {"loop": maps_loop, "batched": maps_batched, "vmap": maps_vmap}


def fggb_maps(G, torch):
    """[D,3,H,W] gradients -> per-dimension normalised maps gn [D,H,W] (spec steps 2-3)."""
    g = G.abs().mean(dim=1)
    return g / (g.flatten(1).norm(dim=1)[:, None, None] + 1e-8)


def worker(args) -> dict:
    import numpy as np
    import torch
    from onnx2torch import convert

    torch.set_num_threads(args.threads)
    card = tomllib.loads((REPO / "models" / f"{args.model}.toml").read_text())
    model = convert(str(REPO / "models" / card["converted"]["file"])).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    pair = Path(args.pair)
    rec = json.loads((pair / "record.json").read_text())
    theta = float(rec["verdict"]["threshold"])
    xa = torch.from_numpy(load_crop(pair / "a_crop.png", card))
    xb = torch.from_numpy(load_crop(pair / "b_crop.png", card))
    fn = METHODS[args.worker]

    def one_pair():
        ea, Ga = fn(model, xa, torch)
        eb, Gb = fn(model, xb, torch)
        gna, gnb = fggb_maps(Ga, torch), fggb_maps(Gb, torch)
        w = ea * eb - theta / ea.shape[0]
        sa = torch.einsum("k,khw->hw", w, gna)
        sb = torch.einsum("k,khw->hw", w, gnb)
        return sa.numpy(), sb.numpy(), float((ea * eb).sum())

    rss_loaded = vm_hwm_mb()
    sa, sb, score = one_pair()  # warm-up (and the maps to check)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        one_pair()
        times.append(time.perf_counter() - t)
    xa_ref, xb_ref = np.load(pair / "a_signed.npy"), np.load(pair / "b_signed.npy")
    diff = max(float(np.abs(sa - xa_ref).max()), float(np.abs(sb - xb_ref).max()))
    scale = max(float(np.abs(xa_ref).max()), float(np.abs(xb_ref).max()))
    return {"method": args.worker, "model": args.model, "threads": args.threads,
            "torch": torch.__version__, "time_per_pair_s": float(np.median(times)),
            "times_s": times, "peak_rss_mb": vm_hwm_mb(), "rss_after_load_mb": rss_loaded,
            "max_abs_diff_vs_xfv": diff, "xfv_map_max_abs": scale, "maps_equal_1e-4": diff <= 1e-4,
            "score": score, "score_xfv": rec["verdict"]["score"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sface")
    ap.add_argument("--pair", required=True, help="folder written by `xfv explain A B -o DIR`")
    ap.add_argument("--methods", nargs="+", default=["loop", "batched", "vmap"], choices=list(METHODS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", choices=list(METHODS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    ok = True
    for m in args.methods:
        cmd = [sys.executable, __file__, "--model", args.model, "--pair", args.pair, "--threads",
               str(args.threads), "--repeat", str(args.repeat), "--worker", m]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(json.dumps({"method": m, "error": p.stderr.strip().splitlines()[-5:]}), flush=True)
            ok = False
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        ok &= r["maps_equal_1e-4"]
        print(json.dumps(r), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
