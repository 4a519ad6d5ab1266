"""Pair sets (xfv_tools.pairsets) and the baseline reference's mask generator: seeded and
deterministic, balanced, LFW-like folds with disjoint people, the CSV format `a,b,label`."""

from __future__ import annotations

import numpy as np

from xfv_tools import baseline_reference as br
from xfv_tools import pairsets


def test_orl_pairs_are_balanced_folded_and_seeded():
    rows, folds = pairsets.orl_pairs(np.random.default_rng(0), per_fold=5)
    again, _ = pairsets.orl_pairs(np.random.default_rng(0), per_fold=5)
    assert rows == again
    assert len(rows) == 100 and len(folds) == 100
    assert sum(r[2] for r in rows) == 50
    person = lambda p: p.split("/")[1]  # noqa: E731
    people_of = {}
    for (a, b, lab), f in zip(rows, folds):
        assert (person(a) == person(b)) == (lab == 1)
        assert a != b
        people_of.setdefault(f, set()).update({person(a), person(b)})
    for f in people_of:
        for g in people_of:
            if f < g:
                assert not people_of[f] & people_of[g], "folds share people"


def test_csv_format(tmp_path):
    p = tmp_path / "x.csv"
    pairsets.write_csv(p, [("orl/s1/1.pgm", "orl/s1/2.pgm", 1)])
    assert p.read_text() == "a,b,label\norl/s1/1.pgm,orl/s1/2.pgm,1\n"


def test_colour_real_pairs():
    rows = pairsets.colour_real()
    assert sum(r[2] for r in rows) == 3 and len(rows) == 6


def test_splitmix64_and_masks():
    r = br.SplitMix64(0)
    assert r.next() == 0xE220A8397B1DCDAF
    assert r.next() == 0x6E789E6AA1B965F4
    m = br.masks(10, 112, 112, seed=0)
    assert m.shape == (10, 112, 112)
    black = (m == 0).reshape(10, -1).sum(axis=1)
    assert ((black >= 900) & (black <= 2700)).all()


def test_average_ranks_ties():
    assert br.avg_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
