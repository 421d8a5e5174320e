//! The archive around a PyTorch program: top folder, version files, the model JSON,
//! and the weights and constants as raw per-storage files described by
//! `model_weights_config.json` / `model_constants_config.json`.

use super::schema::dtype_of;
use super::schema::{self, PayloadConfig, TensorMeta as MetaJ};
use super::zip::Archive;
use super::Ctx;
use crate::error::LoadError;
use crate::error::{SourceLocation, TensorError};
use crate::program::TensorMap;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// The archive version PyTorch 2.15 writes (`archive_version`).
const ARCHIVE_VERSION: &str = "0";

/// The parts of a PyTorch archive ferrex uses.
pub(super) struct Parts<'a> {
    pub(super) zip: Archive<'a>,
    /// The top folder with its slash (`convnet8/`).
    pub(super) prefix: String,
    /// The model's name (`model` for `models/model.json`).
    pub(super) model: String,
}

/// Whether `bytes` look like an archive of PyTorch's (`NAME/archive_format` and
/// `NAME/archive_version` next to `NAME/models/`), so that errors past this point are
/// reported as errors in a PyTorch archive.
pub(super) fn is_pytorch_archive(bytes: &[u8]) -> bool {
    Archive::new(bytes).is_ok_and(|zip| top_folder(&zip).is_some())
}

fn top_folder(zip: &Archive<'_>) -> Option<String> {
    zip.entries.iter().find_map(|e| {
        let prefix = e.name.strip_suffix("archive_version")?;
        let is_top = prefix.is_empty() || prefix.find('/') == Some(prefix.len() - 1);
        (is_top && zip.entry(&format!("{prefix}archive_format")).is_some())
            .then(|| prefix.to_string())
    })
}

impl<'a> Parts<'a> {
    pub(super) fn open(bytes: &'a [u8], ctx: &Ctx) -> Result<Parts<'a>, LoadError> {
        let zip = Archive::new(bytes).map_err(|e| ctx.err(e))?;
        let prefix = top_folder(&zip).ok_or_else(|| {
            ctx.err("not a PyTorch archive (no `archive_format` and `archive_version` entries)")
        })?;
        let mut parts = Parts {
            zip,
            prefix,
            model: String::new(),
        };
        let format = parts.text("archive_format", ctx)?;
        if format.trim() != "pt2" {
            return Err(ctx.err(format!("archive_format is `{}`, not `pt2`", format.trim())));
        }
        let version = parts.text("archive_version", ctx)?;
        if version.trim() != ARCHIVE_VERSION {
            return Err(LoadError::NewerVersion {
                path: ctx.path.clone(),
                found: format!("archive version {}", version.trim()),
                supported: format!("archive version {ARCHIVE_VERSION}"),
            });
        }
        if parts.has("byteorder") {
            let order = parts.text("byteorder", ctx)?;
            if order.trim() != "little" {
                return Err(ctx.err(format!(
                    "byteorder is `{}`; ferrex reads little-endian archives",
                    order.trim()
                )));
            }
        }
        parts.model = parts.model_name(ctx)?;
        Ok(parts)
    }

    fn has(&self, name: &str) -> bool {
        self.zip.entry(&format!("{}{name}", self.prefix)).is_some()
    }

    /// The bytes of entry `name` under the top folder.
    pub(super) fn bytes(&self, name: &str, ctx: &Ctx) -> Result<&'a [u8], LoadError> {
        let full = format!("{}{name}", self.prefix);
        let entry = self
            .zip
            .entry(&full)
            .ok_or_else(|| ctx.err(format!("the archive has no `{full}`")))?;
        self.zip.read(entry).map_err(|e| ctx.err(e))
    }

