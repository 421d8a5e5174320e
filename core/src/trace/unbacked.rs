//! Unbacked symbolic values: an int read from tensor data while tracing
//! ([`Tensor::sym_item`](crate::Tensor::sym_item)) is a symbol `u0` with no example value,
//! only a range. [`check`] and [`check_is_size`] (PyTorch's `torch._check` and
//! `torch._check_is_size`) narrow that range and record the run-time assertion that
//! keeps the program sound (`aten::_assert_scalar`). A comparison the range decides needs
//! no guard; one it cannot decide is an export error, in PyTorch's words, naming the
//! `check` that would decide it.

use std::panic::Location;

use super::{to_arg, with_state, TraceIssue, TraceState};
use crate::error::{SourceLocation, TensorError};
use crate::graph::{Arg, NodeKind};
use crate::ops::{scalar, Value};
use crate::symbolic::{CmpOp, Expr, SymBool, SymInt, SymScalar, Symbol};
use crate::tensor::{DType, Tensor, TensorMeta, TensorState};

/// One unbacked symbol of a trace.
#[derive(Clone, Debug)]
pub(crate) struct UnbackedInfo {
    pub symbol: Symbol,
    /// Its range; `None` is unbounded.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Declared a size by `check_is_size` (or created as one, like a `nonzero` length).
    pub size_like: bool,
    /// What produced it (`x.sym_item()`) and where.
    pub origin: String,
    pub at: SourceLocation,
}

impl TraceState {
    fn unbacked_info(&mut self, s: Symbol) -> Option<&mut UnbackedInfo> {
        self.unbacked.iter_mut().find(|u| u.symbol == s)
    }

    /// A new unbacked symbol with the range `[min, max]`.
    pub(crate) fn new_unbacked(
        &mut self,
        min: Option<i64>,
        max: Option<i64>,
        size_like: bool,
        origin: String,
        at: SourceLocation,
    ) -> Symbol {
        let symbol = Symbol::unbacked(self.unbacked.len() as u32);
        self.unbacked.push(UnbackedInfo {
            symbol,
            min,
            max,
            size_like,
            origin,
            at,
        });
        symbol
    }

    /// The range of `e` from the ranges of its symbols (input sizes count as `[0, ∞)`),
    /// when `e` is linear.
    fn range(&self, e: &Expr) -> Option<(Option<i64>, Option<i64>)> {
        let (terms, c) = e.linear_terms()?;
        let (mut lo, mut hi) = (Some(c), Some(c));
        for (s, a) in terms {
            let (smin, smax) = match self.unbacked.iter().find(|u| u.symbol == s) {
                Some(u) => (u.min, u.max),
                None => (Some(0), None),
            };
            let (tlo, thi) = if a > 0 {
                (
                    smin.map(|v| v.saturating_mul(a)),
                    smax.map(|v| v.saturating_mul(a)),
                )
            } else {
                (
                    smax.map(|v| v.saturating_mul(a)),
                    smin.map(|v| v.saturating_mul(a)),
                )
            };
            lo = lo.zip(tlo).map(|(x, y)| x.saturating_add(y));
            hi = hi.zip(thi).map(|(x, y)| x.saturating_add(y));
        }
        Some((lo, hi))
    }

    /// `lhs op rhs` when the ranges decide it for every value.
    fn statically_known(&self, lhs: &SymInt, op: CmpOp, rhs: &SymInt) -> Option<bool> {
        let (lo, hi) = self.range(&lhs.expr().sub(&rhs.expr()))?;
        // d = lhs - rhs lies in [lo, hi]; `d op 0` for all of them, or for none.
        let all = |f: &dyn Fn(i64) -> bool| match (lo, hi) {
            (Some(l), Some(h)) => f(l) && f(h),
            _ => false,
        };
        let holds = match op {
            CmpOp::Eq => lo == Some(0) && hi == Some(0),
            CmpOp::Ne => lo.is_some_and(|l| l > 0) || hi.is_some_and(|h| h < 0),
            CmpOp::Lt => hi.is_some_and(|h| h < 0),
            CmpOp::Le => hi.is_some_and(|h| h <= 0),
            CmpOp::Gt => lo.is_some_and(|l| l > 0),
            CmpOp::Ge => lo.is_some_and(|l| l >= 0),
        };
        let fails = match op {
            CmpOp::Eq => lo.is_some_and(|l| l > 0) || hi.is_some_and(|h| h < 0),
            CmpOp::Ne => all(&|v| v == 0),
            CmpOp::Lt => lo.is_some_and(|l| l >= 0),
            CmpOp::Le => lo.is_some_and(|l| l > 0),
            CmpOp::Gt => hi.is_some_and(|h| h <= 0),
            CmpOp::Ge => hi.is_some_and(|h| h < 0),
        };
        if holds {
            Some(true)
        } else if fails {
            Some(false)
        } else {
            None
        }
    }

