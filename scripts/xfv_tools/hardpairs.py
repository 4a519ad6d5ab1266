"""A hard-impostor pair set, to test FGGB's claim on dissimilarity maps (`shared/spec/fggb.md`:
better than xSSAB on dissimilarity deletion). On the random ORL pairs (`orl.csv`) every impostor
scores far below the threshold, so no perturbation turns it into an Accept and every method's
dissimilarity curve sits at 100 %. Here the impostors are the most similar cross-person pairs of
all ORL photos, as the models see them - the regime of LFW's look-alike impostors.

    python -m xfv_tools.hardpairs [--xfv ../target/release/xfv] [--impostors 200]

Writes `data/pairsets/orl_hard.csv` (`a,b,label`, paths relative to data/):
  - genuine pairs: those of `orl.csv` (they set the clean EER threshold; score only the
    impostors with `xfv eval --maps dissimilarity`);
  - impostor pairs: every cross-person pair of the 400 ORL photos scored with each model
    (`xfv embed`, this repository's detection and alignment; photos with no face left out),
    ranked by the mean cosine over the models, taken greedily from the top with at most
    `--per-people` pairs per two people and `--per-image` pairs per photo (so a few look-alike
    couples cannot fill the set); the probe (`a`, the perturbed side) is the photo that comes
    first in path order.
and `orl_hard.json`: the rule, each model's scores of the chosen impostors, and how they compare
with the random impostors of `orl.csv`. Deterministic: no random numbers, ties broken by path.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import paths
from .pairsets import write_csv

DEFAULT_MODELS = ("sface", "mobilefacenet")


def person_of(path: str) -> str:
    """`orl/s12/3.pgm` -> `s12`."""
    return Path(path).parent.name


def cosines(e: np.ndarray) -> np.ndarray:
    """`[N, N]` cosine of every two rows of `e` (in float64); a NaN row (an image that failed)
    gives NaN."""
    e = e.astype(np.float64)
    n = np.linalg.norm(e, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = e / n
    return u @ u.T


def hardest_impostors(
    images: list[str],
    embeddings: dict[str, np.ndarray],
    n: int,
    per_people: int = 2,
    per_image: int = 2,
) -> list[dict]:
    """The `n` most similar cross-person pairs of `images`, by the mean over models of the cosine
    of their L2-normalised `embeddings` (`[len(images), D]` per model; a NaN row leaves that image
    out), taken greedily from the top with at most `per_people` pairs per two people and
    `per_image` pairs per image. Ties go by image order. Each pair: `a` < `b` in image order,
    `mean` and per-model `scores`."""
    ok = np.ones(len(images), dtype=bool)
    for e in embeddings.values():
        ok &= ~np.isnan(e).any(axis=1)
    people = np.array([person_of(p) for p in images])
    sims = {m: cosines(e) for m, e in embeddings.items()}
    mean = sum(sims.values()) / len(sims)
    i, j = np.triu_indices(len(images), k=1)
    keep = ok[i] & ok[j] & (people[i] != people[j])
    i, j = i[keep], j[keep]
    score = mean[i, j]
    # highest mean first; equal means in image order (lexsort: last key is the primary one)
    order = np.lexsort((j, i, -score))
    per_pp: dict[tuple[str, str], int] = {}
    per_img = np.zeros(len(images), dtype=int)
    out = []
    for k in order:
        a, b = int(i[k]), int(j[k])
        pp = tuple(sorted((people[a], people[b])))
        if per_pp.get(pp, 0) >= per_people or per_img[a] >= per_image or per_img[b] >= per_image:
            continue
        per_pp[pp] = per_pp.get(pp, 0) + 1
        per_img[a] += 1
        per_img[b] += 1
        out.append({
            "a": images[a],
            "b": images[b],
            "mean": float(score[k]),
            "scores": {m: float(s[a, b]) for m, s in sims.items()},
        })
        if len(out) == n:
            break
    return out


def embed(xfv: Path, model: str, images: list[str], data: Path, threads: int | None) -> np.ndarray:
    """`[len(images), D]` embeddings by `xfv embed` (NaN rows for images with no usable face)."""
    with tempfile.TemporaryDirectory() as tmp:
        lst = Path(tmp) / "images.txt"
        lst.write_text("".join(f"{p}\n" for p in images))
        cmd = [str(xfv)] + (["--threads", str(threads)] if threads else []) + [
            "embed", "--list", str(lst), "--images-root", str(data), "-o", tmp, "--model", model]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        from numpy.lib import format as npy

        return npy.read_array(open(Path(tmp) / "embeddings.npy", "rb"))


def interleave(genuine: list, impostor: list) -> list:
    """Genuine and impostor rows alternating, the longer list's rest at the end."""
    rows = []
    for k in range(max(len(genuine), len(impostor))):
        rows += genuine[k:k + 1] + impostor[k:k + 1]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="xfv-hardpairs", description=__doc__.splitlines()[0])
    ap.add_argument("--xfv", type=Path, default=paths.REPO / "target" / "release" / "xfv")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated")
    ap.add_argument("--data", type=Path, default=paths.DATA)
    ap.add_argument("--genuine-from", type=Path, default=paths.DATA / "pairsets" / "orl.csv")
    ap.add_argument("--out", type=Path, default=paths.DATA / "pairsets" / "orl_hard.csv")
    ap.add_argument("--impostors", type=int, default=200)
    ap.add_argument("--per-people", type=int, default=2, help="pairs per two people at most")
    ap.add_argument("--per-image", type=int, default=2, help="pairs per photo at most")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if not args.xfv.exists():
        ap.error(f"{args.xfv} does not exist: build it with `cargo build --release -p xfv-cli`")
    if not args.genuine_from.exists():
        ap.error(f"{args.genuine_from} does not exist: run `python -m xfv_tools.pairsets` first")
    images = sorted(str(p.relative_to(args.data)) for p in (args.data / "orl").glob("s*/*.pgm"))
    models = [m for m in args.models.split(",") if m]
    emb = {m: embed(args.xfv, m, images, args.data, args.threads) for m in models}
    hard = hardest_impostors(images, emb, args.impostors, args.per_people, args.per_image)
    lines = args.genuine_from.read_text().splitlines()[1:]
    rows = [tuple(line.split(",")) for line in lines if line]
    genuine = [(a, b, 1) for a, b, lab in rows if lab == "1"]
    write_csv(args.out, interleave(genuine, [(h["a"], h["b"], 0) for h in hard]))
    # how the chosen impostors compare with the random ones
    index = {p: k for k, p in enumerate(images)}
    sims = {m: cosines(e) for m, e in emb.items()}
    random_imp = {m: [float(sims[m][index[a], index[b]])
                      for a, b, lab in rows if lab == "0" and a in index and b in index]
                  for m in models}
    summary = {
        m: {
            "chosen_min": min(h["scores"][m] for h in hard),
            "chosen_median": float(np.median([h["scores"][m] for h in hard])),
            "chosen_max": max(h["scores"][m] for h in hard),
            "random_impostor_median": float(np.nanmedian(random_imp[m])),
            "random_impostor_max": float(np.nanmax(random_imp[m])),
        }
        for m in models
    }
    record = {
        "rule": "cross-person ORL pairs by mean cosine over the models, greedy from the top",
        "models": models,
        "per_people": args.per_people,
        "per_image": args.per_image,
        "genuine_from": str(args.genuine_from.relative_to(args.data)) if args.genuine_from.is_relative_to(args.data) else str(args.genuine_from),
        "genuine": len(genuine),
        "images_without_face": [p for k, p in enumerate(images)
                                if any(np.isnan(e[k]).any() for e in emb.values())],
        "summary": summary,
        "impostors": hard,
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{args.out}: {len(genuine)} genuine + {len(hard)} hard impostor pairs")
    for m, s in summary.items():
        print(f"  {m}: chosen impostors cosine {s['chosen_min']:.3f}..{s['chosen_max']:.3f} "
              f"(median {s['chosen_median']:.3f}); random ORL impostors median "
              f"{s['random_impostor_median']:.3f}, max {s['random_impostor_max']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
