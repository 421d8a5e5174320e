//! `ferrex aot PROGRAM.pt2 -o FILE.rs`: the generator's module, with `include_bytes!`
//! naming the archive relative to the output; errors are one line and exit status 2.

use std::path::PathBuf;
use std::process::Command;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime/aot/tests/fixtures/mlp_b8.pt2")
}

#[test]
fn aot_writes_the_generated_module_next_to_the_archive() {
    let dir = std::env::temp_dir().join(format!("ferrex-cli-aot-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::copy(fixture(), dir.join("models/mlp.pt2")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .args(["aot", "models/mlp.pt2", "-o", "src/mlp.rs"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("wrote src/mlp.rs (3 steps, "),
        "{stdout}"
    );
    let code = std::fs::read_to_string(dir.join("src/mlp.rs")).unwrap();
    assert!(code.contains("const ARCHIVE: &[u8] = include_bytes!(\"../models/mlp.pt2\");"));
    assert!(code.contains("// with `ferrex aot models/mlp.pt2 -o src/mlp.rs`."));
    // The same module the library generates for the same paths.
    let options = ferrex_aot_codegen::AotOptions::for_files(
        &dir.join("models/mlp.pt2"),
        &dir.join("src/mlp.rs"),
    )
    .unwrap();
    assert_eq!(options.archive_path, "../models/mlp.pt2");
    let bytes = std::fs::read(dir.join("models/mlp.pt2")).unwrap();
    let lib = ferrex_aot_codegen::generate(
        &bytes,
        &ferrex_aot_codegen::AotOptions {
            display_name: "models/mlp.pt2".into(),
            regenerate: "ferrex aot models/mlp.pt2 -o src/mlp.rs".into(),
            ..options
        },
    )
    .unwrap();
    assert_eq!(code, lib.code);
    // A file that is not a program: one line, status 2.
    let bad = Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .args(["aot", "src/mlp.rs", "-o", "src/bad.rs"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: `src/mlp.rs` is not a valid ferrex program: not a zip archive (no end-of-central-directory record)\n"
    );
    assert!(!dir.join("src/bad.rs").exists());
    // `--side-file`: nothing embedded, the weights read at run time.
    let side = Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .args(["aot", "models/mlp.pt2", "-o", "src/side.rs", "--side-file"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(side.status.success());
    assert!(String::from_utf8_lossy(&side.stdout)
        .ends_with("read from ../models/mlp.pt2 at run time)\n"));
    let code = std::fs::read_to_string(dir.join("src/side.rs")).unwrap();
    assert!(!code.contains("include_bytes!"));
    assert!(!code.contains("Self::from_archive(ARCHIVE)"));
    assert!(code.contains("pub fn from_file("));
    std::fs::remove_dir_all(&dir).ok();
}

/// A folded constant whose call takes a dtype (the core IR's `scalar_tensor(-inf,
/// dtype=f32)` of a causal mask) is computed again in `Model::new` with that dtype.
#[test]
fn aot_folds_a_call_with_a_dtype_argument() {
    let program = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/pt2_more/causal_dyn.core.pt2");
    let out_file =
        std::env::temp_dir().join(format!("ferrex-cli-aot-dtype-{}.rs", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .arg("aot")
        .arg(&program)
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = std::fs::read_to_string(&out_file).unwrap();
    let _ = std::fs::remove_file(&out_file);
    assert!(code.contains(
        "::ferrex_aot::rt::fold(\"aten::scalar_tensor.default\", \
         &[::ferrex_aot::rt::Value::Float(f64::from_bits(0xfff0000000000000)), \
         ::ferrex_aot::rt::Value::DType(::ferrex_aot::rt::DType::F32), "
    ));
}
