//! Loading and saving a module's state dict (parameters and persistent buffers).

use std::path::Path;

use super::{Collector, Module, StateKind};
use crate::error::{LoadError, SaveError};
use crate::tensor::safetensors;
use crate::tensor::{Tensor, TensorMeta, TensorState};

/// What a non-strict load left out (PyTorch's `_IncompatibleKeys`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys of the model that the state dict did not provide.
    pub missing_keys: Vec<String>,
    /// Keys of the state dict that the model does not have.
    pub unexpected_keys: Vec<String>,
}

fn persistent_state(m: &dyn Module) -> Vec<(String, Tensor)> {
    Collector::collect(m)
        .tensors
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                StateKind::Parameter | StateKind::Buffer { persistent: true }
            )
        })
        .map(|e| (e.name, e.tensor))
        .collect()
}

fn meta_text(t: &Tensor) -> String {
    t.meta()
        .map(|m: TensorMeta| m.to_string())
        .unwrap_or_else(|e| e.to_string())
}

/// Copies `entries` into the module's tensors (converting dtype as `copy_` does). All keys
/// are checked before anything is written; a shape mismatch is always an error, missing
/// and unexpected keys only when `strict`.
pub fn load_state_dict(
    m: &dyn Module,
    entries: &[(String, Tensor)],
    strict: bool,
) -> Result<LoadReport, LoadError> {
    let model = persistent_state(m);
    let mut report = LoadReport::default();
    let mut mismatched = Vec::new();
    let mut writes = Vec::new();
    for (key, target) in &model {
        match entries.iter().find(|(k, _)| k == key) {
            None => report.missing_keys.push(key.clone()),
            Some((_, source)) => {
                let (want, got) = (target.sizes(), source.sizes());
                let same_shape =
                    want.len() == got.len() && want.iter().zip(&got).all(|(a, b)| a.same_as(b));
                if !same_shape || source.error().is_some() {
                    mismatched.push((key.clone(), meta_text(target), meta_text(source)));
                    continue;
                }
                let storage = source.try_storage().map_err(|e| LoadError::NotEager {
                    name: key.clone(),
                    message: e.to_string(),
                })?;
                writes.push((target.clone(), storage.cast(target.dtype())));
            }
        }
    }
    for (key, _) in entries {
        if !model.iter().any(|(k, _)| k == key) {
            report.unexpected_keys.push(key.clone());
        }
    }
    let incompatible =
        strict && !(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    if !mismatched.is_empty() || incompatible {
        let (missing, unexpected) = if strict {
            (report.missing_keys, report.unexpected_keys)
        } else {
            (Vec::new(), Vec::new())
        };
        return Err(LoadError::StateDictMismatch {
            missing,
            unexpected,
            mismatched,
        });
    }
    for (target, storage) in writes {
        target.set_state(TensorState::Eager(storage));
    }
    Ok(report)
}

/// Loads a safetensors file into the module.
pub fn load_safetensors(
    m: &dyn Module,
    path: impl AsRef<Path>,
    strict: bool,
) -> Result<LoadReport, LoadError> {
    let entries = safetensors::load_file(path)?;
    load_state_dict(m, &entries, strict)
}

/// Saves the module's state dict to a safetensors file.
pub fn save_safetensors(m: &dyn Module, path: impl AsRef<Path>) -> Result<(), SaveError> {
    let state = persistent_state(m);
    safetensors::save_file(state.iter().map(|(k, t)| (k.as_str(), t)), path)
}
