"""The GPU check of issue 8, run on a GPU host by `scripts/gpu-check run` (numpy, and PyTorch for
the side-by-side; no network, no onnx, no xfv venv). Everything it reads comes from
`scripts/gpu-check pack` (made on a networked machine, see docs/performance.md "GPU").

For each model (SFace, MobileFaceNet, dlib ResNet, the IResNet-style 512-d timing model):
  1. FGGB of the Obama pair on the CPU EP (reference) and on --ep (default cuda): the provider
     really ran (record `ep`, no fallback) and fp32 maps agree within 1e-4 relative;
  2. the fp16 gradient graph on --ep: per-map cosine >= 0.999 against the CPU fp32 maps;
  3. per-image gradient time on --ep at several images per run (`xfv bench --workload batch`);
  4. where PyTorch sees a GPU: the same FGGB in PyTorch on that GPU (minitorch models; the
     published D-backward loop and vmap over vjp), time per pair and agreement with xfv's maps.
Prints a markdown table and writes OUT/gpu-check.json. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "peer"))  # in the repository; the pack puts it beside this file


def run(cmd: list[str]) -> str:
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return p.stdout


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 1.0 if na == 0 and nb == 0 else float(a @ b / (na * nb))


def torch_fggb(npz: Path, card: dict, pair: Path, theta: float, device: str, form: str, repeat: int):
    import torch

    import minitorch
    # the peer's FGGB (scripts/peer/fggb_torch.py; beside this file in the pack)
    from fggb_torch import fggb_maps, load_crop, maps_loop, maps_vmap

    net = minitorch.load(str(npz)).to(device)
    xa = torch.from_numpy(load_crop(pair / "a_crop.png", card)).to(device)
    xb = torch.from_numpy(load_crop(pair / "b_crop.png", card)).to(device)
    grads = {"loop": maps_loop, "vmap": maps_vmap}[form]

    def pair_maps():
        ea, ga = grads(net, xa, torch)
        eb, gb = grads(net, xb, torch)
        w = ea * eb - theta / ea.shape[0]
        return [torch.einsum("k,khw->hw", w, fggb_maps(g, torch)) for g in (ga, gb)]

    maps = pair_maps()  # warm-up
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        pair_maps()
        sync()
        times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
    return [m.detach().cpu().numpy() for m in maps], float(np.median(times)), peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", default=str(REPO / "out/gpu-pack"), help="what `scripts/gpu-check pack` made")
    ap.add_argument("--ep", default="cuda", help="the provider to check (cpu: a dry run of the script)")
    ap.add_argument("--torch-device", default=None, help="default: cuda when PyTorch sees a GPU, else skip")
    ap.add_argument("--models", nargs="+", default=["sface", "mobilefacenet", "dlib", "iresnet512"])
    ap.add_argument("--images-per-run", nargs="+", type=int, default=[1, 4, 16])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timing-images", type=int, default=16, help="images per timing run")
    ap.add_argument("--out", default=str(REPO / "out/gpu-check"))
    args = ap.parse_args()
    pack = Path(args.pack)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    xfv = str(pack / "xfv")
    lib = pack / "lib" / "libonnxruntime.so.1.31.1"
    env_lib = ["--ort-lib", str(lib)] if lib.is_file() else []
    models = pack / "models"
    a, b = pack / "data/obama.jpg", pack / "data/obama2.jpg"
    rows, ok = [], True
    torch_dev = args.torch_device
    if torch_dev is None:
        try:
            import torch

            torch_dev = "cuda" if torch.cuda.is_available() else None
        except ImportError:
            torch_dev = None
    crops = None
    for name in args.models:
        card = tomllib.loads((models / f"{name}.toml").read_text())
        row: dict = {"model": name, "dim": card["embedding"]["dim"]}
        base = ["--models-dir", str(models), *env_lib]
        inputs = [str(a), str(b)] if crops is None or name != "iresnet512" else [str(crops / "a_crop.png"),
                                                                             str(crops / "b_crop.png")]
        aligned = ["--aligned"] if name == "iresnet512" else []
        res = {}
        for tag, ep, prec in [("cpu", "cpu", "fp32"), ("fp32", args.ep, "fp32"), ("fp16", args.ep, "fp16")]:
            d = out / f"{name}-{tag}"
            run([xfv, *base, "explain", *inputs, *aligned, "-m", name, "--ep", ep, "--precision", prec,
                 "-o", str(d), "--json"])
            rec = json.loads((d / "record.json").read_text())
            res[tag] = (d, rec)
        if name == "sface":
            crops = res["cpu"][0]
        ran = res["fp32"][1].get("ep", "?")
        row["ep_ran"] = ran
        row["ep_ok"] = str(ran).split(":")[0] == args.ep.split(",")[0]
        worst_rel, worst_cos = 0.0, 1.0
        for f in ("a_signed.npy", "b_signed.npy"):
            ref = np.load(res["cpu"][0] / f)
            worst_rel = max(worst_rel, float(np.abs(np.load(res["fp32"][0] / f) - ref).max() / (np.abs(ref).max() + 1e-30)))
            worst_cos = min(worst_cos, cosine(np.load(res["fp16"][0] / f), ref))
        row["fp32_max_rel"] = worst_rel
        row["fp16_min_cosine"] = worst_cos
        row["fp32_ok"] = worst_rel <= 1e-4
        row["fp16_ok"] = worst_cos >= 0.999
        ok &= row["ep_ok"] and row["fp32_ok"] and row["fp16_ok"]
        # timing: copies of the aligned crop, per-image gradient time at N images per run
        tdir = out / f"{name}-timing"
        tdir.mkdir()
        crop = res["cpu"][0] / "a_crop.png"
        imgs = []
        for i in range(max(2, args.timing_images)):
            p = tdir / f"c{i:02d}.png"
            shutil.copy(crop, p)
            imgs.append(str(p))
        row["per_image_ms"] = {}
        for prec in ("fp32", "fp16"):
            for n in args.images_per_run:
                j = tdir / f"bench-{prec}-{n}.json"
                run([xfv, *base, "bench", *imgs, "--aligned", "--workload", "batch", "-m", name, "--ep", args.ep,
                     "--precision", prec, "--images-per-run", str(n), "-n", str(args.repeat), "--warmup", "1",
                     "--sgemm-n", "0", "--json-out", str(j)])
                r = json.loads(j.read_text())
                row["per_image_ms"][f"{prec} x{n}"] = r["stages_ms"]["gradients_ms"] / r["images"]
        if torch_dev:
            theta = float(res["cpu"][1]["verdict"]["threshold"])
            ref = [np.load(res["cpu"][0] / f) for f in ("a_signed.npy", "b_signed.npy")]
            for form in ("loop", "vmap"):
                maps, t, peak = torch_fggb(pack / "npz" / f"{name}.npz", card, res["cpu"][0], theta, torch_dev,
                                           form, args.repeat)
                diff = max(float(np.abs(m - r).max()) for m, r in zip(maps, ref))
                row[f"torch_{form}_s"] = t
                row[f"torch_{form}_peak_mb"] = peak
                row[f"torch_{form}_max_abs_diff"] = diff
        rows.append(row)
        (out / "gpu-check.json").write_text(json.dumps({"ep": args.ep, "torch_device": torch_dev, "rows": rows},
                                                       indent=1))
    print(f"\nGPU check: --ep {args.ep}, PyTorch device {torch_dev}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| model | D | ran on | fp32 max rel vs CPU | fp16 min cosine | " +
          " | ".join(f"ms/image {k}" for k in rows[0]["per_image_ms"]) + " | torch loop s/pair | torch vmap s/pair |")
    print("|---|---|---|---|---|" + "---|" * len(rows[0]["per_image_ms"]) + "---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['dim']} | {r['ep_ran']}{'' if r['ep_ok'] else ' (FAIL)'} "
              f"| {r['fp32_max_rel']:.1e}{'' if r['fp32_ok'] else ' FAIL'} "
              f"| {r['fp16_min_cosine']:.6f}{'' if r['fp16_ok'] else ' FAIL'} | "
              + " | ".join(f"{v:.1f}" for v in r["per_image_ms"].values())
              + f" | {r.get('torch_loop_s', float('nan')):.3f} | {r.get('torch_vmap_s', float('nan')):.3f} |")
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
