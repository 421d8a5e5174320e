//! Tensors by name from and to safetensors files (little-endian, row-major).

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{LoadError, SaveError};
use crate::tensor::{DType, Element, Storage, Tensor};

fn dtype_of(d: Dtype, name: &str) -> Result<DType, LoadError> {
    Ok(match d {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::I64 => DType::I64,
        Dtype::I32 => DType::I32,
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        other => {
            return Err(LoadError::UnsupportedDType {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            })
        }
    })
}

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::Bool => Dtype::BOOL,
        DType::U8 => Dtype::U8,
    }
}

fn decode<T: Element, const N: usize>(
    bytes: &[u8],
    shape: &[usize],
    from: fn([u8; N]) -> T,
) -> Option<Storage> {
    let data: Vec<T> = bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        })
        .collect();
    Storage::from_vec(shape, data)
}

fn tensor_of(name: &str, view: &TensorView<'_>) -> Result<Tensor, LoadError> {
    let shape = view.shape().to_vec();
    let bytes = view.data();
    let storage = match dtype_of(view.dtype(), name)? {
        DType::F32 => decode(bytes, &shape, f32::from_le_bytes),
        DType::F64 => decode(bytes, &shape, f64::from_le_bytes),
        DType::I64 => decode(bytes, &shape, i64::from_le_bytes),
        DType::I32 => decode(bytes, &shape, i32::from_le_bytes),
        DType::Bool => decode(bytes, &shape, |b: [u8; 1]| b[0] != 0),
        DType::U8 => decode(bytes, &shape, |b: [u8; 1]| b[0]),
    };
    storage
        .map(Tensor::from_storage)
        .ok_or_else(|| LoadError::Format {
            path: String::new(),
            message: format!(
                "tensor `{name}`: {} bytes do not fill shape {shape:?}",
                bytes.len()
            ),
        })
}

/// Parses safetensors bytes into tensors, in the file's order.
pub fn from_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, LoadError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| LoadError::Format {
        path: String::new(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    // `tensors()` is unordered; keep the order of the data offsets (the writer's order).
    let mut views = st.tensors();
    views.sort_by_key(|(_, v)| v.data().as_ptr() as usize);
    for (name, view) in views {
        let t = tensor_of(&name, &view)?;
        out.push((name, t));
    }
    Ok(out)
}

/// Reads every tensor of a safetensors file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    from_bytes(&bytes).map_err(|e| e.with_path(path))
}

/// The raw little-endian, row-major bytes of a storage (as safetensors and `.pt2` payloads
/// hold them).
pub(crate) fn encode(s: &Storage) -> Vec<u8> {
    let s = s.contiguous();
    match &s {
        Storage::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Storage::F64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Storage::I64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Storage::I32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Storage::Bool(a) => a.iter().map(|&b| b as u8).collect(),
        Storage::U8(a) => a.iter().copied().collect(),
    }
}

/// Serialises tensors to safetensors bytes.
pub fn to_bytes<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<Vec<u8>, SaveError> {
    let mut encoded = Vec::new();
    for (name, t) in tensors {
        let s = t.try_storage().map_err(|e| SaveError::NotEager {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        encoded.push((name.to_string(), s.dtype(), s.shape().to_vec(), encode(&s)));
    }
    let views = encoded
        .iter()
        .map(|(n, d, shape, bytes)| {
            TensorView::new(st_dtype(*d), shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| SaveError::Unsavable(format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, None)
        .map_err(|e| SaveError::Unsavable(format!("safetensors: {e}")))
}

/// Writes tensors to a safetensors file.
pub fn save_file<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    path: impl AsRef<Path>,
) -> Result<(), SaveError> {
    let path = path.as_ref();
    let bytes = to_bytes(tensors)?;
    std::fs::write(path, bytes).map_err(|e| SaveError::Io {
        path: path.display().to_string(),
        source: e,
    })
}