    /// Narrows the range of the one unbacked symbol of `lhs op rhs`, when it is linear.
    fn narrow(&mut self, lhs: &SymInt, op: CmpOp, rhs: &SymInt) {
        let Some((terms, c)) = lhs.expr().sub(&rhs.expr()).linear_terms() else {
            return;
        };
        let [(s, a)] = terms.as_slice() else {
            return;
        };
        let Some(info) = self.unbacked_info(*s) else {
            return;
        };
        if let crate::symbolic::linear::Allowed::Range(lo, hi) =
            crate::symbolic::linear::allowed(*a, c, op)
        {
            if lo > i64::MIN {
                info.min = Some(info.min.map_or(lo, |m| m.max(lo)));
            }
            if let Some(h) = hi {
                info.max = Some(info.max.map_or(h, |m| m.min(h)));
            }
        }
    }

    /// The unbacked symbols of `e`, described for an error message.
    fn origins(&self, e: &Expr) -> Vec<String> {
        e.symbols()
            .into_iter()
            .filter_map(|s| self.unbacked.iter().find(|u| u.symbol == s))
            .map(|u| {
                format!(
                    "{} is the value of `{}` at {}:{}, in the range {}",
                    u.symbol,
                    u.origin,
                    u.at.file,
                    u.at.line,
                    range_text(u.min, u.max)
                )
            })
            .collect()
    }

    fn size_like(&self) -> Vec<String> {
        self.unbacked
            .iter()
            .filter(|u| u.size_like)
            .map(|u| u.symbol.to_string())
            .collect()
    }
}

/// `[0, 5]`, `[-int_oo, int_oo]`, as PyTorch prints value ranges.
pub(crate) fn range_text(min: Option<i64>, max: Option<i64>) -> String {
    let lo = min.map_or("-int_oo".to_string(), |v| v.to_string());
    let hi = max.map_or("int_oo".to_string(), |v| v.to_string());
    format!("[{lo}, {hi}]")
}

/// Where a comparison was needed: the user's line, or the op call whose meta function
/// compared sizes.
fn site(s: &TraceState, caller: &'static Location<'static>) -> SourceLocation {
    match s.current_call.or(s.location_override) {
        Some(call) if super::log::is_inside_ferrex(caller.file()) => call,
        _ => SourceLocation::from_caller(caller),
    }
}

/// The `SymBool` method that builds `op` (`sym_lt`), for a suggested `check`.
fn builder(op: CmpOp) -> String {
    match op {
        CmpOp::Lt => "sym_lt(".into(),
        CmpOp::Le => "sym_le(".into(),
        CmpOp::Gt => "sym_gt(".into(),
        CmpOp::Ge => "sym_ge(".into(),
        CmpOp::Eq => "sym_cmp(CmpOp::Eq, ".into(),
        CmpOp::Ne => "sym_cmp(CmpOp::Ne, ".into(),
    }
}

