//! Splitting a call along its batch: two threads each run the whole plan on half of the
//! samples, with one hand-off per call and no data crossing cores between steps.
//!
//! Splitting each step over the pool instead costs a hand-off per step (~1 µs, as much
//! as a small model's step) and a core reading what the other just wrote; for models
//! whose steps are too small to split well (a transformer block, a GroupNorm block),
//! two threads then ran no faster than one. A split call is sound when no step mixes
//! samples: [`BatchSplit::of`] checks every step of the plan for it (products with a
//! constant weight, convolutions, norms over a sample, softmax and reductions not over
//! the batch, permutes that keep it first, elementwise ops with per-sample or broadcast
//! operands...) and refuses the rest (eager fallbacks, `cond`, reductions over the
//! batch). Inputs that do not lead with the batch (a per-feature scale, a table), and
//! what is computed from them and constants alone, are read whole by each half, like
//! constants. The half plan is the plan with each batch-leading size `c * B` written
//! `c * σ`, σ a symbol bound per call to the half's batch, so static and dynamic programs
//! split alike. Every kernel computes a sample the same way whatever the batch (a GEMM's
//! k blocks are checked per call, [`ferrex_kernels::sgemm::sums_alike`]), so a split
//! call gives the same bits as a whole one (tested).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use ferrex::graph::Arg;
use ferrex::program::{batch_halves, first_batch, half_inputs, run_halves, Bindings, SplitProduct};
use ferrex::symbolic::{Expr, SymInt, Symbol};
use ferrex::tensor::{Storage, Tensor};
use ferrex::RunError;

use crate::exec::{Arena, Profile};
use crate::plan::{
    Epilogue, GemmB, GemmStep, InputSource, Kind, Operand, Plan, ReadView, Step, ViewOp, V,
};

/// The symbol of a half's batch: outside the ranges of input-size and unbacked symbols.
const HALF: Symbol = Symbol(3 << 28);

/// A plan that can run as two halves of its batch.
#[derive(Debug)]
pub(crate) struct BatchSplit {
    /// The plan with each batch-leading size `c * B` rewritten as `c * σ`.
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

/// Rows of dim 0 per sample of `sizes`: `c` when `sizes[0]` is `c * batch` and no other
/// size depends on the batch.
fn per_sample(sizes: &[SymInt], batch: &SymInt) -> Option<usize> {
    let c = sizes.first()?.div_exact(batch)?.as_int()?;
    let symbols = batch.expr().symbols();
    let free = |s: &SymInt| s.expr().symbols().iter().all(|x| !symbols.contains(x));
    (c >= 1 && sizes[1..].iter().all(free)).then_some(c as usize)
}

/// What the checks know of the plan's values.
struct Samples<'p> {
    plan: &'p Plan,
    batch: SymInt,
    /// Batch-leading values: rows of dim 0 per sample.
    rows: HashMap<V, usize>,
    /// Values that do not depend on the batch (run-time inputs that do not lead with it,
    /// and what is computed from them and constants alone): each half reads all of them,
    /// as it reads a constant.
    free: HashSet<V>,
}

impl<'p> Samples<'p> {
    fn name(&self, v: V) -> &str {
        self.plan.names.get(v).map_or("?", String::as_str)
    }

