"""Markdown tables from `xfv eval` results (results.json), for docs/evaluation.md:

    python -m xfv_tools.eval_table out/eval/*/results.json

First the clean verification per model and pair set, then deletion/insertion areas (%) per
method, map kind and metric, then explanation time per pair.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ORDER = ["fggb", "xssab", "similarity-gradient", "corrrise"]


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
        keys = sorted({(c["map"], c["metric"]) for c in r["curves"]}, key=lambda k: (k[0] != "similarity", k[1]))
        for mp, metric in keys:
            cells, n = [], 0
            for m in ORDER:
                c = [c for c in r["curves"] if c["method"] == m and c["map"] == mp and c["metric"] == metric]
                cells.append(f"{c[0]['area_x100']:.2f}" if c else "-")
                n = c[0]["pairs"] if c else n
            arrow = "lower better" if metric == "deletion" else "higher better"
            print(f"| {r['model']} | {Path(r['pairs_file']).stem} | {mp} ({n}) | {metric} ({arrow}) | " + " | ".join(cells) + " |")
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