/// Answers `lhs op rhs` where one side depends on an unbacked symbol (called by
/// `SymInt::compare`): from the ranges when they decide it, else records PyTorch's
/// data-dependent-guard error, with the `check` that would decide it.
pub(crate) fn decide(
    lhs: &SymInt,
    op: CmpOp,
    rhs: &SymInt,
    caller: &'static Location<'static>,
) -> bool {
    with_state(|s| {
        if let Some(known) = s.statically_known(lhs, op, rhs) {
            return known;
        }
        let expr = format!("{lhs} {} {rhs}", op.symbol());
        let (lhs_text, rhs_text) = (lhs.to_string(), rhs.to_string());
        let holder = if lhs.is_unbacked() {
            &lhs_text
        } else {
            &rhs_text
        };
        let (method_on, arg) = if lhs.is_unbacked() {
            (op, rhs_text.clone())
        } else {
            // `3 < u0` is suggested as `u0 > 3`.
            (op.swapped(), lhs_text.clone())
        };
        let mut detail = s.origins(&lhs.expr().sub(&rhs.expr()));
        detail.push(format!(
            "help: if `{expr}` always holds, say so before this line with \
             `ferrex::check(v.{}{arg}))`, where `v` is the value holding `{holder}`; \
             the program then checks it when it runs",
            builder(method_on)
        ));
        detail.push(
            "help: or keep both outcomes in the graph with `cond!` on a tensor predicate"
                .to_string(),
        );
        let issue = TraceIssue::DataDependentGuard {
            expr,
            size_like: s.size_like(),
            detail,
            at: site(s, caller),
        };
        s.issues.push(issue);
        false
    })
    .unwrap_or_else(|| op.eval(lhs.hint(), rhs.hint()))
}

/// A new size-like unbacked symbol in `[0, max]` for a data-dependent output length
/// (`nonzero`), when an export is recording ops; `None` otherwise. Called from meta
/// functions, which run outside the trace's borrow.
pub(crate) fn new_size(max: Option<i64>, origin: &str) -> Option<SymInt> {
    if !super::is_tracing() {
        return None;
    }
    with_state(|s| {
        let at = s
            .current_call
            .or(s.location_override)
            .unwrap_or(SourceLocation {
                file: "<unknown>",
                line: 0,
                column: 0,
            });
        let symbol = s.new_unbacked(Some(0), max, true, origin.to_string(), at);
        SymInt::from_expr(Expr::symbol(symbol), 0)
    })
}

/// Records that an unbacked value was forced to a concrete integer (PyTorch's "Could not
/// extract specialized integer from data-dependent expression").
pub(crate) fn cannot_specialize(value: &SymInt, caller: &'static Location<'static>) {
    with_state(|s| {
        let mut detail = s.origins(&value.expr());
        detail.push(
            "help: keep it symbolic: pass it where a size is expected (`Tensor::zeros([n, 5])`) \
             rather than converting it to a Rust integer"
                .to_string(),
        );
        let issue = TraceIssue::DataDependentInt {
            expr: value.to_string(),
            size_like: s.size_like(),
            detail,
            at: site(s, caller),
        };
        s.issues.push(issue);
    });
}

impl Tensor {
    /// The value of a one-element integer (or bool) tensor as a [`SymInt`]: PyTorch's
    /// `x.item()` used as a size or scalar.
    ///
    /// Eagerly, the value itself. While exporting, a traced tensor has no value: the
    /// result is an *unbacked* symbol (`u0`) recorded by an `aten::item` node, usable as
    /// a size (`Tensor::zeros([n, 5])`) or in comparisons that [`check`](crate::check)
    /// bounds decide. The program reads the value when it runs.
    ///
    /// ```
    /// use ferrex::prelude::*;
    ///
    /// #[export_module]
    /// struct Zeros {}
    ///
    /// #[export_module(strict = false)]
    /// impl Zeros {
    ///     fn forward(&self, x: &Tensor) -> Tensor {
    ///         let n = match x.sym_item() {
    ///             Ok(n) => n,
    ///             Err(e) => return Tensor::from_error(e),
    ///         };
    ///         ferrex::check_is_size(&n);
    ///         ferrex::check(n.sym_le(5));
    ///         Tensor::zeros([n, SymInt::Int(5)])
    ///     }
    /// }
    ///
    /// let ep = ferrex::export(&Zeros {}, (Tensor::scalar(4i64),))?;
    /// let out = ep.module().call((Tensor::scalar(2i64),))?;
    /// assert_eq!(out[0].shape(), [2, 5]);
    /// let err = ep.module().call((Tensor::scalar(7i64),)).unwrap_err();
    /// assert!(err.to_string().contains("Runtime assertion failed for expression u0 <= 5"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn sym_item(&self) -> Result<SymInt, TensorError> {
        let at = SourceLocation::from_caller(Location::caller());
        let traced = match self.state() {
            TensorState::Traced(t) => t,
            _ => return self.item::<i64>().map(SymInt::Int),
        };
        let fail = |message: String| TensorError::Op {
            op: "aten::item".into(),
            message,
            at,
        };
        let args = [Value::Tensor(self.clone())];
        if let Err(e) = (scalar::ITEM.meta)(&crate::ops::OpArgs::new(&scalar::ITEM, &args)) {
            // Recorded, so that the export fails with it whatever forward does next.
            let err = fail(e.0);
            super::record_op_error(err.clone());
            return Err(err);
        }
        let bool_input = traced.meta.dtype == DType::Bool;
        let recorded = with_state(|s| -> Result<SymInt, TensorError> {
            let input = to_arg(s, &args[0], at)?;
            let (min, max) = if bool_input {
                (Some(0), Some(1))
            } else {
                (None, None)
            };
            let symbol = s.new_unbacked(min, max, false, "x.sym_item()".into(), at);
            let value = SymInt::from_expr(Expr::symbol(symbol), 0);
            let meta = TensorMeta::symbolic_scalar(DType::I64, SymScalar::Int(value.clone()));
            let kind = NodeKind::Call {
                op: &scalar::ITEM,
                args: vec![input],
            };
            s.push_node(kind, vec![meta], at, false);
            Ok(value)
        });
        recorded.unwrap_or(Err(TensorError::StaleTrace { at }))
    }
}

