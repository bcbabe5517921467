//! The README's integrity, so a merge cannot silently drop a section again
//! (commit 2fbe3aa deleted "Deploying" while three places still pointed at
//! it). Reads README.md and fails, naming each problem, when:
//! - a required top-level section (`## …`) is missing;
//! - a quoted section reference (`see "Deploying"`, `(README, "Quorum
//!   queues")`, `README "Decisions"`, `section "…"`) names no heading (a
//!   reference may be the start of a heading, as "Decisions" is of "Decisions
//!   where the contract is silent");
//! - a markdown link points to a file that does not exist, or to an anchor no
//!   heading produces (GitHub's slugs);
//! - a path in the first column of "What is here" does not exist;
//! - the first commands are not `scripts/up.sh` and `scripts/test.sh`, or
//!   either script is missing or not executable.
//!
//! Only std: the README's markdown is simple enough to read line by line.

#[path = "readme_code_refs.rs"]
mod code_refs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The top-level sections the README must keep.
const REQUIRED_SECTIONS: &[&str] = &[
    "On a fresh machine",
    "What is here",
    "The host",
    "Configuration",
    "The worker",
    "Deploying",
    "Tests",
    "The API",
    "Benchmark",
    "Decisions where the contract is silent",
];

/// The words after which a double-quoted string is a section reference:
/// `see "X"`, `section "X"`, `(README, "X")`, `README "X"`, `README's "X"`.
const REFERENCE_WORDS: &[&str] = &["see", "section", "sections", "readme", "readme's"];

/// The first commands a newcomer runs, in order.
const FIRST_COMMANDS: &[&str] = &["scripts/up.sh", "scripts/test.sh"];

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn read_readme() -> String {
    let path = repo_root().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn assert_no_problems(check: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "README.md: {check}: {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "));
}

/// One line of the README, as markdown sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prose,
    /// Inside a fenced block, or indented by four spaces after a blank line.
    Code,
    /// A fence line itself (```), neither prose nor code.
    Fence,
}

struct Line<'a> {
    number: usize,
    text: &'a str,
    kind: Kind,
}

fn lines(markdown: &str) -> Vec<Line<'_>> {
    let mut out: Vec<Line<'_>> = Vec::new();
    let mut fenced = false;
    for (i, text) in markdown.lines().enumerate() {
        let trimmed = text.trim_start();
        // An indented block starts after a blank line (or another code line)
        // and goes on while lines stay indented.
        let indented = (text.starts_with("    ") || text.starts_with('\t'))
            && !trimmed.is_empty()
            && out.last().is_none_or(|p| p.text.trim().is_empty() || p.kind == Kind::Code);
        let kind = if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            Kind::Fence
        } else if fenced || indented {
            Kind::Code
        } else {
            Kind::Prose
        };
        out.push(Line { number: i + 1, text, kind });
    }
    out
}

#[derive(Debug, Clone)]
struct Heading {
    level: usize,
    text: String,
}

