"""xfv_tools.pairs: seeded pair lists for `xfv batch` (header, sizes, labels, reproducible)."""
import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from xfv_tools import pairs

DATA = Path(__file__).resolve().parents[2] / "data"


def rows(argv, tmp_path):
    out = tmp_path / "p.csv"
    assert pairs.main([*argv, "-o", str(out)]) == 0
    return list(csv.reader(io.StringIO(out.read_text())))


@pytest.mark.skipif(not (DATA / "index.json").exists(), reason="run scripts/setup first")
def test_lists_are_seeded_and_sized(tmp_path):
    demo = rows(["demo"], tmp_path)
    assert demo[0] == ["a", "b", "label"]
    assert ["obama/obama.jpg", "obama/obama2.jpg", "1"] in demo
    assert len(demo) == 1 + 6 + 300
    assert len({f for r in demo[1:] for f in r[:2]}) <= 60 + 4
    assert rows(["demo"], tmp_path) == demo
    one = rows(["one-to-n", "--gallery", "20"], tmp_path)[1:]
    assert len(one) == 20 and {r[0] for r in one} == {"obama/obama.jpg"}
    rnd = rows(["random", "--pairs", "50", "--photos", "10"], tmp_path)[1:]
    assert len(rnd) == len({tuple(r[:2]) for r in rnd}) == 50
    assert len({f for r in rnd for f in r[:2]}) <= 10
    assert all((DATA / r[0]).is_file() and (DATA / r[1]).is_file() for r in rnd)


@pytest.mark.skipif(not (DATA / "index.json").exists(), reason="run scripts/setup first")
def test_python_m_entry():
    o = subprocess.run([sys.executable, "-m", "xfv_tools.pairs", "one-to-n", "--gallery", "3"],
                       capture_output=True, text=True, cwd=Path(pairs.__file__).parents[1], check=True)
    assert o.stdout.splitlines()[0] == "a,b,label" and len(o.stdout.splitlines()) == 4
