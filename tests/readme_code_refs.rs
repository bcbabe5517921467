//! The README's sections as the rest of the repository names them: a
//! comment or message saying `(README, "Caching")` or `README's "Passkeys"`
//! must name a heading that exists. The README's own references are
//! checked in `readme.rs`; these are the ones a README edit cannot see
//! (commit ccfb163 dropped "Signing keys and rotation" while `spin.toml`
//! and `scripts/secrets.sh` still pointed at it).

use std::path::{Path, PathBuf};

use super::{assert_no_problems, headings, names_a_heading, read_readme, repo_root};

/// Kinds of files whose comments may point into the README.
const EXTENSIONS: &[&str] = &["rs", "sh", "toml", "py", "yaml", "yml", "sql"];

/// Files and folders that are not the project's prose: build output, the
/// README's own checks (which hold broken references on purpose).
const SKIPPED: &[&str] = &["target", ".git", "node_modules", "readme.rs", "readme_code_refs.rs"];

fn files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if SKIPPED.contains(&name.as_str()) || name.starts_with('.') && name != ".ci" {
            continue;
        }
        if path.is_dir() {
            files(&path, found);
        } else if path.extension().is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().as_ref())) {
            found.push(path);
        }
    }
}

/// The text with comment markers at line starts dropped and lines joined,
/// so a reference broken over two comment lines reads as one.
fn prose(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.trim_start();
            ["//!", "///", "//", "#", "--"].iter().find_map(|m| line.strip_prefix(m)).unwrap_or(line).trim()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The quoted names after `README`, `README,` or `README's` (and `section`).
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("README") {
        let after = &rest[at + "README".len()..];
        let after = after.strip_prefix("'s").or_else(|| after.strip_prefix(',')).unwrap_or(after).trim_start();
        let after = after.strip_prefix("section").unwrap_or(after).trim_start();
        if let Some(quoted) = after.strip_prefix('"')
            && let Some(end) = quoted.find('"').filter(|end| *end <= 80)
        {
            found.push(quoted[..end].to_owned());
        }
        rest = &rest[at + "README".len()..];
    }
    found
}

#[test]
fn references_from_the_code_name_existing_headings() {
    let present = headings(&read_readme());
    let root = repo_root();
    let mut paths = Vec::new();
    files(&root, &mut paths);
    let mut seen = 0;
    let mut problems = Vec::new();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for name in references(&prose(&text)) {
            seen += 1;
            if !names_a_heading(&name, &present) {
                let file = path.strip_prefix(&root).unwrap_or(&path).display();
                problems.push(format!("{file}: the reference \"{name}\" names no heading of README.md"));
            }
        }
    }
    // The check must see the references the code is known to make.
    assert!(seen >= 20, "only {seen} references to the README found in the code; the scan is broken");
    assert_no_problems("references from the code", problems);
}

#[test]
fn references_are_read_across_comment_lines_and_forms() {
    let text = prose("# keys (README,\n# \"Signing keys and rotation\") first\n//! see the README's \"Passkeys\"");
    assert_eq!(references(&text), ["Signing keys and rotation", "Passkeys"]);
    assert_eq!(references("README \"Caching\", and README section \"Logs\""), ["Caching", "Logs"]);
    assert!(references("the README says \"no\"").is_empty(), "a quote that does not follow README");
}
