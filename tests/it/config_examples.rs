//! Every example config in `config/` (and `proxy.toml`) passes `pgask check`, so the examples
//! cannot rot as the config schema changes.

use std::path::{Path, PathBuf};

/// Keys whose value must be an existing file. Examples name deployment paths such as
/// `/etc/pgask/server.crt`; the check runs on a copy pointing at empty stand-ins.
const FILE_KEYS: [(&str, &str); 3] = [("tls", "cert"), ("tls", "key"), ("upstream", "ca_file")];

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        // The glossary is a [terms] table, not a pgask config.
        .filter(|p| p.file_name().is_some_and(|n| n != "glossary.toml"))
        .collect();
    files.sort();
    files.push(root.join("proxy.toml"));
    files
}

/// `path`'s text with every missing file it names replaced by an empty file in `dir`.
fn with_stand_ins(path: &Path, dir: &Path) -> String {
    let mut text = std::fs::read_to_string(path).unwrap();
    let doc: toml::Table = text.parse().unwrap_or_default();
    for (table, key) in FILE_KEYS {
        let named = doc
            .get(table)
            .and_then(|t| t.get(key))
            .and_then(|v| v.as_str());
        let Some(named) = named.filter(|f| !Path::new(f).is_file()) else {
            continue;
        };
        let stand_in = dir.join(format!("{table}-{key}"));
        std::fs::write(&stand_in, "").unwrap();
        let stand_in = stand_in.to_str().unwrap();
        text = text.replace(&format!("\"{named}\""), &format!("\"{stand_in}\""));
    }
    text
}

#[test]
fn every_example_config_passes_check() {
    let files = examples();
    assert!(files.len() >= 5, "config examples: {files:?}");
    for path in files {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(path.file_name().unwrap());
        std::fs::write(&copy, with_stand_ins(&path, dir.path())).unwrap();
        let problems = pgask::config::check_file(&copy);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{}: {shown:#?}", path.display());
    }
}

#[test]
fn a_broken_example_would_be_caught() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "[llm]\nbackend = \"openai\"\napi_base = \"localhost:8080\"\n",
    )
    .unwrap();
    assert_eq!(with_stand_ins(&path, dir.path()).lines().count(), 3);
    assert_eq!(pgask::config::check_file(&path).len(), 1);
}
