//! The interpreter's calls split along their batch: two threads each interpret the graph
//! on half of the samples, as the compiled runtime runs its plan (`ferrex-runtime`'s
//! `split.rs`), with one hand-off per call.
//!
//! A split call is sound when no node mixes samples. [`GraphSplit::of`] follows the
//! values from the inputs and checks each call node by what its op computes (its
//! [`Lowering`]: elementwise ops with per-sample or broadcast operands, products by a
//! weight, convolutions, norms within a sample, softmax and reductions not over the
//! batch, views that keep it first...); ops without a lowering, `cond` / `map` and
//! programs that write state back are refused. Values computed from weights and inputs
//! that do not lead with the batch alone are computed whole by each half.
//!
//! Most ops take their sizes from their operands, so a half runs them unchanged. The
//! ops whose arguments hold sizes that may be the batch's (`view`, `reshape`, `expand`,
//! `native_group_norm`'s `N`) run in a half as the op their lowering names, with the
//! sizes of the node's meta at the half's batch: the graph of a static program holds
//! its batch as a literal that cannot be told from other sizes (4 samples, 4 heads).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::run::{kernel_error, EagerEvaluator};
use super::{Bindings, ExportedProgram, InputKind, OutputKind, SplitProduct};
use crate::error::RunError;
use crate::graph::{
    inline_sym_args, interpret_scheduled, is_size_node, Arg, CallFacts, DropSchedule, Evaluator,
    Graph, HigherOrderOp, Node, NodeId, NodeKind, RunSubgraphOf,
};
use crate::ops::lowering::{Lowering, PermuteDims};
use crate::ops::{run_eager, run_eager_known, Argument, OpDef, TensorOrNumber, Value};
use crate::symbolic::{SymInt, Symbol};
use crate::tensor::sizes::normalize_dim;
use crate::tensor::{Storage, Tensor, TensorMeta};

/// How a node whose arguments may hold the batch runs in a half (argument positions).
#[derive(Clone, Debug)]
enum Recast {
    /// `aten::reshape(input, sizes)`.
    Reshape { input: usize },
    /// `aten::expand(input, sizes)`.
    Expand { input: usize },
    /// `aten::group_norm(input, groups, weight, bias, eps)`.
    GroupNorm {
        input: usize,
        groups: i64,
        weight: Option<usize>,
        bias: Option<usize>,
        eps: f64,
    },
}

/// A program whose calls can run as two halves of their batch.
#[derive(Debug)]
pub(crate) struct GraphSplit {
    /// The batch: the leading size of a user input.
    batch: SymInt,
    /// Per batch-leading placeholder: its index among the placeholders, and its rows of
    /// dim 0 per sample.
    input_rows: Vec<(usize, usize)>,
    /// Each distinct product by a weight: its rows per sample and its depth.
    products: Vec<SplitProduct>,
    /// Per node: the rows of its output 0 per sample, when it leads with the batch.
    rows: Vec<Option<usize>>,
    /// The nodes that run recast in a half, by name, with their index.
    recast: HashMap<String, (usize, Recast)>,
    /// The results' metas of a half's calls, by half size and bound symbols.
    half_metas: Mutex<Vec<(HalfKey, Arc<HalfMetas>)>>,
}

/// A half's size and the call's bound symbols: they fix the sizes of every call whose
/// metas the schedule knows ([`CallFacts::KnownMetas`]).
type HalfKey = (usize, Vec<(Symbol, i64)>);

/// Per node, the metas of its results in a half, for the calls whose metas are known.
type HalfMetas = Vec<Option<Vec<TensorMeta>>>;

/// How many half sizes keep their metas (a dynamic batch sees a few sizes; one more
/// empties the store and records again).
const HALF_METAS_KEPT: usize = 8;

/// Rows of dim 0 per sample of `sizes`: `c` when `sizes[0]` is `c * batch` and no other
/// size depends on the batch.
fn per_sample(sizes: &[SymInt], batch: &SymInt) -> Option<usize> {
    let c = sizes.first()?.div_exact(batch)?.as_int()?;
    let symbols = batch.expr().symbols();
    let free = |s: &SymInt| s.expr().symbols().iter().all(|x| !symbols.contains(x));
    (c >= 1 && sizes[1..].iter().all(free)).then_some(c as usize)
}

/// The sizes of a node's output 0.
fn sizes_of(graph: &Graph, i: usize) -> &[SymInt] {
    (graph.nodes.get(i))
        .and_then(|n| n.meta.first())
        .map_or(&[], |m| &m.sizes[..])
}

