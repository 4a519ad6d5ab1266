"""Hard-impostor mining (xfv_tools.hardpairs): the ranking by mean cosine over models, the caps
per two people and per photo, photos without a face left out, ties in path order, the rows."""

from __future__ import annotations

import numpy as np

from xfv_tools import hardpairs


def unit(*v):
    v = np.array(v, dtype=np.float32)
    return v / np.linalg.norm(v)


IMAGES = ["orl/s1/1.pgm", "orl/s1/2.pgm", "orl/s2/1.pgm", "orl/s2/2.pgm", "orl/s3/1.pgm"]


def test_most_similar_cross_person_pairs_first_same_person_never():
    # s1/1 ~ s2/1 (nearly the same direction), s1/2 ~ s3/1 less so; s1/1 and s1/2 identical but
    # the same person, so never an impostor
    e = np.stack([unit(1, 0, 0), unit(1, 0, 0), unit(1, 0.1, 0), unit(0, 0, 1), unit(1, 1, 0)])
    got = hardpairs.hardest_impostors(IMAGES, {"m": e}, n=3, per_people=5, per_image=5)
    pairs = [(g["a"], g["b"]) for g in got]
    assert pairs[0] in {("orl/s1/1.pgm", "orl/s2/1.pgm"), ("orl/s1/2.pgm", "orl/s2/1.pgm")}
    assert pairs[:2] == [("orl/s1/1.pgm", "orl/s2/1.pgm"), ("orl/s1/2.pgm", "orl/s2/1.pgm")], \
        "equal scores go in image order"
    assert all(hardpairs.person_of(a) != hardpairs.person_of(b) for a, b in pairs)
    assert got[0]["scores"]["m"] == got[0]["mean"]
    assert np.isclose(got[0]["mean"], float(unit(1, 0, 0) @ unit(1, 0.1, 0)))
    assert [g["mean"] for g in got] == sorted((g["mean"] for g in got), reverse=True)


def test_mean_over_models_decides():
    """Against a plain loop over every cross-person pair (no caps): the order by mean cosine."""
    rng = np.random.default_rng(1)
    images = [f"orl/s{p}/{k}.pgm" for p in range(1, 5) for k in range(1, 4)]
    emb = {m: rng.normal(size=(len(images), 5)) for m in ("a", "b")}
    got = hardpairs.hardest_impostors(images, emb, n=1000, per_people=99, per_image=99)
    cos = lambda u, v: float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))  # noqa: E731
    want = []
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            if hardpairs.person_of(images[i]) != hardpairs.person_of(images[j]):
                s = {m: cos(e[i], e[j]) for m, e in emb.items()}
                want.append(((s["a"] + s["b"]) / 2, images[i], images[j], s))
    want.sort(key=lambda w: -w[0])
    assert [(g["a"], g["b"]) for g in got] == [(w[1], w[2]) for w in want]
    assert np.allclose([g["mean"] for g in got], [w[0] for w in want])
    assert np.allclose([g["scores"]["b"] for g in got], [w[3]["b"] for w in want])
    # the mean is not either model's own ranking (so the test tells them apart)
    by_a = sorted(want, key=lambda w: -w[3]["a"])
    assert [w[1:3] for w in by_a] != [w[1:3] for w in want]


def test_caps_per_two_people_and_per_image_and_faceless_images():
    rng = np.random.default_rng(0)
    images = [f"orl/s{p}/{k}.pgm" for p in range(1, 5) for k in range(1, 4)]
    e = rng.normal(size=(len(images), 8)).astype(np.float32)
    e[:6] = e[0] + 0.01 * rng.normal(size=(6, 8))  # s1 and s2 look alike
    e[4] = np.nan  # orl/s2/2.pgm has no face
    got = hardpairs.hardest_impostors(images, {"m": e}, n=100, per_people=2, per_image=1)
    pp = {}
    seen = []
    for g in got:
        key = tuple(sorted((hardpairs.person_of(g["a"]), hardpairs.person_of(g["b"]))))
        pp[key] = pp.get(key, 0) + 1
        seen += [g["a"], g["b"]]
        assert g["a"] < g["b"]
    assert max(pp.values()) <= 2
    assert len(seen) == len(set(seen)), "each image once with per_image=1"
    assert "orl/s2/2.pgm" not in seen
    assert pp.get(("s1", "s2")) == 2, "the look-alike couple fills its cap first"
    assert got[0]["mean"] > 0.99


def test_interleave_keeps_every_row():
    assert hardpairs.interleave([1, 2, 3], ["a"]) == [1, "a", 2, 3]
    assert hardpairs.interleave([], ["a", "b"]) == ["a", "b"]


def test_main_end_to_end_on_a_few_real_orl_photos(tmp_path):
    """The command as a user runs it, through `xfv embed` with the real models, on a copy of
    three people's ORL photos: a pairs CSV with the genuine rows kept and hard impostors added,
    and a JSON record whose scores are the cosines of the embedded photos."""
    import json
    import shutil

    from xfv_helpers import need, need_binary

    from xfv_tools import paths

    exe = need_binary()
    src = paths.DATA / "orl"
    need(src / "s1" / "1.pgm", paths.MODELS / "sface.onnx", paths.MODELS / "mobilefacenet.onnx")
    data = tmp_path / "data"
    for p in ("s1", "s2", "s3"):
        (data / "orl" / p).mkdir(parents=True)
        for k in (1, 2, 3):
            shutil.copy(src / p / f"{k}.pgm", data / "orl" / p / f"{k}.pgm")
    genuine = tmp_path / "orl.csv"
    genuine.write_text("a,b,label\norl/s1/1.pgm,orl/s1/2.pgm,1\norl/s2/1.pgm,orl/s3/1.pgm,0\n")
    out = tmp_path / "hard.csv"
    assert hardpairs.main(["--xfv", str(exe), "--data", str(data), "--genuine-from", str(genuine),
                           "--out", str(out), "--impostors", "4", "--per-people", "2",
                           "--per-image", "2", "--threads", "1"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "a,b,label"
    rows = [line.split(",") for line in lines[1:]]
    assert rows[0] == ["orl/s1/1.pgm", "orl/s1/2.pgm", "1"]
    assert sum(r[2] == "0" for r in rows) == 4 and len(rows) == 5
    rec = json.loads(out.with_suffix(".json").read_text())
    assert rec["models"] == ["sface", "mobilefacenet"] and rec["genuine"] == 1
    means = [h["mean"] for h in rec["impostors"]]
    assert means == sorted(means, reverse=True)
    for h, r in zip(rec["impostors"], [r for r in rows if r[2] == "0"]):
        assert (h["a"], h["b"]) == (r[0], r[1])
        assert hardpairs.person_of(h["a"]) != hardpairs.person_of(h["b"])
        assert -1 <= h["scores"]["sface"] <= 1 and abs(h["mean"] - sum(h["scores"].values()) / 2) < 1e-9
