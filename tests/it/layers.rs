//! The architecture, enforced: every file of `src/` has a place in one declared order (the
//! layers, bottom first, and inside a layer its modules in order), and a file may name only
//! modules placed before it. So imports go one way, there is no circle between any two files,
//! and a new file must be given a place here before it builds green. Also: each outside crate
//! that one layer owns (sled, bincode, clap, the spreadsheet crates…) is named nowhere else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The library's layers, bottom first, each with its modules in order. `mod` is the folder's
/// own `mod.rs`: first where it holds the layer's core (`ledger`), last where it is a facade
/// over its parts (`store`).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "mod", "limits", "decimal", "text", "files", "lines", "csv", "xlsx",
        ],
    ),
    (
        "events",
        &[
            "mod",
            "event",
            "codec::fast",
            "codec",
            "chain",
            "sign",
            "merkle",
        ],
    ),
    (
        "domain",
        &[
            "mod",
            "rubric::types",
            "rubric::sheets",
            "rubric::compute",
            "rubric::load",
            "rubric::diff",
            "rubric",
            "rules",
            "command",
            "dispute",
            "rows",
            "projection",
            "ranking",
            "consequences",
            "audit",
        ],
    ),
    (
        "store",
        &[
            "layout",
            "segments",
            "logs",
            "indices",
            "ranks",
            "ids",
            "blobs",
            "checkpoints",
            "commit",
            "hooks",
            "mod",
        ],
    ),
    (
        "ledger",
        &["mod", "read", "write", "query", "tally", "walk"],
    ),
    (
        "ops",
        &[
            "mod",
            "evidence",
            "import",
            "export",
            "appeals",
            "explain",
            "close",
            "verify",
            "years",
            "restore",
            "proofs",
            "witness",
            "backup",
            "reconcile",
            "rubrics",
            "actions",
        ],
    ),
    (
        "render",
        &[
            "mod",
            "view",
            "report",
            "scores",
            "xlsx",
            "reconcile",
            "outcome",
            "lists",
            "checks",
            "rubrics",
        ],
    ),
    ("service", &["sessions", "group", "mod", "reads"]),
    ("web", &["mod", "pages"]),
    ("fuzzing", &[]),
];

/// Files of the binary: the command line, on top of everything; it reaches the library as
/// `kaohe::`, never `crate::`.
const BINARY: &[&str] = &["main.rs", "cli"];

/// Outside crates that one place owns: (crate, the folders or files allowed to name it).
const OWNERS: &[(&str, &[&str])] = &[
    ("sled", &["store/"]),
    ("bincode", &["events/codec.rs"]),
    ("clap", &["cli/", "main.rs"]),
    ("axum", &["web/"]),
    ("axum_server", &["web/"]),
    ("tokio", &["web/"]),
    ("rustls", &["web/"]),
    ("maud", &["web/"]),
    ("futures_core", &["web/"]),
    ("rust_xlsxwriter", &["render/xlsx.rs"]),
    ("calamine", &["base/xlsx.rs"]),
    ("zip", &["base/xlsx.rs"]),
    ("quick_xml", &["base/xlsx.rs"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as paths relative to `src/`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path.strip_prefix(src()).expect("under src").to_path_buf());
        }
    }
}

/// A file's module path: `ledger/tally.rs` → `ledger::tally`, `ledger/mod.rs` → `ledger`,
/// `lib.rs` → ``.
fn module_of(file: &Path) -> String {
    let s = file.to_string_lossy().replace('\\', "/");
    let s = s.trim_end_matches(".rs");
    let s = s.trim_end_matches("/mod");
    if s == "lib" {
        return String::new();
    }
    s.replace('/', "::")
}

/// The declared order: module path → rank.
fn ranks() -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (layer, modules) in LAYERS {
        if modules.is_empty() {
            out.insert(layer.to_string(), out.len());
        }
        for m in *modules {
            let path = match *m {
                "mod" => layer.to_string(),
                m => format!("{layer}::{m}"),
            };
            out.insert(path, out.len());
        }
    }
    out
}