    /// The sizes of `v` (its node's meta, which its step's sizes are).
    fn sizes(&self, v: V) -> &'p [SymInt] {
        size_of(self.plan, v).unwrap_or_default()
    }

    /// A value read per sample (batch-leading), or why not.
    fn val(&self, o: Operand, step: &Step) -> Result<(), String> {
        match o {
            Operand::Val(v) if self.rows.contains_key(&v) => Ok(()),
            Operand::Val(v) => Err(format!(
                "`{}` reads `{}`, which is not per sample",
                step.info.name,
                self.name(v)
            )),
            Operand::Const(_) => Err(format!(
                "`{}` takes a constant where it takes samples",
                step.info.name
            )),
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

    /// An operand broadcast against an output of `rank` dims with `rows` rows per
    /// sample: per sample with the same rows, or a constant that does not span the batch.
    fn broadcast(&self, o: Operand, rank: usize, rows: usize, step: &Step) -> Result<(), String> {
        let spans_batch =
            |s: &[SymInt]| s.len() >= rank && s.first().and_then(SymInt::as_int) != Some(1);
        match o {
            Operand::Val(v) if self.free.contains(&v) => match self.sizes(v) {
                s if !spans_batch(s) => Ok(()),
                _ => Err(format!(
                    "`{}` reads `{}`, of the batch's size, across samples",
                    step.info.name,
                    self.name(v)
                )),
            },
            Operand::Val(v) => {
                let same_rank = self.sizes(v).len() == rank;
                match self.rows.get(&v) {
                    Some(&r) if r == rows && same_rank => Ok(()),
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
                    Some(s) if !spans_batch(s) => Ok(()),
                    _ => Err(format!(
                        "`{}` reads a constant of the batch's size",
                        step.info.name
                    )),
                }
            }
        }
    }

    /// A product by a packed weight (a run-time one would mix the samples); its rows per
    /// sample and depth join `products` unless an equal product is there.
    fn gemm(
        &mut self,
        g: &'p GemmStep,
        rows: usize,
        step: &'p Step,
        products: &mut Vec<SplitProduct>,
    ) -> Result<(), String> {
        self.val(g.a, step)?;
        let GemmB::Packed(p, _) = &g.b else {
            return Err(format!(
                "`{}` multiplies by a run-time right operand",
                step.info.name
            ));
        };
        // The product's rows: every dim of its left operand but the last, per sample.
        let a_sizes = match g.a {
            Operand::Val(v) => self.sizes(v),
            Operand::Const(_) => &[],
        };
        let lead = &a_sizes[..a_sizes.len().saturating_sub(1)];
        let per_sample = (lead.iter().fold(SymInt::Int(1), |m, s| m.mul(s)))
            .div_exact(&self.batch)
            .ok_or_else(|| format!("`{}` has rows across samples", step.info.name))?;
        if let Some((init, _)) = g.init {
            self.broadcast(init, step.sizes.len(), rows, step)?;
        }
        self.epilogue(g.epilogue.as_ref(), rows, step)?;
        let k = p.shape()[0];
        let product = SplitProduct {
            rows: per_sample,
            depth: k,
            eager_columns: None,
        };
        SplitProduct::join(products, product);
        Ok(())
    }

    /// A step of one input `x` per sample, unless it `mixes` samples (saying `what` it
    /// does).
    fn unless(&self, x: Operand, mixes: bool, what: &str, step: &Step) -> Result<(), String> {
        self.val(x, step)?;
        if mixes {
            return Err(format!("`{}` {what}", step.info.name));
        }
        Ok(())
    }

    /// Whether a planned step reads no batch-leading value: its output does not depend
    /// on the batch either, and each half computes all of it.
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
            Kind::Fallback { .. }
            | Kind::GetItem { .. }
            | Kind::HigherOrder { .. }
            | Kind::Compare { .. } => return false,
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

    /// A view keeps the batch first unless it indexes or expands it.
    fn view(&self, x: Operand, view: &ViewOp, step: &Step) -> Result<(), String> {
        self.view_of(x, view, step.sizes.len(), step)
    }

    /// [`Samples::view`] of a view to `out_rank` dims.
    fn view_of(
        &self,
        x: Operand,
        view: &ViewOp,
        out_rank: usize,
        step: &Step,
    ) -> Result<(), String> {
        self.val(x, step)?;
        let in_rank = match x {
            Operand::Val(v) => self.sizes(v).len(),
            Operand::Const(_) => 0,
        };
        match view {
            ViewOp::Reshape => Ok(()),
            ViewOp::Expand if in_rank == out_rank => Ok(()),
            ViewOp::Select { dim, .. } | ViewOp::Slice { dim, .. } if *dim != 0 => Ok(()),
            ViewOp::Permute { dims } if dims.first() == Some(&0) => Ok(()),
            _ => Err(format!(
                "`{}` indexes, expands or moves the batch",
                step.info.name
            )),
        }
    }

    /// A fused input `x` read through `view`, against an output of `rank` dims with
    /// `rows` rows per sample: as [`Samples::broadcast`] of the viewed value, which a
    /// view step would have computed ([`Samples::view`]).
    fn read_view(
        &self,
        x: Operand,
        view: &ReadView,
        rank: usize,
        rows: usize,
        step: &Step,
    ) -> Result<(), String> {
        let free = match x {
            Operand::Val(v) => self.free.contains(&v),
            Operand::Const(_) => true,
        };
        let spans_batch =
            view.sizes.len() >= rank && view.sizes.first().and_then(SymInt::as_int) != Some(1);
        if free {
            return match spans_batch {
                false => Ok(()),
                true => Err(format!(
                    "`{}` reads a view of the batch's size across samples",
                    step.info.name
                )),
            };
        }
        self.view_of(x, &view.view, view.sizes.len(), step)?;
        match per_sample(&view.sizes, &self.batch) {
            Some(r) if r == rows && view.sizes.len() == rank => Ok(()),
            _ => Err(format!(
                "`{}` broadcasts a view across samples",
                step.info.name
            )),
        }
    }

    /// A fused step's inputs, each broadcast or read through its view, against its
    /// output of `rows` rows per sample.
    fn fused_inputs(
        &self,
        inputs: &[Operand],
        views: &[Option<ReadView>],
        rows: usize,
        step: &Step,
    ) -> Result<(), String> {
        let rank = step.sizes.len();
        for (i, &o) in inputs.iter().enumerate() {
            match views.get(i).and_then(Option::as_ref) {
                Some(view) => self.read_view(o, view, rank, rows, step)?,
                None => self.broadcast(o, rank, rows, step)?,
            }
        }
        Ok(())
    }

    /// A kernel's epilogue: operands per sample or broadcast; its value is the output's.
    fn epilogue(
        &mut self,
        e: Option<&'p Epilogue>,
        rows: usize,
        step: &'p Step,
    ) -> Result<(), String> {
        if let Some(e) = e {
            for &o in &e.inputs {
                self.broadcast(o, step.sizes.len(), rows, step)?;
            }
            self.rows.insert(e.value, rows);
        }
        Ok(())
    }

    /// Checks `step` and records its output; the products it checks go to `products`.
    fn step(&mut self, step: &'p Step, products: &mut Vec<SplitProduct>) -> Result<(), String> {
        if self.reads_only_free(step) {
            self.free.insert(step.out);
            return Ok(());
        }
        // What mixes samples is said first; a step that does not is still refused if its
        // output does not lead with the batch (`usize::MAX` then matches no operand).
        let leading = per_sample(&step.sizes, &self.batch);
        let rows = leading.unwrap_or(usize::MAX);
        self.reads(step, rows, products)?;
        if leading.is_none() {
            return Err(format!("`{}` does not lead with the batch", step.info.name));
        }
        self.rows.insert(step.out, rows);
        Ok(())
    }

    /// Checks that `step`, whose output has `rows` rows per sample, reads its operands
    /// per sample (or as constants where it takes them) and keeps the samples apart.
    fn reads(
        &mut self,
        step: &'p Step,
        rows: usize,
        products: &mut Vec<SplitProduct>,
    ) -> Result<(), String> {
        let rank = step.sizes.len();
        let mixes = |what: &str| Err(format!("`{}` {what}", step.info.name));
        match &step.kind {
            Kind::Gemm(g) => self.gemm(g, rows, step, products)?,
            Kind::Conv(c) => {
                self.val(c.x, step)?;
                self.epilogue(c.epilogue.as_ref(), rows, step)?;
            }
            Kind::Fused { inputs, views, .. } => {
                if !inputs.iter().any(|o| matches!(o, Operand::Val(_))) {
                    return mixes("reads no input");
                }
                self.fused_inputs(inputs, views, rows, step)?;
            }
            Kind::Pool { x, .. }
            | Kind::GroupNorm { x, .. }
            | Kind::Upsample { x, .. }
            | Kind::Bmm { a: x, b: _ } => self.val(*x, step)?,
            Kind::Softmax { x, dim, .. } => {
                self.unless(*x, *dim == 0, "normalizes over the batch", step)?;
            }
            Kind::LayerNorm { x, k, .. } => {
                self.unless(*x, *k >= rank, "normalizes over the batch", step)?;
            }
            Kind::Permute { x, dims } => {
                let moves = dims.first() != Some(&0);
                self.unless(*x, moves, "moves the batch from the first dim", step)?;
            }
            Kind::View { x, view } => self.view(*x, view, step)?,
            Kind::Alias {
                src,
                at: Some(view),
                ..
            } => self.view(Operand::Val(*src), view, step)?,
            Kind::Alias { src, .. } => self.val(Operand::Val(*src), step)?,
            Kind::Attention { q, k, v, mask, .. } => {
                for &o in [q, k, v] {
                    self.val(o, step)?;
                }
                // Attention is over the last two dims: of a 2-D query, dim 0 is the
                // sequence, which every query attends across.
                if rank < 3 {
                    return mixes("attends across the batch");
                }
                if let Some(m) = mask {
                    self.broadcast(*m, rank, rows, step)?;
                }
            }
            Kind::Reduce { x, dims, .. } => {
                let all = dims.is_empty() || dims.contains(&0);
                self.unless(*x, all, "reduces over the batch", step)?;
            }
            Kind::Embedding { weight, ids } => {
                self.constant(*weight, step)?;
                self.val(*ids, step)?;
            }
            Kind::Concat { xs, dim } => {
                for &x in xs {
                    self.val(x, step)?;
                }
                if *dim == 0 {
                    return mixes("joins its inputs along the batch");
                }
            }
            Kind::Fallback { .. }
            | Kind::GetItem { .. }
            | Kind::HigherOrder { .. }
            | Kind::Compare { .. } => return mixes("runs eagerly"),
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
fn size_of(plan: &Plan, v: V) -> Option<&[SymInt]> {
    plan.metas
        .get(v)
        .and_then(|m| m.first())
        .map(|m| &m.sizes[..])
}

/// `sizes` with its leading `c * B` written `c * σ` (σ's example: half of `B`'s).
fn halve(sizes: &mut [SymInt], batch: &SymInt) {
    if let Some(c) = per_sample(sizes, batch) {
        let c = c as i64;
        sizes[0] = SymInt::from_expr(Expr::symbol(HALF).scale(c), c * (batch.hint() / 2));
    }
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
            rows: HashMap::new(),
            free: HashSet::new(),
        };
        let mut input_rows = Vec::new();
        for &(v, k) in runtime {
            let sizes = size_of(plan, v).unwrap_or(&[]);
            match per_sample(sizes, &batch) {
                Some(rows) => {
                    input_rows.push((k, rows));
                    samples.rows.insert(v, rows);
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
                Arg::Tensor(n) if samples.rows.contains_key(&n.0) => {}
                _ => return Err("an output is not per sample".into()),
            }
        }
        // Only batch-leading values are halved: a value free of the batch keeps its sizes,
        // whatever they are.
        let mut half = plan.clone();
        for step in half
            .steps
            .iter_mut()
            .filter(|s| samples.rows.contains_key(&s.out))
        {
            halve(&mut step.sizes, &batch);
            match &mut step.kind {
                Kind::Alias { sizes, .. } => halve(sizes, &batch),
                Kind::Fused { inputs, views, .. } => {
                    // A view of a batch-leading value has half its rows too.
                    for (o, view) in inputs.iter().zip(views.iter_mut()) {
                        let leads = matches!(o, Operand::Val(v) if samples.rows.contains_key(v));
                        if let (true, Some(view)) = (leads, view) {
                            halve(&mut view.sizes, &batch);
                            // Laid out per call: each half has its own rows.
                            view.fixed = None;
                        }
                    }
                }
                _ => {}
            }
        }
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
