"""Pair lists for `xfv batch`, seeded and reproducible, from data/index.json.

    python -m xfv_tools.pairs demo [--portraits 300 --photos 60] [-o pairs.csv]  # Obama + portrait pairs
    python -m xfv_tools.pairs one-to-n [--gallery 200] [-o pairs.csv]   # obama.jpg vs N portraits (1:N)
    python -m xfv_tools.pairs random [--pairs 500 --photos 100] [-o pairs.csv]

Writes CSV with header `a,b,label` (label 1 same identity, 0 different); paths are relative to
data/ (pass `--images-root data` to xfv batch). Portraits are one photo per person, so portrait
pairs are all different-person pairs.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"


def identities(data: Path) -> dict[str, list[str]]:
    return json.loads((data / "index.json").read_text())["identities"]


def photo_identity(ids: dict[str, list[str]]) -> dict[str, str]:
    return {f: name for name, files in ids.items() for f in files}


def obama_pairs(ids: dict[str, list[str]]) -> list[tuple[str, str, int]]:
    obama = [f for f in ids["obama/obama"] if "partial" not in f]
    biden = ids["obama/biden"]
    rows = [(a, b, 1) for a, b in itertools.combinations(obama, 2)]
    rows += [(a, b, 0) for a in obama for b in biden]
    return rows


def portraits(ids: dict[str, list[str]]) -> list[str]:
    return sorted(f for name, files in ids.items() if name.startswith("portraits/") for f in files)


def demo(ids, n: int, n_photos: int, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    # few photos, many pairs each: the batch's cost grows with images, not pairs
    photos = rng.sample(portraits(ids), n_photos)
    chosen: set[tuple[str, str]] = set()
    while len(chosen) < min(n, len(photos) * (len(photos) - 1) // 2):
        a, b = rng.sample(photos, 2)
        chosen.add((a, b))
    return obama_pairs(ids) + [(a, b, 0) for a, b in sorted(chosen)]


def one_to_n(ids, n: int, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    gallery = rng.sample(portraits(ids), n)
    return [("obama/obama.jpg", g, 0) for g in gallery]


def random_pairs(ids, n_pairs: int, n_photos: int, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    photos = rng.sample(portraits(ids), n_photos)
    who = photo_identity(ids)
    chosen: set[tuple[str, str]] = set()
    while len(chosen) < n_pairs:
        a, b = rng.sample(photos, 2)
        chosen.add((a, b))
    return [(a, b, int(who[a] == who[b])) for a, b in sorted(chosen)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xfv_tools.pairs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["demo", "one-to-n", "random"])
    p.add_argument("--portraits", type=int, default=300, help="demo: portrait pairs")
    p.add_argument("--gallery", type=int, default=200, help="one-to-n: gallery size")
    p.add_argument("--pairs", type=int, default=500, help="random: pairs")
    p.add_argument("--photos", type=int, default=None,
                   help="demo/random: distinct portrait photos (default 60 / 100)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("-o", "--out", type=Path, help="output file (default: stdout)")
    a = p.parse_args(argv)
    ids = identities(a.data)
    if a.photos is None:
        a.photos = 60 if a.kind == "demo" else 100
    if a.kind == "demo":
        rows = demo(ids, a.portraits, a.photos, a.seed)
    elif a.kind == "one-to-n":
        rows = one_to_n(ids, a.gallery, a.seed)
    else:
        rows = random_pairs(ids, a.pairs, a.photos, a.seed)
    # xfv batch splits CSV fields on commas without quoting rules
    bad = [f for row in rows for f in row[:2] if "," in f or "\n" in f]
    if bad:
        p.error(f"paths with commas need TSV: {bad[:3]}")
    out = open(a.out, "w", newline="") if a.out else sys.stdout
    try:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["a", "b", "label"])
        w.writerows(rows)
    finally:
        if a.out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