    /// Where entry `name` under the top folder lies, bounds-checked but neither read nor
    /// CRC-checked (a structure-only load).
    fn located(&self, name: &str, ctx: &Ctx) -> Result<&'a [u8], LoadError> {
        let full = format!("{}{name}", self.prefix);
        let entry = self
            .zip
            .entry(&full)
            .ok_or_else(|| ctx.err(format!("the archive has no `{full}`")))?;
        self.zip.locate(entry).map_err(|e| ctx.err(e))
    }

    fn text(&self, name: &str, ctx: &Ctx) -> Result<&'a str, LoadError> {
        std::str::from_utf8(self.bytes(name, ctx)?)
            .map_err(|_| ctx.err(format!("`{}{name}` is not UTF-8 text", self.prefix)))
    }

    /// The one model of the archive: `models/model.json`, else the only `models/*.json`.
    fn model_name(&self, ctx: &Ctx) -> Result<String, LoadError> {
        let dir = format!("{}models/", self.prefix);
        let names: Vec<&str> = self
            .zip
            .entries
            .iter()
            .filter_map(|e| e.name.strip_prefix(&dir)?.strip_suffix(".json"))
            .filter(|n| !n.contains('/'))
            .collect();
        match names.as_slice() {
            [] => Err(ctx.err(format!("the archive has no `{dir}*.json` (no program)"))),
            [one] => Ok((*one).to_string()),
            many if many.contains(&"model") => Ok("model".into()),
            many => Err(ctx.err(format!(
                "the archive holds {} programs ({}); ferrex reads archives with one",
                many.len(),
                many.join(", ")
            ))),
        }
    }

    /// The model JSON, its version checked before the rest is parsed (so that another
    /// major version is reported as such, not as a schema mismatch).
    pub(super) fn program(&self, ctx: &Ctx) -> Result<schema::ExportedProgram, LoadError> {
        let json = self.bytes(&ctx.entry, ctx)?;
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| ctx.err(format!("{}: invalid JSON: {e}", ctx.entry)))?;
        let version = value
            .get("schema_version")
            .ok_or_else(|| ctx.err(format!("{}: no schema_version; not a program", ctx.entry)))?;
        let version: schema::SchemaVersion = serde_json::from_value(version.clone())
            .map_err(|e| ctx.err(format!("{}: schema_version: {e}", ctx.entry)))?;
        if version.major != schema::SCHEMA_VERSION.0 {
            return Err(LoadError::NewerVersion {
                path: ctx.path.clone(),
                found: format!("PyTorch schema {}.{}", version.major, version.minor),
                supported: format!("PyTorch schema {}.x", schema::SCHEMA_VERSION.0),
            });
        }
        // Parsed again from the text, not from `value`: a `Value`'s objects are sorted,
        // and the order of the range constraints is the order PyTorch prints.
        serde_json::from_slice(json).map_err(|e| ctx.err(format!("{}: {e}", ctx.entry)))
    }

    /// The tensors of one payload config (`data/weights/`, `data/constants/`); an
    /// archive without the config has none.
    pub(super) fn payloads(
        &self,
        dir: &str,
        kind: &str,
        ctx: &Ctx,
        mut stored: Option<&mut StoredMetas>,
    ) -> Result<TensorMap, LoadError> {
        let config_name = format!("{dir}{}_{kind}_config.json", self.model);
        let mut map = TensorMap::default();
        if !self.has(&config_name) {
            return Ok(map);
        }
        let config: PayloadConfig = serde_json::from_slice(self.bytes(&config_name, ctx)?)
            .map_err(|e| ctx.err(format!("{config_name}: {e}")))?;
        for (fqn, payload) in &config.config {
            let at = format!("{config_name}: `{fqn}`");
            if payload.use_pickle {
                return Err(ctx.err(format!(
                    "{at} is pickled (a custom object or tensor subclass), which ferrex cannot read"
                )));
            }
            if payload.path_name.contains('/') || payload.path_name.contains("..") {
                return Err(ctx.err(format!("{at}: `{}` is not a file name", payload.path_name)));
            }
            let meta = payload
                .tensor_meta
                .as_ref()
                .ok_or_else(|| ctx.err(format!("{at} has no tensor_meta")))?;
            let file = format!("{dir}{}", payload.path_name);
            let t = match stored.as_deref_mut() {
                None => strided_tensor(self.bytes(&file, ctx)?, meta),
                Some(metas) => {
                    let layout = checked_layout(self.located(&file, ctx)?.len(), meta);
                    layout.map(|(dtype, layout)| {
                        metas.insert(fqn.clone(), TensorMeta::from_shape(dtype, &layout.shape));
                        not_read(fqn)
                    })
                }
            };
            map.insert(fqn.clone(), t.map_err(|e| ctx.err(format!("{at}: {e}")))?);
        }
        Ok(map)
    }
}

