//! `map`: one body traced into a subgraph, run once per slice along dim 0; eagerly, a
//! loop and a stack.

use std::panic::Location;

use super::cond::{align_captures, error_of, failed_like, trace_branch, BranchOutput};
use super::higher_order::{node_of_operand, MAP};
use crate::error::{SourceLocation, TensorError};
use crate::graph::{Arg, HigherOrderOp, NodeKind, Subgraph};
use crate::tensor::{Tensor, TensorMeta};
use crate::trace::{self, Capture};

/// Applies `body` to each slice `xs[i]` (with `operands` passed whole) and stacks the
/// results along dim 0; while exporting, records one `map_impl` node. See [`crate::map!`].
#[track_caller]
pub fn map<O: BranchOutput>(body: impl Fn(&[Tensor]) -> O, xs: &Tensor, operands: &[Tensor]) -> O {
    let at = SourceLocation::from_caller(Location::caller());
    O::from_tensors(map_at(
        &|ops: &[Tensor]| body(ops).into_tensors(),
        std::slice::from_ref(xs),
        operands,
        None,
        at,
    ))
}

/// [`map`] over several mapped tensors (sliced together) at a known source location.
/// `empty` gives the results' metas where there are no slices (an interpreted node's);
/// without it, mapping over an empty dimension eagerly is an error.
pub(super) fn map_at(
    body: &dyn Fn(&[Tensor]) -> Vec<Tensor>,
    xs: &[Tensor],
    operands: &[Tensor],
    empty: Option<&[TensorMeta]>,
    at: SourceLocation,
) -> Vec<Tensor> {
    let mut metas = Vec::new();
    for x in xs {
        match x.meta() {
            Ok(m) if m.rank() > 0 => metas.push(m),
            Ok(_) => {
                let message = "the mapped tensor needs at least one dimension".into();
                return failed_like(error_of("map", at, message), 1);
            }
            Err(e) => return failed_like(e, 1),
        }
    }
    let Some(n) = metas.first().map(|m| m.sizes[0].clone()) else {
        return failed_like(error_of("map", at, "map needs a mapped tensor".into()), 1);
    };
    if !trace::is_tracing() {
        return map_eager(body, xs, operands, n.hint(), empty, at);
    }
    match trace_map(body, xs, &metas, operands, at) {
        Ok(out) => out,
        Err(e) => {
            trace::record_op_error(e.clone());
            failed_like(e, 1)
        }
    }
}

fn map_eager(
    body: &dyn Fn(&[Tensor]) -> Vec<Tensor>,
    xs: &[Tensor],
    operands: &[Tensor],
    n: i64,
    empty: Option<&[TensorMeta]>,
    at: SourceLocation,
) -> Vec<Tensor> {
    let mut per_output: Vec<Vec<Tensor>> = Vec::new();
    for i in 0..n {
        let mut args: Vec<Tensor> = xs.iter().map(|x| x.select(0, i)).collect();
        args.extend(operands.iter().cloned());
        for (j, t) in body(&args).into_iter().enumerate() {
            if per_output.len() <= j {
                per_output.push(Vec::new());
            }
            per_output[j].push(t);
        }
    }
    if per_output.is_empty() {
        return match empty {
            // No slices: empty results of the promised dtypes and shapes.
            Some(metas) => metas.iter().map(empty_result).collect(),
            None => failed_like(
                error_of(
                    "map",
                    at,
                    "cannot map over an empty dimension eagerly".into(),
                ),
                1,
            ),
        };
    }
    per_output
        .iter()
        .map(|parts| Tensor::stack(parts, 0))
        .collect()
}

/// A zero-filled tensor of `meta`'s dtype and (bound) sizes.
fn empty_result(meta: &TensorMeta) -> Tensor {
    let sizes: Vec<usize> = meta
        .sizes
        .iter()
        .map(|s| usize::try_from(s.hint()).unwrap_or(0))
        .collect();
    Tensor::from_storage(crate::tensor::Storage::full(&sizes, 0.0, meta.dtype))
}

fn trace_map(
    body: &dyn Fn(&[Tensor]) -> Vec<Tensor>,
    xs: &[Tensor],
    x_metas: &[TensorMeta],
    operands: &[Tensor],
    at: SourceLocation,
) -> Result<Vec<Tensor>, TensorError> {
    let mut metas: Vec<TensorMeta> = x_metas
        .iter()
        .map(|m| TensorMeta::new(m.dtype, m.sizes[1..].to_vec()))
        .collect();
    for o in operands {
        metas.push(o.meta()?);
    }
    let mut traced = trace_branch("map", "body", body, &metas, at)?;
    let all: Vec<Capture> = traced.captures.clone();
    align_captures(&mut traced, &all, metas.len());
    let mapped = xs
        .iter()
        .map(|x| node_of_operand(x, at))
        .collect::<Result<Vec<_>, _>>()?;
    let mut operand_ids = operands
        .iter()
        .map(|o| node_of_operand(o, at))
        .collect::<Result<Vec<_>, _>>()?;
    operand_ids.extend(all.iter().map(|c| c.outer));
    let body_index = trace::add_subgraph(Subgraph {
        name: String::new(),
        graph: traced.graph,
    })
    .ok_or(TensorError::StaleTrace { at })?;
    let out_metas = MAP
        .meta(x_metas, &[traced.metas])
        .map_err(|m| error_of("map", at, m))?;
    let kind = NodeKind::HigherOrder {
        op: &MAP,
        args: vec![Arg::TensorList(mapped), Arg::TensorList(operand_ids)],
        subgraphs: vec![body_index],
    };
    trace::record_node(kind, out_metas, at).ok_or(TensorError::StaleTrace { at })
}
