//! `map`: one body traced into a subgraph, run once per slice along dim 0; eagerly, a
//! loop and a stack.

use std::panic::Location;

use super::cond::{align_captures, error_of, failed_like, trace_branch, BranchOutput};
use crate::error::{SourceLocation, TensorError};
use crate::graph::{Arg, NodeKind, Subgraph};
use crate::symbolic::SymInt;
use crate::tensor::{Tensor, TensorMeta};
use crate::trace::{self, Capture};

/// Applies `body` to each slice `xs[i]` (with `operands` passed whole) and stacks the
/// results along dim 0; while exporting, records one `map_impl` node. See [`crate::map!`].
#[track_caller]
pub fn map<O: BranchOutput>(body: impl Fn(&[Tensor]) -> O, xs: &Tensor, operands: &[Tensor]) -> O {
    let at = SourceLocation::from_caller(Location::caller());
    let meta = match xs.meta() {
        Ok(m) => m,
        Err(e) => return failed_like(e, 1),
    };
    if meta.rank() == 0 {
        return failed_like(
            error_of(
                "map",
                at,
                "the mapped tensor needs at least one dimension".into(),
            ),
            1,
        );
    }
    if !trace::is_tracing() {
        let n = meta.sizes[0].hint();
        let mut per_output: Vec<Vec<Tensor>> = Vec::new();
        for i in 0..n {
            let mut args = vec![xs.select(0, i)];
            args.extend(operands.iter().cloned());
            for (j, t) in body(&args).into_tensors().into_iter().enumerate() {
                if per_output.len() <= j {
                    per_output.push(Vec::new());
                }
                per_output[j].push(t);
            }
        }
        if per_output.is_empty() {
            return failed_like(
                error_of(
                    "map",
                    at,
                    "cannot map over an empty dimension eagerly".into(),
                ),
                1,
            );
        }
        return O::from_tensors(
            per_output
                .iter()
                .map(|parts| Tensor::stack(parts, 0))
                .collect(),
        );
    }
    match trace_map(&body, xs, &meta, operands, at) {
        Ok(out) => out,
        Err(e) => {
            trace::record_op_error(e.clone());
            failed_like(e, 1)
        }
    }
}

fn trace_map<O: BranchOutput>(
    body: &impl Fn(&[Tensor]) -> O,
    xs: &Tensor,
    meta: &TensorMeta,
    operands: &[Tensor],
    at: SourceLocation,
) -> Result<O, TensorError> {
    let n: SymInt = meta.sizes[0].clone();
    let slice = TensorMeta::new(meta.dtype, meta.sizes[1..].to_vec());
    let mut metas = vec![slice];
    for o in operands {
        metas.push(o.meta()?);
    }
    let mut traced = trace_branch("map", "body", body, &metas, at)?;
    let all: Vec<Capture> = traced.captures.clone();
    align_captures(&mut traced, &all, metas.len());
    let mapped = vec![trace::arg_of(xs, at)?];
    let mut operand_args = Vec::new();
    for o in operands {
        operand_args.push(trace::arg_of(o, at)?);
    }
    operand_args.extend(all.iter().map(|c| Arg::Node(c.outer)));
    let body_index = trace::add_subgraph(Subgraph {
        name: String::new(),
        graph: traced.graph,
    })
    .ok_or(TensorError::StaleTrace { at })?;
    let out_metas: Vec<TensorMeta> = traced
        .metas
        .iter()
        .map(|m| {
            let mut sizes = vec![n.clone()];
            sizes.extend(m.sizes.iter().cloned());
            TensorMeta::new(m.dtype, sizes)
        })
        .collect();
    let kind = NodeKind::Map {
        body: body_index,
        mapped,
        operands: operand_args,
    };
    let outs = trace::record_node(kind, out_metas, at).ok_or(TensorError::StaleTrace { at })?;
    Ok(O::from_tensors(outs))
}