fn headings(markdown: &str) -> Vec<Heading> {
    lines(markdown)
        .iter()
        .filter(|l| l.kind == Kind::Prose)
        .filter_map(|l| {
            let hashes = l.text.chars().take_while(|c| *c == '#').count();
            let rest = &l.text[hashes..];
            ((1..=6).contains(&hashes) && rest.starts_with(' '))
                .then(|| Heading { level: hashes, text: rest.trim().trim_end_matches('#').trim().to_owned() })
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, inline markup and punctuation
/// dropped (letters, digits, `-` and `_` kept), each space a `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor the headings produce; a repeated heading gets `-1`, `-2`, ….
fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    headings(markdown)
        .iter()
        .map(|h| {
            let base = slug(&h.text);
            let n = seen.entry(base.clone()).or_insert(0);
            let anchor = if *n == 0 { base.clone() } else { format!("{base}-{n}") };
            *n += 1;
            anchor
        })
        .collect()
}

/// The prose as one string (lines joined by spaces, so a reference broken
/// over two lines is whole), with inline code spans blanked out, and the
/// line each byte came from.
struct Prose {
    text: String,
    line_of: Vec<usize>,
}

impl Prose {
    fn new(markdown: &str) -> Self {
        let mut text = String::new();
        let mut line_of = Vec::new();
        for l in lines(markdown).iter().filter(|l| l.kind == Kind::Prose) {
            for _ in 0..l.text.len() + 1 {
                line_of.push(l.number);
            }
            text.push_str(l.text);
            text.push(' ');
        }
        // Blank out `code` (same length, so byte offsets keep their lines).
        let mut out = String::with_capacity(text.len());
        let mut in_code = false;
        for c in text.chars() {
            if c == '`' {
                in_code = !in_code;
                out.push(' ');
            } else if in_code {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            } else {
                out.push(c);
            }
        }
        Prose { text: out, line_of }
    }

    fn line(&self, offset: usize) -> usize {
        self.line_of.get(offset).copied().unwrap_or(0)
    }
}

/// A section reference: the quoted heading text and the line it is on.
#[derive(Debug, PartialEq)]
struct Reference {
    name: String,
    line: usize,
}

fn references(markdown: &str) -> (Vec<Reference>, Vec<String>) {
    let prose = Prose::new(markdown);
    let text = prose.text.as_str();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut chained = false;
    let mut i = 0;
    while let Some(at) = text[i..].find('"').map(|n| n + i) {
        let before = text[..at].trim_end();
        let word = before
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("")
            .trim_start_matches('(')
            .trim_end_matches([',', ':'])
            .to_lowercase();
        let is_reference = chained || REFERENCE_WORDS.contains(&word.as_str());
        chained = false;
        if !is_reference {
            i = at + 1;
            continue;
        }
        let Some(end) = text[at + 1..].find('"').map(|n| n + at + 1).filter(|end| end - at <= 120) else {
            problems.push(format!(
                "line {}: a reference after {word:?} has no closing quote within 120 characters",
                prose.line(at)
            ));
            i = at + 1;
            continue;
        };
        let name = text[at + 1..end].split_whitespace().collect::<Vec<_>>().join(" ");
        found.push(Reference { name, line: prose.line(at) });
        // `see "A" and "B"`, `see "A", "B"`: the next quoted name is a reference too.
        let after = &text[end + 1..];
        chained = [", \"", " and \"", " or \"", ", and \"", ", or \""].iter().any(|p| after.starts_with(p));
        i = end + 1;
    }
    (found, problems)
}

/// A reference names a heading if it is the heading's text, or its start up
/// to a word boundary ("Decisions" for "Decisions where the contract is
/// silent"); case is not significant.
fn names_a_heading(reference: &str, headings: &[Heading]) -> bool {
    let reference = reference.to_lowercase();
    !reference.is_empty()
        && headings.iter().any(|h| {
            let heading = h.text.to_lowercase();
            heading == reference
                || (heading.starts_with(&reference)
                    && !heading[reference.len()..].starts_with(|c: char| c.is_alphanumeric()))
        })
}

fn check_required_sections(markdown: &str) -> Vec<String> {
    let present = headings(markdown);
    REQUIRED_SECTIONS
        .iter()
        .filter(|name| !present.iter().any(|h| h.level == 2 && h.text == **name))
        .map(|name| format!("the section \"## {name}\" is missing"))
        .collect()
}

fn check_references(markdown: &str) -> Vec<String> {
    let present = headings(markdown);
    let (found, mut problems) = references(markdown);
    for r in &found {
        if !names_a_heading(&r.name, &present) {
            problems.push(format!("line {}: the reference \"{}\" names no heading of README.md", r.line, r.name));
        }
    }
    problems
}

/// `[text](target)` and `[label]: target` links: local files must exist,
/// anchors must be produced by a heading of the file they point into.
fn check_links(markdown: &str, root: &Path) -> Vec<String> {
    let prose = Prose::new(markdown);
    let text = prose.text.as_str();
    let mut targets: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("](").map(|n| n + i) {
        let start = at + 2;
        match text[start..].find(')') {
            Some(len) => targets.push((text[start..start + len].to_owned(), prose.line(at))),
            None => targets.push((text[start..].chars().take(40).collect(), prose.line(at))),
        }
        i = start;
    }
    for l in lines(markdown).iter().filter(|l| l.kind == Kind::Prose) {
        let t = l.text.trim_start();
        if let (true, Some(close)) = (t.starts_with('['), t.find("]:")) {
            targets.push((t[close + 2..].trim().to_owned(), l.number));
        }
    }
    let mut problems = Vec::new();
    for (raw, line) in targets {
        // Drop an optional title: [text](path "title").
        let target = raw.split_whitespace().next().unwrap_or("").trim_matches(['<', '>']);
        if target.is_empty() {
            problems.push(format!("line {line}: a link with no target"));
            continue;
        }
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target, None),
        };
        let file = if path.is_empty() { root.join("README.md") } else { root.join(path.trim_start_matches('/')) };
        if !file.exists() {
            problems.push(format!("line {line}: the link to {target:?} points to {path:?}, which does not exist"));
            continue;
        }
        if let Some(anchor) = anchor {
            let in_file = if path.is_empty() {
                Some(markdown.to_owned())
            } else if path.ends_with(".md") {
                std::fs::read_to_string(&file).ok()
            } else {
                None
            };
            if let Some(content) = in_file
                && !anchors(&content).iter().any(|a| a == anchor)
            {
                problems.push(format!("line {line}: the link to {target:?}: no heading makes the anchor #{anchor}"));
            }
        }
    }
    problems
}