fn concrete_ints(v: &[schema::SymInt], what: &str) -> Result<Vec<i64>, String> {
    v.iter()
        .map(|s| match s {
            schema::SymInt::AsInt(i) => Ok(*i),
            schema::SymInt::AsExpr(_) => Err(format!("a stored tensor has a symbolic {what}")),
        })
        .collect()
}

/// The stored tensors' metas of a structure-only load, by fully qualified name.
pub type StoredMetas = std::collections::BTreeMap<String, TensorMeta>;

/// The stand-in for a stored tensor whose data a structure-only load did not read: any
/// use of its data is an error saying so.
fn not_read(fqn: &str) -> Tensor {
    Tensor::from_error(TensorError::Op {
        op: "pt2::structure_from_bytes".into(),
        message: format!("`{fqn}` was loaded for its structure only: its data was not read"),
        at: SourceLocation::from_caller(std::panic::Location::caller()),
    })
}

/// The dtype and validated layout of a stored tensor whose storage file has `len` bytes:
/// every index it reads lies inside the storage (an empty file stands for zeros).
fn checked_layout(len: usize, meta: &MetaJ) -> Result<(DType, Layout), String> {
    let dtype = dtype_of(meta.dtype.0)?;
    if meta.layout != schema::Layout::STRIDED {
        return Err(format!("layout {} is not strided", meta.layout.0));
    }
    let sizes = concrete_ints(&meta.sizes, "size")?;
    let strides = concrete_ints(&meta.strides, "stride")?;
    let offset = concrete_ints(std::slice::from_ref(&meta.storage_offset), "storage offset")?;
    let layout = Layout::new(&sizes, &strides, offset.first().copied().unwrap_or(0))?;
    let n = dtype.size_in_bytes();
    if !len.is_multiple_of(n) {
        return Err(format!(
            "{len} bytes is not a whole number of {n}-byte elements"
        ));
    }
    let elements = len / n;
    // An empty storage file stands for zeros; else the last index read must be in it.
    let fits = elements == 0
        || match layout.last_index() {
            None => true,
            Some(last) => last.is_some_and(|last| last < elements),
        };
    if !fits {
        return Err(format!(
            "sizes {:?}, strides {:?} and offset {} read past its storage of {elements} \
             elements",
            layout.shape, layout.strides, layout.offset
        ));
    }
    Ok((dtype, layout))
}

/// A tensor read from its storage's raw bytes: `sizes`, `strides` and `storage_offset`
/// (in elements) pick its elements, as `torch.as_strided` does; an empty storage file
/// stands for zeros. Every index is checked against the storage ([`checked_layout`]).
pub(super) fn strided_tensor(bytes: &[u8], meta: &MetaJ) -> Result<Tensor, String> {
    let (dtype, layout) = checked_layout(bytes.len(), meta)?;
    let storage = match dtype {
        DType::F32 => layout.gather(bytes, f32::from_le_bytes),
        DType::F64 => layout.gather(bytes, f64::from_le_bytes),
        DType::I64 => layout.gather(bytes, i64::from_le_bytes),
        DType::I32 => layout.gather(bytes, i32::from_le_bytes),
        DType::Bool => layout.gather(bytes, |b: [u8; 1]| b[0] != 0),
        DType::U8 => layout.gather(bytes, |b: [u8; 1]| b[0]),
    }?;
    Ok(Tensor::from_storage(storage))
}

/// Sizes, strides and offset, validated.
struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
    numel: usize,
}

