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
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
        let output = self.output(root.as_deref(), Path::new(&out_dir))?;
        for line in &output.directives {
            println!("{line}");
        }
        std::fs::write(&output.file, &output.code).map_err(|source| AotError::Io {
            path: output.file.display().to_string(),
            source,
        })?;
        Ok(output.file)
    }

    /// What [`Builder::write_to_out_dir`] writes for a crate rooted at `root`: the file
    /// under `out_dir`, its code, and the build-script directives.
    pub fn output(&self, root: Option<&Path>, out_dir: &Path) -> Result<BuildOutput, AotError> {
        let path = match root {
            Some(root) if self.archive.is_relative() => root.join(&self.archive),
            _ => self.archive.clone(),
        };
        let module = self.module.clone().unwrap_or_else(|| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            crate::module_name(&stem.unwrap_or_default())
        });
        let generated = crate::generate_file(&path, &path.display().to_string())?;
        Ok(BuildOutput {
            file: out_dir.join(format!("{module}.rs")),
            code: format!("pub mod {module} {{\n{}}}\n", generated.code),
            directives: vec![format!("cargo:rerun-if-changed={}", path.display())],
        })
    }
}

/// What a [`Builder`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOutput {
    /// `$OUT_DIR/NAME.rs`.
    pub file: PathBuf,
    /// `pub mod NAME { … }`.
    pub code: String,
    /// `cargo:rerun-if-changed=ARCHIVE`: the build script reruns when the archive
    /// changes, and only then (rustc also tracks the archive through `include_bytes!`).
    pub directives: Vec<String>,
}
