//! Shared by the binary tests: run `xfv` as a user does, from the repository root.

#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs the `xfv` binary with `args` in the repository root (models/ and data/ resolve as for a
/// user of the checkout), without an inherited XFV_MODELS.
pub fn xfv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xfv"))
        .args(args)
        .current_dir(xfv_testutil::repo())
        .env_remove("XFV_MODELS")
        .output()
        .expect("run xfv")
}

/// The run's stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The run's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