/// What the checks know of the graph's values.
struct Samples<'g> {
    graph: &'g Graph,
    batch: SymInt,
    rows: Vec<Option<usize>>,
    /// Values that do not depend on the batch: each half computes all of them.
    free: Vec<bool>,
    /// Calls each of whose outputs is per sample (the pieces of a `Lowering::Split`, a
    /// `Lowering::Lanes`' values and indices), each read by a getitem.
    splits: Vec<bool>,
    products: Vec<SplitProduct>,
    /// The `bmm`s of a matrix broadcast over the batch (`graph::broadcast_bmms`), by name.
    broadcast: HashSet<String>,
}

/// A check's failure: why the calls cannot split.
type Refusal = String;

impl Samples<'_> {
    fn name(&self, i: usize) -> &str {
        self.graph.nodes.get(i).map_or("?", |n| n.name.as_str())
    }

    fn is_free(&self, i: usize) -> bool {
        self.free.get(i).copied().unwrap_or(false)
    }

    fn rows_of(&self, i: usize) -> Option<usize> {
        self.rows.get(i).copied().flatten()
    }

    /// A value read per sample: its rows, or why not.
    fn val(&self, x: usize, node: &Node) -> Result<usize, Refusal> {
        self.rows_of(x).ok_or_else(|| {
            format!(
                "`{}` reads `{}`, which is not per sample",
                node.name,
                self.name(x)
            )
        })
    }

    /// A value each half reads whole (a weight).
    fn whole(&self, x: usize, node: &Node) -> Result<(), Refusal> {
        match self.is_free(x) {
            true => Ok(()),
            false => Err(format!(
                "`{}` takes `{}` computed from the samples where it takes a weight",
                node.name,
                self.name(x)
            )),
        }
    }

    /// An operand broadcast against an output of `rank` dims with `rows` rows per
    /// sample: per sample with the same rows, or free and not spanning the batch.
    fn broadcast(&self, x: usize, rank: usize, rows: usize, node: &Node) -> Result<(), Refusal> {
        let sizes = sizes_of(self.graph, x);
        if self.is_free(x) {
            let spans_batch =
                sizes.len() >= rank && sizes.first().and_then(SymInt::as_int) != Some(1);
            return match spans_batch {
                false => Ok(()),
                true => Err(format!(
                    "`{}` reads `{}`, of the batch's size, across samples",
                    node.name,
                    self.name(x)
                )),
            };
        }
        match self.rows_of(x) {
            Some(r) if r == rows && sizes.len() == rank => Ok(()),
            _ => Err(format!(
                "`{}` broadcasts `{}` across samples",
                node.name,
                self.name(x)
            )),
        }
    }

    /// Checks a call of `lowering` (tensors as node indices) whose output 0 has `rows`
    /// rows per sample; returns how the node runs in a half when it must be recast
    /// (`at`: a node index → its argument position).
    fn call(
        &mut self,
        node: &Node,
        lowering: &Lowering<usize>,
        rows: usize,
        at: &dyn Fn(usize) -> usize,
    ) -> Result<Option<Recast>, Refusal> {
        match lowering {
            Lowering::Reshape { .. }
            | Lowering::Expand { .. }
            | Lowering::Permute { .. }
            | Lowering::Concat { .. }
            | Lowering::Split { .. }
            | Lowering::Select { .. }
            | Lowering::Slice { .. } => self.view(node, lowering, rows, at),
            Lowering::Roll { .. } | Lowering::Lanes { .. } | Lowering::Pad { .. } => {
                self.along_other_dims(node, lowering).map(|()| None)
            }
            Lowering::Reduce { .. }
            | Lowering::Softmax { .. }
            | Lowering::LayerNorm { .. }
            | Lowering::GroupNorm { .. }
            | Lowering::ChannelNorm { .. }
            | Lowering::BatchNorm { .. } => self.norm(node, lowering, at),
            Lowering::Recurrent { .. } => Err(format!(
                "`{}` {}",
                node.name,
                crate::ops::rnn::WHY_CALLS_RUN_WHOLE
            )),
            _ => self.compute(node, lowering, rows),
        }
    }

    /// Checks an elementwise call's operands (per sample, or broadcast across the
    /// samples without spanning the batch); `false` for any other call.
    fn elementwise(
        &self,
        node: &Node,
        lowering: &Lowering<usize>,
        rank: usize,
        rows: usize,
    ) -> Result<bool, Refusal> {
        match lowering {
            Lowering::Unary { input, .. } | Lowering::Compare { input, .. } => {
                self.val(*input, node)?;
            }
            Lowering::Cast { input } => {
                self.val(*input, node)?;
            }
            Lowering::Binary { lhs: a, rhs: b, .. } | Lowering::Where { x: a, y: b, .. } => {
                if let Lowering::Where { cond, .. } = lowering {
                    self.broadcast(*cond, rank, rows, node)?;
                }
                for o in [a, b] {
                    if let TensorOrNumber::Tensor(t) = o {
                        self.broadcast(*t, rank, rows, node)?;
                    }
                }
            }
            Lowering::Elementwise { inputs } => {
                for &x in inputs {
                    self.broadcast(x, rank, rows, node)?;
                }
            }
            // The input gives only the sizes, which are the output's.
            Lowering::Fill { .. } => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Products, convolutions, pooling, embedding, attention (and elementwise ops).
    fn compute(
        &mut self,
        node: &Node,
        lowering: &Lowering<usize>,
        rows: usize,
    ) -> Result<Option<Recast>, Refusal> {
        let rank = sizes_of_meta(node).len();
        if self.elementwise(node, lowering, rank, rows)? {
            return Ok(None);
        }
        let mixes = |what: &str| Err(format!("`{}` {what}", node.name));
        match lowering {
            Lowering::Gemm {
                a, b, bias, weight, ..
            } => {
                self.val(*a, node)?;
                if !self.is_free(*b) {
                    return mixes("multiplies by a right operand computed from the samples");
                }
                if let Some(bias) = bias {
                    self.broadcast(*bias, rank, rows, node)?;
                }
                self.product(*a, *weight, node)?;
            }
            Lowering::Conv {
                input,
                weight,
                bias,
                ..
            } => {
                self.val(*input, node)?;
                // An unbatched input (`[C, H, W]`) leads with channels, which it mixes.
                if sizes_of(self.graph, *input).len() != sizes_of(self.graph, *weight).len() {
                    return mixes("convolves an input without a batch dim");
                }
                for w in std::iter::once(weight).chain(bias) {
                    self.whole(*w, node)?;
                }
            }
            Lowering::MaxPool { input, .. }
            | Lowering::AvgPool { input, .. }
            | Lowering::Upsample { input, .. } => {
                self.val(*input, node)?;
            }
            Lowering::Gather {
                input,
                dim,
                indices,
                ..
            } => self.gather(node, (*input, *dim, indices), rows)?,
            // A matrix broadcast over the batch: each half multiplies its rows by it (the
            // interpreter does not write the broadcast, `CallFacts::BroadcastMat2`).
            Lowering::Bmm { a, b } if self.broadcast.contains(&node.name) && self.is_free(*b) => {
                self.val(*a, node)?;
            }
            Lowering::Bmm { a, b } => {
                if self.val(*a, node)? != self.val(*b, node)? {
                    return mixes("multiplies matrices of other samples");
                }
            }
            Lowering::Attention {
                query,
                key,
                value,
                attn_mask,
                dropout_p,
                ..
            } => {
                if *dropout_p != 0.0 {
                    return mixes("drops attention weights at random");
                }
                for x in [query, key, value] {
                    self.val(*x, node)?;
                }
                // Attention is over the last two dims: of a 2-D query, dim 0 is the
                // sequence, which every query attends across.
                if rank < 3 {
                    return mixes("attends across the batch");
                }
                if let Some(m) = attn_mask {
                    self.broadcast(*m, rank, rows, node)?;
                }
            }
            _ => return mixes("runs an op whose samples cannot be told apart"),
        }
        Ok(None)
    }

    /// Norms, softmax and reductions: within a sample unless over dim 0.
    fn norm(
        &mut self,
        node: &Node,
        lowering: &Lowering<usize>,
        at: &dyn Fn(usize) -> usize,
    ) -> Result<Option<Recast>, Refusal> {
        let mixes = |what: &str| Err(format!("`{}` {what}", node.name));
        let dim_of = |d: i64, x: usize| normalize_dim(d, sizes_of(self.graph, x).len()).ok();
        match lowering {
            Lowering::Reduce { input, dims, .. } => {
                let dims = dims.as_deref().unwrap_or(&[]);
                let over_batch = dims.is_empty()
                    || (dims.iter()).any(|&d| dim_of(d, *input).is_none_or(|d| d == 0));
                if over_batch {
                    return mixes("reduces over the batch");
                }
                self.val(*input, node)?;
            }
            Lowering::Softmax { input, dim, .. } => {
                if dim_of(*dim, *input).is_none_or(|d| d == 0) {
                    return mixes("normalizes over the batch");
                }
                self.val(*input, node)?;
            }
            Lowering::LayerNorm {
                input,
                normalized_rank,
                weight,
                bias,
                ..
            } => {
                if *normalized_rank >= sizes_of(self.graph, *input).len() {
                    return mixes("normalizes over the batch");
                }
                self.weighted(*input, [weight, bias], node)?;
            }
            Lowering::GroupNorm {
                input,
                groups,
                weight,
                bias,
                eps,
            } => {
                self.weighted(*input, [weight, bias], node)?;
                return Ok(Some(Recast::GroupNorm {
                    input: at(*input),
                    groups: *groups,
                    weight: weight.map(at),
                    bias: bias.map(at),
                    eps: *eps,
                }));
            }
            Lowering::ChannelNorm {
                input,
                weight,
                bias,
                per_sample,
                ..
            } => {
                if !per_sample {
                    return mixes("normalizes over the batch");
                }
                self.weighted(*input, [weight, bias], node)?;
            }
            Lowering::BatchNorm {
                input,
                weight,
                bias,
                running_mean,
                running_var,
                ..
            } => self.weighted(*input, [weight, bias, running_mean, running_var], node)?,
            Lowering::Recurrent { .. } => {
                return mixes(crate::ops::rnn::WHY_CALLS_RUN_WHOLE);
            }
            _ => return mixes("runs an op whose samples cannot be told apart"),
        }
        Ok(None)
    }

    /// A norm's input, read per sample, and its parameters, read whole.
    fn weighted<const N: usize>(
        &self,
        input: usize,
        params: [&Option<usize>; N],
        node: &Node,
    ) -> Result<(), Refusal> {
        self.val(input, node)?;
        for w in params.into_iter().flatten() {
            self.whole(*w, node)?;
        }
        Ok(())
    }

    /// A gather's operands: a table read whole by per-sample ids along its dim 0
    /// (`embedding`), or a per-sample input read within each sample by indices every
    /// sample shares; integer indices either way (a bool mask's entries are not).
    fn gather(
        &self,
        node: &Node,
        (input, dim, indices): (usize, i64, &[usize]),
        rows: usize,
    ) -> Result<(), Refusal> {
        let mixes = |what: &str| Err(format!("`{}` {what}", node.name));
        let integer = |&i: &usize| {
            (self.graph.nodes.get(i))
                .and_then(|n| n.meta.first())
                .is_some_and(|m| {
                    matches!(
                        m.dtype,
                        crate::tensor::DType::I64 | crate::tensor::DType::I32
                    )
                })
        };
        if !indices.iter().all(integer) {
            return mixes("indexes by a mask, whose entries are not indices");
        }
        match normalize_dim(dim, sizes_of(self.graph, input).len()) {
            Ok(0) => {
                self.whole(input, node)?;
                for &i in indices {
                    if self.val(i, node)? != rows {
                        return mixes("indexes by ids of other rows per sample");
                    }
                }
            }
            Ok(_) => {
                self.val(input, node)?;
                for &i in indices {
                    self.whole(i, node)?;
                }
            }
            Err(_) => return mixes("indexes a dim it does not have"),
        }
        Ok(())
    }

    /// Rolls, pads and lane ops: within each sample unless along the batch's dim.
    fn along_other_dims(&self, node: &Node, lowering: &Lowering<usize>) -> Result<(), Refusal> {
        let mixes = |what: &str| Err(format!("`{}` {what}", node.name));
        let dim_of = |d: i64, x: usize| normalize_dim(d, sizes_of(self.graph, x).len()).ok();
        match lowering {
            Lowering::Pad { input, pad, .. } => {
                let rank = sizes_of(self.graph, *input).len();
                let pads = ferrex_kernels::layout::dim_pads(pad, rank);
                if pads.is_none_or(|p| p.first().is_some_and(|&p| p != (0, 0))) {
                    return mixes("pads the batch");
                }
                self.val(*input, node)?;
            }
            Lowering::Lanes { inputs, dims } => {
                let first = inputs.first().copied().unwrap_or(usize::MAX);
                if dims
                    .iter()
                    .any(|&d| dim_of(d, first).is_none_or(|d| d == 0))
                {
                    return mixes("works along the batch");
                }
                for &x in inputs {
                    if sizes_of(self.graph, x).len() != sizes_of(self.graph, first).len()
                        || self.val(x, node)? != self.val(first, node)?
                    {
                        return mixes("reads lanes of other samples");
                    }
                }
            }
            Lowering::Roll { input, dims, .. } => {
                let rolls_batch = |&d: &i64| dim_of(d, *input).is_none_or(|d| d == 0);
                if dims.is_empty() || dims.iter().any(rolls_batch) {
                    return mixes("rolls the batch");
                }
                self.val(*input, node)?;
            }
            _ => return mixes("runs an op whose samples cannot be told apart"),
        }
        Ok(())
    }

    /// Views and joins: they keep the batch first unless they index or move it.
    fn view(
        &mut self,
        node: &Node,
        lowering: &Lowering<usize>,
        rows: usize,
        at: &dyn Fn(usize) -> usize,
    ) -> Result<Option<Recast>, Refusal> {
        let rank = sizes_of_meta(node).len();
        let mixes = |what: &str| Err(format!("`{}` {what}", node.name));
        let dim_of = |d: i64, x: usize| normalize_dim(d, sizes_of(self.graph, x).len()).ok();
        match lowering {
            Lowering::Reshape { input } => {
                self.val(*input, node)?;
                return Ok(Some(Recast::Reshape { input: at(*input) }));
            }
            Lowering::Expand { input } => {
                self.val(*input, node)?;
                if sizes_of(self.graph, *input).len() != rank {
                    return mixes("expands the batch");
                }
                return Ok(Some(Recast::Expand { input: at(*input) }));
            }
            Lowering::Permute { input, dims } => {
                let in_rank = sizes_of(self.graph, *input).len();
                let keeps = match dims {
                    PermuteDims::T => in_rank < 2,
                    PermuteDims::Swap(a, b) => {
                        let (a, b) = (dim_of(*a, *input), dim_of(*b, *input));
                        a == b || (a != Some(0) && b != Some(0) && a.is_some() && b.is_some())
                    }
                    PermuteDims::All(d) => d.first().and_then(|&d| dim_of(d, *input)) == Some(0),
                };
                if !keeps {
                    return mixes("moves the batch from the first dim");
                }
                self.val(*input, node)?;
            }
            Lowering::Concat { inputs, dim } => {
                if normalize_dim(*dim, rank).map_or(true, |d| d == 0) {
                    return mixes("joins its inputs along the batch");
                }
                for &x in inputs {
                    if self.val(x, node)? != rows {
                        return mixes("joins inputs of other rows per sample");
                    }
                }
            }
            Lowering::Split { input, dim }
            | Lowering::Select { input, dim, .. }
            | Lowering::Slice { input, dim, .. } => {
                if dim_of(*dim, *input).is_none_or(|d| d == 0) {
                    return mixes("indexes the batch");
                }
                self.val(*input, node)?;
            }
            Lowering::Recurrent { .. } => {
                return mixes(crate::ops::rnn::WHY_CALLS_RUN_WHOLE);
            }
            _ => return mixes("runs an op whose samples cannot be told apart"),
        }
        Ok(None)
    }

    /// Checks call node `i` (see [`Samples::call`]) and records its output; a node that
    /// runs recast in a half is returned with its recast.
    fn call_node(
        &mut self,
        i: usize,
        node: &Node,
        op: &OpDef,
        args: &[Arg],
        batch_symbols: &[Symbol],
    ) -> Result<Option<(String, Recast)>, Refusal> {
        let reads: Vec<usize> = (args.iter())
            .flat_map(|a| a.tensors())
            .map(|t| t.0)
            .collect();
        if reads.iter().all(|&r| self.is_free(r)) {
            if op.nondeterministic {
                return Err(format!("`{}` draws random numbers", node.name));
            }
            self.free[i] = true;
            return Ok(None);
        }
        let rows = per_sample(sizes_of_meta(node), &self.batch);
        let inlined = inline_sym_args(self.graph, args)?;
        let lowering = crate::graph::lowering_of(op, &inlined).ok_or_else(|| {
            format!(
                "`{}` runs `{}`, which the split cannot follow",
                node.name,
                op.name()
            )
        })?;
        let positions = positions(args);
        let at = |x: usize| positions.get(&x).copied().unwrap_or(usize::MAX);
        let recast = self.call(node, &lowering, rows.unwrap_or(usize::MAX), &at)?;
        let every_output = matches!(lowering, Lowering::Split { .. } | Lowering::Lanes { .. });
        if let (true, Some(split)) = (every_output, self.splits.get_mut(i)) {
            *split = true;
        }
        let rows = rows.ok_or_else(|| format!("`{}` does not lead with the batch", node.name))?;
        if recast.is_none() && mentions(&inlined, batch_symbols) {
            return Err(format!(
                "`{}` takes the batch's size as an argument",
                node.name
            ));
        }
        self.rows[i] = Some(rows);
        Ok(recast.map(|r| (node.name.clone(), r)))
    }

    /// Records getitem node `i` of output `index` of node `src`: per sample when it
    /// reads a split's piece or output 0 of a call per sample.
    fn get_item(&mut self, i: usize, node: &Node, src: usize, index: usize) -> Result<(), Refusal> {
        if self.is_free(src) {
            self.free[i] = true;
            return Ok(());
        }
        let split = self.splits.get(src).copied().unwrap_or(false);
        let rows = match (split, index) {
            (true, _) => per_sample(sizes_of_meta(node), &self.batch),
            (false, 0) => self.rows_of(src),
            (false, _) => None,
        };
        self.rows[i] = Some(rows.ok_or_else(|| {
            format!(
                "`{}` reads output {index} of `{}`, which is not per sample",
                node.name,
                self.name(src)
            )
        })?);
        Ok(())
    }

    /// A product by a weight of left operand `a` (`linear`: `weight`, run by the
    /// packed weight where it is 8 or more wide and deep, as the compiled runtime's; else
    /// by the eager GEMM): its rows per sample, depth and kernel join `products`.
    fn product(&mut self, a: usize, weight: bool, node: &Node) -> Result<(), Refusal> {
        let a_sizes = sizes_of(self.graph, a);
        let int = |s: Option<&SymInt>| {
            s.and_then(SymInt::as_int)
                .and_then(|v| usize::try_from(v).ok())
        };
        let (Some(k), Some(n)) = (int(a_sizes.last()), int(sizes_of_meta(node).last())) else {
            return Err(format!(
                "`{}` has a product of a size known at run time",
                node.name
            ));
        };
        let lead = &a_sizes[..a_sizes.len().saturating_sub(1)];
        let rows = (lead.iter().fold(SymInt::Int(1), |m, s| m.mul(s)))
            .div_exact(&self.batch)
            .ok_or_else(|| format!("`{}` has rows across samples", node.name))?;
        let packed = weight && n >= 8 && k >= 8;
        let product = SplitProduct {
            rows,
            depth: k,
            eager_columns: (!packed).then_some(n),
        };
        SplitProduct::join(&mut self.products, product);
        Ok(())
    }
}

/// The sizes of a node's output 0, from its meta.
fn sizes_of_meta(node: &Node) -> &[SymInt] {
    node.meta.first().map_or(&[], |m| &m.sizes[..])
}

impl GraphSplit {
    /// The split of `program`'s calls, or why its calls cannot be split.
    pub(crate) fn of(program: &ExportedProgram) -> Result<GraphSplit, String> {
        let sig = &program.signature;
        if (sig.output_specs.iter()).any(|s| s.kind != OutputKind::UserOutput) {
            return Err("the program mutates its inputs or buffers".into());
        }
        let graph = &program.graph;
        let higher_order =
            (graph.nodes.iter()).any(|n| matches!(n.kind, NodeKind::HigherOrder { .. }));
        if higher_order || !graph.subgraphs.is_empty() {
            return Err("the program has subgraphs (`cond`, `map`)".into());
        }
        // Placeholders in order, each with whether it is a user input.
        let placeholders: Vec<(usize, bool)> = (graph.placeholders())
            .zip(&sig.input_specs)
            .map(|((id, _), spec)| (id.0, spec.kind == InputKind::UserInput))
            .collect();
        let leading: Vec<Option<SymInt>> = (placeholders.iter())
            .filter(|(_, user)| *user)
            .map(|&(i, _)| sizes_of(graph, i).first().cloned())
            .collect();
        super::first_batch(&leading, |batch| {
            Self::with_batch(graph, &placeholders, batch)
        })
    }

    fn with_batch(
        graph: &Graph,
        placeholders: &[(usize, bool)],
        batch: SymInt,
    ) -> Result<GraphSplit, String> {
        let n = graph.nodes.len();
        let mut s = Samples {
            graph,
            batch: batch.clone(),
            rows: vec![None; n],
            free: vec![false; n],
            splits: vec![false; n],
            products: Vec::new(),
            broadcast: (crate::graph::broadcast_bmms(graph).into_iter())
                .filter_map(|b| graph.nodes.get(b.bmm).map(|n| n.name.clone()))
                .collect(),
        };
        let mut input_rows = Vec::new();
        for (k, &(i, user)) in placeholders.iter().enumerate() {
            match per_sample(sizes_of(graph, i), &batch).filter(|_| user) {
                Some(r) => {
                    s.rows[i] = Some(r);
                    input_rows.push((k, r));
                }
                None => s.free[i] = true,
            }
        }
        let batch_symbols = batch.expr().symbols();
        let mut recast = HashMap::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            match &node.kind {
                NodeKind::Placeholder => {}
                NodeKind::Call { .. } if is_size_node(node) => {}
                NodeKind::Call { op, args } => {
                    if let Some((name, r)) = s.call_node(i, node, op, args, &batch_symbols)? {
                        recast.insert(name, (i, r));
                    }
                }
                NodeKind::GetItem { source, index } => s.get_item(i, node, source.0, *index)?,
                NodeKind::HigherOrder { .. } => {
                    return Err("the program has subgraphs (`cond`, `map`)".into())
                }
                NodeKind::Output { args } => {
                    for a in args {
                        match a {
                            Argument::Tensor(t) if s.rows_of(t.0).is_some() => {}
                            _ => return Err("an output is not per sample".into()),
                        }
                    }
                }
            }
        }
        Ok(GraphSplit {
            batch,
            input_rows,
            products: s.products,
            rows: s.rows,
            recast,
            half_metas: Mutex::new(Vec::new()),
        })
    }

    /// The two halves of this call's batch, if it has two and every product sums a
    /// half's rows as it sums the whole's.
    pub(crate) fn halves(&self, bindings: &Bindings) -> Option<[usize; 2]> {
        super::batch_halves(bindings, &self.batch, &self.products)
    }

    /// Runs the two halves of the batch on two threads of the pool and stacks their
    /// outputs; `inputs` are the placeholders' values for the whole batch.
    pub(crate) fn run(
        &self,
        graph: &Graph,
        schedule: &DropSchedule,
        inputs: &[Storage],
        bindings: &Bindings,
        halves: [usize; 2],
    ) -> Result<Vec<Tensor>, RunError> {
        let symbols = bindings.values_key();
        let (out, _) = super::run_halves(halves, |_, start, n| {
            let mine = super::half_inputs(inputs, &self.input_rows, start, n)?;
            let known = self.known_metas(n, &symbols);
            let half = HalfEvaluator {
                whole: EagerEvaluator { bindings },
                split: self,
                half: n,
                recorded: match known {
                    Some(_) => None,
                    None => Some(RefCell::new(vec![None; graph.nodes.len()])),
                },
                known,
            };
            let out = interpret_scheduled(
                graph,
                schedule,
                mine.into_iter().map(Tensor::from_storage).collect(),
                &half,
            )?;
            if let Some(recorded) = half.recorded {
                self.keep_metas((n, symbols.clone()), recorded.into_inner());
            }
            super::run::outputs_of(out)
        })?;
        Ok(out)
    }

    /// The metas a half of `half` samples recorded under these bound symbols, if one did.
    fn known_metas(&self, half: usize, symbols: &[(Symbol, i64)]) -> Option<Arc<HalfMetas>> {
        let kept = self.half_metas.lock().unwrap_or_else(|p| p.into_inner());
        (kept.iter())
            .find(|((n, s), _)| *n == half && s[..] == *symbols)
            .map(|(_, m)| m.clone())
    }

    fn keep_metas(&self, key: HalfKey, metas: HalfMetas) {
        let mut kept = self.half_metas.lock().unwrap_or_else(|p| p.into_inner());
        if kept.iter().any(|(k, _)| *k == key) {
            return;
        }
        if kept.len() >= HALF_METAS_KEPT {
            kept.clear();
        }
        kept.push((key, Arc::new(metas)));
    }
}

