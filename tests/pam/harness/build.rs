//! Builds what the tests run: the module, and the double's PAM and NSS programs,
//! once per test run, in this test's profile.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The module, built once per test run into this profile's target directory.
pub fn module() -> &'static Path {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        // target/<profile>/deps/<this test> → target/<profile>
        let exe = std::env::current_exe().expect("test exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("profile dir")
            .to_owned();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--lib", "--quiet"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --lib failed");
        let so = profile_dir.join("libpam_crowd.so");
        assert!(so.exists(), "{} missing", so.display());
        so
    })
}

/// `cargo build --quiet ARGS` in the module's profile; the profile directory.
pub fn build_in_profile(args: &[&str]) -> PathBuf {
    let profile_dir = module().parent().expect("profile dir").to_owned();
    let mut build = Command::new(env!("CARGO"));
    build
        .arg("build")
        .arg("--quiet")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("run cargo build").success(),
        "cargo build {args:?} failed"
    );
    profile_dir
}

/// The double's `pam-login` (a one-login PAM application), built once like the module.
pub fn pam_login() -> &'static Path {
    static PAM_LOGIN: OnceLock<PathBuf> = OnceLock::new();
    PAM_LOGIN.get_or_init(|| {
        build_in_profile(&["-p", "crowd-double", "--bin", "pam-login"]).join("pam-login")
    })
}
