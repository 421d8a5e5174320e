//! Reading and writing tensors and programs. `safetensors` is the weight format PyTorch
//! users already export with (`safetensors.torch.save_file`); `pt2` saves and loads
//! whole exported programs as PyTorch 2.15's `.pt2` archives (`ferrex::save`,
//! `ferrex::load`).

use std::path::Path;

use crate::error::SaveError;
use crate::tensor::TensorMeta;

mod intern;
pub mod pt2;

pub(crate) use intern::intern;
pub mod safetensors;

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

/// Whether a stored state tensor (`have`) can feed a placeholder of meta `want`: same
/// dtype and rank, and equal sizes wherever `want`'s are static.
pub(crate) fn state_fits(have: &TensorMeta, want: &TensorMeta) -> bool {
    have.dtype == want.dtype
        && have.rank() == want.rank()
        && have
            .sizes
            .iter()
            .zip(&want.sizes)
            .all(|(h, w)| w.as_int().is_none() || h.as_int() == w.as_int())
}
