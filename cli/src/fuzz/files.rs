//! File cases: saved programs (PyTorch's corpus and the same programs as ferrex writes
//! them) and safetensors files, damaged deterministically — bytes flipped, the file cut,
//! values inside the archive's `models/*.json` changed (sizes to huge, negative or zero,
//! op names, emptied lists, swapped specs) and the archive rebuilt with stored entries.
//! A program that still loads runs with both runners, which must agree.

use std::path::{Path, PathBuf};

use ferrex::module::InputLeaf;
use ferrex::program::ExportedProgram;
use ferrex::symbolic::SymInt;
use ferrex::{DType, Tensor};
use serde_json::Value;

use super::rng::Rng;
use super::Outcome;
use crate::runner;

/// The kinds of file damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Raw bytes of the archive flipped, or the archive cut.
    Bytes,
    /// Values in the model JSON changed, the archive rebuilt.
    Json,
    /// Bytes of an entry (JSON text, a weight) changed, the archive rebuilt.
    Entry,
    /// A safetensors file's bytes or header changed.
    Safetensors,
}

/// One generated file: what was done, and the bytes.
pub struct FileCase {
    pub description: String,
    pub bytes: Vec<u8>,
    /// `pt2` or `safetensors`.
    pub extension: &'static str,
    /// The corpus program it came from (for its inputs file).
    pub source: PathBuf,
}

/// The undamaged files, sorted: programs, then safetensors files.
pub fn corpus(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("the corpus folder {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    let programs: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pt2"))
        .cloned()
        .collect();
    let tensors: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .cloned()
        .collect();
    if programs.is_empty() {
        return Err(format!("no .pt2 programs in {}", dir.display()));
    }
    Ok((programs, tensors))
}

