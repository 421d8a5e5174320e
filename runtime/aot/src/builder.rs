//! The `build.rs` front end: generated code written to `OUT_DIR`, included with
//! `include!(concat!(env!("OUT_DIR"), "/NAME.rs"))`.

use std::path::{Path, PathBuf};

use crate::AotError;

/// Generates a program's module from a build script.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     ferrex_aot::Builder::new("models/mlp.pt2").write_to_out_dir()?;
///     Ok(())
/// }
/// // src/lib.rs: include!(concat!(env!("OUT_DIR"), "/mlp.rs")); — a `pub mod mlp`.
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    archive: PathBuf,
    module: Option<String>,
}

impl Builder {
    /// The archive, relative to the crate root (`CARGO_MANIFEST_DIR`) or absolute.
    pub fn new(archive: impl AsRef<Path>) -> Builder {
        Builder {
            archive: archive.as_ref().to_path_buf(),
            module: None,
        }
    }

    /// The module's name (default: the archive's file stem, `mlp` for `mlp.pt2`).
    pub fn module(mut self, name: &str) -> Builder {
        self.module = Some(name.to_string());
        self
    }

    /// Writes `$OUT_DIR/NAME.rs` holding `pub mod NAME { … }`, prints
    /// `cargo:rerun-if-changed` for the archive (so only a changed archive reruns the
    /// build script), and returns the file written.
    pub fn write_to_out_dir(&self) -> Result<PathBuf, AotError> {
        let out_dir = std::env::var_os("OUT_DIR").ok_or_else(|| AotError::Io {
            path: "$OUT_DIR".into(),
            source: std::io::Error::other("OUT_DIR is not set: call this from a build script"),
        })?;
        let path = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(root) if self.archive.is_relative() => Path::new(&root).join(&self.archive),
            _ => self.archive.clone(),
        };
        println!("cargo:rerun-if-changed={}", path.display());
        let module = self.module.clone().unwrap_or_else(|| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            crate::module_name(&stem.unwrap_or_default())
        });
        let generated = crate::generate_file(&path, &path.display().to_string())?;
        let file = Path::new(&out_dir).join(format!("{module}.rs"));
        let code = format!("pub mod {module} {{\n{}}}\n", generated.code);
        std::fs::write(&file, code).map_err(|source| AotError::Io {
            path: file.display().to_string(),
            source,
        })?;
        Ok(file)
    }
}