/// Asserts `cond`, PyTorch's `torch._check`. On a value read from tensor data
/// ([`Tensor::sym_item`]) it is how the program learns what the model knows: the range
/// of the value narrows (so comparisons it decides need no guard), and an
/// `aten::_assert_scalar` node checks it each time the program runs, failing with
/// `Runtime assertion failed for expression u0 <= 5 at <file:line>`. On input sizes it is
/// a guard; on plain integers an assertion.
///
/// # Panics
///
/// Like `assert!`, when `cond` is plainly false outside an export (eager execution of
/// the model). While exporting, a false condition is an export error instead.
#[track_caller]
pub fn check(cond: SymBool) {
    let caller = Location::caller();
    if !(cond.lhs.is_unbacked() || cond.rhs.is_unbacked()) {
        // Input sizes: a guard, like any comparison of them.
        if !cond.lhs.compare(cond.op, &cond.rhs) {
            assertion_failed(&cond, caller);
        }
        return;
    }
    // Outside an export an unbacked value cannot exist: nothing to record.
    with_state(|s| {
        let at = site(s, caller);
        match s.statically_known(&cond.lhs, cond.op, &cond.rhs) {
            Some(true) => return,
            Some(false) => {
                s.issues.push(TraceIssue::Op(TensorError::Op {
                    op: "ferrex::check".into(),
                    message: format!("the assertion {cond} can never hold"),
                    at,
                }));
                return;
            }
            None => {}
        }
        s.narrow(&cond.lhs, cond.op, &cond.rhs);
        let message = format!(
            "Runtime assertion failed for expression {cond} at {}:{}",
            at.file, at.line
        );
        // The condition stays inline: `name_sym_values` makes it a SymBool node
        // (`ge = item >= 0`, PyTorch's `_operator.ge`), read by runners from its meta.
        let assert = NodeKind::Call {
            op: &scalar::ASSERT_SCALAR,
            args: vec![Arg::SymBool(cond.clone()), Arg::Str(message)],
        };
        s.push_node(assert, Vec::new(), at, false);
        super::log::runtime_assert_added(&cond.to_string(), at, &crate::error::CodeSnippet(None));
    });
}

/// Asserts that `value` is a size (`>= 0`), PyTorch's `torch._check_is_size`: recorded as
/// `check(value >= 0)`, and the value is reported as size-like.
#[track_caller]
pub fn check_is_size(value: &SymInt) {
    if value.is_unbacked() {
        with_state(|s| {
            for sym in value.expr().symbols() {
                if let Some(u) = s.unbacked_info(sym) {
                    u.size_like = true;
                }
            }
        });
    }
    check(value.sym_ge(0));
}

#[track_caller]
fn assertion_failed(cond: &SymBool, caller: &'static Location<'static>) {
    let at = SourceLocation::from_caller(caller);
    let message = format!("Runtime assertion failed for expression {cond}");
    let recorded = with_state(|s| {
        s.issues.push(TraceIssue::Op(TensorError::Op {
            op: "ferrex::check".into(),
            message: message.clone(),
            at,
        }))
    });
    if recorded.is_none() {
        panic!("{message} at {at}");
    }
}
