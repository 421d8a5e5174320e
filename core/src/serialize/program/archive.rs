//! The zip archive around the JSON and the weights, written and read.

use super::*;

pub(super) fn write_archive<W: Write + Seek>(ep: &ExportedProgram, w: W) -> Result<W, SaveError> {
    let model = Saver { ep }.model()?;
    let json = serde_json::to_vec_pretty(&model)
        .map_err(|e| SaveError::Unsavable(format!("the graph JSON: {e}")))?;
    let weights = crate::serialize::safetensors::to_bytes(ep.state_dict().iter())?;
    let constants = crate::serialize::safetensors::to_bytes(ep.constants().iter())?;
    let zip_err = |e: zip::result::ZipError| SaveError::Unsavable(format!("zip: {e}"));
    let io_err = |e: std::io::Error| SaveError::Unsavable(format!("zip: {e}"));
    let mut zw = zip::ZipWriter::new(w);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let entries: [(&str, &[u8], _); 5] = [
        ("archive_format", b"pt2", stored),
        ("byteorder", b"little", stored),
        (MODEL_JSON, &json, deflated),
        (WEIGHTS, &weights, stored),
        (CONSTANTS, &constants, stored),
    ];
    for (name, bytes, options) in entries {
        zw.start_file(name, options).map_err(zip_err)?;
        zw.write_all(bytes).map_err(io_err)?;
    }
    zw.finish().map_err(zip_err)
}

/// The program as `.pt2` archive bytes (see the module docs for the layout).
pub(super) fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    loader: &Loader<'_>,
) -> Result<Option<Vec<u8>>, LoadError> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(loader.err(format!("{name}: {e}"))),
    };
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|e| loader.err(format!("{name}: {e}")))?;
    Ok(Some(bytes))
}

pub(super) fn tensors(
    bytes: Option<Vec<u8>>,
    keys: &[String],
    entry: &str,
    loader: &Loader<'_>,
) -> Result<TensorMap, LoadError> {
    let mut map = TensorMap::default();
    if keys.is_empty() && bytes.is_none() {
        return Ok(map);
    }
    let bytes = bytes.ok_or_else(|| loader.err(format!("the archive has no {entry}")))?;
    let mut found: HashMap<String, Tensor> = crate::serialize::safetensors::from_bytes(&bytes)
        .map_err(|e| loader.err(format!("{entry}: {e}")))?
        .into_iter()
        .collect();
    for k in keys {
        let t = found
            .remove(k)
            .ok_or_else(|| loader.err(format!("{entry} has no tensor `{k}`")))?;
        map.insert(k.clone(), t);
    }
    Ok(map)
}

/// Reads a program from `.pt2` archive bytes; `path` names the source in errors.
///
/// A PyTorch archive (`torch.export.save`, schema 8.x) is read by
/// [`crate::serialize::pt2`]; anything else as ferrex's own format.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<ExportedProgram, LoadError> {
    if crate::serialize::pt2::is_pytorch_archive(bytes) {
        return crate::serialize::pt2::from_bytes(bytes, path);
    }
    read_archive(std::io::Cursor::new(bytes), path)
}

pub(super) fn read_archive<R: Read + Seek>(
    reader: R,
    path: &str,
) -> Result<ExportedProgram, LoadError> {
    let empty_env = ShapeEnv::default();
    let early = Loader {
        path,
        shape_env: &empty_env,
    };
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| early.err(format!("not a zip archive ({e})")))?;
    let prefix = archive_prefix(&mut zip, &early)?;
    let json = read_entry(&mut zip, &format!("{prefix}{MODEL_JSON}"), &early)?
        .ok_or_else(|| early.err(format!("the archive has no {MODEL_JSON}")))?;
    let model = parse_model(&json, &early)?;
    let shape_env = read_shape_env(&model.shape_env, &early)?;
    let loader = Loader {
        path,
        shape_env: &shape_env,
    };
    let graph = loader.graph(&model.graph_module.graph, "graph")?;
    crate::passes::verify(&graph).map_err(|e| loader.bad("graph", e))?;
    let signature = loader.signature(model.graph_module.signature);
    let range_constraints = read_range_constraints(&model.range_constraints, &loader)?;
    let guards = read_guards(&model.guards, &loader)?;
    let sources = crate::serialize::pt2::extras::restore_sources(&model.source_lines);
    let weights = read_entry(&mut zip, &format!("{prefix}{WEIGHTS}"), &loader)?;
    let state_dict = tensors(weights, &model.state_dict, WEIGHTS, &loader)?;
    let consts = read_entry(&mut zip, &format!("{prefix}{CONSTANTS}"), &loader)?;
    let constants = tensors(consts, &model.constants, CONSTANTS, &loader)?;
    let ep = ExportedProgram::new(
        graph,
        signature,
        state_dict,
        constants,
        range_constraints,
        guards,
        shape_env,
        sources,
        model.arg_names,
        model.model_name,
    );
    crate::program::validate::validate(&ep).map_err(|e| LoadError::Program {
        path: path.to_string(),
        message: format!("{MODEL_JSON}: {e}"),
    })?;
    Ok(ep)
}

