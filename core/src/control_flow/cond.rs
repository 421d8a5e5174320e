//! `cond`: both branches traced into subgraphs; eagerly, the taken branch runs.

use std::panic::Location;

use crate::error::{SourceLocation, TensorError};
use crate::graph::{Arg, Graph, HigherOrderOp, Node, NodeId, NodeKind, Subgraph};
use crate::symbolic::{format_sizes, SymBool};
use crate::tensor::{Tensor, TensorMeta, TensorState};
use crate::trace::{self, Capture};

use super::higher_order::{node_of_operand, COND};

/// A `cond` predicate: a one-element tensor, a bool known at export time, or a
/// symbolic comparison of sizes (`x.size(0).sym_gt(2)`).
pub enum CondPred {
    Bool(bool),
    Tensor(Tensor),
    Sym(SymBool),
}

impl From<SymBool> for CondPred {
    fn from(b: SymBool) -> CondPred {
        CondPred::Sym(b)
    }
}

impl From<bool> for CondPred {
    fn from(b: bool) -> CondPred {
        CondPred::Bool(b)
    }
}

impl From<Tensor> for CondPred {
    fn from(t: Tensor) -> CondPred {
        CondPred::Tensor(t)
    }
}

impl From<&Tensor> for CondPred {
    fn from(t: &Tensor) -> CondPred {
        CondPred::Tensor(t.clone())
    }
}

/// What a branch returns: one tensor, a tuple of tensors, or a `Vec`.
pub trait BranchOutput: Sized {
    fn into_tensors(self) -> Vec<Tensor>;
    fn from_tensors(ts: Vec<Tensor>) -> Self;
}

impl BranchOutput for Tensor {
    fn into_tensors(self) -> Vec<Tensor> {
        vec![self]
    }
    fn from_tensors(ts: Vec<Tensor>) -> Self {
        ts.into_iter().next().unwrap_or_else(|| {
            Tensor::failed(TensorError::Construct {
                what: "cond",
                message: "a branch returned no tensor".into(),
            })
        })
    }
}

impl BranchOutput for Vec<Tensor> {
    fn into_tensors(self) -> Vec<Tensor> {
        self
    }
    fn from_tensors(ts: Vec<Tensor>) -> Self {
        ts
    }
}

macro_rules! tensor_ty {
    ($t:ident) => {
        Tensor
    };
}

macro_rules! tuple_output {
    ($($n:literal: $($t:ident)*),*) => {$(
        impl BranchOutput for ($(tensor_ty!($t),)*) {
            fn into_tensors(self) -> Vec<Tensor> {
                #[allow(non_snake_case)]
                let ($($t,)*) = self;
                vec![$($t),*]
            }
            fn from_tensors(ts: Vec<Tensor>) -> Self {
                let mut it = ts.into_iter();
                ($({
                    let _ = stringify!($t);
                    it.next().unwrap_or_else(|| Tensor::failed(TensorError::Construct {
                        what: "cond",
                        message: "a branch returned too few tensors".into(),
                    }))
                },)*)
            }
        }
    )*};
}

tuple_output!(2: A B, 3: A B C, 4: A B C D);

pub(super) fn error_of(op: &str, at: SourceLocation, message: String) -> TensorError {
    TensorError::Op {
        op: op.into(),
        message,
        at,
    }
}

/// Outputs that carry `err`, shaped like what `branch` would return.
pub(super) fn failed_like<O: BranchOutput>(err: TensorError, n: usize) -> O {
    O::from_tensors(vec![Tensor::failed(err); n.max(1)])
}

/// Runs `true_fn` or `false_fn` on `operands` by `pred`; while exporting, records one
/// `cond` node with both branches as subgraphs. See [`crate::cond!`].
#[track_caller]
pub fn cond<O: BranchOutput>(
    pred: impl Into<CondPred>,
    true_fn: impl FnOnce(&[Tensor]) -> O,
    false_fn: impl FnOnce(&[Tensor]) -> O,
    operands: &[Tensor],
) -> O {
    cond_at(
        pred,
        true_fn,
        false_fn,
        operands,
        SourceLocation::from_caller(Location::caller()),
    )
}

