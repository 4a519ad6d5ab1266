//! `.npy` interoperability with real NumPy: files we write load in numpy with the right shape,
//! dtype and bit-exact values, and files numpy writes load here. Skipped (with a note on stderr)
//! when the project venv's Python is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{Array2, Array3};
use xfv_report::{read_npy_f32, write_npy_f32};

/// The project venv's Python (made by scripts/setup), if it exists and has numpy.
fn numpy_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = root.join(".xfv/venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import numpy"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: no {} with numpy", py.display());
    }
    ok.then_some(py)
}

fn run_python(py: &Path, script: &str, args: &[&Path]) -> String {
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn numpy_loads_what_we_write() {
    let Some(py) = numpy_python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let m2 = dir.path().join("map.npy");
    let m3 = dir.path().join("stack.npy");
    let mt = dir.path().join("transposed.npy");
    // values numpy recomputes in float32: same formula, so the comparison is bit-exact
    let a = Array2::from_shape_fn((112, 96), |(y, x)| (y as f32) * 0.25 - (x as f32) * 1e-3);
    write_npy_f32(&m2, a.view()).expect("write 2d");
    let c = Array3::from_shape_fn((2, 3, 5), |(i, j, k)| (i * 100 + j * 10 + k) as f32 + 0.5);
    write_npy_f32(&m3, c.view().into_dyn()).expect("write dyn");
    write_npy_f32(&mt, a.t()).expect("write transposed view");

    let script = r#"
import sys, numpy as np
m2, m3, mt = (np.load(p, allow_pickle=False) for p in sys.argv[1:4])
y, x = np.meshgrid(np.arange(112, dtype=np.float32), np.arange(96, dtype=np.float32), indexing="ij")
want = y * np.float32(0.25) - x * np.float32(1e-3)
assert m2.dtype == np.dtype("<f4") and m2.shape == (112, 96), (m2.dtype, m2.shape)
assert m2.flags["C_CONTIGUOUS"]
assert m2.tobytes() == want.astype("<f4").tobytes(), np.abs(m2 - want).max()
i, j, k = np.meshgrid(np.arange(2), np.arange(3), np.arange(5), indexing="ij")
assert m3.shape == (2, 3, 5) and np.array_equal(m3, (i * 100 + j * 10 + k + 0.5).astype(np.float32))
assert mt.shape == (96, 112) and np.array_equal(mt, want.T)
with open(sys.argv[1], "rb") as f:
    head = f.read(10)
assert head[:8] == b"\x93NUMPY\x01\x00" and (10 + int.from_bytes(head[8:10], "little")) % 64 == 0
print("ok", m2.shape, m3.shape, mt.shape)
"#;
    let out = run_python(&py, script, &[&m2, &m3, &mt]);
    assert_eq!(out, "ok (112, 96) (2, 3, 5) (96, 112)");
}

#[test]
fn we_load_what_numpy_writes() {
    let Some(py) = numpy_python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let c_order = dir.path().join("c.npy");
    let f_order = dir.path().join("f.npy");
    let script = r#"
import sys, numpy as np
a = (np.arange(12, dtype=np.float32).reshape(3, 4) / 7).astype("<f4")
np.save(sys.argv[1], a)
np.save(sys.argv[2], np.asfortranarray(a))
"#;
    run_python(&py, script, &[&c_order, &f_order]);
    let want = Array2::from_shape_fn((3, 4), |(y, x)| (y * 4 + x) as f32 / 7.0).into_dyn();
    for p in [&c_order, &f_order] {
        let got = read_npy_f32(p).expect("read numpy file");
        assert_eq!(got, want, "{}", p.display());
    }
}
