//! Issue 12: the compiled runtime runs every op of the zoo, the reference models and
//! PyTorch's `.pt2` corpus (both IRs) on its own planned kernels — no eager fallback —
//! and each planned step gives the interpreter's numbers.

use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/pt2");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pt2"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_archive_compiles_without_eager_fallbacks() {
    let mut report = String::new();
    for file in corpus() {
        let compiled = ferrex_runtime::load(&file).unwrap();
        let fallbacks = compiled.stats().fallback_ops;
        if !fallbacks.is_empty() {
            report.push_str(&format!(
                "{}:\n{}\n",
                file.file_name().unwrap().to_string_lossy(),
                compiled.describe()
            ));
        }
    }
    assert!(report.is_empty(), "{report}");
}
