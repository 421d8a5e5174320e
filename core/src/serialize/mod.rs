//! Reading and writing tensors and programs. `safetensors` is the weight format PyTorch
//! users already export with (`safetensors.torch.save_file`); `pt2` saves and loads
//! whole exported programs as PyTorch 2.15's `.pt2` archives (`ferrex::save`,
//! `ferrex::load`).

use std::path::Path;

use crate::error::SaveError;

mod intern;
pub mod pt2;

/// Tensors in safetensors files (the storage layer's, kept at this path).
pub use crate::tensor::safetensors;
pub(crate) use intern::intern;

/// Writes `bytes` beside `path` and renames the file into place, so a failed save
/// leaves no half-written file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SaveError> {
    let io = |e: std::io::Error| SaveError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    std::fs::write(&partial, bytes).map_err(io)?;
    std::fs::rename(&partial, path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        io(e)
    })
}