/// Each tensor argument's node index → its argument position (a recast node reads its
/// operands by position).
fn positions(args: &[Arg]) -> HashMap<usize, usize> {
    let mut at = HashMap::new();
    for (k, a) in args.iter().enumerate() {
        if let Argument::Tensor(t) = a {
            at.entry(t.0).or_insert(k);
        }
    }
    at
}

/// Whether an inlined argument list names one of `symbols` in a size.
fn mentions(args: &[Arg], symbols: &[Symbol]) -> bool {
    let hit = |s: &SymInt| s.expr().symbols().iter().any(|x| symbols.contains(x));
    args.iter().any(|a| match a {
        Argument::Int(s) => hit(s),
        Argument::IntList(l) => l.iter().any(hit),
        Argument::SymBool(_) => true,
        _ => false,
    })
}

/// Interprets the graph on one half's samples: the eager evaluator with the whole
/// call's bindings, recast nodes at the half's sizes.
struct HalfEvaluator<'a> {
    whole: EagerEvaluator<'a>,
    split: &'a GraphSplit,
    /// The half's samples.
    half: usize,
    /// The metas of the calls at this half's sizes, recorded by an earlier half: those
    /// calls skip their meta functions, as the whole call's do.
    known: Option<Arc<HalfMetas>>,
    /// Else the metas this half's calls give, recorded for the next halves.
    recorded: Option<RefCell<HalfMetas>>,
}