/// Generates the damaged file of a case.
pub fn generate(rng: &mut Rng, damage: Damage, dir: &Path) -> Result<FileCase, String> {
    let (programs, tensors) = corpus(dir)?;
    if damage == Damage::Safetensors {
        let source = rng.pick(&tensors).ok_or("no safetensors files")?.clone();
        let bytes = std::fs::read(&source).map_err(|e| e.to_string())?;
        let (description, bytes) = damage_safetensors(rng, bytes);
        return Ok(FileCase {
            description: format!("{}: {description}", file_name(&source)),
            bytes,
            extension: "safetensors",
            source,
        });
    }
    let source = rng.pick(&programs).ok_or("no programs")?.clone();
    let original = std::fs::read(&source).map_err(|e| e.to_string())?;
    // Half of the cases start from the program as ferrex writes it (with its extras).
    let (origin, bytes) = if rng.one_in(2) {
        let ep =
            ferrex::serialize::pt2::from_bytes(&original, "corpus").map_err(|e| e.to_string())?;
        let bytes = ferrex::serialize::pt2::to_bytes(&ep, "model").map_err(|e| e.to_string())?;
        ("as ferrex writes it", bytes)
    } else {
        ("as PyTorch wrote it", original)
    };
    let (description, bytes) = match damage {
        Damage::Bytes => damage_bytes(rng, bytes),
        Damage::Json => damage_json(rng, &bytes)?,
        _ => damage_entry(rng, &bytes)?,
    };
    Ok(FileCase {
        description: format!("{} ({origin}): {description}", file_name(&source)),
        bytes,
        extension: "pt2",
        source,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Flips bytes, cuts the file, or inserts bytes.
fn damage_bytes(rng: &mut Rng, mut bytes: Vec<u8>) -> (String, Vec<u8>) {
    if bytes.is_empty() {
        return ("empty".into(), bytes);
    }
    match rng.below(3) {
        0 => {
            let at = rng.below(bytes.len());
            bytes.truncate(at);
            (format!("cut at byte {at}"), bytes)
        }
        1 => {
            let n = 1 + rng.below(8);
            let mut at = Vec::new();
            for _ in 0..n {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
                at.push(i);
            }
            (format!("bits flipped at bytes {at:?}"), bytes)
        }
        _ => {
            let at = rng.below(bytes.len());
            let n = 1 + rng.below(16);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            bytes.splice(at..at, junk);
            (format!("{n} bytes inserted at byte {at}"), bytes)
        }
    }
}

/// Changes bytes inside one entry of the archive (CRC rewritten, so the damage reaches
/// the reader of that entry).
fn damage_entry(rng: &mut Rng, bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut entries = ferrex::serialize::pt2::read_entries(bytes)?;
    let i = rng.below(entries.len());
    let (name, data) = &mut entries[i];
    let (what, damaged) = damage_bytes(rng, std::mem::take(data));
    *data = damaged;
    let description = format!("entry {name}: {what}");
    Ok((description, ferrex::serialize::pt2::write_stored(&entries)?))
}

/// Changes one to three values of the model JSON.
fn damage_json(rng: &mut Rng, bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut entries = ferrex::serialize::pt2::read_entries(bytes)?;
    let (_, json) = entries
        .iter_mut()
        .find(|(n, _)| n.contains("models/") && n.ends_with(".json"))
        .ok_or("no model JSON")?;
    let mut value: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let mut paths = Vec::new();
        collect_paths(&value, &mut Vec::new(), &mut paths);
        // Most of the time, aim at what the validator checks.
        let focused: Vec<&Vec<String>> = paths
            .iter()
            .filter(|p| {
                p.iter().any(|k| {
                    matches!(
                        k.as_str(),
                        "sizes"
                            | "output_specs"
                            | "input_specs"
                            | "range_constraints"
                            | "target"
                            | "outputs"
                            | "inputs"
                            | "expr_str"
                            | "ferrex"
                            | "dtype"
                            | "as_int"
                            | "as_ints"
                    )
                })
            })
            .collect();
        let path = if !focused.is_empty() && !rng.one_in(4) {
            (*rng.pick(&focused).ok_or("no path")?).clone()
        } else {
            rng.pick(&paths).ok_or("no path")?.clone()
        };
        let Some(target) = pointer_mut(&mut value, &path) else {
            continue;
        };
        done.push(format!(
            "/{}: {}",
            path.join("/"),
            mutate_value(rng, target)
        ));
    }
    *json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let out = ferrex::serialize::pt2::write_stored(&entries)?;
    Ok((format!("model JSON {}", done.join("; ")), out))
}

/// Every path of the value (object keys and array indices), up to 20,000.
fn collect_paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if out.len() >= 20_000 {
        return;
    }
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(i.to_string());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'v>(v: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    let mut at = v;
    for k in path {
        at = match at {
            Value::Object(m) => m.get_mut(k)?,
            Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

const HOSTILE_INTS: [i64; 12] = [
    0,
    -1,
    1,
    2,
    -(1 << 40),
    1 << 31,
    1 << 40,
    1 << 62,
    i64::MAX,
    i64::MIN,
    65_536,
    3,
];

const TARGETS: [&str; 8] = [
    "torch.ops.aten.relu.default",
    "torch.ops.aten.add.Tensor",
    "torch.ops.aten.view.default",
    "torch.ops.aten.sum.dim_IntList",
    "torch.ops.aten.nonexistent.default",
    "torch.ops.higher_order.cond",
    "torch.ops.aten.linear.default",
    "torch.ops.aten.zeros.default",
];

/// Changes one value in place and says how.
fn mutate_value(rng: &mut Rng, v: &mut Value) -> String {
    match v {
        Value::Number(_) => {
            let n = *rng.pick(&HOSTILE_INTS).unwrap_or(&0);
            *v = Value::from(n);
            format!("number → {n}")
        }
        Value::String(s) if s.starts_with("torch.ops.") => {
            let t = *rng.pick(&TARGETS).unwrap_or(&"");
            *v = Value::from(t);
            format!("op → {t}")
        }
        Value::String(s) if s.contains("Symbol(") || s.starts_with('{') => {
            let what = mutate_text(rng, s);
            format!("text {what}")
        }
        Value::String(s) => {
            let new = match rng.below(3) {
                0 => String::new(),
                1 => format!("{s}_x"),
                _ => "lin.weight".to_string(),
            };
            let said = format!("string `{s}` → `{new}`");
            *s = new;
            said
        }
        Value::Array(a) if !a.is_empty() => match rng.below(4) {
            0 => {
                a.clear();
                "list emptied".into()
            }
            1 => {
                let i = rng.below(a.len());
                a.remove(i);
                format!("element {i} removed")
            }
            2 => {
                let i = rng.below(a.len());
                let e = a[i].clone();
                a.push(e);
                format!("element {i} appended again")
            }
            _ => {
                let (i, j) = (rng.below(a.len()), rng.below(a.len()));
                a.swap(i, j);
                format!("elements {i} and {j} swapped")
            }
        },
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = rng.pick(&keys).cloned().unwrap_or_default();
            m.remove(&k);
            format!("key `{k}` removed")
        }
        Value::Bool(b) => {
            *b = !*b;
            "bool flipped".into()
        }
        _ => {
            *v = Value::from(*rng.pick(&HOSTILE_INTS).unwrap_or(&0));
            "null/empty → a number".into()
        }
    }
}

/// Damages an expression or an embedded JSON text (the ferrex extras).
fn mutate_text(rng: &mut Rng, s: &mut String) -> String {
    if s.starts_with('{') {
        // Extras: change a value inside (guards, symbols, ranges).
        if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
            let mut paths = Vec::new();
            collect_paths(&inner, &mut Vec::new(), &mut paths);
            if let Some(path) = rng.pick(&paths).cloned() {
                if let Some(t) = pointer_mut(&mut inner, &path) {
                    let what = mutate_value(rng, t);
                    *s = inner.to_string();
                    return format!("in extras /{}: {what}", path.join("/"));
                }
            }
        }
        return "extras unchanged".into();
    }
    let symbols = [
        "Symbol('s0', integer=True)",
        "Symbol('s999', integer=True)",
        "Symbol('u0', integer=True)",
    ];
    let sym = *rng.pick(&symbols).unwrap_or(&"");
    *s = match rng.below(5) {
        0 => format!(
            "Mul({s}, Integer({}))",
            rng.pick(&HOSTILE_INTS).unwrap_or(&0)
        ),
        1 => format!("Add({s}, Integer(-{}))", 1 + rng.below(100)),
        2 => sym.to_string(),
        3 => format!(
            "FloorDiv({s}, Integer({}))",
            rng.pick(&HOSTILE_INTS).unwrap_or(&0)
        ),
        _ => {
            let n = 1 + rng.below(200);
            format!("{}{s}{}", "Add(Integer(1), ".repeat(n), ")".repeat(n))
        }
    };
    format!("expression → {}", short(s))
}

fn short(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Damages a safetensors file: its header length, its JSON header, or bytes.
fn damage_safetensors(rng: &mut Rng, mut bytes: Vec<u8>) -> (String, Vec<u8>) {
    let header_len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes) as usize;
    let header = bytes
        .get(8..8usize.saturating_add(header_len))
        .and_then(|h| serde_json::from_slice::<Value>(h).ok());
    match (rng.below(3), header) {
        (0, Some(mut h)) => {
            let mut paths = Vec::new();
            collect_paths(&h, &mut Vec::new(), &mut paths);
            let path = rng.pick(&paths).cloned().unwrap_or_default();
            let what = pointer_mut(&mut h, &path).map_or(String::new(), |t| mutate_value(rng, t));
            let text = h.to_string().into_bytes();
            let mut out = (text.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(&text);
            out.extend_from_slice(bytes.get(8 + header_len..).unwrap_or_default());
            (format!("header /{}: {what}", path.join("/")), out)
        }
        (1, _) if bytes.len() >= 8 => {
            let n = *rng.pick(&HOSTILE_INTS).unwrap_or(&0);
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            (format!("header length → {n}"), bytes)
        }
        _ => damage_bytes(rng, bytes),
    }
}

/// Reads a damaged file: a safetensors file's tensors are read to the end; a program
/// that loads runs with both runners.
pub fn run(case: &FileCase, rng: &mut Rng) -> Outcome {
    if case.extension == "safetensors" {
        return match ferrex::serialize::safetensors::from_bytes(&case.bytes) {
            Ok(tensors) => {
                for (_, t) in tensors {
                    let _ = t.to_vec::<f64>();
                }
                Outcome::Ran
            }
            Err(e) => Outcome::Error(e.to_string()),
        };
    }
    // Two loads: each runner has its own buffers, so a mutation by one is not seen by
    // the other.
    let load = || ferrex::serialize::pt2::from_bytes(&case.bytes, "case.pt2");
    let (interpreted, compiled) = match (load(), load()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Outcome::Error(e.to_string()),
    };
    let io = case
        .source
        .with_extension("")
        .with_extension("io.safetensors");
    let leaves = match inputs(&interpreted, &io, rng) {
        Ok(l) => l,
        Err(why) => return Outcome::Skipped(why),
    };
    super::compare_runners(&interpreted, &compiled, &leaves)
}

/// The call's inputs: the corpus inputs file's (half of the time, when it has them),
/// else random values of the placeholders' sizes with each symbol at its example value
/// (kept within 1..=16).
fn inputs(ep: &ExportedProgram, io: &Path, rng: &mut Rng) -> Result<Vec<InputLeaf>, String> {
    let file = if rng.one_in(2) {
        crate::io::IoFile::open(io, "").ok()
    } else {
        None
    };
    let placeholders: Vec<_> = ep.graph().placeholders().map(|(_, n)| n.clone()).collect();
    let mut make = |i: usize, name: &str| -> Result<Tensor, crate::CliError> {
        if let Some(t) = file.as_ref().and_then(|f| f.input(i, name).ok()) {
            return Ok(t);
        }
        let meta = placeholders
            .iter()
            .find(|n| n.name == name)
            .and_then(|n| n.meta.first())
            .ok_or_else(|| crate::CliError::new(format!("no placeholder `{name}`")))?;
        let mut shape = Vec::new();
        for s in &meta.sizes {
            let v = match s {
                SymInt::Int(v) => *v,
                SymInt::Sym { expr, .. } => expr
                    .eval(&|sym| {
                        let info = ep.shape_env().info(sym);
                        Some(info.map_or(4, |i| i.hint.clamp(1, 16)))
                    })
                    .unwrap_or(4),
            };
            shape.push(usize::try_from(v).map_err(|_| crate::CliError::new("negative size"))?);
        }
        let numel = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        if numel.is_none_or(|n| n > 1 << 20) {
            return Err(crate::CliError::new(format!("input `{name}` is too large")));
        }
        let t = Tensor::randn(shape.clone());
        Ok(match meta.dtype {
            DType::F32 => t,
            DType::Bool => t.gt(0.0),
            other => t.mul(3.0).to_dtype(other),
        })
    };
    runner::leaves(ep, &mut make).map_err(|e| e.to_string())
}