/// The paths in backticks in the first column of "What is here".
fn check_map_paths(markdown: &str, root: &Path) -> Vec<String> {
    let all = lines(markdown);
    let Some(start) = all.iter().position(|l| l.kind == Kind::Prose && l.text.trim() == "## What is here") else {
        return vec!["no \"## What is here\" section to check".into()];
    };
    let mut problems = Vec::new();
    let mut rows = 0;
    for l in all[start + 1..].iter().take_while(|l| !(l.kind == Kind::Prose && l.text.starts_with('#'))) {
        let row = l.text.trim();
        if l.kind != Kind::Prose || !row.starts_with('|') {
            continue;
        }
        rows += 1;
        let first = row.trim_start_matches('|').split('|').next().unwrap_or("");
        // The header row and the |---| line name no path.
        if rows <= 2 && !first.contains('`') {
            continue;
        }
        let paths: Vec<&str> = first.split('`').skip(1).step_by(2).collect();
        if paths.is_empty() {
            problems.push(format!("line {}: the first column names no path in backticks: {first:?}", l.number));
        }
        for path in paths {
            if !root.join(path.trim_start_matches("./")).exists() {
                problems.push(format!("line {}: \"What is here\" lists `{path}`, which does not exist", l.number));
            }
        }
    }
    if rows <= 2 {
        problems.push("\"What is here\" has no table of paths".into());
    }
    problems
}

/// The first commands in code blocks are `scripts/up.sh`, then
/// `scripts/test.sh`, and both are executable files.
fn check_first_commands(markdown: &str, root: &Path) -> Vec<String> {
    let commands: Vec<(String, usize)> = lines(markdown)
        .iter()
        .filter(|l| l.kind == Kind::Code && !l.text.trim().is_empty())
        .map(|l| (l.text.split_whitespace().next().unwrap_or("").to_owned(), l.number))
        .take(FIRST_COMMANDS.len())
        .collect();
    let mut problems = Vec::new();
    for (n, expected) in FIRST_COMMANDS.iter().enumerate() {
        match commands.get(n) {
            Some((command, _)) if command == expected => {}
            Some((command, line)) => {
                problems.push(format!("command {} (line {line}) is `{command}`, not `{expected}`", n + 1))
            }
            None => problems.push(format!("command {} is missing; expected `{expected}`", n + 1)),
        }
        let path = root.join(expected);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o111 == 0 {
                        problems.push(format!("{expected} is not executable"));
                    }
                }
            }
            Ok(_) => problems.push(format!("{expected} is not a file")),
            Err(e) => problems.push(format!("{expected} does not exist ({e})")),
        }
    }
    problems
}