/// The folder the archive's entries are in (PyTorch puts everything under one
/// top-level folder), after checking `archive_format` when there is one.
fn archive_prefix<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    early: &Loader<'_>,
) -> Result<String, LoadError> {
    let prefix = zip
        .file_names()
        .find_map(|n| {
            n.ok()
                .and_then(|n| n.strip_suffix(MODEL_JSON).map(str::to_string))
        })
        .ok_or_else(|| early.err(format!("the archive has no {MODEL_JSON}")))?;
    if let Some(format) = read_entry(zip, &format!("{prefix}archive_format"), early)? {
        if format.trim_ascii() != b"pt2" {
            return Err(early.err(format!(
                "archive_format is `{}`, not `pt2`",
                String::from_utf8_lossy(&format)
            )));
        }
    }
    Ok(prefix)
}

/// The model JSON, its version checked first so that a newer file is reported as such
/// rather than as a schema mismatch.
fn parse_model(json: &[u8], early: &Loader<'_>) -> Result<ModelJ, LoadError> {
    let value: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| early.err(format!("{MODEL_JSON}: invalid JSON: {e}")))?;
    let version = value.get("schema_version").ok_or_else(|| {
        early.err(format!(
            "{MODEL_JSON}: no schema_version; this is not a ferrex program"
        ))
    })?;
    let version: SchemaVersionJ = serde_json::from_value(version.clone())
        .map_err(|e| early.err(format!("{MODEL_JSON}: schema_version: {e}")))?;
    if version.major > FORMAT_VERSION.0 {
        return Err(LoadError::NewerVersion {
            path: early.path.to_string(),
            found: format!("{}.{}", version.major, version.minor),
            supported: format!("{}.x", FORMAT_VERSION.0),
        });
    }
    serde_json::from_slice(json).map_err(|e| early.err(format!("{MODEL_JSON}: {e}")))
}

fn read_shape_env(symbols: &[SymbolJ], early: &Loader<'_>) -> Result<ShapeEnv, LoadError> {
    crate::serialize::pt2::extras::restore_shape_env(symbols)
        .map_err(|e| early.err(format!("{MODEL_JSON}: shape_env: {e}")))
}

fn read_range_constraints(
    ranges: &[RangeConstraintJ],
    loader: &Loader<'_>,
) -> Result<RangeConstraints, LoadError> {
    let entries = ranges
        .iter()
        .map(|r| {
            let e = loader.expr("range_constraints", &r.expr)?;
            let range = ValueRange {
                lower: r.min_val,
                upper: r.max_val,
            };
            Ok((e, range))
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(RangeConstraints { entries })
}

fn read_guards(guards: &[GuardJ], loader: &Loader<'_>) -> Result<Vec<Guard>, LoadError> {
    guards
        .iter()
        .map(|g| {
            Ok(Guard {
                lhs: loader.expr("guards", &g.lhs)?,
                op: cmp_from(&g.op).map_err(|e| loader.bad("guards", e))?,
                rhs: loader.expr("guards", &g.rhs)?,
            })
        })
        .collect()
}

/// Loads a program saved by [`save`], or by PyTorch's `torch.export.save`: graph, signature, state, constants, range
/// constraints and guards, without the model's source. Every problem with the file is a
/// [`LoadError`] naming the file and what is wrong.
pub fn load(path: impl AsRef<Path>) -> Result<ExportedProgram, LoadError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
        path: shown.clone(),
        source: e,
    })?;
    from_bytes(&bytes, &shown)
}
