//! Where the program's stored tensors lie in the archive's bytes, so generated code reads
//! them from the embedded file (`include_bytes!`) instead of carrying them as literals.

use std::collections::BTreeMap;

use ferrex::serialize::pt2::schema::{self, PayloadConfig};
use ferrex::serialize::pt2::zip::Archive;

use crate::AotError;

/// A stored tensor: contiguous little-endian f32 data at `offset..offset + 4 * numel` of
/// the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredTensor {
    pub offset: usize,
    pub numel: usize,
    pub shape: Vec<usize>,
}

/// The stored tensors of an archive by fully qualified name (weights and constants),
/// and the byte range of each JSON entry (the program and its payload configs), which
/// generated code fingerprints.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub tensors: BTreeMap<String, Result<StoredTensor, String>>,
    pub json: Vec<(usize, usize)>,
    /// Per JSON entry: where its local header holds its CRC-32 (4 bytes, little-endian)
    /// and that CRC, when the header holds it (no data descriptor) — what generated code
    /// checks at compile time, in constant time.
    pub json_crcs: Vec<Option<(usize, u32)>>,
}

/// The offset of `part` inside `whole` (`part` is a subslice of it).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// Reads the payload configs of the archive `bytes` (already loaded as a program, so
/// well-formed, every entry's CRC-32 checked) and locates every stored tensor without
/// reading it again. A tensor that is not a contiguous f32
/// storage read from offset 0 is recorded with the reason generated code cannot view it.
pub(crate) fn stored_tensors(bytes: &[u8]) -> Result<Stored, AotError> {
    let zip = Archive::new(bytes).map_err(AotError::Archive)?;
    let mut stored = Stored::default();
    for entry in &zip.entries {
        let name = entry.name.as_str();
        if !name.ends_with(".json") {
            continue;
        }
        let data = zip.read(entry).map_err(AotError::Archive)?;
        stored.json.push((offset_in(bytes, data), data.len()));
        let crc_at = usize::try_from(entry.header_offset)
            .ok()
            .and_then(|h| h.checked_add(14));
        let in_header = crc_at.and_then(|at| bytes.get(at..at.checked_add(4)?));
        let crc = entry.crc32;
        stored.json_crcs.push(
            crc_at
                .filter(|_| in_header == Some(&crc.to_le_bytes()[..]))
                .map(|at| (at, crc)),
        );
        let Some(dir) = name
            .strip_suffix("_weights_config.json")
            .or_else(|| name.strip_suffix("_constants_config.json"))
            .and_then(|n| n.rfind('/').map(|i| &name[..=i]))
        else {
            continue;
        };
        let config: PayloadConfig =
            serde_json::from_slice(data).map_err(|e| AotError::Archive(format!("{name}: {e}")))?;
        for (fqn, payload) in &config.config {
            let file = format!("{dir}{}", payload.path_name);
            let located = zip
                .entry(&file)
                .ok_or_else(|| format!("the archive has no `{file}`"))
                .and_then(|e| zip.locate(e))
                .and_then(|data| locate(bytes, data, payload.tensor_meta.as_ref()));
            stored.tensors.insert(fqn.clone(), located);
        }
    }
    Ok(stored)
}

fn locate(
    whole: &[u8],
    data: &[u8],
    meta: Option<&schema::TensorMeta>,
) -> Result<StoredTensor, String> {
    let meta = meta.ok_or("no tensor_meta")?;
    if meta.dtype != schema::ScalarType::FLOAT {
        return Err(format!("stored with dtype code {}, not f32", meta.dtype.0));
    }
    let ints = |v: &[schema::SymInt]| -> Option<Vec<usize>> {
        v.iter()
            .map(|s| match s {
                schema::SymInt::AsInt(i) => usize::try_from(*i).ok(),
                schema::SymInt::AsExpr(_) => None,
            })
            .collect()
    };
    let shape = ints(&meta.sizes).ok_or("symbolic or negative sizes")?;
    let strides = ints(&meta.strides).ok_or("symbolic or negative strides")?;
    let offset = ints(std::slice::from_ref(&meta.storage_offset)).ok_or("bad storage offset")?;
    let mut want = 1usize;
    for (d, &n) in shape.iter().enumerate().rev() {
        if n > 1 && strides.get(d) != Some(&want) {
            return Err(format!("strided storage (strides {strides:?})"));
        }
        want = want.checked_mul(n).ok_or("the size overflows")?;
    }
    let numel = want;
    let fits = numel.checked_mul(4).is_some_and(|b| b <= data.len());
    if offset.first().copied().unwrap_or(0) != 0 || !fits {
        return Err("a view into a larger storage".into());
    }
    Ok(StoredTensor {
        offset: offset_in(whole, data),
        numel,
        shape,
    })
}
