//! The shape environment of an export: each size symbol, the `Dim` it stands for, its
//! declared range, its example value, and the input dims it was read from — so that
//! guards and run-time checks can be stated in the user's terms (`x.size()[1] <= 18`).

use super::{Expr, Symbol};

/// Where a symbol appears: `input.size()[dim] == scale * symbol + offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolSource {
    pub input: String,
    pub dim: usize,
    pub scale: i64,
    pub offset: i64,
}

impl SymbolSource {
    pub fn size_text(&self) -> String {
        format!("{}.size()[{}]", self.input, self.dim)
    }
}

/// One size symbol.
#[derive(Clone, Debug)]
pub struct SymbolInfo {
    pub symbol: Symbol,
    /// The name of the root `Dim` it stands for.
    pub dim_name: String,
    pub min: i64,
    pub max: Option<i64>,
    pub hint: i64,
    pub sources: Vec<SymbolSource>,
}

/// All symbols of one export.
#[derive(Clone, Debug, Default)]
pub struct ShapeEnv {
    pub symbols: Vec<SymbolInfo>,
}

/// Symbols standing for input sizes while rendering, far from real ones.
const SOURCE_BASE: u32 = 1 << 30;

impl ShapeEnv {
    pub fn info(&self, s: Symbol) -> Option<&SymbolInfo> {
        self.symbols.iter().find(|i| i.symbol == s)
    }

    /// A symbol's declared range, `[i64::MIN, i64::MAX]` for one this environment does
    /// not hold (as [`crate::SymbolRanges`] wants it).
    pub fn range(&self, s: Symbol) -> (i64, i64) {
        self.info(s)
            .map_or((i64::MIN, i64::MAX), |i| (i.min, i.max.unwrap_or(i64::MAX)))
    }

    /// The `Dim` name and primary source of a symbol, `inp4_dim0 = x.size()[0]`.
    pub fn describe(&self, s: Symbol) -> String {
        match self.info(s) {
            Some(i) => match self.primary(i) {
                Some(src) if src.scale == 1 && src.offset == 0 => {
                    format!("{} = {}", i.dim_name, src.size_text())
                }
                _ => i.dim_name.clone(),
            },
            None => s.to_string(),
        }
    }

    fn primary<'a>(&self, i: &'a SymbolInfo) -> Option<&'a SymbolSource> {
        i.sources
            .iter()
            .find(|s| s.scale == 1)
            .or_else(|| i.sources.first())
    }

    /// Renders an expression over symbols in terms of input sizes:
    /// `3*s0 + 1` with `s0 = z.size()[0] - 1` becomes `3*z.size()[0] - 2`.
    pub fn render(&self, e: &Expr) -> String {
        let mut names: Vec<(Symbol, String)> = Vec::new();
        let substituted = e.substitute(&|s| {
            let i = self.info(s)?;
            let src = self.primary(i)?;
            if src.scale != 1 {
                return None;
            }
            let k = self.symbols.iter().position(|x| x.symbol == s)? as u32;
            Some(Expr::symbol(Symbol(SOURCE_BASE + k)).sub(&Expr::constant(src.offset)))
        });
        for (k, i) in self.symbols.iter().enumerate() {
            if let Some(src) = self.primary(i) {
                names.push((Symbol(SOURCE_BASE + k as u32), src.size_text()));
            }
            names.push((i.symbol, i.dim_name.clone()));
        }
        substituted.to_string_with(&|s| {
            names
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| s.to_string())
        })
    }
}