/// The code of a line without its comment (`//` outside a string; good enough for our style,
/// which never puts `//` inside a string on a `use` line or a path).
fn code_of(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") {
        return "";
    }
    let mut in_str = false;
    let b = line.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'"' if i == 0 || b[i - 1] != b'\\' => in_str = !in_str,
            b'/' if !in_str && b.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Expands a path that may end in a use-tree group: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`,
/// `a::c::e`. `text` starts right after `crate::`.
fn expand(prefix: &str, text: &str, out: &mut Vec<String>) {
    let mut path = prefix.to_string();
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !ident.is_empty() {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(&ident);
            rest = &rest[ident.len()..];
        }
        if let Some(r) = rest.strip_prefix("::") {
            rest = r;
            if let Some(group) = rest.strip_prefix('{') {
                for part in split_group(group) {
                    expand(&path, part.trim(), out);
                }
                return;
            }
            continue;
        }
        out.push(path);
        return;
    }
}

/// The top-level parts of a `{…}` group (the text after `{`), up to its closing brace.
fn split_group(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0usize, 0usize, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                parts.push(&text[start..i]);
                return parts;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Every `crate::…` path a file names (use lines, possibly over several lines, and inline
/// paths), with the line it starts on.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code: Vec<&str> = text.lines().map(code_of).collect();
    let joined = code.join("\n");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = joined[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        let before = joined[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let line = joined[..at].matches('\n').count() + 1;
        let mut paths = Vec::new();
        expand("", &joined[from..], &mut paths);
        out.extend(paths.into_iter().map(|p| (line, p)));
    }
    out
}

/// The module a path names: its longest prefix that is a declared module.
fn target_module<'r>(path: &str, ranks: &'r BTreeMap<String, usize>) -> Option<&'r String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .find_map(|n| ranks.get_key_value(&parts[..n].join("::")).map(|(k, _)| k))
}

fn is_binary(file: &Path) -> bool {
    let s = file.to_string_lossy();
    BINARY
        .iter()
        .any(|b| s == *b || s.starts_with(&format!("{b}/")))
}

#[test]
fn every_import_goes_down_the_declared_layers() {
    let ranks = ranks();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        if file.as_os_str() == "lib.rs" || is_binary(file) {
            continue;
        }
        let module = module_of(file);
        let Some(&rank) = ranks.get(&module) else {
            problems.push(format!(
                "{}: not placed in the layer order (tests/it/layers.rs LAYERS)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(src().join(file)).expect("read source");
        for (line, path) in crate_paths(&text) {
            let Some(target) = target_module(&path, &ranks) else {
                problems.push(format!(
                    "{}:{line}: `crate::{path}` names no declared module",
                    file.display()
                ));
                continue;
            };
            if *target == module {
                continue;
            }
            if ranks[target] > rank {
                problems.push(format!(
                    "{}:{line}: `crate::{path}` goes up or sideways: {module} may not import {target}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_binary_reaches_the_library_only_through_its_api() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files.iter().filter(|f| is_binary(f)) {
        let text = std::fs::read_to_string(src().join(file)).expect("read source");
        let paths = crate_paths(&text);
        let inside: Vec<_> = paths
            .iter()
            .filter(|(_, p)| {
                p.split("::")
                    .next()
                    .is_some_and(|root| ranks().contains_key(root))
            })
            .collect();
        assert!(
            inside.is_empty(),
            "{} names library modules as crate:: paths: {inside:?}",
            file.display()
        );
    }
}

#[test]
fn each_owned_crate_is_named_only_by_its_owner() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let name = file.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(src().join(file)).expect("read source");
        for (krate, owners) in OWNERS {
            if owners.iter().any(|o| name == *o || name.starts_with(o)) {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let code = code_of(line);
                let named = code.match_indices(krate).any(|(i, _)| {
                    let before = code[..i].chars().next_back();
                    let after = &code[i + krate.len()..];
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                        && after.starts_with("::")
                });
                if named {
                    problems.push(format!("{name}:{}: names `{krate}`", n + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "crates named outside their owner:\n{}",
        problems.join("\n")
    );
}

/// The checker itself: a path that goes up is caught, groups are expanded, comments ignored.
#[test]
fn the_checker_sees_groups_and_ignores_comments() {
    let text = "use crate::domain::{rows::Row, rubric::{Rubric, Rule}};\n\
                // use crate::render::view;\n\
                let x = crate::ledger::tally::scores(l, v);\n";
    let paths: Vec<String> = crate_paths(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        paths,
        [
            "domain::rows::Row",
            "domain::rubric::Rubric",
            "domain::rubric::Rule",
            "ledger::tally::scores"
        ]
    );
    let ranks = ranks();
    let target = target_module("ledger::tally::scores", &ranks).expect("declared");
    assert_eq!(target, "ledger::tally");
    assert!(
        ranks[target] > ranks["domain::audit"],
        "domain may not import the ledger"
    );
}

/// The longest a function may be: one that grows past it is split, or says why it stays long
/// and is raised here with a reason.
const MAX_FUNCTION_LINES: usize = 150;

/// Removes comments, and the contents of string and char literals, so that braces can be
/// counted: what is left keeps the line breaks.
fn braces_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            let hashes = b[i + 1..].iter().take_while(|&&h| h == '#').count();
            if b.get(i + 1 + hashes) == Some(&'"') {
                i += 2 + hashes;
                while i < b.len() {
                    if b[i] == '"'
                        && b[i + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == '#')
                            .count()
                            == hashes
                    {
                        i += 1 + hashes;
                        break;
                    }
                    if b[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if b.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime.
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                continue;
            }
            if b.get(i + 2) == Some(&'\'') {
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Every function with a body: (name, first line, number of lines).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = braces_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(at) = t.find("fn ") else { continue };
        let head = &t[..at];
        let is_fn = head.split_whitespace().all(|w| {
            matches!(w, "pub" | "const" | "async" | "unsafe" | "extern") || w.starts_with("pub(")
        });
        if !is_fn {
            continue;
        }
        let name: String = t[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // From the signature to the body's closing brace (a `;` first: no body).
        let (mut depth, mut opened) = (0i64, false);
        'scan: for (m, l) in lines.iter().enumerate().skip(n) {
            for c in l.chars() {
                match c {
                    ';' if !opened => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
                if opened && depth == 0 {
                    out.push((name.clone(), n + 1, m - n + 1));
                    break 'scan;
                }
            }
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_a_screenful_and_a_half() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(src().join(file)).expect("read source");
        for (name, line, lines) in functions(&text) {
            if lines > MAX_FUNCTION_LINES {
                long.push(format!(
                    "{}:{line}: fn {name} is {lines} lines",
                    file.display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The length counter itself: strings, chars and comments with braces do not fool it.
#[test]
fn the_length_counter_skips_braces_in_literals() {
    let text = "fn a() {\n    let s = \"}}}\";\n    let c = '{';\n    // }\n    let r = r#\"{\"#;\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\nfn c();\n";
    let found = functions(text);
    assert_eq!(
        found,
        [("a".to_string(), 1, 6), ("b".to_string(), 7, 3)],
        "{found:?}"
    );
}

/// Guards the vendored sled (`vendor/sled/PATCHES.md`): the build takes sled from there, at the
/// version the project fixed, its thread pool's start still yields instead of spinning
/// (without it every command that opens a ledger loses 5–7 ms on a two-core machine), and
/// its start still leaves alone a free segment that already holds zeros (without it every
/// command on a big ledger writes and syncs megabytes). No other test would notice either;
/// only the bench's `record` figure would.
#[test]
fn the_vendored_sled_is_used_and_keeps_its_fixes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    assert!(manifest.contains("sled = \"=0.34.7\""), "sled's version");
    assert!(
        manifest.contains("[patch.crates-io]\nsled = { path = \"vendor/sled\" }"),
        "the patch that points the build at vendor/sled"
    );
    let vendored = std::fs::read_to_string(root.join("vendor/sled/Cargo.toml"))
        .expect("read vendor/sled/Cargo.toml");
    assert!(vendored.contains("version = \"0.34.7\""), "{vendored}");
    let lazy = std::fs::read_to_string(root.join("vendor/sled/src/lazy.rs"))
        .expect("read vendor/sled/src/lazy.rs");
    assert!(
        lazy.contains(
            "while self.init_mu.compare_and_swap(false, true, SeqCst) {\n            std::thread::yield_now();\n        }"
        ),
        "the yielding wait in sled's Lazy"
    );
    assert!(!lazy.contains("SeqCst) {}"), "a spinning wait is back");
    // The second fix: a free segment that already holds the fill is not written again.
    let segment = std::fs::read_to_string(root.join("vendor/sled/src/pagecache/segment.rs"))
        .expect("read vendor/sled/src/pagecache/segment.rs");
    assert!(
        segment.contains("fill_segment(\n                &self.config.file,")
            && segment
                .contains("if read == found.len() && found == filled {\n        return Ok(());"),
        "free segments are compared before they are filled"
    );
}
