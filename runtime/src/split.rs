//! Splitting a call along its batch: two threads each run the whole plan on half of the
//! samples, with one hand-off per call and no data crossing cores between steps.
//!
//! Splitting each step over the pool instead costs a hand-off per step (~1 µs, as much
//! as a small model's step) and a core reading what the other just wrote; for models
//! whose steps are too small to split well (a transformer block, a GroupNorm block),
//! two threads then ran no faster than one. A split call is sound when no step mixes
//! samples: [`BatchSplit::of`] follows where each value's batch is ([`Lead`]: a permute
//! or reshape may move it, an RNN runs over `[T, B, ..]`, attention's rows are `[T * B,
//! E]`) and checks every step for it (products with a constant weight, convolutions,
//! norms, softmax and reductions not along the batch, elementwise ops with per-sample or
//! broadcast operands...), refusing the rest (eager fallbacks, `cond`, reductions over
//! the batch). Inputs that do not lead with the batch (a per-feature scale, a table), and
//! what is computed from them and constants alone, are read whole by each half, like
//! constants; a constant of the batch's size whose samples are equal is read as one
//! sample's slice. The half plan is the plan with each batch size `c * B` written `c *
//! σ` at its dim, σ a symbol bound per call to the half's batch, so static and dynamic
//! programs split alike. Every kernel computes a sample the same way whatever the batch (a GEMM's
//! k blocks are checked per call, [`ferrex_kernels::sgemm::sums_alike`]), so a split
//! call gives the same bits as a whole one (tested).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use ferrex::graph::Arg;
use ferrex::program::{batch_halves, first_batch, half_inputs, run_halves, Bindings, SplitProduct};
use ferrex::symbolic::{Expr, SymInt, Symbol};
use ferrex::tensor::{DType, Storage, Tensor, TensorMeta};
use ferrex::RunError;

use crate::exec::{Arena, Profile};
use crate::plan::{
    Epilogue, GemmB, GemmStep, InputSource, Kind, Operand, Plan, ReadView, Step, ViewChain, ViewOp,
    NO_VIEWS, V,
};

/// The symbol of a half's batch: outside the ranges of input-size and unbacked symbols.
const HALF: Symbol = Symbol(3 << 28);

/// A plan that can run as two halves of its batch.
#[derive(Debug)]
pub(crate) struct BatchSplit {
    /// The plan with each batch size `c * B` rewritten as `c * σ` ([`half_plan`]).
    half: Plan,
    /// The batch `B`: the leading size of the first run-time input.
    batch: SymInt,
    /// Per run-time input: its placeholder and the rows of its dim 0 per sample.
    input_rows: Vec<(usize, usize)>,
    /// Each distinct product by a packed weight: its rows per sample and its depth, to
    /// check that a half sums like the whole.
    products: Vec<SplitProduct>,
    /// One arena per half, kept between calls.
    arenas: [Mutex<Option<Arena>>; 2],
}

/// Rows per sample of dim `dim` of `sizes`: `c` when `sizes[dim]` is `c * batch` and no
/// other size, nor `c`, depends on the batch (`c` may hold other symbols: a sequence
/// length merged into the batch's dim).
fn per_sample_sym(sizes: &[SymInt], dim: usize, batch: &SymInt) -> Option<SymInt> {
    let c = sizes.get(dim)?.div_exact(batch)?;
    let symbols = batch.expr().symbols();
    let free = |s: &SymInt| s.expr().symbols().iter().all(|x| !symbols.contains(x));
    let others = sizes.iter().enumerate().filter(|&(d, _)| d != dim);
    (c.hint() >= 1 && free(&c) && others.map(|(_, s)| s).all(free)).then_some(c)
}

/// The product of `sizes`.
fn product(sizes: &[SymInt]) -> SymInt {
    sizes.iter().fold(SymInt::Int(1), |m, s| m.mul(s))
}

/// Where a value's batch is: its dim, and that dim's layout `outer × B × rows`
/// (`sizes[dim] = outer * B * rows`; `outer > 1` where a reshape merged dims before the
/// batch into it, as attention's `[T, B, E] -> [T * B, E]` does, so that sample `b`'s
/// rows are `rows` runs `B * rows` apart). Inputs lead with the batch; a permute, a
/// reshape or an index of another dim moves it (an RNN runs its steps over
/// `[T, B, ..]`). Steps that treat rows alike (products, elementwise steps, views)
/// follow any layout; the rest need the batch first and `outer` 1.
#[derive(Clone, Debug)]
struct Lead {
    dim: usize,
    outer: SymInt,
    /// `None` where the dim does not hold whole samples (the step is then refused once
    /// `reads` has said what mixes samples, if anything).
    rows: Option<SymInt>,
}

impl PartialEq for Lead {
    fn eq(&self, other: &Lead) -> bool {
        self.dim == other.dim && self.same_layout(other)
    }
}

impl Lead {
    /// The batch first, `rows` rows per sample.
    fn first(rows: usize) -> Lead {
        Lead {
            dim: 0,
            outer: SymInt::Int(1),
            rows: Some(SymInt::Int(rows as i64)),
        }
    }

    /// Whether the batch is first, with no dim merged before it.
    fn is_first(&self) -> bool {
        self.dim == 0 && self.outer.as_int() == Some(1)
    }

    /// The same `outer × B × rows` as `other` (wherever the dim).
    fn same_layout(&self, other: &Lead) -> bool {
        let rows = match (&self.rows, &other.rows) {
            (Some(a), Some(b)) => a.same_as(b),
            _ => false,
        };
        rows && self.outer.same_as(&other.outer)
    }

    /// One sample's single row, first: what a constant's uniform slice stands for.
    fn is_one_row(&self) -> bool {
        let one = |s: &SymInt| s.as_int() == Some(1);
        self.rows.as_ref().is_some_and(one) && one(&self.outer)
    }

    /// The lead at `dim` of `sizes` with this one's `outer`: its rows from the size
    /// (`None`, which matches no operand, where the size does not hold whole samples).
    fn at(&self, dim: usize, sizes: &[SymInt], batch: &SymInt) -> Lead {
        let rows = per_sample_sym(sizes, dim, batch)
            .and_then(|c| c.div_exact(&self.outer))
            .filter(|r| r.hint() >= 1);
        Lead {
            dim,
            outer: self.outer.clone(),
            rows,
        }
    }
}

