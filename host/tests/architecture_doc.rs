//! `docs/architecture.md` names every source file of the core and of host: the `.rs` files under
//! `core/src` and `host/src`, listed at test time, so a new file without a line in the document
//! fails here.
//!
//! A file is named by its path from the workspace root or by any shorter ending of that path that
//! no other listed file shares: `dispatch.rs` names `host/src/execute/dispatch.rs`, but a `guidance.rs`
//! exists in both crates, so each of those needs `core/src/guidance.rs` or `bind/guidance.rs`.

use std::path::{Path, PathBuf};

/// The crates' source folders, from the workspace root.
const SOURCE_FOLDERS: [&str; 2] = ["core/src", "host/src"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `folder`, as paths from the workspace root with `/` separators.
fn rust_files(root: &Path, folder: &str, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(root.join(folder)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let path = format!("{folder}/{name}");
        if entry.file_type().unwrap().is_dir() {
            rust_files(root, &path, found);
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The endings of `path` at a `/`, shortest first: `a.rs`, `src/a.rs`, `core/src/a.rs`.
fn endings(path: &str) -> Vec<&str> {
    let mut endings: Vec<&str> = path
        .match_indices('/')
        .map(|(index, _)| &path[index + 1..])
        .collect();
    endings.reverse();
    endings.push(path);
    endings
}

/// Whether `text` contains `name` as a whole path: not preceded by a character of a path, not
/// followed by a character of a name (so `step.rs` is not found in `heun_step.rs`, nor
/// `src/guidance.rs` in `core/src/guidance.rs`).
fn mentions(text: &str, name: &str) -> bool {
    let part_of_a_path = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    text.match_indices(name).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + name.len()..].chars().next();
        !before.is_some_and(part_of_a_path)
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn the_architecture_document_names_every_source_file_of_core_and_host() {
    let root = workspace();
    let document = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut files = Vec::new();
    for folder in SOURCE_FOLDERS {
        rust_files(&root, folder, &mut files);
    }
    files.sort();
    assert!(
        files.iter().any(|f| f == "host/src/execute/sampling.rs") && files.len() > 20,
        "{files:?}"
    );
    let unnamed: Vec<String> = files
        .iter()
        .filter(|file| {
            !endings(file).into_iter().any(|ending| {
                let shared = files
                    .iter()
                    .any(|other| other != *file && other.ends_with(&format!("/{ending}")));
                !shared && mentions(&document, ending)
            })
        })
        .map(|file| {
            let ending = endings(file)
                .into_iter()
                .find(|ending| {
                    !files
                        .iter()
                        .any(|other| other != file && other.ends_with(&format!("/{ending}")))
                })
                .unwrap_or(file);
            format!("{file} (name it `{ending}` or by a longer path)")
        })
        .collect();
    assert!(
        unnamed.is_empty(),
        "docs/architecture.md does not name these source files; add a line that says what each \
         is for:\n  {}",
        unnamed.join("\n  ")
    );
}

#[test]
fn a_name_is_found_only_as_a_whole_path() {
    assert!(mentions("`ddim.rs` (DDIM)", "ddim.rs"));
    assert!(mentions(
        "host: `src/bin/ort-floor.rs`",
        "src/bin/ort-floor.rs"
    ));
    assert!(!mentions("`heun_step.rs`", "step.rs"));
    assert!(!mentions("`core/src/guidance.rs`", "src/guidance.rs"));
    assert!(!mentions("`step.rsx`", "step.rs"));
    assert_eq!(
        endings("core/src/guidance.rs"),
        ["guidance.rs", "src/guidance.rs", "core/src/guidance.rs"]
    );
}
