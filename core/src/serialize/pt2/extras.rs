//! What ferrex keeps beside PyTorch's schema in a `.pt2` it writes: one JSON object in the
//! graph module's `metadata["ferrex"]` (a key PyTorch ignores). It holds what PyTorch's
//! format has no field for — the `Dim` names and input sources of the symbols, the guards
//! checked at run time, the model's name and argument names, the source lines printed as
//! comments — so that a program ferrex writes loads back into the same program. A
//! PyTorch archive has no such entry; the reader derives what it can instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SourceLocation;
use crate::module::SourceLine;
use crate::program::ExportedProgram;
use crate::serialize::intern;
use crate::symbolic::{parse_expr, CmpOp, Guard, ShapeEnv, SymbolInfo, SymbolSource};
use crate::trace::AssumedConstant;

/// The `metadata` key of the extras.
pub const EXTRAS_KEY: &str = "ferrex";

/// ferrex's additions to a program it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extras {
    /// `ferrex 0.1.0`.
    pub producer: String,
    pub model_name: String,
    /// The user inputs' leaf names (`x`, `xs_0`).
    pub arg_names: Vec<String>,
    /// Guards checked on every call: `lhs op rhs`, in ferrex's expression spelling
    /// (`s0 + 1`), with the op as `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub guards: Vec<GuardEntry>,
    pub symbols: Vec<SymbolEntry>,
    pub source_lines: Vec<SourceLineEntry>,
    /// The values `ferrex::assume_constant` computed at export (absent before 0.1's
    /// archives held them).
    #[serde(default)]
    pub assumed_constants: Vec<AssumedConstantEntry>,
}

/// A value `ferrex::assume_constant` computed at export, with where it was called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssumedConstantEntry {
    pub value: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEntry {
    pub lhs: String,
    pub op: String,
    pub rhs: String,
}

/// A symbol of the shape environment: its `Dim`, range, example value and the input
/// dims it stands for (`size = scale * symbol + offset`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolEntry {
    pub symbol: String,
    pub dim_name: String,
    pub min: i64,
    pub max: Option<i64>,
    pub hint: i64,
    pub sources: Vec<SymbolSourceEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolSourceEntry {
    pub input: String,
    pub dim: usize,
    pub scale: i64,
    pub offset: i64,
}

/// A line of the model's source, printed above the nodes it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceLineEntry {
    pub file: String,
    pub line: u32,
    pub function: String,
    pub code: String,
}

impl Extras {
    /// The extras of `ep`.
    pub fn of(ep: &ExportedProgram) -> Extras {
        Extras {
            producer: format!("ferrex {}", env!("CARGO_PKG_VERSION")),
            model_name: ep.model_name().to_string(),
            arg_names: ep.arg_names().to_vec(),
            guards: guard_entries(ep.guards()),
            symbols: symbol_entries(ep.shape_env()),
            source_lines: source_entries(ep.sources()),
            assumed_constants: ep
                .assumed_constants()
                .iter()
                .map(|c| AssumedConstantEntry {
                    value: c.value.clone(),
                    file: c.location.file.to_string(),
                    line: c.location.line,
                    column: c.location.column,
                    code: c.code.clone(),
                })
                .collect(),
        }
    }
}

/// Guards as entries (`lhs`, `op`, `rhs` in ferrex's expression spelling).
pub(crate) fn guard_entries(guards: &[Guard]) -> Vec<GuardEntry> {
    guards
        .iter()
        .map(|g| GuardEntry {
            lhs: g.lhs.to_string(),
            op: g.op.symbol().to_string(),
            rhs: g.rhs.to_string(),
        })
        .collect()
}

/// The shape environment's symbols as entries.
pub(crate) fn symbol_entries(env: &ShapeEnv) -> Vec<SymbolEntry> {
    env.symbols
        .iter()
        .map(|s| SymbolEntry {
            symbol: s.symbol.to_string(),
            dim_name: s.dim_name.clone(),
            min: s.min,
            max: s.max,
            hint: s.hint,
            sources: s
                .sources
                .iter()
                .map(|src| SymbolSourceEntry {
                    input: src.input.clone(),
                    dim: src.dim,
                    scale: src.scale,
                    offset: src.offset,
                })
                .collect(),
        })
        .collect()
}

