//! What ferrex keeps beside PyTorch's schema in a `.pt2` it writes: one JSON object in the
//! graph module's `metadata["ferrex"]` (a key PyTorch ignores). It holds what PyTorch's
//! format has no field for — the `Dim` names and input sources of the symbols, the guards
//! checked at run time, the model's name and argument names, the source lines printed as
//! comments — so that a program ferrex writes loads back into the same program. A
//! PyTorch archive has no such entry; the reader derives what it can instead.

use serde::{Deserialize, Serialize};

use crate::program::ExportedProgram;

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
            guards: ep
                .guards()
                .iter()
                .map(|g| GuardEntry {
                    lhs: g.lhs.to_string(),
                    op: g.op.symbol().to_string(),
                    rhs: g.rhs.to_string(),
                })
                .collect(),
            symbols: ep
                .shape_env()
                .symbols
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
                .collect(),
            source_lines: ep
                .sources()
                .iter()
                .map(|l| SourceLineEntry {
                    file: l.file.to_string(),
                    line: l.line,
                    function: l.function.to_string(),
                    code: l.code.to_string(),
                })
                .collect(),
        }
    }
}
