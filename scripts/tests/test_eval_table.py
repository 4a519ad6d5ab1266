"""The docs tables from `xfv eval` results (xfv_tools.eval_table): one row per model x pair set,
cells per method with `-` for a method not run, the mean-score table only for runs that record
mean scores, the direction of "better" per map kind and metric."""

from __future__ import annotations

import json

from xfv_tools import eval_table


def curve(method, mp, metric, area, mean=None):
    c = {"method": method, "map": mp, "metric": metric, "pairs": 3, "area_x100": area}
    if mean is not None:
        c["mean_score"] = mean
        c["mean_score_area"] = sum(mean) / len(mean)
    return c


def results(tmp_path, name, curves):
    r = {
        "model": "sface", "pairs_file": f"data/pairsets/{name}.csv", "images": 5, "images_failed": [],
        "verification": {"pairs": 6, "genuine": 3, "impostor": 3, "eer": {"eer": 0.0}, "threshold": 0.41,
                         "accuracy": 1.0, "auc": 1.0},
        "curves": curves, "timings": [{"method": "fggb", "per_pair_ms": 12.0}],
        "wall_s": 3.0, "load_avg_start": "1 1 1", "load_avg_end": "2 2 2",
    }
    p = tmp_path / name / "results.json"
    p.parent.mkdir()
    p.write_text(json.dumps(r))
    return str(p)


def test_tables(tmp_path, capsys):
    old = results(tmp_path, "orl", [curve("fggb", "similarity", "deletion", 11.65)])
    new = results(tmp_path, "orl_hard", [
        curve("fggb", "dissimilarity", "deletion", 99.95, [0.3, 0.1, 0.0]),
        curve("corrrise", "dissimilarity", "deletion", 96.7, [0.3, 0.34, 0.0]),
    ])
    assert eval_table.main([old, new]) == 0
    out = capsys.readouterr().out
    assert "| sface | orl | similarity (3) | deletion (lower better) | 11.65 | - | - | - |" in out
    assert "| sface | orl_hard | dissimilarity (3) | deletion (lower better) | 99.95 | - | - | 96.70 |" in out
    # mean scores: only the run that has them; dissimilarity deletion should raise the score
    assert ("| sface | orl_hard | dissimilarity (3) | deletion (higher better) | 0.300 | 0.133 | - | - "
            "| 0.213 |") in out
    score_table = out.split("| mean score area |")[1].split("\n\n")[0]
    assert "| orl |" not in score_table, "the run without mean scores has no row there"
    assert "| sface | orl_hard | 12 | - | - | - | 3 |" in out
