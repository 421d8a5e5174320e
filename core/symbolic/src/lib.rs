//! Symbolic sizes: [`SymInt`] is a concrete integer or an expression over size symbols
//! carrying its example value (the *hint*). Arithmetic stays symbolic; comparisons
//! answer from the hint and report a guard to the [`GuardSink`] the tracer installs, so
//! that the exported program is valid exactly for the inputs the guards admit.
//!
//! This crate is the bottom of ferrex's layers: it knows nothing of tensors or tracing.
//! Comparisons that the example values cannot decide alone (values read from tensor
//! data) are also answered by the sink.

mod env;
mod expr;
pub mod linear;
pub mod parse;
mod sink;

pub use env::{ShapeEnv, SymbolInfo, SymbolSource};
pub use expr::{Atom, Expr, Monomial, Symbol, SymbolNames, SymbolRanges};
pub use parse::{
    parse_expr, parse_symint, ParseExprError, MAX_EXPR_DEPTH, MAX_EXPR_LEN, MAX_EXPR_TERMS,
};
pub use sink::{install_guard_sink, GuardSink, GuardSinkInstalled};

use std::fmt;
use std::sync::Arc;

/// A size: a plain integer or a symbolic expression with its example value.
#[derive(Clone, Debug)]
pub enum SymInt {
    Int(i64),
    Sym { expr: Arc<Expr>, hint: i64 },
}

/// A comparison recorded as a guard: `lhs op rhs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn eval(self, a: i64, b: i64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }

    pub fn negate(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    }

    /// The same comparison with its operands swapped: `a < b` is `b > a`.
    pub fn swapped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The comparison spelled `symbol` (`<=`), as [`CmpOp::symbol`] writes it.
    pub fn from_symbol(symbol: &str) -> Option<CmpOp> {
        [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ]
        .into_iter()
        .find(|op| op.symbol() == symbol)
    }
}

/// A comparison of sizes kept symbolic instead of answered (and guarded): PyTorch's
/// `SymBool`. `cond!` accepts it as a predicate, so a branch on a dynamic size stays a
/// `cond` node rather than specialising the program.
#[derive(Clone, Debug)]
pub struct SymBool {
    pub lhs: SymInt,
    pub op: CmpOp,
    pub rhs: SymInt,
}

impl SymBool {
    /// The value for the example sizes.
    pub fn hint(&self) -> bool {
        self.op.eval(self.lhs.hint(), self.rhs.hint())
    }

    /// Whether it depends on a symbol.
    pub fn is_symbolic(&self) -> bool {
        self.lhs.is_symbolic() || self.rhs.is_symbolic()
    }
}

impl fmt::Display for SymBool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

/// The value of a graph node that is a symbolic scalar, not a tensor: an int read from
/// tensor data (`u0`) or a comparison of such ints (`u0 <= 5`).
#[derive(Clone, Debug)]
pub enum SymScalar {
    Int(SymInt),
    Bool(SymBool),
}

impl fmt::Display for SymScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymScalar::Int(i) => write!(f, "{i}"),
            SymScalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A fact about sizes that the traced program relies on: `lhs op rhs`, true for the
/// example inputs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Guard {
    pub lhs: Expr,
    pub op: CmpOp,
    pub rhs: Expr,
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

impl SymInt {
    /// A symbolic value; collapses to `Int` when the expression is constant.
    pub fn from_expr(expr: Expr, hint: i64) -> SymInt {
        match expr.as_constant() {
            Some(c) => SymInt::Int(c),
            None => SymInt::Sym {
                expr: Arc::new(expr),
                hint,
            },
        }
    }

    /// The example value.
    pub fn hint(&self) -> i64 {
        match self {
            SymInt::Int(v) => *v,
            SymInt::Sym { hint, .. } => *hint,
        }
    }