/// What the checks know of the plan's values.
struct Samples<'p> {
    plan: &'p Plan,
    batch: SymInt,
    /// Values per sample: where their batch is.
    lead: HashMap<V, Lead>,
    /// Values that do not depend on the batch (run-time inputs that do not lead with it,
    /// and what is computed from them and constants alone): each half reads all of them,
    /// as it reads a constant.
    free: HashSet<V>,
    /// Constants that span the batch with every sample's slice equal (an RNN's zero
    /// initial states): each half reads their first sample's slice, broadcast
    /// (constant → (batch dim, that slice's constant in the half plan)).
    uniform: HashMap<usize, (usize, Storage)>,
    /// The steps (by output) that read a uniform constant, and which.
    uniform_reads: HashSet<(V, usize)>,
    /// Lane-by-lane steps of several outputs (`topk`'s values and indices): each of
    /// their getitems has the step's batch.
    lanes: HashSet<V>,
}

impl<'p> Samples<'p> {
    fn name(&self, v: V) -> &str {
        self.plan.names.get(v).map_or("?", String::as_str)
    }

    /// The sizes of `v` (its node's meta, which its step's sizes are).
    fn sizes(&self, v: V) -> &'p [SymInt] {
        size_of(self.plan, v).unwrap_or_default()
    }

    fn sizes_of(&self, o: Operand) -> &'p [SymInt] {
        match o {
            Operand::Val(v) => self.sizes(v),
            Operand::Const(_) => &[],
        }
    }

    /// Where the batch of a value read per sample is, or why it is not per sample.
    fn lead_of(&self, o: Operand, step: &Step) -> Result<Lead, String> {
        match o {
            Operand::Val(v) => self.lead.get(&v).cloned().ok_or_else(|| {
                format!(
                    "`{}` reads `{}`, which is not per sample",
                    step.info.name,
                    self.name(v)
                )
            }),
            Operand::Const(_) => Err(format!(
                "`{}` takes a constant where it takes samples",
                step.info.name
            )),
        }
    }

    /// A value read per sample with its batch first (the steps that only split along
    /// their leading dim: convolutions, pooling, norms...), or why not.
    fn val(&self, o: Operand, step: &Step) -> Result<(), String> {
        match self.lead_of(o, step)? {
            l if l.is_first() => Ok(()),
            _ => Err(format!(
                "`{}` reads `{}` with the batch not first",
                step.info.name,
                self.name_of(o)
            )),
        }
    }

    fn name_of(&self, o: Operand) -> &str {
        match o {
            Operand::Val(v) => self.name(v),
            Operand::Const(_) => "a constant",
        }
    }

    fn constant(&self, o: Operand, step: &Step) -> Result<(), String> {
        match o {
            Operand::Const(_) => Ok(()),
            Operand::Val(v) if self.free.contains(&v) => Ok(()),
            Operand::Val(v) => Err(format!(
                "`{}` takes `{}` computed at run time where it takes a constant",
                step.info.name,
                self.name(v)
            )),
        }
    }

    /// Whether a value of `sizes`, broadcast against an output of `rank` dims whose
    /// batch is at `dim`, has more than one element along it.
    fn spans(sizes: &[SymInt], rank: usize, dim: usize) -> bool {
        let at = (dim + sizes.len()).checked_sub(rank);
        at.and_then(|d| sizes.get(d))
            .is_some_and(|s| s.as_int() != Some(1))
    }

    /// An operand broadcast against an output of `rank` dims whose batch is `lead`: per
    /// sample with its batch at the same dim (counted from the last) and the same rows,
    /// or a value free of the batch that does not span it, or a constant whose samples
    /// are all equal.
    fn broadcast(
        &mut self,
        o: Operand,
        rank: usize,
        lead: &Lead,
        step: &Step,
    ) -> Result<(), String> {
        match o {
            Operand::Val(v) if self.free.contains(&v) => {
                match Self::spans(self.sizes(v), rank, lead.dim) {
                    false => Ok(()),
                    true => Err(format!(
                        "`{}` reads `{}`, of the batch's size, across samples",
                        step.info.name,
                        self.name(v)
                    )),
                }
            }
            Operand::Val(v) => {
                let r = self.sizes(v).len();
                let aligned = |l: &Lead| r <= rank && l.dim + (rank - r) == lead.dim;
                match self.lead.get(&v) {
                    Some(l) if l.same_layout(lead) && aligned(l) => Ok(()),
                    _ => Err(format!(
                        "`{}` broadcasts `{}` across samples",
                        step.info.name,
                        self.name(v)
                    )),
                }
            }
            Operand::Const(c) => {
                let sizes = self.plan.const_metas.get(c).map(|m| m.sizes.as_slice());
                match sizes {
                    Some(s) if !Self::spans(s, rank, lead.dim) => Ok(()),
                    Some(s) if lead.is_one_row() && s.len() <= rank => {
                        let at = lead.dim + s.len() - rank;
                        self.uniform_const(c, at, step)?;
                        self.uniform_reads.insert((step.out, c));
                        Ok(())
                    }
                    _ => Err(format!(
                        "`{}` reads a constant of the batch's size",
                        step.info.name
                    )),
                }
            }
        }
    }

    /// Constant `c`, read across samples along its dim `dim`: each half can read its
    /// first sample's slice, broadcast, if every sample's slice is the same.
    fn uniform_const(&mut self, c: usize, dim: usize, step: &Step) -> Result<(), String> {
        let refuse = || {
            format!(
                "`{}` reads a constant of the batch's size whose samples differ",
                step.info.name
            )
        };
        match self.uniform.get(&c) {
            Some(&(d, _)) if d == dim => return Ok(()),
            Some(_) => return Err(refuse()),
            None => {}
        }
        let data = self.plan.consts.get(c).ok_or_else(refuse)?;
        let first = data.narrow(dim, 0, 1).ok_or_else(refuse)?.contiguous();
        // Each element's bits (an i64 exactly: through f64 two could compare equal).
        let bits = |s: &Storage| -> Vec<u64> {
            match s.dtype() {
                DType::I64 => s.to_vec::<i64>().iter().map(|&v| v as u64).collect(),
                _ => s.to_f64_vec().iter().map(|v| v.to_bits()).collect(),
            }
        };
        let want = bits(&first);
        let n = data.shape().get(dim).copied().unwrap_or(0);
        for i in 1..n {
            let slice = data.narrow(dim, i, 1).ok_or_else(refuse)?;
            if bits(&slice) != want {
                return Err(refuse());
            }
        }
        self.uniform.insert(c, (dim, first));
        Ok(())
    }

    /// A product by a packed weight (a run-time one would mix the samples); its rows per
    /// sample and depth join `products` unless an equal product is there.
    fn gemm(
        &mut self,
        g: &'p GemmStep,
        lead: &Lead,
        step: &'p Step,
        products: &mut Vec<SplitProduct>,
    ) -> Result<(), String> {
        let GemmB::Packed(p, _) = &g.b else {
            return Err(format!(
                "`{}` multiplies by a run-time right operand",
                step.info.name
            ));
        };
        // The product's rows: every dim of its left operand but the last, per sample.
        let a_sizes = self.sizes_of(g.a);
        let lead_dims = &a_sizes[..a_sizes.len().saturating_sub(1)];
        let per_sample = product(lead_dims)
            .div_exact(&self.batch)
            .ok_or_else(|| format!("`{}` has rows across samples", step.info.name))?;
        let rank = step.sizes.len();
        if let Some((init, _)) = g.init {
            self.broadcast(init, rank, lead, step)?;
        }
        self.epilogue(g.epilogue.as_ref(), lead, step)?;
        let k = p.shape()[0];
        let product = SplitProduct {
            rows: per_sample,
            depth: k,
            eager_columns: None,
        };
        SplitProduct::join(products, product);
        Ok(())
    }

    /// Whether a planned step reads no per-sample value: its output does not depend on
    /// the batch either, and each half computes all of it.
    fn reads_only_free(&self, step: &Step) -> bool {
        let epilogue = |e: &Option<Epilogue>| e.iter().flat_map(|e| e.inputs.clone()).collect();
        let read: Vec<Operand> = match &step.kind {
            Kind::Gemm(g) => [
                vec![g.a],
                g.init.iter().map(|i| i.0).collect(),
                epilogue(&g.epilogue),
            ]
            .concat(),
            Kind::Conv(c) => [vec![c.x], epilogue(&c.epilogue)].concat(),
            Kind::Alias { src, .. } => vec![Operand::Val(*src)],
            Kind::Typed { inputs, .. } => inputs.clone(),
            Kind::Fallback { .. }
            | Kind::GetItem { .. }
            | Kind::HigherOrder { .. }
            | Kind::Recurrent { .. } => return false,
            kind => kind.operands(),
        };
        let dynamic = match &step.kind {
            Kind::Gemm(g) => match g.b {
                GemmB::Dynamic(o) => vec![o],
                GemmB::Packed(..) => Vec::new(),
            },
            _ => Vec::new(),
        };
        (read.iter().chain(&dynamic)).all(|o| match o {
            Operand::Val(v) => self.free.contains(v),
            Operand::Const(_) => true,
        })
    }

    /// Where the batch of `x` (sizes `xs`, batch `lead`) is in its `view` of sizes
    /// `out`, unless the view indexes, expands or splits the batch.
    fn view_lead(
        &self,
        lead: &Lead,
        xs: &[SymInt],
        view: &ViewOp,
        out: &[SymInt],
        step: &Step,
    ) -> Result<Lead, String> {
        let d = lead.dim;
        let at = |e: usize| Some(lead.at(e, out, &self.batch));
        let moved = match view {
            // Same elements in order: the batch is in the dim whose elements before it,
            // and whose stride, hold a whole number of the batch's (`[T, B, H] ->
            // [T, B * H]`, or `[T, B, E] -> [T * B, E]` with `outer` T).
            ViewOp::Reshape => {
                let before = product(&xs[..d.min(xs.len())]).mul(&lead.outer);
                (0..out.len()).find_map(|e| {
                    let outer = before.div_exact(&product(&out[..e]))?;
                    let rows = per_sample_sym(out, e, &self.batch)?.div_exact(&outer)?;
                    (outer.hint() >= 1 && rows.hint() >= 1).then_some(Lead {
                        dim: e,
                        outer,
                        rows: Some(rows),
                    })
                })
            }
            ViewOp::Expand => {
                let lead_dims = out.len().checked_sub(xs.len());
                lead_dims
                    .map(|n| d + n)
                    .filter(|&e| out.get(e).zip(xs.get(d)).is_some_and(|(a, b)| a.same_as(b)))
                    .and_then(at)
            }
            ViewOp::Select { dim, .. } if *dim != d => at(d - usize::from(*dim < d)),
            ViewOp::Slice { dim, .. } if *dim != d => at(d),
            ViewOp::Permute { dims } => dims.iter().position(|&p| p == d).and_then(at),
            ViewOp::Select { .. } | ViewOp::Slice { .. } => None,
        };
        let what = match view {
            ViewOp::Reshape => "splits the batch",
            ViewOp::Expand => "expands the batch",
            ViewOp::Select { .. } | ViewOp::Slice { .. } => "indexes the batch",
            ViewOp::Permute { .. } => "drops the batch",
        };
        match moved {
            Some(l) if l.rows.is_some() => Ok(l),
            _ => Err(format!("`{}` {what}", step.info.name)),
        }
    }

    /// The batch of the view `view` of `x`, to the sizes `out`.
    fn view(&self, x: Operand, view: &ViewOp, out: &[SymInt], step: &Step) -> Result<Lead, String> {
        let lead = self.lead_of(x, step)?;
        self.view_lead(&lead, self.sizes_of(x), view, out, step)
    }

    /// The batch of `x` after each view of `chain` (an attention operand read through
    /// views), the last being the operand's; none for an empty chain.
    fn chain_leads(&self, x: Operand, chain: &ViewChain, step: &Step) -> Result<Vec<Lead>, String> {
        let mut lead = self.lead_of(x, step)?;
        let mut xs = self.sizes_of(x);
        let mut leads = Vec::new();
        for (view, out) in &chain.links {
            lead = self.view_lead(&lead, xs, view, out, step)?;
            leads.push(lead.clone());
            xs = out;
        }
        Ok(leads)
    }

    /// The batch of attention operand `i` (`x`, read through its views if it has any).
    fn attention_lead(
        &self,
        x: Operand,
        views: Option<&[ViewChain; 3]>,
        i: usize,
        step: &Step,
    ) -> Result<Lead, String> {
        let chain = views.map_or(&NO_VIEWS, |c| &c[i]);
        match self.chain_leads(x, chain, step)?.pop() {
            Some(lead) => Ok(lead),
            None => self.lead_of(x, step),
        }
    }

    /// A fused input `x` read through `view`, against an output of `rank` dims whose
    /// batch is `lead`: as [`Samples::broadcast`] of the viewed value, which a view
    /// step would have computed.
    fn read_view(
        &self,
        x: Operand,
        view: &ReadView,
        rank: usize,
        lead: &Lead,
        step: &Step,
    ) -> Result<(), String> {
        let free = match x {
            Operand::Val(v) => self.free.contains(&v),
            Operand::Const(_) => true,
        };
        if free {
            return match Self::spans(&view.sizes, rank, lead.dim) {
                false => Ok(()),
                true => Err(format!(
                    "`{}` reads a view of the batch's size across samples",
                    step.info.name
                )),
            };
        }
        let l = self.view(x, &view.view, &view.sizes, step)?;
        let r = view.sizes.len();
        let aligned = r <= rank && l.dim + (rank - r) == lead.dim;
        match aligned && l.same_layout(lead) {
            true => Ok(()),
            false => Err(format!(
                "`{}` broadcasts a view across samples",
                step.info.name
            )),
        }
    }

    /// Where the batch of a fused step's output is: that of its first per-sample input
    /// (through its view), counted from the last dim.
    fn fused_lead(
        &self,
        inputs: &[Operand],
        views: &[Option<ReadView>],
        step: &Step,
    ) -> Result<Lead, String> {
        let rank = step.sizes.len();
        for (i, &o) in inputs.iter().enumerate() {
            let Operand::Val(v) = o else { continue };
            if !self.lead.contains_key(&v) {
                continue;
            }
            let (l, r) = match views.get(i).and_then(Option::as_ref) {
                Some(view) => (
                    self.view(o, &view.view, &view.sizes, step)?,
                    view.sizes.len(),
                ),
                None => (self.lead_of(o, step)?, self.sizes(v).len()),
            };
            return match (l.dim + rank).checked_sub(r) {
                Some(dim) => Ok(Lead { dim, ..l }),
                None => Err(format!(
                    "`{}` has more dims than its output",
                    step.info.name
                )),
            };
        }
        Err(format!("`{}` reads no input per sample", step.info.name))
    }

    /// A fused step's inputs, each broadcast or read through its view, against its
    /// output whose batch is `lead`.
    fn fused_inputs(
        &mut self,
        inputs: &[Operand],
        views: &[Option<ReadView>],
        lead: &Lead,
        step: &Step,
    ) -> Result<(), String> {
        let rank = step.sizes.len();
        for (i, &o) in inputs.iter().enumerate() {
            match views.get(i).and_then(Option::as_ref) {
                Some(view) => self.read_view(o, view, rank, lead, step)?,
                None => self.broadcast(o, rank, lead, step)?,
            }
        }
        Ok(())
    }

    /// A kernel's epilogue: operands per sample or broadcast; its value is the output's.
    fn epilogue(
        &mut self,
        e: Option<&'p Epilogue>,
        lead: &Lead,
        step: &'p Step,
    ) -> Result<(), String> {
        if let Some(e) = e {
            for &o in &e.inputs {
                self.broadcast(o, step.sizes.len(), lead, step)?;
            }
            self.lead.insert(e.value, lead.clone());
        }
        Ok(())
    }

    /// Where the batch of a [`Kind::Typed`] step's output is: where its inputs' is, for
    /// an elementwise call; where its view moves it, for a view.
    fn typed_lead(
        &self,
        inputs: &[Operand],
        view: Option<&ViewOp>,
        step: &Step,
    ) -> Result<Lead, String> {
        match (view, inputs.first()) {
            (None, _) => {
                let l = self.fused_lead(inputs, &[], step)?;
                Ok(l.at(l.dim, &step.sizes, &self.batch))
            }
            (Some(view), Some(&x)) => self.view(x, view, &step.sizes, step),
            (Some(_), None) => Err(format!("`{}` views nothing", step.info.name)),
        }
    }

    /// Where the batch of a lane step's output is: where its inputs' is (the same for
    /// each), which is not along the lanes, less one where the step reduces a dim before
    /// it away.
    fn lanes_lead(&self, xs: &[Operand], dims: &[usize], step: &Step) -> Result<Lead, String> {
        let x = *xs
            .first()
            .ok_or_else(|| format!("`{}` reads nothing", step.info.name))?;
        let l = self.lead_of(x, step)?;
        if dims.contains(&l.dim) {
            return Err(format!("`{}` works along the batch", step.info.name));
        }
        for &o in &xs[1..] {
            if self.lead_of(o, step)? != l || self.sizes_of(o).len() != self.sizes_of(x).len() {
                return Err(format!("`{}` reads lanes of other samples", step.info.name));
            }
        }
        // Several outputs (values and indices) have one shape, output 0's.
        let sizes = step.metas.first().map_or(&step.sizes[..], |m| &m.sizes[..]);
        let dropped = match (self.sizes_of(x).len() > sizes.len(), dims) {
            (false, _) => false,
            // A reduction of its one dim (`argmax` without `keepdim`).
            (true, &[dim]) => dim < l.dim,
            (true, _) => return Err(format!("`{}` drops dims", step.info.name)),
        };
        Ok(l.at(l.dim - usize::from(dropped), sizes, &self.batch))
    }

    /// [`Samples::out_lead`] of the steps that index or move data along some dims (lane
    /// ops and their getitems, rolls, pads, gathers); `None` for the others.
    fn indexing_lead(&self, step: &Step) -> Option<Result<Lead, String>> {
        let at = |l: Lead| -> Result<Lead, String> { Ok(l.at(l.dim, &step.sizes, &self.batch)) };
        let at = |l: Result<Lead, String>| l.and_then(at);
        Some(match &step.kind {
            Kind::Lanes { xs, dims, .. } => self.lanes_lead(xs, dims, step),
            Kind::GetItem { src, .. } if self.lanes.contains(src) => {
                at(self.lead_of(Operand::Val(*src), step))
            }
            Kind::Roll { x, pairs, flat } => {
                let rolls = |d: usize| *flat || pairs.iter().any(|p| p.1 == d);
                at(self.kept_lead(*x, &rolls, "rolls the batch", step))
            }
            Kind::Pad { x, pads, .. } => {
                let pads = |d: usize| pads.get(d) != Some(&(0, 0));
                at(self.kept_lead(*x, &pads, "pads the batch", step))
            }
            Kind::Gather { x, dim, ids, .. } => at(self.gather_lead(*x, *dim, ids, step)),
            _ => return None,
        })
    }

    /// Where the batch of a step that moves data along some dims is: its input's, unless
    /// `moves` its dim (then the step refuses: it `what`).
    fn kept_lead(
        &self,
        x: Operand,
        moves: &dyn Fn(usize) -> bool,
        what: &str,
        step: &Step,
    ) -> Result<Lead, String> {
        let l = self.lead_of(x, step)?;
        match moves(l.dim) {
            true => Err(format!("`{}` {what}", step.info.name)),
            false => Ok(l),
        }
    }

    /// Where a gather's batch is: its input's, gathered along a later dim; or a table's
    /// rows by per-sample ids, the ids' (`reads` checks which).
    fn gather_lead(
        &self,
        x: Operand,
        dim: usize,
        ids: &[Operand],
        step: &Step,
    ) -> Result<Lead, String> {
        match (self.lead_of(x, step), ids) {
            (Ok(l), _) if l.dim < dim => Ok(l),
            (Ok(_), _) => Err(format!("`{}` indexes the batch", step.info.name)),
            (Err(_), [id]) if dim == 0 => self.lead_of(*id, step),
            (Err(e), _) => Err(e),
        }
    }

    /// Where the batch of `step`'s output is, from what it reads: where its input's is
    /// for the steps that keep samples apart along any dim (products, elementwise ops,
    /// views, permutes, joins); first for the rest.
    fn out_lead(&self, step: &Step) -> Result<Lead, String> {
        // A step that does not keep the batch whole is refused by `step` once `reads`
        // has said what mixes samples, if anything (`rows` is then `None`).
        let first = |o: Operand| -> Result<Lead, String> {
            match self.lead_of(o, step)? {
                l if l.is_first() => Ok(Lead::first(1).at(0, &step.sizes, &self.batch)),
                _ => Err(format!(
                    "`{}` reads `{}` with the batch not first",
                    step.info.name,
                    self.name_of(o)
                )),
            }
        };
        if let Some(lead) = self.indexing_lead(step) {
            return lead;
        }
        let at = |l: Lead| -> Result<Lead, String> { Ok(l.at(l.dim, &step.sizes, &self.batch)) };
        match &step.kind {
            Kind::Gemm(g) => {
                let l = self.lead_of(g.a, step)?;
                if l.dim + 1 >= self.sizes_of(g.a).len() {
                    return Err(format!("`{}` sums over the batch", step.info.name));
                }
                at(l)
            }
            Kind::Fused { inputs, views, .. } => at(self.fused_lead(inputs, views, step)?),
            Kind::Permute { x, dims } => {
                let l = self.lead_of(*x, step)?;
                match dims.iter().position(|&p| p == l.dim) {
                    Some(dim) => at(Lead { dim, ..l }),
                    None => Err(format!("`{}` drops the batch", step.info.name)),
                }
            }
            Kind::View { x, view } => self.view(*x, view, &step.sizes, step),
            Kind::Alias {
                src,
                at: Some(view),
                sizes,
            } => self.view(Operand::Val(*src), view, sizes, step),
            Kind::Alias {
                src,
                sizes,
                at: None,
            } => self.view(Operand::Val(*src), &ViewOp::Reshape, sizes, step),
            Kind::Concat { xs, .. } => match xs.iter().find(|o| self.lead_of(**o, step).is_ok()) {
                Some(&x) => at(self.lead_of(x, step)?),
                None => Err(format!("`{}` reads no input per sample", step.info.name)),
            },
            // Along one dim, or the trailing ones: the batch stays where it is (`reads`
            // checks that they are not the batch's).
            Kind::Softmax { x, .. } | Kind::LayerNorm { x, .. } => at(self.lead_of(*x, step)?),
            Kind::Attention { q, views, .. } => {
                at(self.attention_lead(*q, views.as_deref(), 0, step)?)
            }
            // Without keepdim, the reduced dims before the batch's go.
            Kind::Reduce { x, dims, .. } => {
                let l = self.lead_of(*x, step)?;
                let kept = self.sizes_of(*x).len() == step.sizes.len();
                let gone = dims.iter().filter(|&&d| d < l.dim).count();
                at(Lead {
                    dim: if kept {
                        l.dim
                    } else {
                        l.dim.saturating_sub(gone)
                    },
                    ..l
                })
            }
            Kind::Conv(c) => first(c.x),
            Kind::ConvTranspose(c) => first(c.x),
            Kind::Pool { x, .. }
            | Kind::GroupNorm { x, .. }
            | Kind::Upsample { x, .. }
            | Kind::Bmm { a: x, .. } => first(*x),
            // Elementwise: the batch stays where it is.
            Kind::Compare { x, .. } => at(self.lead_of(*x, step)?),
            Kind::Typed { inputs, view, .. } => self.typed_lead(inputs, view.as_ref(), step),
            Kind::Fallback { .. } | Kind::GetItem { .. } | Kind::HigherOrder { .. } => {
                Err(format!("`{}` runs eagerly", step.info.name))
            }
            Kind::Recurrent { .. } => Err(recurrent_refusal(step)),
            // `indexing_lead`'s.
            Kind::Lanes { .. } | Kind::Roll { .. } | Kind::Pad { .. } | Kind::Gather { .. } => {
                Err(format!("`{}` is not followed", step.info.name))
            }
        }
    }

    /// Checks `step` and records its output; the products it checks go to `products`.
    fn step(&mut self, step: &'p Step, products: &mut Vec<SplitProduct>) -> Result<(), String> {
        if self.reads_only_free(step) {
            self.free.insert(step.out);
            return Ok(());
        }
        let lead = self.out_lead(step)?;
        self.reads(step, &lead, products)?;
        if lead.rows.is_none() {
            return Err(format!(
                "`{}` does not keep the batch whole",
                step.info.name
            ));
        }
        self.lead.insert(step.out, lead);
        if matches!(step.kind, Kind::Lanes { .. }) && step.metas.len() > 1 {
            self.lanes.insert(step.out);
        }
        Ok(())
    }

    /// [`Samples::reads`] of an attention step: every operand (through its views) has
    /// the output's batch, which is not one of the two dims attended over.
    fn attention_reads(&mut self, step: &'p Step, lead: &Lead) -> Result<(), String> {
        let Kind::Attention {
            q,
            k,
            v,
            mask,
            views,
            ..
        } = &step.kind
        else {
            return Ok(());
        };
        let mixes = |what: &str| Err(format!("`{}` {what}", step.info.name));
        for (i, &o) in [q, k, v].into_iter().enumerate() {
            if self.attention_lead(o, views.as_deref(), i, step)? != *lead {
                return mixes("attends across samples");
            }
        }
        // Attention is over the last two dims: of a 2-D query, dim 0 is the sequence,
        // which every query attends across.
        let rank = step.sizes.len();
        if lead.dim + 2 >= rank {
            return mixes("attends across the batch");
        }
        if let Some(m) = mask {
            self.broadcast(*m, rank, lead, step)?;
        }
        Ok(())
    }

    /// A `cat` not along the batch: its inputs per sample with the batch where the
    /// output has it, or constants of equal samples.
    fn concat_reads(
        &mut self,
        xs: &[Operand],
        dim: usize,
        lead: &Lead,
        step: &Step,
    ) -> Result<(), String> {
        let mixes = |what: &str| format!("`{}` {what}", step.info.name);
        if dim == lead.dim {
            return Err(mixes("joins its inputs along the batch"));
        }
        for &x in xs {
            // A constant of equal samples (a class token expanded over the
            // batch): each half joins its first sample to every one of its own.
            if let Operand::Const(c) = x {
                // Its sample is then one block for each outer index: every dim
                // before the joined one but the batch's is 1.
                let sizes = self.plan.const_metas.get(c).map(|m| &m.sizes[..]);
                let one_block = sizes
                    .and_then(|s| s.get(..dim))
                    .is_some_and(|s| (s.iter().enumerate()).all(|(d, n)| d == lead.dim || *n == 1));
                if !lead.is_one_row() || lead.dim > dim || !one_block {
                    return Err(mixes("joins a constant where it joins samples"));
                }
                self.uniform_const(c, lead.dim, step)?;
                self.uniform_reads.insert((step.out, c));
                continue;
            }
            if self.lead_of(x, step)? != *lead {
                return Err(mixes("joins inputs whose batch is at another dim"));
            }
        }
        Ok(())
    }

    /// Checks that `step`, whose output's batch is `lead`, reads its operands per sample
    /// (or as constants where it takes them) and keeps the samples apart.
    fn reads(
        &mut self,
        step: &'p Step,
        lead: &Lead,
        products: &mut Vec<SplitProduct>,
    ) -> Result<(), String> {
        let rank = step.sizes.len();
        let mixes = |what: &str| Err(format!("`{}` {what}", step.info.name));
        match &step.kind {
            Kind::Gemm(g) => self.gemm(g, lead, step, products)?,
            Kind::Conv(c) => {
                self.val(c.x, step)?;
                self.epilogue(c.epilogue.as_ref(), lead, step)?;
            }
            Kind::Fused { inputs, views, .. } => {
                self.fused_inputs(inputs, views, lead, step)?;
            }
            Kind::Pool { x, .. }
            | Kind::GroupNorm { x, .. }
            | Kind::Upsample { x, .. }
            | Kind::ConvTranspose(crate::plan::ConvTransposeStep { x, .. })
            | Kind::Bmm { a: x, b: _ } => self.val(*x, step)?,
            Kind::Softmax { dim, .. } => {
                if *dim == lead.dim {
                    return mixes("normalizes over the batch");
                }
            }
            Kind::LayerNorm { k, .. } => {
                if lead.dim + k >= rank {
                    return mixes("normalizes over the batch");
                }
            }
            // Where the batch goes is `out_lead`'s; a view's check is its.
            Kind::Permute { .. } | Kind::View { .. } | Kind::Alias { .. } => {}
            Kind::Attention { .. } => self.attention_reads(step, lead)?,
            Kind::Reduce { x, dims, .. } => {
                let d = self.lead_of(*x, step)?.dim;
                if dims.is_empty() || dims.contains(&d) {
                    return mixes("reduces over the batch");
                }
            }
            // Where the batch goes is `out_lead`'s.
            Kind::Roll { .. } | Kind::Lanes { .. } | Kind::Pad { .. } => {}
            Kind::GetItem { src, .. } if self.lanes.contains(src) => {}
            Kind::Gather { x, ids, .. } => match self.lead_of(*x, step) {
                Ok(_) => {
                    for &i in ids {
                        self.constant(i, step)?;
                    }
                }
                Err(_) => self.constant(*x, step)?,
            },
            Kind::Concat { xs, dim } => self.concat_reads(xs, *dim, lead, step)?,
            Kind::Compare { .. } | Kind::Typed { view: Some(_), .. } => {}
            Kind::Typed {
                inputs, view: None, ..
            } => {
                self.fused_inputs(inputs, &[], lead, step)?;
                // Its arguments name the graph's values: a constant cannot be swapped
                // for its first sample's slice, as a fused step's input is.
                let uniform = |o: &Operand| matches!(o, Operand::Const(c) if self.uniform_reads.contains(&(step.out, *c)));
                if inputs.iter().any(uniform) {
                    return mixes("reads a constant of the batch's size");
                }
            }
            Kind::Fallback { .. } | Kind::GetItem { .. } | Kind::HigherOrder { .. } => {
                return mixes("runs eagerly")
            }
            Kind::Recurrent { .. } => return Err(recurrent_refusal(step)),
        }
        if let Kind::LayerNorm { weight, bias, .. } | Kind::GroupNorm { weight, bias, .. } =
            &step.kind
        {
            for o in weight.iter().chain(bias) {
                self.constant(*o, step)?;
            }
        }
        if let Kind::Bmm { b, .. } = &step.kind {
            self.val(*b, step)?;
        }
        Ok(())
    }
}

