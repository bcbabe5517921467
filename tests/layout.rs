//! The house rules a newcomer relies on, checked so a merge cannot quietly
//! break them: no import circle among the modules of any crate
//! (`scripts/import-cycles.py`), and no source file over 500 lines.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every crate's source folder (and the tests').
fn source_dirs() -> Vec<PathBuf> {
    let root = root();
    let mut dirs =
        vec![root.join("domain/src"), root.join("host/src"), root.join("native-worker/src"), root.join("bench/src")];
    for component in std::fs::read_dir(root.join("components")).unwrap() {
        let src = component.unwrap().path().join("src");
        if src.is_dir() {
            dirs.push(src);
        }
    }
    dirs
}

#[test]
fn no_crate_has_an_import_circle() {
    for dir in source_dirs() {
        let output = Command::new("python3")
            .arg(root().join("scripts/import-cycles.py"))
            .arg(&dir)
            .output()
            .expect("python3 runs");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}: {text}{}", dir.display(), String::from_utf8_lossy(&output.stderr));
        assert!(text.contains("no import circle"), "{text}");
    }
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && !matches!(name.as_str(), "target" | ".git" | "vendor" | "node_modules") {
            rust_files(&path, found);
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut files = Vec::new();
    for dir in ["domain", "components", "host", "native-worker", "tests", "bench"] {
        rust_files(&root().join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 500).then(|| format!("{} ({lines} lines)", file.strip_prefix(root()).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by role: {long:?}");
}