/// [`cond`] at a known source location (an interpreted `cond` node's).
pub(super) fn cond_at<O: BranchOutput>(
    pred: impl Into<CondPred>,
    true_fn: impl FnOnce(&[Tensor]) -> O,
    false_fn: impl FnOnce(&[Tensor]) -> O,
    operands: &[Tensor],
    at: SourceLocation,
) -> O {
    let pred = match pred.into() {
        // A bool known at export time picks the branch: nothing to record.
        CondPred::Bool(true) => return true_fn(operands),
        CondPred::Bool(false) => return false_fn(operands),
        CondPred::Tensor(t) => t,
        // A comparison of sizes: constant ones (or any, when running) pick the branch;
        // symbolic ones become the predicate of the node, as a SymBool value (the
        // `sym_values` pass gives it its `sym_size_int > 2` node).
        CondPred::Sym(b) if !(b.is_symbolic() && trace::is_tracing()) => {
            return if b.hint() {
                true_fn(operands)
            } else {
                false_fn(operands)
            };
        }
        CondPred::Sym(b) => {
            return traced(|| Ok(Arg::SymBool(b)), true_fn, false_fn, operands, at);
        }
    };
    let pred_meta = match pred.meta() {
        Ok(m) => m,
        Err(e) => return failed_like(e, 1),
    };
    if pred_meta.numel().as_int() != Some(1) {
        return failed_like(
            error_of(
                "cond",
                at,
                format!(
                    "the predicate must be a tensor with one element, got {}",
                    format_sizes(&pred_meta.sizes)
                ),
            ),
            1,
        );
    }
    if !trace::is_tracing() {
        return match pred.item::<bool>() {
            Ok(true) => true_fn(operands),
            Ok(false) => false_fn(operands),
            Err(e) => failed_like(e, 1),
        };
    }
    traced(|| trace::arg_of(&pred, at), true_fn, false_fn, operands, at)
}

/// Records the `cond` node (its failure, as failed outputs).
fn traced<O: BranchOutput>(
    pred: impl FnOnce() -> Result<Arg, TensorError>,
    true_fn: impl FnOnce(&[Tensor]) -> O,
    false_fn: impl FnOnce(&[Tensor]) -> O,
    operands: &[Tensor],
    at: SourceLocation,
) -> O {
    match trace_cond(pred, true_fn, false_fn, operands, at) {
        Ok(out) => out,
        Err((e, n)) => {
            trace::record_op_error(e.clone());
            failed_like(e, n)
        }
    }
}

/// A traced branch: its graph, captures, and output metas.
pub(super) struct Branch {
    pub graph: Graph,
    pub captures: Vec<Capture>,
    pub metas: Vec<TensorMeta>,
}

pub(super) fn trace_branch<O: BranchOutput>(
    op: &str,
    name: &str,
    f: impl FnOnce(&[Tensor]) -> O,
    metas: &[TensorMeta],
    at: SourceLocation,
) -> Result<Branch, TensorError> {
    let inputs = trace::begin_subgraph(metas).ok_or(TensorError::StaleTrace { at })?;
    let placeholders: Vec<NodeId> = inputs.iter().map(node_of).collect();
    let outs = f(&inputs).into_tensors();
    let mut args = Vec::new();
    let mut out_metas = Vec::new();
    let mut problem = None;
    for (i, t) in outs.iter().enumerate() {
        match t.meta().and_then(|m| trace::arg_of(t, at).map(|a| (a, m))) {
            Ok((a, m)) => {
                args.push(a);
                out_metas.push(m);
            }
            Err(e) => {
                problem.get_or_insert(error_of(
                    op,
                    at,
                    format!("output {i} of the {name} branch failed: {e}"),
                ));
                args.push(Arg::None);
            }
        }
    }
    for (i, (t, p)) in inputs.iter().zip(&placeholders).enumerate() {
        if node_of(t) != *p {
            problem.get_or_insert(error_of(op,
                at,
                format!("the {name} branch mutates its operand {i}; branches may not mutate their inputs"),
            ));
        }
    }
    let frame = trace::end_subgraph(args).ok_or(TensorError::StaleTrace { at })?;
    if let Some(e) = problem {
        return Err(e);
    }
    Ok(Branch {
        graph: frame.graph,
        captures: frame.captures,
        metas: out_metas,
    })
}