/// The sizes of value `v` (its node's first output).
/// Why a plan with recurrent layers runs its calls whole.
fn recurrent_refusal(step: &Step) -> String {
    format!(
        "`{}` {}",
        step.info.name,
        ferrex::ops::rnn::WHY_CALLS_RUN_WHOLE
    )
}

fn size_of(plan: &Plan, v: V) -> Option<&[SymInt]> {
    plan.metas
        .get(v)
        .and_then(|m| m.first())
        .map(|m| &m.sizes[..])
}

/// Checks that the halves of a static plan's batch `B` (`B / 2` and `B - B / 2` samples)
/// lay out every view an attention step reads its operands through: the whole plan's
/// layouts were computed for `B`, and a reshape of a strided layout has one only where
/// the sizes allow it.
fn halves_lay_out_attention_views(plan: &Plan, half: &Plan, batch: &SymInt) -> Result<(), String> {
    let Some(b) = batch.as_int() else {
        return Ok(());
    };
    let sizes: HashMap<V, &[SymInt]> = half.steps.iter().map(|s| (s.out, &s.sizes[..])).collect();
    for h in [b / 2, b - b / 2].into_iter().filter(|&h| h > 0) {
        let int = |s: &SymInt| {
            s.expr()
                .eval(&|sym| (sym == HALF).then_some(h))
                .ok_or_else(|| format!("{s} is not a number"))
        };
        for step in &half.steps {
            let Kind::Attention {
                q,
                k,
                v,
                views: Some(chains),
                ..
            } = &step.kind
            else {
                continue;
            };
            for (x, chain) in [q, k, v].into_iter().zip(chains.iter()) {
                let Operand::Val(x) = x else { continue };
                if chain.links.is_empty() {
                    continue;
                }
                // A run-time input leads with the batch: `rows * B` at dim 0.
                let of = match sizes.get(x) {
                    Some(s) => s.to_vec(),
                    None => {
                        let mut s = size_of(plan, *x).unwrap_or(&[]).to_vec();
                        if let Some(d0) = s.first_mut() {
                            *d0 = SymInt::Int(d0.as_int().unwrap_or(0) / b.max(1) * h);
                        }
                        s
                    }
                };
                let xs = (of.iter())
                    .map(|s| usize::try_from(int(s)?).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, String>>()?;
                if let Err(e) = chain.layout(&xs, int) {
                    return Err(format!(
                        "a half of `{}` cannot read its views: {e}",
                        step.info.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `sizes` with its batch dim's `c * B` written `c * σ` (σ's example: half of `B`'s).
fn halve(sizes: &mut [SymInt], dim: usize, batch: &SymInt) {
    if let Some(c) = per_sample_sym(sizes, dim, batch) {
        let expr = Expr::symbol(HALF).mul(&c.expr());
        sizes[dim] = SymInt::from_expr(expr, c.hint() * (batch.hint() / 2));
    }
}

/// `plan` as it runs on a half of the batch: each per-sample value's batch dim `c * B`
/// written `c * σ` (a value free of the batch keeps its sizes, whatever they are), and
/// each uniform constant read across samples replaced by its first sample's slice.
fn half_plan(plan: &Plan, samples: &Samples<'_>, batch: &SymInt) -> Plan {
    // Only per-sample values are halved: a value free of the batch keeps its sizes,
    // whatever they are.
    let mut half = plan.clone();
    let mut sliced = HashMap::new();
    for (&c, (_, first)) in &samples.uniform {
        sliced.insert(c, half.consts.len());
        half.const_metas
            .push(TensorMeta::from_shape(first.dtype(), first.shape()));
        let origin = half.const_origins.get(c).cloned();
        half.const_origins.extend(origin);
        half.consts.push(first.clone());
    }
    for (whole, step) in plan.steps.iter().zip(half.steps.iter_mut()) {
        let Some(lead) = samples.lead.get(&step.out).cloned() else {
            continue;
        };
        halve(&mut step.sizes, lead.dim, batch);
        let out = step.out;
        // A uniform constant read across samples: its first sample's slice.
        let slice = |o: &mut Operand| match o {
            Operand::Const(c) if samples.uniform_reads.contains(&(out, *c)) => {
                if let Some(&s) = sliced.get(c) {
                    *c = s;
                }
            }
            _ => {}
        };
        match &mut step.kind {
            Kind::Alias { sizes, .. } => halve(sizes, lead.dim, batch),
            Kind::Fused { inputs, views, .. } => {
                // Only where read whole: a view's layout is the full constant's (no
                // views at all when `views` is empty).
                for (i, o) in inputs.iter_mut().enumerate() {
                    if views.get(i).and_then(Option::as_ref).is_none() {
                        slice(o);
                    }
                }
                // A view of a per-sample value has half its rows too, at the
                // output's batch dim counted from the last.
                let rank = step.sizes.len();
                for (o, view) in inputs.iter().zip(views.iter_mut()) {
                    let per_sample = matches!(o, Operand::Val(v) if samples.lead.contains_key(v));
                    if let (true, Some(view)) = (per_sample, view) {
                        let dim = (lead.dim + view.sizes.len()).saturating_sub(rank);
                        halve(&mut view.sizes, dim, batch);
                        // Laid out per call: each half has its own rows.
                        view.fixed = None;
                    }
                }
            }
            Kind::Gemm(g) => {
                g.init.iter_mut().for_each(|(o, _)| slice(o));
                (g.epilogue.iter_mut()).for_each(|e| e.inputs.iter_mut().for_each(slice));
            }
            Kind::Conv(c) => {
                (c.epilogue.iter_mut()).for_each(|e| e.inputs.iter_mut().for_each(slice));
            }
            Kind::Concat { xs, .. } => xs.iter_mut().for_each(slice),
            Kind::Attention {
                q,
                k,
                v,
                mask,
                views,
                ..
            } => {
                if let Some(m) = mask {
                    slice(m);
                }
                // Each view of a per-sample operand has half its rows, at that view's
                // batch dim; laid out per call.
                for (x, chain) in [*q, *k, *v]
                    .into_iter()
                    .zip(views.iter_mut().flat_map(|c| c.iter_mut()))
                {
                    let Ok(leads) = samples.chain_leads(x, chain, whole) else {
                        continue;
                    };
                    for ((_, sizes), l) in chain.links.iter_mut().zip(&leads) {
                        halve(sizes, l.dim, batch);
                    }
                    chain.fixed = None;
                }
            }
            _ => {}
        }
    }
    half
}

impl BatchSplit {
    /// The split of `plan`'s calls, or why its calls cannot be split.
    pub(crate) fn of(plan: &Plan) -> Result<BatchSplit, String> {
        if !plan.subplans.is_empty() {
            return Err("the program has subgraphs (`cond`, `map`)".into());
        }
        let runtime: Vec<(V, usize)> = (plan.inputs.iter())
            .filter_map(|&(v, s)| match s {
                InputSource::Runtime(k) => Some((v, k)),
                InputSource::Frozen(_) => None,
            })
            .collect();
        let leading: Vec<Option<SymInt>> = (runtime.iter())
            .map(|&(v, _)| size_of(plan, v).and_then(|s| s.first()).cloned())
            .collect();
        first_batch(&leading, |batch| Self::with_batch(plan, &runtime, batch))
    }

    /// The split of `plan`'s calls along `batch`, or why it cannot be.
    fn with_batch(
        plan: &Plan,
        runtime: &[(V, usize)],
        batch: SymInt,
    ) -> Result<BatchSplit, String> {
        let mut samples = Samples {
            plan,
            batch: batch.clone(),
            lead: HashMap::new(),
            free: HashSet::new(),
            uniform: HashMap::new(),
            uniform_reads: HashSet::new(),
            lanes: HashSet::new(),
        };
        let mut input_rows = Vec::new();
        for &(v, k) in runtime {
            let sizes = size_of(plan, v).unwrap_or(&[]);
            let rows = per_sample_sym(sizes, 0, &batch).and_then(|c| c.as_int());
            match rows.and_then(|r| usize::try_from(r).ok()) {
                Some(rows) => {
                    input_rows.push((k, rows));
                    samples.lead.insert(v, Lead::first(rows));
                }
                None => {
                    samples.free.insert(v);
                }
            }
        }
        let mut products = Vec::new();
        for step in &plan.steps {
            samples.step(step, &mut products)?;
        }
        for out in &plan.outputs {
            match out {
                Arg::Tensor(n) if samples.lead.get(&n.0).is_some_and(Lead::is_first) => {}
                Arg::Tensor(n) if samples.lead.contains_key(&n.0) => {
                    return Err(format!(
                        "output `{}` does not lead with the batch",
                        samples.name(n.0)
                    ))
                }
                _ => return Err("an output is not per sample".into()),
            }
        }
        let half = half_plan(plan, &samples, &batch);
        halves_lay_out_attention_views(plan, &half, &batch)?;
        Ok(BatchSplit {
            half,
            batch,
            input_rows,
            products,
            arenas: [Mutex::new(None), Mutex::new(None)],
        })
    }

    /// The two halves of this call's batch, if it has two and every product sums a half's
    /// rows as it sums the whole's.
    pub(crate) fn halves(&self, bindings: &Bindings) -> Option<[usize; 2]> {
        batch_halves(bindings, &self.batch, &self.products)
    }

    /// Runs the two halves of the batch on two threads of the pool and stacks their
    /// outputs; `inputs` are the plan's placeholder values for the whole batch. With
    /// `profile`, each step's time is the slower half's, and the stacking of the halves'
    /// outputs is a last entry, `stack halves`.
    pub(crate) fn run(
        &self,
        inputs: &[Storage],
        bindings: &Bindings,
        halves: [usize; 2],
        profile: Option<&mut Profile>,
    ) -> Result<Vec<Tensor>, RunError> {
        let timing = profile.is_some();
        let times: [Mutex<Profile>; 2] = [Mutex::new(Vec::new()), Mutex::new(Vec::new())];
        let part = |i: usize, start: usize, n: usize| -> Result<Vec<Tensor>, RunError> {
            let mine = half_inputs(inputs, &self.input_rows, start, n)?;
            let b = bindings.with(HALF, n as i64);
            let run = |arena: &mut Arena| {
                let mut mine_times = Vec::new();
                let out =
                    (self.half).run_profiled(mine, &b, arena, timing.then_some(&mut mine_times));
                if let (true, Some(slot)) = (timing, times.get(i)) {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = mine_times;
                }
                out
            };
            match self.arenas.get(i).map(Mutex::try_lock) {
                Some(Ok(mut guard)) => {
                    run(guard.get_or_insert_with(|| Arena::for_plan(&self.half)))
                }
                _ => run(&mut Arena::for_plan(&self.half)),
            }
        };
        let (out, stacking) = run_halves(halves, part)?;
        if let Some(profile) = profile {
            let [a, b] = times.map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()));
            for (i, (name, t)) in a.into_iter().enumerate() {
                let other = b.get(i).map_or(t, |(_, u)| *u);
                profile.push((name, t.max(other)));
            }
            profile.push(("stack halves".to_string(), stacking));
        }
        Ok(out)
    }
}