impl Layout {
    fn new(sizes: &[i64], strides: &[i64], offset: i64) -> Result<Layout, String> {
        if sizes.len() != strides.len() {
            return Err(format!(
                "{} sizes but {} strides",
                sizes.len(),
                strides.len()
            ));
        }
        let to_usize =
            |v: i64, what: &str| usize::try_from(v).map_err(|_| format!("negative {what} {v}"));
        let shape = sizes
            .iter()
            .map(|&s| to_usize(s, "size"))
            .collect::<Result<Vec<_>, _>>()?;
        let strides = strides
            .iter()
            .map(|&s| to_usize(s, "stride"))
            .collect::<Result<Vec<_>, _>>()?;
        let numel = shape
            .iter()
            .try_fold(1usize, |acc, &s| acc.checked_mul(s))
            .ok_or("the number of elements overflows")?;
        Ok(Layout {
            shape,
            strides,
            offset: to_usize(offset, "storage offset")?,
            numel,
        })
    }

    /// The largest storage index the tensor reads (None when it has no elements).
    fn last_index(&self) -> Option<Option<usize>> {
        if self.numel == 0 {
            return None;
        }
        Some(
            self.shape
                .iter()
                .zip(&self.strides)
                .try_fold(self.offset, |acc, (&n, &s)| {
                    (n - 1).checked_mul(s).and_then(|d| acc.checked_add(d))
                }),
        )
    }

    fn gather<T: Element + Default, const N: usize>(
        &self,
        bytes: &[u8],
        from: fn([u8; N]) -> T,
    ) -> Result<Storage, String> {
        // The layout was checked against the storage ([`checked_layout`]).
        let shape = &self.shape;
        let mut data = ferrex_kernels::alloc::try_filled(self.numel, T::default())
            .map_err(|e| format!("{e}"))?;
        if bytes.len() < N {
            // An empty storage file: zeros (`_build_file_map`).
            return Storage::from_vec(shape, data).ok_or_else(|| "bad shape".to_string());
        }
        let element = |i: usize| {
            let mut a = [0u8; N];
            a.copy_from_slice(&bytes[i * N..(i + 1) * N]);
            from(a)
        };
        let mut index = vec![0usize; shape.len()];
        for slot in &mut data {
            let at = self.offset
                + index
                    .iter()
                    .zip(&self.strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            *slot = element(at);
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Storage::from_vec(shape, data).ok_or_else(|| "the data does not fill its shape".to_string())
    }
}

/// Reads the state dict and the constants; with `stored` (a structure-only load), their
/// metas only, into it.
pub(super) fn state(
    parts: &Parts<'_>,
    ctx: &Ctx,
    mut stored: Option<&mut StoredMetas>,
) -> Result<(TensorMap, TensorMap), LoadError> {
    let weights = parts.payloads("data/weights/", "weights", ctx, stored.as_deref_mut())?;
    let constants = parts.payloads("data/constants/", "constants", ctx, stored)?;
    Ok((weights, constants))
}

/// The entries of a zip of stored entries (a `.pt2` archive), names and bytes in
/// directory order; every offset, size and CRC-32 checked.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let zip = Archive::new(bytes)?;
    zip.entries
        .iter()
        .map(|e| Ok((e.name.clone(), zip.read(e)?.to_vec())))
        .collect()
}

/// A zip of stored (uncompressed) entries, as PyTorch writes its archives (zip64
/// records for an entry of 4 GiB or more): what a tool that edits an archive's JSON
/// writes back (`ferrex fuzz`, tests of damaged files).
pub fn write_stored(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    write_stored_to(std::io::Cursor::new(Vec::new()), entries).map(std::io::Cursor::into_inner)
}

/// [`write_stored`] into any seekable writer: the one stored-zip writer (`ferrex::save`
/// writes its archives through it). Stored, not deflated, as PyTorch writes them (its
/// reader maps payloads in place); large payloads get zip64 records.
pub fn write_stored_to<W: std::io::Write + std::io::Seek>(
    w: W,
    entries: &[(String, Vec<u8>)],
) -> Result<W, String> {
    use std::io::Write;
    let mut zw = zip::ZipWriter::new(w);
    for (name, bytes) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes.len() >= u32::MAX as usize);
        zw.start_file(name.as_str(), options)
            .map_err(|e| format!("zip: {e}"))?;
        zw.write_all(bytes).map_err(|e| format!("zip: {e}"))?;
    }
    zw.finish().map_err(|e| format!("zip: {e}"))
}
