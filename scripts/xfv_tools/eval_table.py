"""Markdown tables from `xfv eval` results (results.json), for docs/evaluation.md:

    python -m xfv_tools.eval_table out/eval/*/results.json

First the clean verification per model and pair set, then deletion/insertion areas (%) of the
accuracy per method, map kind and metric, then (for runs that record it) the areas of the mean
perturbed score, then explanation time per pair.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ORDER = ["fggb", "xssab", "similarity-gradient", "corrrise"]
#: which way a faithful map moves the mean score: deleting what makes two faces alike lowers it,
#: deleting what makes them differ raises it; insertion the other way round
SCORE_BETTER = {
    ("similarity", "deletion"): "lower better",
    ("similarity", "insertion"): "higher better",
    ("dissimilarity", "deletion"): "higher better",
    ("dissimilarity", "insertion"): "lower better",
}


def cell_keys(r: dict) -> list:
    return sorted({(c["map"], c["metric"]) for c in r["curves"]}, key=lambda k: (k[0] != "similarity", k[1]))


def find(r: dict, method: str, mp: str, metric: str) -> dict | None:
    c = [c for c in r["curves"] if c["method"] == method and c["map"] == mp and c["metric"] == metric]
    return c[0] if c else None


def main(argv: list[str] | None = None) -> int:
    files = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    runs = [(p, json.loads(p.read_text())) for p in files]
    print("| model | pair set | pairs (genuine / impostor) | images (failed) | EER (%) | EER threshold | accuracy (%) | AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for p, r in runs:
        v = r["verification"]
        failed = len(r.get("images_failed", []))
        print(f"| {r['model']} | {Path(r['pairs_file']).stem} | {v['pairs']} ({v['genuine']} / {v['impostor']}) "
              f"| {r.get('images', '?')} ({failed}) "
              f"| {100 * v['eer']['eer']:.2f} | {v['threshold']:.3f} | {100 * v['accuracy']:.2f} | {v['auc']:.4f} |")
    print()
    print("| model | pair set | maps (pairs) | metric | " + " | ".join(ORDER) + " |")
    print("|---|---|---|---|" + "---|" * len(ORDER))
    for p, r in runs:
        for mp, metric in cell_keys(r):
            cells, n = [], 0
            for m in ORDER:
                c = find(r, m, mp, metric)
                cells.append(f"{c['area_x100']:.2f}" if c else "-")
                n = c["pairs"] if c else n
            arrow = "lower better" if metric == "deletion" else "higher better"
            print(f"| {r['model']} | {Path(r['pairs_file']).stem} | {mp} ({n}) | {metric} ({arrow}) | " + " | ".join(cells) + " |")
    print()
    scored = [(p, r) for p, r in runs if any("mean_score_area" in c for c in r["curves"])]
    if scored:
        print("| model | pair set | maps (pairs) | mean score area | clean | " + " | ".join(ORDER) + " |")
        print("|---|---|---|---|---|" + "---|" * len(ORDER))
        for p, r in scored:
            for mp, metric in cell_keys(r):
                cells, n, clean = [], 0, "-"
                for m in ORDER:
                    c = find(r, m, mp, metric)
                    cells.append(f"{c['mean_score_area']:.3f}" if c and "mean_score_area" in c else "-")
                    if c and "mean_score" in c:
                        n = c["pairs"]
                        # the clean probe's mean score: P = 0 of deletion (P = 100 of insertion)
                        clean = f"{c['mean_score'][0 if metric == 'deletion' else -1]:.3f}"
                print(f"| {r['model']} | {Path(r['pairs_file']).stem} | {mp} ({n}) | {metric} "
                      f"({SCORE_BETTER[(mp, metric)]}) | {clean} | " + " | ".join(cells) + " |")
        print()
    print("| model | pair set | " + " | ".join(f"{m} (ms/pair)" for m in ORDER) + " | wall (s) | load start -> end |")
    print("|---|---|" + "---|" * len(ORDER) + "---|---|")
    for p, r in runs:
        t = {x["method"]: x["per_pair_ms"] for x in r["timings"]}
        cells = [f"{t[m]:.0f}" if m in t else "-" for m in ORDER]
        print(f"| {r['model']} | {Path(r['pairs_file']).stem} | " + " | ".join(cells)
              + f" | {r['wall_s']:.0f} | {r['load_avg_start']} -> {r['load_avg_end']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
