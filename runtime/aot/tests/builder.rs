//! The `build.rs` front end: what `Builder` writes to `OUT_DIR` is the generator's module
//! wrapped in `pub mod NAME`, and the build script reruns only when the archive changes.

use std::path::Path;

#[test]
fn builder_writes_the_generated_module_and_tracks_the_archive() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = std::env::temp_dir().join(format!("ferrex-aot-builder-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let archive = root.join("tests/fixtures/mlp_b8.pt2");
    let b = ferrex_aot::Builder::new("tests/fixtures/mlp_b8.pt2");
    let out = b.output(Some(root), &out_dir).unwrap();
    assert_eq!(out.file, out_dir.join("mlp_b8.rs"));
    let generated = ferrex_aot::generate_file(&archive, &archive.display().to_string()).unwrap();
    assert_eq!(
        out.code,
        format!("pub mod mlp_b8 {{\n{}}}\n", generated.code)
    );
    assert!(out.code.contains(&format!(
        "include_bytes!({:?})",
        archive.display().to_string()
    )));
    assert_eq!(
        out.directives,
        [format!("cargo:rerun-if-changed={}", archive.display())]
    );
    // Named explicitly; a missing archive is an error naming it.
    let named = b
        .clone()
        .module("model")
        .output(Some(root), &out_dir)
        .unwrap();
    assert_eq!(named.file, out_dir.join("model.rs"));
    assert!(named.code.starts_with("pub mod model {\n"));
    let err = ferrex_aot::Builder::new("tests/fixtures/absent.pt2")
        .output(Some(root), &out_dir)
        .unwrap_err();
    assert!(err.to_string().starts_with(&format!(
        "cannot read `{}`",
        root.join("tests/fixtures/absent.pt2").display()
    )));
    std::fs::remove_dir_all(&out_dir).ok();
}

/// `prepack()`: the module includes `$OUT_DIR/NAME.prepacked`, written beside it, with
/// the layout of this build's packed weights; the same file as the generator's.
#[test]
fn builder_prepacks_into_out_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = std::env::temp_dir().join(format!("ferrex-aot-prepack-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = ferrex_aot::Builder::new("tests/fixtures/lenet_b2.pt2")
        .prepack()
        .output(Some(root), &out_dir)
        .unwrap();
    let (file, bytes) = out.prepacked.clone().expect("a prepacked file");
    assert_eq!(file, out_dir.join("lenet_b2.prepacked"));
    assert!(out.code.contains(&format!(
        "const PREPACKED: &[u8] = include_bytes!({:?});\nconst PREPACKED_LAYOUT: &str = {:?};",
        file.display().to_string(),
        ferrex_aot::packed_layout()
    )));
    let committed = std::fs::read(root.join("tests/generated/lenet_b2.prepacked")).unwrap();
    assert_eq!(bytes, committed);
    let written = ferrex_aot::Builder::new(root.join("tests/fixtures/lenet_b2.pt2"))
        .prepack()
        .output(None, &out_dir)
        .unwrap();
    assert_eq!(written.prepacked.map(|p| p.1), Some(committed));
    std::fs::remove_dir_all(&out_dir).ok();
}
