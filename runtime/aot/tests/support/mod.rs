//! The fixtures of the generated-code tests: zoo models exported and saved with
//! `ferrex::save`'s format (committed in `tests/fixtures/`), and the code `ferrex aot`
//! generates from them (committed in `tests/generated/`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ferrex::{ExportedProgram, Tensor};
use ferrex_examples::zoo::Mlp;

/// A fixture: its name (`tests/fixtures/NAME.pt2`, `tests/generated/NAME.rs`) and how
/// its program is made.
pub struct Fixture {
    pub name: &'static str,
    pub export: fn() -> ExportedProgram,
}

fn mlp(batch: usize) -> ExportedProgram {
    ferrex::manual_seed(13);
    let m = Mlp::new(20, [64, 32], 5);
    let x = Tensor::randn([batch, 20]);
    match ferrex::export(&m, (x,)) {
        Ok(ep) => ep,
        Err(e) => panic!("exporting the zoo MLP failed: {e}"),
    }
}

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "mlp_b1",
        export: || mlp(1),
    },
    Fixture {
        name: "mlp_b8",
        export: || mlp(8),
    },
];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/NAME.pt2`, relative to the crate root as `ferrex aot` is run there.
pub fn archive(name: &str) -> PathBuf {
    Path::new("tests/fixtures").join(format!("{name}.pt2"))
}

pub fn generated(name: &str) -> PathBuf {
    Path::new("tests/generated").join(format!("{name}.rs"))
}

/// The code `ferrex aot tests/fixtures/NAME.pt2 -o tests/generated/NAME.rs` writes,
/// run in the crate root.
pub fn generate(name: &str) -> String {
    let _cwd = root();
    let (program, output) = (root().join(archive(name)), root().join(generated(name)));
    let mut options = match ferrex_aot::AotOptions::for_files(&program, &output) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    options.display_name = archive(name).display().to_string();
    options.regenerate = format!(
        "ferrex aot {} -o {}",
        archive(name).display(),
        generated(name).display()
    );
    let bytes = std::fs::read(&program).unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    match ferrex_aot::generate(&bytes, &options) {
        Ok(g) => g.code,
        Err(e) => panic!("{e}"),
    }
}

/// The fixture's program, loaded from its committed archive.
pub fn load(name: &str) -> ExportedProgram {
    let path = root().join(archive(name));
    ferrex::load(&path).unwrap_or_else(|e| panic!("{e}"))
}