impl HalfEvaluator<'_> {
    /// A node's output 0 sizes at the half's batch.
    fn half_sizes(&self, node: &Node, index: usize) -> Option<Vec<SymInt>> {
        let rows = self.split.rows.get(index).copied().flatten()?;
        let sizes = sizes_of_meta(node);
        let mut out = Vec::with_capacity(sizes.len());
        out.push(SymInt::Int(
            i64::try_from(rows.checked_mul(self.half)?).ok()?,
        ));
        for s in sizes.get(1..)? {
            out.push(SymInt::Int(self.whole.bindings.value(s)));
        }
        Some(out)
    }
}

impl Evaluator for HalfEvaluator<'_> {
    type Value = Tensor;
    type Error = RunError;

    fn call(
        &self,
        node: &Node,
        op: &'static OpDef,
        args: &[Value],
    ) -> Result<Vec<Tensor>, RunError> {
        let Some((index, recast)) = self.split.recast.get(&node.name) else {
            return self.whole.call(node, op, args);
        };
        let sizes = self.half_sizes(node, *index).ok_or_else(|| {
            RunError::Malformed(format!("`{}` has no size at the half batch", node.name))
        })?;
        let arg = |k: usize| args.get(k).cloned().unwrap_or(Argument::None);
        let (op, call): (&'static OpDef, Vec<Value>) = match recast {
            Recast::Reshape { input } => (
                &crate::ops::shape::RESHAPE,
                vec![arg(*input), Argument::IntList(sizes)],
            ),
            Recast::Expand { input } => (
                &crate::ops::shape::EXPAND,
                vec![arg(*input), Argument::IntList(sizes), Argument::Bool(false)],
            ),
            Recast::GroupNorm {
                input,
                groups,
                weight,
                bias,
                eps,
            } => (
                &crate::ops::normalization::GROUP_NORM,
                vec![
                    arg(*input),
                    Argument::Int(SymInt::Int(*groups)),
                    weight.map_or(Argument::None, arg),
                    bias.map_or(Argument::None, arg),
                    Argument::Float(*eps),
                    Argument::Bool(true),
                ],
            ),
        };
        run_eager(op, &call).map_err(|e| kernel_error(node, op.name(), e.0))
    }

    /// A `bmm` of a matrix broadcast over the batch runs as the whole call's does (one
    /// product of the half's rows, the matrix not expanded); the other facts are the
    /// whole batch's, not the half's.
    fn call_scheduled(
        &self,
        id: NodeId,
        node: &Node,
        op: &'static OpDef,
        args: &[Value],
        facts: CallFacts,
    ) -> Result<Vec<Tensor>, RunError> {
        match facts {
            CallFacts::BroadcastMat2 => self.whole.call_scheduled(id, node, op, args, facts),
            CallFacts::KnownMetas => {
                // Only calls that run as their node says were recorded (not recast ones).
                let known = (self.known.as_ref()).and_then(|k| k.get(id.0)?.as_ref());
                if let Some(metas) = known {
                    return run_eager_known(op, args, metas)
                        .map_err(|e| kernel_error(node, op.name(), e.0));
                }
                let out = self.call(node, op, args)?;
                let recast = self.split.recast.contains_key(&node.name);
                if let (Some(recorded), false) = (&self.recorded, recast) {
                    let metas = (out.iter().map(Tensor::meta))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| RunError::Malformed(e.to_string()))?;
                    if let Some(slot) = recorded.borrow_mut().get_mut(id.0) {
                        *slot = Some(metas);
                    }
                }
                Ok(out)
            }
            _ => self.call(node, op, args),
        }
    }

    fn defers_broadcasts(&self) -> bool {
        true
    }

    fn higher_order(
        &self,
        node: &Node,
        _: &'static dyn HigherOrderOp,
        _: Vec<Value>,
        _: RunSubgraphOf<'_, Tensor, RunError>,
    ) -> Result<Vec<Tensor>, RunError> {
        Err(RunError::Malformed(format!(
            "`{}` cannot run on half of the batch",
            node.name
        )))
    }

    fn size(&self, s: &SymInt) -> SymInt {
        self.whole.size(s)
    }

    fn malformed(&self, message: String) -> RunError {
        RunError::Malformed(message)
    }
}