    /// The value if it is not symbolic.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            SymInt::Int(v) => Some(*v),
            SymInt::Sym { .. } => None,
        }
    }

    pub fn is_symbolic(&self) -> bool {
        matches!(self, SymInt::Sym { .. })
    }

    /// Whether it depends on a value read from tensor data (an unbacked symbol, `u0`),
    /// which has no example value to answer comparisons from.
    pub fn is_unbacked(&self) -> bool {
        match self {
            SymInt::Int(_) => false,
            SymInt::Sym { expr, .. } => expr.symbols().iter().any(|s| s.is_unbacked()),
        }
    }

    pub fn expr(&self) -> Expr {
        match self {
            SymInt::Int(v) => Expr::constant(*v),
            SymInt::Sym { expr, .. } => (**expr).clone(),
        }
    }

    fn binary(
        &self,
        other: &SymInt,
        int: impl Fn(i64, i64) -> i64,
        sym: impl Fn(&Expr, &Expr) -> Expr,
    ) -> SymInt {
        match (self, other) {
            (SymInt::Int(a), SymInt::Int(b)) => SymInt::Int(int(*a, *b)),
            _ => SymInt::from_expr(
                sym(&self.expr(), &other.expr()),
                int(self.hint(), other.hint()),
            ),
        }
    }

    pub fn add(&self, other: &SymInt) -> SymInt {
        self.binary(other, |a, b| a.saturating_add(b), Expr::add)
    }

    pub fn sub(&self, other: &SymInt) -> SymInt {
        self.binary(other, |a, b| a.saturating_sub(b), Expr::sub)
    }

    pub fn mul(&self, other: &SymInt) -> SymInt {
        self.binary(other, |a, b| a.saturating_mul(b), Expr::mul)
    }

    /// Floor division by a positive constant.
    pub fn floor_div(&self, d: i64) -> SymInt {
        let d = d.max(1);
        match self {
            SymInt::Int(a) => SymInt::Int(a.div_euclid(d)),
            SymInt::Sym { expr, hint } => SymInt::from_expr(expr.floor_div(d), hint.div_euclid(d)),
        }
    }

    /// Exact division (`numel / known sizes` when inferring a `-1` in `view`); `None`
    /// when it does not divide.
    pub fn div_exact(&self, other: &SymInt) -> Option<SymInt> {
        match (self, other) {
            (_, SymInt::Int(0)) => None,
            (SymInt::Int(a), SymInt::Int(b)) => {
                (a.checked_rem(*b) == Some(0)).then(|| SymInt::Int(a / b))
            }
            _ => {
                let e = self.expr().div_exact(&other.expr())?;
                let (h, d) = (self.hint(), other.hint());
                Some(SymInt::from_expr(e, h.checked_div(d).unwrap_or(0)))
            }
        }
    }

    /// Remainder by a positive constant.
    pub fn modulo(&self, d: i64) -> SymInt {
        let d = d.max(1);
        match self {
            SymInt::Int(a) => SymInt::Int(a.rem_euclid(d)),
            SymInt::Sym { expr, hint } => SymInt::from_expr(expr.modulo(d), hint.rem_euclid(d)),
        }
    }

    pub fn min(&self, other: &SymInt) -> SymInt {
        self.binary(other, i64::min, Expr::min)
    }

    pub fn max(&self, other: &SymInt) -> SymInt {
        self.binary(other, i64::max, Expr::max)
    }

    /// Compares, answering from the hints; when symbolic, the outcome is reported as a
    /// guard to the installed [`GuardSink`] (the program is then only valid where it
    /// holds).
    #[track_caller]
    pub fn compare(&self, op: CmpOp, other: &SymInt) -> bool {
        if self.is_unbacked() || other.is_unbacked() {
            // No example value: decided from the ranges `ferrex::check` gave, or an error.
            return sink::decide_unbacked(self, op, other, std::panic::Location::caller());
        }
        if self.is_symbolic() || other.is_symbolic() {
            // Sizes whose difference is a constant (`s0` vs `s0`, `s0 + 1` vs `s0`) compare
            // the same for every value of the symbols: no guard needed.
            if let Some(d) = self.expr().sub(&other.expr()).as_constant() {
                return op.eval(d, 0);
            }
        }
        let result = op.eval(self.hint(), other.hint());
        if self.is_symbolic() || other.is_symbolic() {
            let (op, lhs, rhs) = if result {
                (op, self.expr(), other.expr())
            } else {
                (op.negate(), self.expr(), other.expr())
            };
            sink::record_guard(Guard { lhs, op, rhs }, std::panic::Location::caller());
        }
        result
    }

    /// A comparison kept symbolic (no guard): for `cond!` predicates on sizes.
    pub fn sym_cmp(&self, op: CmpOp, other: impl Into<SymInt>) -> SymBool {
        SymBool {
            lhs: self.clone(),
            op,
            rhs: other.into(),
        }
    }

    /// `self > other`, kept symbolic (see [`SymBool`]).
    pub fn sym_gt(&self, other: impl Into<SymInt>) -> SymBool {
        self.sym_cmp(CmpOp::Gt, other)
    }

    /// `self >= other`, kept symbolic.
    pub fn sym_ge(&self, other: impl Into<SymInt>) -> SymBool {
        self.sym_cmp(CmpOp::Ge, other)
    }

    /// `self < other`, kept symbolic.
    pub fn sym_lt(&self, other: impl Into<SymInt>) -> SymBool {
        self.sym_cmp(CmpOp::Lt, other)
    }

    /// `self <= other`, kept symbolic.
    pub fn sym_le(&self, other: impl Into<SymInt>) -> SymBool {
        self.sym_cmp(CmpOp::Le, other)
    }

    #[track_caller]
    pub fn sym_eq(&self, other: &SymInt) -> bool {
        self.compare(CmpOp::Eq, other)
    }

    /// Forces a concrete value: for a symbolic size this specialises the program to the
    /// example value (an equality guard).
    #[track_caller]
    pub fn guard_int(&self) -> i64 {
        if self.is_unbacked() {
            sink::cannot_specialize(self, std::panic::Location::caller());
            return self.hint();
        }
        if let SymInt::Sym { hint, .. } = self {
            self.compare(CmpOp::Eq, &SymInt::Int(*hint));
        }
        self.hint()
    }

    /// This size with its `Min` / `Max` decided where the symbols' ranges order them
    /// ([`Expr::simplify_in`]); the hint is kept.
    pub fn simplify_in(&self, range: SymbolRanges<'_>) -> SymInt {
        match self {
            SymInt::Int(_) => self.clone(),
            SymInt::Sym { expr, hint } => SymInt::from_expr(expr.simplify_in(range), *hint),
        }
    }

    /// Structural equality, without recording a guard.
    pub fn same_as(&self, other: &SymInt) -> bool {
        match (self, other) {
            (SymInt::Int(a), SymInt::Int(b)) => a == b,
            _ => self.expr() == other.expr(),
        }
    }
}