#[test]
fn readme_keeps_every_required_section() {
    assert_no_problems("required sections", check_required_sections(&read_readme()));
}

#[test]
fn readme_section_references_name_existing_headings() {
    let readme = read_readme();
    let (found, _) = references(&readme);
    // The check must see the references the README is known to make.
    assert!(
        found.iter().any(|r| r.name == "Deploying"),
        "no reference to \"Deploying\" found; the reference parser is broken: {found:?}"
    );
    assert_no_problems("section references", check_references(&readme));
}

#[test]
fn readme_links_point_to_existing_files_and_anchors() {
    assert_no_problems("links", check_links(&read_readme(), &repo_root()));
}

#[test]
fn readme_what_is_here_paths_exist() {
    assert_no_problems("\"What is here\"", check_map_paths(&read_readme(), &repo_root()));
}

#[test]
fn readme_starts_with_up_and_test_scripts() {
    assert_no_problems("first commands", check_first_commands(&read_readme(), &repo_root()));
}

/// The checks themselves: each fails on a README broken on purpose.
#[test]
fn the_checks_refuse_a_readme_broken_on_purpose() {
    let root = repo_root();
    let readme = read_readme();
    assert!(readme.contains("\n## Deploying\n"), "the README has no \"## Deploying\" line to remove");

    // The section dropped, as commit 2fbe3aa did: both checks name it.
    let dropped = readme.replace("\n## Deploying\n", "\n");
    let missing = check_required_sections(&dropped);
    assert!(missing.iter().any(|p| p.contains("Deploying")), "{missing:?}");
    let dangling = check_references(&dropped);
    assert!(dangling.iter().any(|p| p.contains("\"Deploying\" names no heading")), "{dangling:?}");

    // A reference broken over two lines, and the reference forms in use.
    let text = "# T\n\n## Quorum queues\n\n## Decisions where the contract is silent\n\n\
                see \"Quorum\nqueues\", (README, \"Decisions\") and README's \"Gone\"; section \"Also\" or \"Nope\".\n";
    let (found, _) = references(text);
    let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Quorum queues", "Decisions", "Gone", "Also", "Nope"]);
    let problems = check_references(text);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("\"Gone\"") && problems[0].starts_with("line 8:"), "{problems:?}");
    // A prefix must end at a word boundary.
    assert!(!names_a_heading("Decision", &headings(text)));
    // Quoted text after other words, and code, are not references.
    assert!(references("a \"hybrid\" layout `see \"x\"`\n\n    see \"y\"\n").0.is_empty());

    // Links: a missing file, a missing anchor, and good ones.
    let text = "# User service\n\n## Two of everything\n\n[a](#two-of-everything) [b](#nowhere) \
                [c](no/such/file.md) [d](spin.toml) [e](README.md#user-service) [f](https://example.com/x)\n";
    let problems = check_links(text, &root);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("#nowhere") && problems[1].contains("no/such/file.md"), "{problems:?}");

    // "What is here" naming a path that is gone.
    let broken = readme.replacen("| `spin.toml` |", "| `spin.toml`, `no-such-dir/` |", 1);
    let problems = check_map_paths(&broken, &root);
    assert!(problems.len() == 1 && problems[0].contains("`no-such-dir/`"), "{problems:?}");

    // The first commands swapped.
    let swapped = readme.replacen("    scripts/up.sh\n", "    scripts/services.sh\n", 1);
    let problems = check_first_commands(&swapped, &root);
    assert!(problems.iter().any(|p| p.contains("`scripts/services.sh`, not `scripts/up.sh`")), "{problems:?}");
}

#[test]
fn anchors_follow_githubs_slugs() {
    assert_eq!(slug("PostgreSQL over TLS, and connection budgets"), "postgresql-over-tls-and-connection-budgets");
    assert_eq!(slug("Kubernetes (SpinKube)"), "kubernetes-spinkube");
    assert_eq!(slug("The worker's image"), "the-workers-image");
    assert_eq!(slug("`host` up_now"), "host-up_now");
    assert_eq!(anchors("## A\n\n## A\n\n## A\n"), ["a", "a-1", "a-2"]);
}
