//! Python tools the tests drive (Schemathesis, Selenium), from PyPI, in one
//! virtual environment made on first use (`target/api-tools-venv`), as the
//! gateway example does with its own (`target/gateway-venv`). Test processes
//! run in parallel, so making it is serialised by a lock file.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;

use api_tests::repo_root;

/// Pinned, so a run is the same run on every machine.
const PACKAGES: &[&str] = &["schemathesis==4.32.5", "selenium==4.51.0"];

/// The environment's directory, made and filled if it is not there yet.
pub fn venv() -> PathBuf {
    let venv = repo_root().join("target/api-tools-venv");
    let ready = venv.join(format!(".ready-{}", PACKAGES.join(",")));
    if ready.exists() {
        return venv;
    }
    std::fs::create_dir_all(repo_root().join("target")).unwrap();
    let lock = std::fs::File::create(repo_root().join("target/api-tools-venv.lock")).unwrap();
    // SAFETY: flock on a descriptor this function owns; released when `lock` drops.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0, "locking the venv");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES)
            .status()
            .expect("pip runs");
        assert!(pip.success(), "pip could not install {PACKAGES:?}");
        std::fs::write(&ready, "").unwrap();
    }
    venv
}