impl From<i64> for SymInt {
    fn from(v: i64) -> SymInt {
        SymInt::Int(v)
    }
}

impl From<usize> for SymInt {
    fn from(v: usize) -> SymInt {
        SymInt::Int(v as i64)
    }
}

impl From<i32> for SymInt {
    fn from(v: i32) -> SymInt {
        SymInt::Int(v as i64)
    }
}

impl PartialEq<i64> for SymInt {
    #[track_caller]
    fn eq(&self, other: &i64) -> bool {
        self.compare(CmpOp::Eq, &SymInt::Int(*other))
    }
}

impl PartialEq for SymInt {
    #[track_caller]
    fn eq(&self, other: &SymInt) -> bool {
        self.compare(CmpOp::Eq, other)
    }
}

/// `x.size(0) <= 16` answers from the example value and records the guard, like a
/// comparison on a SymInt in PyTorch.
impl PartialOrd<i64> for SymInt {
    fn partial_cmp(&self, other: &i64) -> Option<std::cmp::Ordering> {
        self.hint().partial_cmp(other)
    }
    #[track_caller]
    fn lt(&self, other: &i64) -> bool {
        self.compare(CmpOp::Lt, &SymInt::Int(*other))
    }
    #[track_caller]
    fn le(&self, other: &i64) -> bool {
        self.compare(CmpOp::Le, &SymInt::Int(*other))
    }
    #[track_caller]
    fn gt(&self, other: &i64) -> bool {
        self.compare(CmpOp::Gt, &SymInt::Int(*other))
    }
    #[track_caller]
    fn ge(&self, other: &i64) -> bool {
        self.compare(CmpOp::Ge, &SymInt::Int(*other))
    }
}

impl PartialOrd for SymInt {
    fn partial_cmp(&self, other: &SymInt) -> Option<std::cmp::Ordering> {
        self.hint().partial_cmp(&other.hint())
    }
    #[track_caller]
    fn lt(&self, other: &SymInt) -> bool {
        self.compare(CmpOp::Lt, other)
    }
    #[track_caller]
    fn le(&self, other: &SymInt) -> bool {
        self.compare(CmpOp::Le, other)
    }
    #[track_caller]
    fn gt(&self, other: &SymInt) -> bool {
        self.compare(CmpOp::Gt, other)
    }
    #[track_caller]
    fn ge(&self, other: &SymInt) -> bool {
        self.compare(CmpOp::Ge, other)
    }
}

macro_rules! symint_ops {
    ($($trait:ident $method:ident $impl_fn:ident),*) => {$(
        impl std::ops::$trait<i64> for SymInt {
            type Output = SymInt;
            fn $method(self, rhs: i64) -> SymInt {
                SymInt::$impl_fn(&self, &SymInt::Int(rhs))
            }
        }
        impl std::ops::$trait<i64> for &SymInt {
            type Output = SymInt;
            fn $method(self, rhs: i64) -> SymInt {
                SymInt::$impl_fn(self, &SymInt::Int(rhs))
            }
        }
        impl std::ops::$trait<SymInt> for SymInt {
            type Output = SymInt;
            fn $method(self, rhs: SymInt) -> SymInt {
                SymInt::$impl_fn(&self, &rhs)
            }
        }
        impl std::ops::$trait<&SymInt> for &SymInt {
            type Output = SymInt;
            fn $method(self, rhs: &SymInt) -> SymInt {
                SymInt::$impl_fn(self, rhs)
            }
        }
    )*};
}

symint_ops!(Add add add, Sub sub sub, Mul mul mul);

/// Floor division by a positive constant (`//` in Python).
impl std::ops::Div<i64> for SymInt {
    type Output = SymInt;
    fn div(self, rhs: i64) -> SymInt {
        self.floor_div(rhs)
    }
}

impl std::ops::Div<i64> for &SymInt {
    type Output = SymInt;
    fn div(self, rhs: i64) -> SymInt {
        self.floor_div(rhs)
    }
}

impl std::ops::Rem<i64> for &SymInt {
    type Output = SymInt;
    fn rem(self, rhs: i64) -> SymInt {
        self.modulo(rhs)
    }
}

impl fmt::Display for SymInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymInt::Int(v) => write!(f, "{v}"),
            SymInt::Sym { expr, .. } => write!(f, "{expr}"),
        }
    }
}

/// Formats a list of sizes as `[8, s0, 3*s1 + 1]`.
pub fn format_sizes(sizes: &[SymInt]) -> String {
    let parts: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
