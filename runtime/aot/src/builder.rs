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
    prepack: bool,
}

impl Builder {
    /// The archive, relative to the crate root (`CARGO_MANIFEST_DIR`) or absolute.
    pub fn new(archive: impl AsRef<Path>) -> Builder {
        Builder {
            archive: archive.as_ref().to_path_buf(),
            module: None,
            prepack: false,
        }
    }

    /// Prepacks the weights in the build script: the packed GEMM weight panels and the
    /// derived constants (folded values, batch-norm scales and shifts) are computed now
    /// and written beside the code (`$OUT_DIR/NAME.prepacked`, 64-byte aligned entries,
    /// included with `include_bytes!`), so that `Model::new` decodes them instead of
    /// packing and folding. The layout of the panels is recorded
    /// ([`crate::rt::packed_layout`] of the build script's host); a binary whose kernels
    /// pack in another layout (cross-compiled, other kernels) packs in `Model::new` as
    /// without prepacking (`Model::uses_prepacked_weights` tells). The binary then holds
    /// the packed weights beside the archive: start-up for size. The build script reads
    /// the whole archive (the generator alone reads its structure).
    pub fn prepack(mut self) -> Builder {
        self.prepack = true;
        self
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
        let write = |file: &Path, bytes: &[u8]| {
            std::fs::write(file, bytes).map_err(|source| AotError::Io {
                path: file.display().to_string(),
                source,
            })
        };
        if let Some((file, bytes)) = &output.prepacked {
            write(file, bytes)?;
        }
        write(&output.file, output.code.as_bytes())?;
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
        let prepacked_file = out_dir.join(format!("{module}.prepacked"));
        let generated = match self.prepack {
            false => crate::generate_file(&path, &path.display().to_string())?,
            true => {
                let shown = path.display().to_string();
                let bytes = std::fs::read(&path).map_err(|source| AotError::Io {
                    path: shown.clone(),
                    source,
                })?;
                let options = crate::AotOptions {
                    archive_path: shown.clone(),
                    regenerate: format!("cargo build (ferrex_aot::Builder of {shown})"),
                    display_name: shown,
                    steps_per_function: crate::STEPS_PER_FUNCTION,
                    embed_weights: true,
                    prepack: Some(crate::Prepack {
                        path: prepacked_file.display().to_string(),
                        layout: crate::rt::packed_layout(),
                    }),
                };
                crate::generate(&bytes, &options)?
            }
        };
        Ok(BuildOutput {
            file: out_dir.join(format!("{module}.rs")),
            code: format!("pub mod {module} {{\n{}}}\n", generated.code),
            directives: vec![format!("cargo:rerun-if-changed={}", path.display())],
            prepacked: generated.prepacked.map(|bytes| (prepacked_file, bytes)),
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
    /// With [`Builder::prepack`]: `$OUT_DIR/NAME.prepacked` and its bytes.
    pub prepacked: Option<(PathBuf, Vec<u8>)>,
}