fn node_of(t: &Tensor) -> NodeId {
    match t.state() {
        TensorState::Traced(tr) => tr.node,
        _ => NodeId(usize::MAX),
    }
}

/// Gives `branch` a placeholder for every capture in `all` (in that order, after the
/// explicit operands), adding unused ones where it captured less.
pub(super) fn align_captures(branch: &mut Branch, all: &[Capture], n_operands: usize) {
    let mut order: Vec<NodeId> = (0..n_operands).map(NodeId).collect();
    for c in all {
        let inner = match branch
            .captures
            .iter()
            .find(|b| b.tensor.same_tensor(&c.tensor))
        {
            Some(b) => b.inner,
            None => {
                let meta = c.tensor.meta().ok().into_iter().collect();
                branch.graph.push(Node {
                    name: String::new(),
                    kind: NodeKind::Placeholder,
                    meta,
                    source: None,
                })
            }
        };
        order.push(inner);
    }
    for (i, n) in branch.graph.nodes.iter().enumerate() {
        if !order.contains(&NodeId(i)) && !n.is_placeholder() {
            order.push(NodeId(i));
        }
    }
    branch.graph.reorder(&order);
}

fn trace_cond<O: BranchOutput>(
    pred: impl FnOnce() -> Result<Arg, TensorError>,
    true_fn: impl FnOnce(&[Tensor]) -> O,
    false_fn: impl FnOnce(&[Tensor]) -> O,
    operands: &[Tensor],
    at: SourceLocation,
) -> Result<O, (TensorError, usize)> {
    let metas: Vec<TensorMeta> = operands
        .iter()
        .map(|t| t.meta())
        .collect::<Result<_, _>>()
        .map_err(|e| (e, 1))?;
    let mut t = trace_branch("cond", "true", true_fn, &metas, at).map_err(|e| (e, 1))?;
    let mut f =
        trace_branch("cond", "false", false_fn, &metas, at).map_err(|e| (e, t.metas.len()))?;
    let n = t.metas.len();
    COND.meta(&metas, &[t.metas.clone(), f.metas.clone()])
        .map_err(|message| (error_of("cond", at, message), n))?;
    // Captured outer values become extra operands of both branches.
    let mut all: Vec<Capture> = t.captures.clone();
    for c in &f.captures {
        if !all.iter().any(|a| a.tensor.same_tensor(&c.tensor)) {
            all.push(c.clone());
        }
    }
    align_captures(&mut t, &all, operands.len());
    align_captures(&mut f, &all, operands.len());
    let pred_arg = pred().map_err(|e| (e, n))?;
    let mut operand_ids = Vec::new();
    for o in operands {
        operand_ids.push(node_of_operand(o, at).map_err(|e| (e, n))?);
    }
    operand_ids.extend(all.iter().map(|c| c.outer));
    let (ti, fi) = trace::add_subgraphs(
        Subgraph {
            name: String::new(),
            graph: t.graph,
        },
        Subgraph {
            name: String::new(),
            graph: f.graph,
        },
    )
    .ok_or((TensorError::StaleTrace { at }, n))?;
    let kind = NodeKind::HigherOrder {
        op: &COND,
        args: vec![pred_arg, Arg::TensorList(operand_ids)],
        subgraphs: vec![ti, fi],
    };
    let outs = trace::record_node(kind, t.metas, at).ok_or((TensorError::StaleTrace { at }, n))?;
    Ok(O::from_tensors(outs))
}
