"""Benchmark pair sets from the photos the setup fetched (data/), as pairs files for `xfv eval`
and `xfv batch`: CSV with header `a,b,label` (1 = same person, 0 = different), paths relative to
data/ (pass `--images-root data`). Seeded: the same seed writes the same files.

    python -m xfv_tools.pairsets [--seed 0] [--out data/pairsets]

Writes:
  orl.csv             ORL / AT&T (40 people x 10 grey photos), LFW-style: people split into 10
                      folds of 4; per fold `--orl-per-fold` genuine pairs (two photos of one person)
                      and as many impostor pairs (two people of the fold), rows fold by fold,
                      each fold's genuine and impostor rows interleaved. orl.folds.json: fold per row.
  colour_real.csv     the real colour pairs: the three distinct Obama photos (3 genuine pairs) and
                      each of them against Biden (3 impostor pairs).
  colour_synthetic.csv  SYNTHETIC genuine pairs - a portrait against an augmented copy of itself
                      (flip, rotation, scale, colour, blur, down-sampling, JPEG; written to
                      data/synthetic/, re-detected by xfv like any photo) - and as many impostor
                      pairs: a portrait against the augmented copy of another person's portrait.
                      Report it apart from the real pairs.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from . import paths

HEADER = "a,b,label\n"


def write_csv(path: Path, rows: list[tuple[str, str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for a, b, _ in rows:
        if "," in a or "," in b or "\n" in a + b:
            raise ValueError(f"path with a comma or newline cannot go into a pairs CSV: {a!r} {b!r}")
    path.write_text(HEADER + "".join(f"{a},{b},{lab}\n" for a, b, lab in rows))


def orl_pairs(rng: np.random.Generator, per_fold: int, folds: int = 10) -> tuple[list, list]:
    people = [f"s{i}" for i in range(1, 41)]
    order = rng.permutation(len(people))
    per = len(people) // folds
    rows, fold_of = [], []
    for f in range(folds):
        fold_people = [people[i] for i in order[f * per:(f + 1) * per]]
        genuine = [(p, i, j) for p in fold_people for i in range(1, 11) for j in range(i + 1, 11)]
        gsel = [genuine[k] for k in rng.choice(len(genuine), size=per_fold, replace=False)]
        imp = set()
        while len(imp) < per_fold:
            p, q = rng.choice(len(fold_people), size=2, replace=False)
            i, j = rng.integers(1, 11, size=2)
            imp.add((fold_people[p], int(i), fold_people[q], int(j)))
        isel = sorted(imp)
        rng.shuffle(isel)
        for (p, i, j), (p1, i1, p2, i2) in zip(gsel, isel):
            rows.append((f"orl/{p}/{i}.pgm", f"orl/{p}/{j}.pgm", 1))
            rows.append((f"orl/{p1}/{i1}.pgm", f"orl/{p2}/{i2}.pgm", 0))
            fold_of += [f, f]
    return rows, fold_of


def colour_real() -> list:
    obama = ["obama/obama.jpg", "obama/obama2.jpg", "obama/obama3.jpg"]
    rows = [(obama[i], obama[j], 1) for i in range(3) for j in range(i + 1, 3)]
    rows += [(o, "obama/biden.jpg", 0) for o in obama]
    return rows


def augment(img, rng: np.random.Generator):
    """One random augmentation chain: flip, rotation, scale, colour, blur, down-sampling, JPEG.
    Returns the image and a record of the parameters."""
    from PIL import Image, ImageEnhance, ImageFilter

    p = {}
    p["flip"] = bool(rng.random() < 0.5)
    if p["flip"]:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    p["rotate_deg"] = round(float(rng.uniform(-15, 15)), 2)
    p["scale"] = round(float(rng.uniform(0.85, 1.15)), 3)
    w, h = img.size
    img = img.rotate(p["rotate_deg"], resample=Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))
    img = img.resize((max(1, round(w * p["scale"])), max(1, round(h * p["scale"]))), Image.Resampling.BILINEAR)
    p["brightness"] = round(float(rng.uniform(0.75, 1.25)), 3)
    p["contrast"] = round(float(rng.uniform(0.75, 1.25)), 3)
    p["saturation"] = round(float(rng.uniform(0.6, 1.4)), 3)
    img = ImageEnhance.Brightness(img).enhance(p["brightness"])
    img = ImageEnhance.Contrast(img).enhance(p["contrast"])
    img = ImageEnhance.Color(img).enhance(p["saturation"])
    p["blur_radius"] = round(float(rng.uniform(0, 1.5)), 2)
    img = img.filter(ImageFilter.GaussianBlur(p["blur_radius"]))
    p["downsample"] = round(float(rng.uniform(1, 2.5)), 2)
    w, h = img.size
    small = img.resize((max(1, round(w / p["downsample"])), max(1, round(h / p["downsample"]))), Image.Resampling.BILINEAR)
    img = small.resize((w, h), Image.Resampling.BILINEAR)
    p["jpeg_quality"] = int(rng.integers(35, 91))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=p["jpeg_quality"])
    buf.seek(0)
    return Image.open(buf).convert("RGB"), p


def colour_synthetic(rng: np.random.Generator, n: int, data: Path) -> tuple[list, dict]:
    from PIL import Image

    portraits = sorted(p.name for p in (data / "portraits").iterdir() if p.suffix.lower() == ".jpg")
    pick = [portraits[i] for i in rng.choice(len(portraits), size=2 * n, replace=False)]
    out_dir = data / "synthetic"
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {}
    aug_of = {}
    for name in pick:
        img = Image.open(data / "portraits" / name).convert("RGB")
        aug, p = augment(img, rng)
        dst = out_dir / (Path(name).stem + "_aug.jpg")
        aug.save(dst, quality=95)
        aug_of[name] = f"synthetic/{dst.name}"
        record[dst.name] = {"source": f"portraits/{name}", **p}
    rows = []
    genuine, others = pick[:n], pick[n:]
    for k in range(n):
        rows.append((f"portraits/{genuine[k]}", aug_of[genuine[k]], 1))
        # impostor: another person's portrait against an augmented copy (one augmented side, as
        # in the genuine pairs, so augmentation alone cannot tell the kinds apart)
        rows.append((f"portraits/{others[k]}", aug_of[genuine[(k + 1) % n]], 0))
    return rows, record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="xfv-pairsets", description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=paths.DATA / "pairsets")
    ap.add_argument("--data", type=Path, default=paths.DATA)
    ap.add_argument("--orl-per-fold", type=int, default=30, help="genuine (and impostor) pairs per fold")
    ap.add_argument("--synthetic", type=int, default=100, help="synthetic genuine (and impostor) pairs")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows, folds = orl_pairs(rng, args.orl_per_fold)
    write_csv(args.out / "orl.csv", rows)
    (args.out / "orl.folds.json").write_text(json.dumps({"seed": args.seed, "fold_of_row": folds}) + "\n")
    write_csv(args.out / "colour_real.csv", colour_real())
    srows, record = colour_synthetic(rng, args.synthetic, args.data)
    write_csv(args.out / "colour_synthetic.csv", srows)
    (args.out / "colour_synthetic.augmentations.json").write_text(
        json.dumps({"seed": args.seed, "images": record}, indent=1) + "\n")
    for f in ("orl.csv", "colour_real.csv", "colour_synthetic.csv"):
        n = sum(1 for _ in open(args.out / f)) - 1
        print(f"{args.out / f}: {n} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