/// Source lines as entries.
pub(crate) fn source_entries(lines: &[SourceLine]) -> Vec<SourceLineEntry> {
    lines
        .iter()
        .map(|l| SourceLineEntry {
            file: l.file.to_string(),
            line: l.line,
            function: l.function.to_string(),
            code: l.code.to_string(),
        })
        .collect()
}

/// The shape environment of its entries; `Err` names an entry that is not a symbol.
pub(crate) fn restore_shape_env(entries: &[SymbolEntry]) -> Result<ShapeEnv, String> {
    let symbols = entries
        .iter()
        .map(|s| {
            let symbol = match parse_expr(&s.symbol).map(|e| e.as_linear()) {
                Ok(Some((sym, 1, 0))) => sym,
                _ => return Err(format!("`{}` is not a symbol", s.symbol)),
            };
            Ok(SymbolInfo {
                symbol,
                dim_name: s.dim_name.clone(),
                min: s.min,
                max: s.max,
                hint: s.hint,
                sources: s
                    .sources
                    .iter()
                    .map(|src| SymbolSource {
                        input: src.input.clone(),
                        dim: src.dim,
                        scale: src.scale,
                        offset: src.offset,
                    })
                    .collect(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(ShapeEnv { symbols })
}

/// Source lines of their entries.
pub(crate) fn restore_sources(entries: &[SourceLineEntry]) -> Vec<SourceLine> {
    entries
        .iter()
        .map(|l| SourceLine {
            file: intern(&l.file),
            line: l.line,
            function: intern(&l.function),
            code: intern(&l.code),
        })
        .collect()
}

/// The parts of a program the extras restore, read back.
pub(super) struct Restored {
    pub model_name: String,
    pub arg_names: Vec<String>,
    pub guards: Vec<Guard>,
    pub shape_env: ShapeEnv,
    pub sources: Vec<SourceLine>,
    pub assumed_constants: Vec<AssumedConstant>,
}

impl Extras {
    /// The extras of a graph module's metadata, if it has them (a PyTorch archive does
    /// not); `Err` names what is wrong with them.
    pub(super) fn read(metadata: &BTreeMap<String, String>) -> Result<Option<Extras>, String> {
        metadata
            .get(EXTRAS_KEY)
            .map(|text| {
                serde_json::from_str(text).map_err(|e| format!("metadata[\"{EXTRAS_KEY}\"]: {e}"))
            })
            .transpose()
    }

    pub(super) fn restore(self) -> Result<Restored, String> {
        let expr = |place: &str, text: &str| {
            parse_expr(text)
                .map_err(|e| format!("metadata[\"{EXTRAS_KEY}\"]: {place} `{text}`: {e}"))
        };
        let guards = self
            .guards
            .iter()
            .map(|g| {
                Ok(Guard {
                    lhs: expr("guard", &g.lhs)?,
                    op: CmpOp::from_symbol(&g.op)
                        .ok_or_else(|| format!("`{}` is not a comparison", g.op))?,
                    rhs: expr("guard", &g.rhs)?,
                })
            })
            .collect::<Result<_, String>>()?;
        let shape_env = restore_shape_env(&self.symbols)
            .map_err(|e| format!("metadata[\"{EXTRAS_KEY}\"]: {e}"))?;
        let sources = restore_sources(&self.source_lines);
        let assumed_constants = self
            .assumed_constants
            .iter()
            .map(|c| AssumedConstant {
                value: c.value.clone(),
                location: SourceLocation {
                    file: intern(&c.file),
                    line: c.line,
                    column: c.column,
                },
                code: c.code.clone(),
            })
            .collect();
        Ok(Restored {
            model_name: self.model_name,
            arg_names: self.arg_names,
            guards,
            shape_env,
            sources,
            assumed_constants,
        })
    }
}
