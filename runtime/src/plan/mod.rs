//! Compiling a graph into a [`Plan`], in passes over the graph's nodes:
//! - [`lower`]: each node becomes a step — a kernel the runtime plans (GEMM/GEMV,
//!   convolution, pooling, zero-copy reshapes) or the registry's eager kernel — after
//! - [`fold`]: calls on constants only are computed at compile time, and constant
//!   weights are prepacked for the GEMM kernels;
//! - [`fuse`]: elementwise ops form groups as they are lowered; finished groups become
//!   fused steps or epilogues run in place on a GEMM/convolution output;
//! - [`memory`]: liveness and slot assignment, a pure function of what steps read and
//!   write.
//!
//! The plan's types are `pub` so that `ferrex-aot` can walk a compiled plan
//! ([`crate::CompiledProgram::plan`]) and emit it as Rust; they are the runtime's
//! internals, read-only outside this crate, with no stability promise beyond the
//! workspace.

mod broadcast_bmm;
mod fold;
mod fuse;
mod lower;
mod lower_ops;
mod memory;
mod safe_softmax;
mod views;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use ferrex::error::SourceLocation;
use std::borrow::Cow;

use ferrex::graph::{
    for_each_symbol, inline_sym_args, is_size_node, Arg, Argument, Graph, HigherOrderOp, NodeKind,
};
use ferrex::ops::OpDef;
use ferrex::symbolic::{SymInt, Symbol};
use ferrex::tensor::{DType, Storage, TensorMeta};
use ferrex_kernels::pool::Interpolation;

use crate::fused::FusedProgram;
use crate::CompileError;

/// A value of the graph: the index of the node producing it.
pub type V = usize;

/// A kernel operand: a value computed at run time, or a constant of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    Val(V),
    Const(usize),
}

/// Where a placeholder's value comes from.
#[derive(Clone, Copy, Debug)]
pub enum InputSource {
    /// The `k`-th input of the call (or of the `cond` branch).
    Runtime(usize),
    /// A constant of the plan (frozen parameter, constant, unmutated buffer).
    Frozen(usize),
}

/// The node a step comes from, for error messages.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub op: String,
    pub source: Option<SourceLocation>,
}

/// The `B` operand of a matrix product.
#[derive(Clone, Debug)]
pub enum GemmB {
    /// A constant weight, packed once at compile time into the own GEMM's panels, and
    /// what it was packed from (empty panels in a structure-only plan, which nothing
    /// runs: [`crate::plan_structure`]).
    Packed(std::sync::Arc<ferrex_kernels::PackedB>, PackSource),
    /// A run-time `[k, n]` operand.
    Dynamic(Operand),
}

/// What a [`GemmB::Packed`] weight was packed from: constant `konst` of the plan, read as
/// `[k, n]`, or (`transposed`, `linear`'s weight) as the transpose of an `[n, k]` matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackSource {
    pub konst: usize,
    pub transposed: bool,
}

/// Where a constant of the plan comes from, for code generators (`ferrex-aot`) that
/// rebuild the plan's constants from the program's state instead of copying them.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstOrigin {
    /// The value of placeholder `k` (a parameter, constant or unmutated buffer).
    Placeholder(usize),
    /// Output `output` of node `node`, computed at compile time from constants by the
    /// node's op.
    Folded { node: V, output: usize },
    /// The elements of constant `src` in logical order, under the constant's own shape
    /// (a convolution's `[c_out, c_in * kh * kw]` weight, its bias).
    Reshaped { src: usize },
    /// An inference batch norm's per-channel scale (or, `shift`, its shift), from the
    /// constants of its weight, bias, running mean and variance
    /// ([`crate::step::batch_norm_affine`]).
    BatchNorm {
        weight: Option<usize>,
        bias: Option<usize>,
        mean: Option<usize>,
        var: Option<usize>,
        eps: f64,
        shift: bool,
    },
    /// Computed by the planner in another way (none today; a generator refuses it).
    Derived,
}

/// An elementwise chain run in place on a kernel's output, right after it.
#[derive(Clone, Debug)]
pub struct Epilogue {
    pub prog: FusedProgram,
    pub inputs: Vec<Operand>,
    /// The value the chain produces (it lives in the kernel's output slot).
    pub value: V,
}

#[derive(Clone, Debug)]
pub struct GemmStep {
    /// `[.., k]`: every leading dim is a row.
    pub a: Operand,
    pub b: GemmB,
    /// `beta * init` is added (broadcast to `[m, n]`), as `addmm`'s bias.
    pub init: Option<(Operand, f32)>,
    pub alpha: f32,
    pub epilogue: Option<Epilogue>,
}

/// A transposed convolution of an f32 `[N, C_in, H, W]` (or `[N, C_in, L]`) value with
/// a constant weight, into the step's sizes ([`ferrex_kernels::conv::conv_transpose`]).
#[derive(Clone, Debug)]
pub struct ConvTransposeStep {
    pub x: Operand,
    /// `[c_in, c_out / groups, kh, kw]` contiguous, as the op reads it.
    pub weight: usize,
    pub bias: Option<usize>,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
}

#[derive(Clone, Debug)]
pub struct ConvStep {
    pub x: Operand,
    /// `[c_out, c_in * kh * kw]` contiguous.
    pub weight: usize,
    pub bias: Option<usize>,
    pub c_in: usize,
    pub c_out: usize,
    /// Groups (`c_in` and `c_out` are multiples of it; the weight is `[c_out, c_in /
    /// groups * kh * kw]`).
    pub groups: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub epilogue: Option<Epilogue>,
    /// The weight prepared for the kernel, kept from call to call.
    pub prepared: ConvWeightCache,
}

/// A convolution step's weight as the kernel prepares it (`ferrex_kernels::ConvWeight`:
/// packed per group, or a depthwise plan) at the last geometry the step ran at, shared
/// by the plan's clones and threads: the weight is a constant, so it is prepared once
/// rather than at every call (45% of a batch-1 call of a 3×3 convolution of 256
/// channels at 4×4); a call at other input sizes prepares it again.
#[derive(Clone, Debug, Default)]
pub struct ConvWeightCache(Arc<Mutex<Option<Arc<ferrex_kernels::ConvWeight>>>>);

impl ConvWeightCache {
    /// The weight `weight` (this step's constant) prepared for geometry `g`.
    pub fn prepared_for(
        &self,
        weight: &[f32],
        g: &ferrex_kernels::ConvGeom,
    ) -> Result<Arc<ferrex_kernels::ConvWeight>, ferrex_kernels::KernelError> {
        if let Some(kept) = self.0.lock().ok().and_then(|c| c.clone()) {
            if kept.is_for(g) {
                return Ok(kept);
            }
        }
        let prepared = Arc::new(ferrex_kernels::ConvWeight::prepare(weight, g)?);
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some(Arc::clone(&prepared));
        }
        Ok(prepared)
    }
}

/// The results of a call that reads only constants and sizes, for the sizes they were
/// computed at: the values of `symbols` (every symbol the program's sizes name; a
/// symbol unbound at run time is `None`). Shared by the plan's clones and calls.
#[derive(Clone, Debug)]
pub struct PerSize {
    pub symbols: Arc<[Symbol]>,
    pub(crate) kept: Arc<Mutex<Option<KeptResults>>>,
}

/// The values of [`PerSize::symbols`] a call ran at, and its results.
pub(crate) type KeptResults = (Vec<Option<i64>>, Vec<Storage>);

impl PerSize {
    fn new(symbols: Arc<[Symbol]>) -> PerSize {
        PerSize {
            symbols,
            kept: Arc::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Kind {
    /// The registry's eager kernel, as the interpreter runs it. With `per_size`, the
    /// call reads only constants and sizes (a causal mask from `arange`, position ids):
    /// it runs once per input size and its results are kept for the next call.
    Fallback {
        op: &'static OpDef,
        args: Vec<Arg>,
        per_size: Option<PerSize>,
    },
    /// A call on bool or integer data (a mask's views, comparisons, logical and bitwise
    /// ops, casts): the runtime's kernels are f32, so it runs the op's own kernel on the
    /// storages; a view (`view: Some`) instead gathers through the view's layout at the
    /// step's sizes (which a half of a split batch halves). Planned, unlike a fallback:
    /// the planner knows how it treats the batch — elementwise over `inputs`, or as the
    /// view moves it.
    Typed {
        op: &'static OpDef,
        args: Vec<Arg>,
        inputs: Vec<Operand>,
        view: Option<ViewOp>,
    },
    /// A call computed lane by lane along `dims` of its inputs `xs`, all of one rank
    /// (the op's `Lowering::Lanes`: `argmax`, `topk`, `sort`, `cumsum`, `gather`, …
    /// along one dim; `bucketize` along none; `grid_sampler_2d` along all but the
    /// first): the op's own kernel on the storages, as a fallback runs it, but planned —
    /// the split knows that it keeps the other dims apart. Its results are storages
    /// (several: each read by a getitem).
    Lanes {
        op: &'static OpDef,
        args: Vec<Arg>,
        xs: Vec<Operand>,
        dims: Vec<usize>,
    },
    GetItem {
        src: V,
        index: usize,
    },
    /// A higher-order op (`cond`, `map_impl`), run through its definition with its
    /// subgraphs compiled as subplans (indices into `Plan::subplans`).
    HigherOrder {
        op: &'static dyn HigherOrderOp,
        args: Vec<Argument<Operand>>,
        subplans: Vec<usize>,
    },
    /// A reshape of a planned buffer: same data, new sizes; or, with `at`, a select or
    /// slice whose elements are one run of the buffer (of its leading dim, or of one
    /// after dims of size 1): that run, read in place.
    Alias {
        src: V,
        sizes: Vec<SymInt>,
        at: Option<ViewOp>,
    },
    Gemm(GemmStep),
    Conv(ConvStep),
    ConvTranspose(ConvTransposeStep),
    Fused {
        prog: FusedProgram,
        inputs: Vec<Operand>,
        /// Per input (or empty: none), the view it is read through in place of a view
        /// step's copy (`plan/views.rs`).
        views: Vec<Option<ReadView>>,
    },
    /// A 2-D pooling: max, or average (`avg`: what divides each window's sum); `ceil`:
    /// a partial window at each dim's end (`ceil_mode`).
    Pool {
        x: Operand,
        win: ferrex_kernels::PoolWindow,
        ceil: bool,
        avg: Option<ferrex_kernels::AvgDivisor>,
    },
    /// `softmax`/`log_softmax` (and `_softmax`/`_log_softmax`) along `dim`; `safe`:
    /// lanes that are entirely `-inf` give zeros (PyTorch's safe softmax).
    Softmax {
        x: Operand,
        dim: usize,
        log: bool,
        safe: bool,
    },
    /// `eq`/`ne`/`gt`/`ge`/`lt`/`le` `.Scalar` of an f32 value: a bool tensor (an
    /// eager storage, not a slot), such as a `cond` predicate.
    Compare {
        x: Operand,
        op: Cmp,
        rhs: f64,
    },
    /// `layer_norm` over the trailing `k` dims of `x`, with optional weight and bias.
    LayerNorm {
        x: Operand,
        k: usize,
        weight: Option<Operand>,
        bias: Option<Operand>,
        eps: f64,
    },
    /// `transpose`/`permute`/`t`: one strided copy into a planned buffer.
    Permute {
        x: Operand,
        dims: Vec<usize>,
    },
    /// A view (reshape, expand, select, slice) of a value that is not a planned buffer
    /// (or not a plain reshape): one strided copy into a planned buffer.
    View {
        x: Operand,
        view: ViewOp,
    },
    /// Every layer of a recurrent op (`gru.input`, `lstm.input`), by the layer kernel
    /// (`ferrex::ops::rnn::recurrent_layers`: per step one packed product and one fused
    /// cell): `args` are its input, its states, then its parameters; its results (the
    /// output and the final states) are storages, read by `getitem`.
    Recurrent {
        spec: ferrex::ops::rnn::RecurrentSpec,
        args: Vec<V>,
    },
    /// `scaled_dot_product_attention`: the fused, blocked kernel.
    Attention {
        q: Operand,
        k: Operand,
        v: Operand,
        /// An additive f32 mask, broadcast to the scores; with `keep_mask`, a bool one
        /// (loaded as 1 or 0: true keeps a score, false masks it).
        mask: Option<Operand>,
        keep_mask: bool,
        scale: f64,
        causal: bool,
        /// The views `q`, `k` and `v` are read through, when any is
        /// ([`Builder::attention_reads_views`]).
        views: Option<Box<[ViewChain; 3]>>,
    },
    /// `sum`, `mean`, `amax` or `amin` over `dims` (all when empty) of an f32 input.
    Reduce {
        x: Operand,
        dims: Vec<usize>,
        op: ferrex_kernels::reduce::Reduction,
    },
    /// Entries of an f32 value picked along `dim` and the dims after it, by one i64
    /// index value per dim (all of one shape): `embedding` (a table's rows by ids, dim
    /// 0), `index_select`, `index.Tensor` with adjacent indices (`negative`: an index may
    /// count from the end) — [`ferrex_kernels::layout::gather_along`].
    Gather {
        x: Operand,
        dim: usize,
        ids: Vec<Operand>,
        negative: bool,
    },
    /// `constant_pad_nd`: `x` padded by `(before, after)` per dim with `value` (a
    /// negative pad crops): a fill and one copy per run of the kept block
    /// ([`ferrex_kernels::layout::pad_constant`]).
    Pad {
        x: Operand,
        pads: Vec<(i64, i64)>,
        value: f32,
    },
    /// `roll` by each `(shift, dim)` of `pairs` in turn (dims wrapped; `flat`: the
    /// flattened tensor along its one dim): two block copies per run of the last rolled
    /// dim ([`ferrex_kernels::layout::roll`]).
    Roll {
        x: Operand,
        pairs: Vec<(i64, usize)>,
        flat: bool,
    },
    /// `group_norm` / `native_group_norm` (output 0) over `groups` channel groups.
    GroupNorm {
        x: Operand,
        groups: usize,
        weight: Option<Operand>,
        bias: Option<Operand>,
        eps: f64,
    },
    /// `bmm`: one product per batch of two run-time `[..batch, m, k]`, `[..batch, k, n]`
    /// operands (`bmm`'s one batch dim, or a `matmul`'s several, the same in both).
    Bmm {
        a: Operand,
        b: Operand,
    },
    /// `cat` / `stack`: the inputs' elements copied side by side along dim `dim` of the
    /// output (each input is the output's leading blocks' share of one input).
    Concat {
        xs: Vec<Operand>,
        dim: usize,
    },
    /// `upsample_nearest2d` or `upsample_bilinear2d` (`mode`) of a 4-D value to the
    /// step's sizes (the call's scale factors, where given, choose the source pixels).
    Upsample {
        x: Operand,
        scales: [Option<f64>; 2],
        mode: ferrex_kernels::pool::Interpolation,
    },
}

/// The comparison of a [`Kind::Compare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// How a [`Kind::View`] reads its input (the output sizes are the step's).
#[derive(Clone, Debug)]
pub enum ViewOp {
    /// Same elements in order (`view`, `reshape`, `flatten`, `unsqueeze`, `squeeze`,
    /// `clone`, `contiguous`).
    Reshape,
    /// Size-1 (or missing leading) dims repeated with stride 0.
    Expand,
    /// Index `index` of `dim`, which is dropped.
    Select { dim: usize, index: SymInt },
    /// `start..end` by `step` along `dim` (PyTorch's clamping).
    Slice {
        dim: usize,
        start: Option<SymInt>,
        end: Option<SymInt>,
        step: usize,
    },
    /// The dims in the order `dims` (only as a [`ReadView`]: a permute step is
    /// [`Kind::Permute`]).
    Permute { dims: Vec<usize> },
}

/// A view a fused step reads an input through, without a copy: the view of the input's
/// value, and the viewed sizes.
#[derive(Clone, Debug)]
pub struct ReadView {
    pub view: ViewOp,
    pub sizes: Vec<SymInt>,
    /// The view's layout, computed once where the viewed value's sizes, the view's
    /// sizes and its bounds are all numbers (every view of a static plan): an LSTM
    /// step's three gate views cost more to lay out per call than to read.
    pub fixed: Option<FixedView>,
}

/// The views an operand is read through without a copy, from the value as it is stored
/// outwards (attention's heads: a `reshape`, `permute` and `select` of one projection's
/// output), and, where every size is a number, their layout over it computed once.
#[derive(Clone, Debug, Default)]
pub struct ViewChain {
    /// Each view and the sizes it gives.
    pub links: Vec<(ViewOp, Vec<SymInt>)>,
    pub fixed: Option<FixedView>,
}

/// No views: an operand read as it is stored.
pub static NO_VIEWS: ViewChain = ViewChain {
    links: Vec::new(),
    fixed: None,
};

impl ViewChain {
    /// The chain's layout over a value of sizes `xs`, its bounds and sizes given by
    /// `int` (the call's bindings, or constants): the one computed at compile time
    /// where it was for these sizes.
    pub fn layout(
        &self,
        xs: &[usize],
        int: impl Fn(&SymInt) -> Result<i64, String>,
    ) -> Result<Cow<'_, FixedView>, String> {
        if let Some(f) = self.fixed.as_ref().filter(|f| f.of == xs) {
            return Ok(Cow::Borrowed(f));
        }
        let (mut at, mut sizes, mut strides) = (0, xs.to_vec(), contiguous_strides(xs));
        for (view, out) in &self.links {
            let out: Vec<usize> = (out.iter())
                .map(|s| {
                    let v = int(s)?;
                    usize::try_from(v).map_err(|_| format!("size {s} evaluates to {v}"))
                })
                .collect::<Result<_, String>>()?;
            let (a, st) = view.layout_over((at, &sizes, &strides), &out, &int)?;
            (at, sizes, strides) = (a, out, st);
        }
        Ok(Cow::Owned(FixedView {
            of: xs.to_vec(),
            at,
            sizes,
            strides,
        }))
    }
}

/// A [`ReadView`]'s layout over a value of sizes `of`: where it starts, its sizes and
/// its strides ([`ViewOp::layout`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FixedView {
    pub of: Vec<usize>,
    pub at: usize,
    pub sizes: Vec<usize>,
    pub strides: Vec<usize>,
}

impl FixedView {
    /// The layout of `view` (viewed sizes `sizes`) over a value of sizes `of`, if all
    /// of them are numbers.
    pub fn of(view: &ViewOp, sizes: &[SymInt], of: &[SymInt]) -> Option<FixedView> {
        let ints = |v: &[SymInt]| -> Option<Vec<usize>> {
            v.iter()
                .map(|s| usize::try_from(s.as_int()?).ok())
                .collect()
        };
        let (of, sizes) = (ints(of)?, ints(sizes)?);
        let int = |s: &SymInt| s.as_int().ok_or_else(|| format!("{s} is not a number"));
        let (at, strides) = view.layout(&of, &sizes, int).ok()?;
        Some(FixedView {
            of,
            at,
            sizes,
            strides,
        })
    }
}

/// Contiguous (row-major) strides of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        st[i] = st[i + 1] * shape[i + 1];
    }
    st
}

impl ViewOp {
    /// Where the view of a contiguous input of sizes `xs` starts, and its strides, for
    /// an output of sizes `out`; `int` gives a bound's value (the call's bindings when
    /// the plan runs, a constant when `ferrex-aot` generates code — both use this).
    pub fn layout(
        &self,
        xs: &[usize],
        out: &[usize],
        int: impl Fn(&SymInt) -> Result<i64, String>,
    ) -> Result<(usize, Vec<usize>), String> {
        self.layout_over((0, xs, &contiguous_strides(xs)), out, int)
    }

    /// [`ViewOp::layout`] of a value that is itself laid out through strides: starting
    /// at `at`, sizes `xs`, strides `xst` (a view of a view, as attention reads its
    /// operands through a chain of them). A reshape of a strided layout has one only
    /// where each run of merged or split dims is contiguous in it (PyTorch's rule for
    /// `view`); an `Err` otherwise.
    pub fn layout_over(
        &self,
        (at, xs, xst): (usize, &[usize], &[usize]),
        out: &[usize],
        int: impl Fn(&SymInt) -> Result<i64, String>,
    ) -> Result<(usize, Vec<usize>), String> {
        if xst.len() != xs.len() {
            return Err(format!("strides {xst:?} for sizes {xs:?}"));
        }
        let (offset, strides) = match self {
            ViewOp::Reshape => {
                if xs.iter().product::<usize>() != out.iter().product::<usize>() {
                    return Err(format!("shape {out:?} is invalid for input of size {xs:?}"));
                }
                match xst == contiguous_strides(xs) {
                    true => (0, contiguous_strides(out)),
                    false => (0, reshaped_strides(xs, xst, out).ok_or_else(|| {
                        format!("a view of sizes {xs:?} and strides {xst:?} cannot be seen as {out:?}")
                    })?),
                }
            }
            ViewOp::Expand => {
                let lead = out
                    .len()
                    .checked_sub(xs.len())
                    .ok_or_else(|| format!("cannot expand {xs:?} to {out:?}"))?;
                let mut st = vec![0usize; out.len()];
                for (d, (&n, &s)) in xs.iter().zip(xst).enumerate() {
                    if n == out[lead + d] {
                        st[lead + d] = if n == 1 { 0 } else { s };
                    } else if n != 1 {
                        return Err(format!("cannot expand {xs:?} to {out:?}"));
                    }
                }
                (0, st)
            }
            ViewOp::Select { dim, index } => {
                let size = *xs.get(*dim).ok_or("select: dim out of range")?;
                let i = int(index)?;
                let i = if i < 0 { i + size as i64 } else { i };
                let i = usize::try_from(i)
                    .ok()
                    .filter(|&i| i < size)
                    .ok_or_else(|| format!("select: index {i} out of range for size {size}"))?;
                let mut st = xst.to_vec();
                st.remove(*dim);
                (i * xst[*dim], st)
            }
            ViewOp::Slice {
                dim,
                start,
                end,
                step,
            } => {
                let size = *xs.get(*dim).ok_or("slice: dim out of range")?;
                let bound =
                    |s: &Option<SymInt>| s.as_ref().map(|s| int(s).map(SymInt::Int)).transpose();
                let (first, _) = ferrex::ops::shape::slice_bounds(
                    &SymInt::Int(size as i64),
                    bound(start)?,
                    bound(end)?,
                    *step as i64,
                )
                .map_err(|e| e.0)?;
                let first = usize::try_from(first.hint()).map_err(|_| "slice: bad start")?;
                let mut st = xst.to_vec();
                st[*dim] *= step;
                (first * xst[*dim], st)
            }
            ViewOp::Permute { dims } => {
                let permuted: Option<Vec<(usize, usize)>> =
                    dims.iter().map(|&d| Some((*xs.get(d)?, xst[d]))).collect();
                match permuted {
                    Some(p)
                        if p.len() == xs.len() && p.iter().map(|x| x.0).eq(out.iter().copied()) =>
                    {
                        (0, p.into_iter().map(|x| x.1).collect())
                    }
                    _ => return Err(format!("cannot permute {xs:?} by {dims:?} into {out:?}")),
                }
            }
        };
        if strides.len() != out.len() {
            return Err(format!("cannot view {xs:?} as {out:?}"));
        }
        Ok((at + offset, strides))
    }
}

/// The strides of `out` viewing the elements of a layout of sizes `xs` and strides
/// `xst` in order, if it has them: each run of `xs`'s dims that is contiguous within the
/// layout may be split or merged freely, as PyTorch's `view` allows (its
/// `computeStride`); `None` where `out` would merge dims across two runs.
fn reshaped_strides(xs: &[usize], xst: &[usize], out: &[usize]) -> Option<Vec<usize>> {
    if xs.contains(&0) {
        return Some(contiguous_strides(out));
    }
    let mut strides = vec![0usize; out.len()];
    // Dims of `out` still to place, from the last.
    let mut view_d = out.len();
    let mut base = *xst.last().unwrap_or(&1);
    let (mut x_numel, mut view_numel) = (1usize, 1usize);
    for d in (0..xs.len()).rev() {
        x_numel = x_numel.checked_mul(xs[d])?;
        // The end of a contiguous run: the dim before it does not continue it.
        let run_ends = d == 0 || (xs[d - 1] != 1 && Some(xst[d - 1]) != x_numel.checked_mul(base));
        if run_ends {
            while view_d > 0 && (view_numel < x_numel || out[view_d - 1] == 1) {
                strides[view_d - 1] = view_numel.checked_mul(base)?;
                view_numel = view_numel.checked_mul(out[view_d - 1])?;
                view_d -= 1;
            }
            if view_numel != x_numel {
                return None;
            }
            if d > 0 {
                base = xst[d - 1];
                (x_numel, view_numel) = (1, 1);
            }
        }
    }
    (view_d == 0).then_some(strides)
}

impl Kind {
    /// Whether the step writes a planned f32 buffer (slot).
    pub(crate) fn is_planned(&self) -> bool {
        !matches!(
            self,
            Kind::Fallback { .. }
                | Kind::Typed { .. }
                | Kind::Lanes { .. }
                | Kind::GetItem { .. }
                | Kind::HigherOrder { .. }
                | Kind::Compare { .. }
                | Kind::Recurrent { .. }
        )
    }

    /// The operands a planned step reads (not its epilogue's).
    pub(crate) fn operands(&self) -> Vec<Operand> {
        let opt = |o: &Option<Operand>| o.iter().copied().collect::<Vec<_>>();
        match self {
            Kind::Pool { x, .. }
            | Kind::Permute { x, .. }
            | Kind::Softmax { x, .. }
            | Kind::View { x, .. }
            | Kind::Compare { x, .. }
            | Kind::Upsample { x, .. }
            | Kind::ConvTranspose(ConvTransposeStep { x, .. })
            | Kind::Reduce { x, .. } => vec![*x],
            Kind::LayerNorm {
                x, weight, bias, ..
            }
            | Kind::GroupNorm {
                x, weight, bias, ..
            } => [vec![*x], opt(weight), opt(bias)].concat(),
            Kind::Attention { q, k, v, mask, .. } => [vec![*q, *k, *v], opt(mask)].concat(),
            Kind::Gather { x, ids, .. } => [vec![*x], ids.clone()].concat(),
            Kind::Roll { x, .. } | Kind::Pad { x, .. } => vec![*x],
            Kind::Lanes { xs, .. } => xs.clone(),
            Kind::Bmm { a, b } => vec![*a, *b],
            Kind::Fused { inputs, .. } | Kind::Concat { xs: inputs, .. } => inputs.clone(),
            _ => Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Step {
    pub kind: Kind,
    pub out: V,
    /// The output's sizes (the node's meta), evaluated with the call's symbol values.
    pub sizes: Vec<SymInt>,
    /// The metas of the node's outputs.
    pub metas: Vec<TensorMeta>,
    /// The buffer slot of a planned output.
    pub slot: Option<usize>,
    pub info: NodeInfo,
    /// Values dead after this step.
    pub free_after: Vec<V>,
}

/// A compiled graph.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub n_values: usize,
    pub inputs: Vec<(V, InputSource)>,
    pub n_runtime_inputs: usize,
    /// The constants' data; empty in a structure-only plan ([`crate::plan_structure`]).
    pub consts: Vec<Storage>,
    /// Each constant's dtype and (static) sizes.
    pub const_metas: Vec<TensorMeta>,
    /// Where each constant comes from (parallel to `const_metas`).
    pub const_origins: Vec<ConstOrigin>,
    /// Values folded at compile time: `(value, constant)`.
    pub const_values: Vec<(V, usize)>,
    /// Multi-output values folded at compile time.
    pub const_multi: Vec<(V, Vec<usize>)>,
    pub steps: Vec<Step>,
    pub outputs: Vec<Arg>,
    /// Preallocated size (elements) of each slot, from the example sizes.
    pub slot_sizes: Vec<usize>,
    pub subplans: Vec<Plan>,
    /// Node names, for messages.
    pub names: Vec<String>,
    /// Node metas, by value: a fallback step binds the unbacked symbols its node
    /// defines (`aten::item`'s `u0`) from what it computed.
    pub metas: Vec<Vec<TensorMeta>>,
}

/// What a value is at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// An eager storage (inputs, constants, fallback outputs).
    Storage,
    /// Several storages (multi-output fallback, cond).
    Multi,
    /// A planned f32 buffer.
    Slot,
}

/// A constant as the planner knows it: its data, or in a structure-only plan its dtype
/// and sizes alone (folding and prepacking then record what they would compute).
#[derive(Clone, Debug)]
pub(crate) enum Known {
    Data(Storage),
    Meta(TensorMeta),
}

impl Known {
    fn meta(&self) -> TensorMeta {
        match self {
            Known::Data(s) => TensorMeta::from_shape(s.dtype(), s.shape()),
            Known::Meta(m) => m.clone(),
        }
    }
}

struct Builder<'g> {
    graph: &'g Graph,
    plan: Plan,
    /// Whether constants hold data (else the plan is structure-only).
    with_data: bool,
    place: Vec<Option<Place>>,
    const_of: Vec<Option<usize>>,
    users: Vec<usize>,
    in_output: Vec<bool>,
    /// Planned steps, by the node they are placed at.
    steps: Vec<Option<Step>>,
    /// Open fusion groups, by root: their member nodes.
    groups: HashMap<V, BTreeSet<V>>,
    /// For members of a group: the elementwise op.
    ew: HashMap<V, fuse::Ew>,
    /// Values that share another value's slot (alias/epilogue) → the slot's owner.
    owner: Vec<V>,
    /// Multi-output nodes planned as their output 0 (see [`first_output_only`]).
    first_only: Vec<bool>,
    /// Nodes that get no step (safe-softmax chains, broadcast matrices' expands), and
    /// each safe-softmax chain's `where` → its softmax (see [`safe_softmax`]).
    skip: Vec<bool>,
    safe_result: HashMap<V, V>,
    safe_softmax: Vec<bool>,
    /// `bmm`s of one matrix broadcast over the batch → that matrix (see
    /// [`broadcast_bmm`]).
    broadcast_b: HashMap<V, V>,
    /// Splits planned as slices of their input (see `plan_split`): input and dim.
    split_of: HashMap<V, (V, usize)>,
    /// Calls that read only constants and sizes (see [`PerSize`]), and the symbols
    /// the graph's sizes name.
    size_only: Vec<bool>,
    symbols: Arc<[Symbol]>,
    /// Each constant's packed panels, by (constant, used transposed): one copy for all
    /// the products that read it (an unrolled recurrent layer's 32 steps had packed its
    /// weight 32 times, and each step read a cold copy).
    packed: HashMap<(usize, bool), GemmB>,
}

impl ViewOp {
    /// The op's name, as plan descriptions print it.
    pub fn label(&self) -> &'static str {
        match self {
            ViewOp::Reshape => "reshape",
            ViewOp::Expand => "expand",
            ViewOp::Select { .. } => "select",
            ViewOp::Slice { .. } => "slice",
            ViewOp::Permute { .. } => "permute",
        }
    }
}

/// `first_only[v]`: node `v` is a multi-output call whose op declares a lowering (its
/// output 0's: `native_layer_norm`, `native_group_norm`, `max_pool2d_with_indices`,
/// `_native_batch_norm_legit_no_training`), not a graph output, and read only through
/// `getitem(v, 0)`; it is planned as that one value.
fn first_output_only(graph: &Graph, in_output: &[bool]) -> Vec<bool> {
    let mut ok: Vec<bool> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(v, n)| match &n.kind {
            NodeKind::Call { op, .. } => n.meta.len() > 1 && !in_output[v] && op.lowering.is_some(),
            _ => false,
        })
        .collect();
    for n in &graph.nodes {
        let through_first = matches!(n.kind, NodeKind::GetItem { index: 0, .. });
        if !through_first {
            for i in n.inputs() {
                if let Some(x) = ok.get_mut(i.0) {
                    *x = false;
                }
            }
        }
    }
    ok
}

impl<'g> Builder<'g> {
    fn new(graph: &'g Graph, with_data: bool) -> Self {
        let n = graph.nodes.len();
        let mut in_output = vec![false; n];
        for a in graph.outputs() {
            for id in a.nodes() {
                if let Some(x) = in_output.get_mut(id.0) {
                    *x = true;
                }
            }
        }
        Builder {
            graph,
            with_data,
            first_only: first_output_only(graph, &in_output),
            skip: vec![false; n],
            safe_result: HashMap::new(),
            safe_softmax: vec![false; n],
            broadcast_b: HashMap::new(),
            packed: HashMap::new(),
            split_of: HashMap::new(),
            size_only: vec![false; n],
            symbols: graph_symbols(graph).into(),
            plan: Plan {
                n_values: n,
                names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
                metas: graph.nodes.iter().map(|n| n.meta.clone()).collect(),
                outputs: graph.outputs().to_vec(),
                ..Plan::default()
            },
            place: vec![None; n],
            const_of: vec![None; n],
            users: graph.user_counts(),
            in_output,
            steps: vec![None; n],
            groups: HashMap::new(),
            ew: HashMap::new(),
            owner: (0..n).collect(),
        }
    }

    fn meta(&self, v: V) -> Option<&'g TensorMeta> {
        let n = &self.graph.nodes[v];
        if n.meta.len() == 1 || self.first_only[v] {
            n.meta.first()
        } else {
            None
        }
    }

    fn is_f32(&self, v: V) -> bool {
        self.meta(v).is_some_and(|m| m.dtype == DType::F32)
    }

    fn operand(&self, v: V) -> Operand {
        match self.const_of[v] {
            Some(c) => Operand::Const(c),
            None => Operand::Val(v),
        }
    }

    fn add_const_from(&mut self, known: Known, origin: ConstOrigin) -> usize {
        self.plan.const_metas.push(known.meta());
        if let (Known::Data(s), true) = (known, self.with_data) {
            self.plan.consts.push(s);
        }
        self.plan.const_origins.push(origin);
        self.plan.const_metas.len() - 1
    }

    /// Constant `c` as known: its data, or in a structure-only plan its meta.
    fn known(&self, c: usize) -> Option<Known> {
        match self.with_data {
            true => self.plan.consts.get(c).cloned().map(Known::Data),
            false => self.plan.const_metas.get(c).cloned().map(Known::Meta),
        }
    }

    /// The static shape of constant `c` when it is an f32 tensor.
    fn f32_shape(&self, c: usize) -> Option<Vec<usize>> {
        let meta = self.plan.const_metas.get(c)?;
        (meta.dtype == DType::F32).then(|| meta.static_shape())?
    }

    fn info(&self, v: V) -> NodeInfo {
        let n = &self.graph.nodes[v];
        NodeInfo {
            name: n.name.clone(),
            op: match &n.kind {
                NodeKind::Call { op, .. } => op.name(),
                NodeKind::HigherOrder { op, .. } => op.name().into(),
                NodeKind::GetItem { .. } => "getitem".into(),
                _ => String::new(),
            },
            source: n.source,
        }
    }

    fn step(&self, v: V, kind: Kind) -> Step {
        Step {
            kind,
            out: v,
            sizes: self.meta(v).map(|m| m.sizes.clone()).unwrap_or_default(),
            metas: self.graph.nodes[v].meta.clone(),
            slot: None,
            info: self.info(v),
            free_after: Vec::new(),
        }
    }
}

/// Compiles one graph. `frozen[k]` is the constant value of placeholder `k`, if known
/// at compile time; without data (`with_data` false) the plan is structure-only: the
/// same steps, constants and origins, but no constant data and empty packed weights.
pub(crate) fn compile_graph(
    graph: &Graph,
    frozen: &[Option<Known>],
    with_data: bool,
) -> Result<Plan, CompileError> {
    check_order(graph)?;
    let graph = sizes_inline(graph)?;
    let mut b = Builder::new(&graph, with_data);
    b.mark_safe_softmaxes();
    b.mark_broadcast_bmms();
    b.lower_nodes(frozen)?;
    b.finish_groups();
    b.read_views_in_place();
    b.attention_reads_views();
    let steps: Vec<Step> = b.steps.iter_mut().filter_map(Option::take).collect();
    let uses: Vec<memory::StepBuffers> = steps.iter().map(memory::buffers).collect();
    let memory = memory::plan_memory(&uses, &b.owner, &b.in_output);
    let mut plan = b.plan;
    plan.steps = steps
        .into_iter()
        .zip(memory.slots)
        .zip(memory.free_after)
        .map(|((step, slot), free_after)| Step {
            slot,
            free_after,
            ..step
        })
        .collect();
    plan.slot_sizes = memory.slot_sizes;
    Ok(plan)
}

/// The graph as it is planned: an argument naming a SymInt / SymBool node holds that
/// node's expression instead (bound at run time like any size, `Bindings`), and those
/// nodes, computed from sizes alone, read nothing and get no step. A size list in the
/// graph's form (`Argument::SymInts`) becomes an int list even when it names no node
/// (a file's `as_sym_ints` of `as_int`s only): the ops take int lists.
fn sizes_inline(graph: &Graph) -> Result<Cow<'_, Graph>, CompileError> {
    let inlines = |a: &Arg| !a.sym_refs().is_empty() || matches!(a, Argument::SymInts(_));
    let has_sym = graph.nodes.iter().any(|n| {
        is_size_node(n)
            || match &n.kind {
                NodeKind::Call { args, .. }
                | NodeKind::HigherOrder { args, .. }
                | NodeKind::Output { args } => args.iter().any(inlines),
                _ => false,
            }
    });
    if !has_sym {
        return Ok(Cow::Borrowed(graph));
    }
    let mut inlined = graph.clone();
    for node in &mut inlined.nodes {
        let size_node = is_size_node(node);
        if let NodeKind::Call { args, .. }
        | NodeKind::HigherOrder { args, .. }
        | NodeKind::Output { args } = &mut node.kind
        {
            *args = match size_node {
                true => Vec::new(),
                false => inline_sym_args(graph, args).map_err(CompileError::Malformed)?,
            };
        }
    }
    Ok(Cow::Owned(inlined))
}

/// The symbols a graph's sizes name (its nodes' metas and size arguments), sorted.
fn graph_symbols(graph: &Graph) -> Vec<Symbol> {
    let mut out = Vec::new();
    for_each_symbol(graph, &mut |s| out.push(s));
    out.sort();
    out.dedup();
    out
}

/// Every node reads only values computed before it (the passes walk nodes in order).
fn check_order(graph: &Graph) -> Result<(), CompileError> {
    for (i, node) in graph.nodes.iter().enumerate() {
        for input in node.inputs() {
            if input.0 >= i {
                return Err(CompileError::Malformed(format!(
                    "node `{}` reads `{}`, which is not computed before it",
                    node.name,
                    graph.nodes.get(input.0).map_or("?", |n| n.name.as_str())
                )));
            }
        }
    }
    Ok(())
}

/// An attention step's label: causal, masked, and which operands it reads through
/// views.
fn attention_label(causal: bool, mask: bool, views: Option<&[ViewChain; 3]>) -> String {
    let through: Vec<&str> = (views.iter().flat_map(|c| c.iter()))
        .zip(["q", "k", "v"])
        .filter(|(c, _)| !c.links.is_empty())
        .map(|(_, name)| name)
        .collect();
    format!(
        "attention, fused{}{}{}",
        if causal { ", causal" } else { "" },
        if mask { " + mask" } else { "" },
        match through.is_empty() {
            true => String::new(),
            false => format!(", {} read through views", through.join(", ")),
        }
    )
}

/// One step's line in [`describe`]: what it runs and how.
fn step_label(kind: &Kind) -> String {
    let ep = |e: &Option<Epilogue>| match e {
        Some(e) => format!(" + {}", e.prog.label),
        None => String::new(),
    };
    match kind {
        Kind::Fallback {
            op,
            per_size: Some(_),
            ..
        } => format!("eager {}, kept per input size", op.name()),
        Kind::Fallback { op, .. } => format!("eager {}", op.name()),
        Kind::Typed { view: Some(v), .. } => format!("{} of bool/integer data", v.label()),
        Kind::Typed { op, .. } => format!("{} on bool/integer data (its kernel)", op.name()),
        Kind::GetItem { index, .. } => format!("getitem [{index}]"),
        Kind::HigherOrder { op, .. } => op.name().to_string(),
        Kind::Alias { at: None, .. } => "reshape (no copy)".to_string(),
        Kind::Alias { at: Some(v), .. } => format!("{} (no copy)", v.label()),
        Kind::Gemm(g) => format!(
            "{}{}{}",
            match g.b {
                GemmB::Packed(..) => "gemm, prepacked weight",
                GemmB::Dynamic(_) => "gemm",
            },
            if g.init.is_some() { " + bias" } else { "" },
            ep(&g.epilogue)
        ),
        Kind::Conv(c) => format!("conv2d gemm tiles{}", ep(&c.epilogue)),
        Kind::ConvTranspose(c) => format!(
            "conv_transpose {}x{} stride {:?} (gemm + col2im)",
            c.kernel[0], c.kernel[1], c.stride
        ),
        Kind::Fused { prog, views, .. } => match views.iter().flatten().count() {
            0 => format!("fused {}", prog.label),
            n => format!("fused {} ({n} read through views)", prog.label),
        },
        Kind::Pool { win, avg, ceil, .. } => format!(
            "{}_pool2d {}x{}{}",
            if avg.is_some() { "avg" } else { "max" },
            win.k[0],
            win.k[1],
            if *ceil { " (ceil_mode)" } else { "" }
        ),
        Kind::Permute { dims, .. } => format!("permute {dims:?} (strided copy)"),
        Kind::Softmax { dim, log, safe, .. } => format!(
            "{}{}softmax dim {dim}",
            if *safe { "safe " } else { "" },
            if *log { "log_" } else { "" }
        ),
        Kind::Compare { op, rhs, .. } => format!("compare {op:?} {rhs}"),
        Kind::LayerNorm { k, .. } => format!("layer_norm over {k} dims"),
        Kind::View { view, .. } => format!("{} (strided copy)", view.label()),
        Kind::Attention {
            causal,
            mask,
            views,
            ..
        } => attention_label(*causal, mask.is_some(), views.as_deref()),
        Kind::Reduce { dims, op, .. } => format!("{} over dims {dims:?}", op.name()),
        Kind::Gather { dim: 0, ids, .. } if ids.len() == 1 => "embedding (row gather)".to_string(),
        Kind::Gather { dim, ids, .. } => {
            format!("gather along dim {dim} by {} index(es)", ids.len())
        }
        Kind::Pad { pads, value, .. } => format!("constant pad {pads:?} with {value} (copies)"),
        Kind::Lanes { op, dims, .. } => lanes_label(op, dims),
        Kind::Roll {
            pairs, flat: false, ..
        } => format!("roll by (shift, dim) {pairs:?} (block copies)"),
        Kind::Roll {
            pairs, flat: true, ..
        } => format!("roll of the flattened value by {pairs:?} (block copies)"),
        Kind::Recurrent { spec, .. } => recurrent_label(spec),
        Kind::GroupNorm { groups, .. } => format!("group_norm, {groups} groups"),
        Kind::Bmm { .. } => "bmm".to_string(),
        Kind::Concat { xs, dim } => format!("concat of {} along dim {dim} (copies)", xs.len()),
        Kind::Upsample { mode, .. } => upsample_label(*mode),
    }
}

/// [`step_label`] of a lane step: the dims it works along.
fn lanes_label(op: &OpDef, dims: &[usize]) -> String {
    match dims {
        [] => format!("{} of each entry alone (its kernel)", op.name()),
        [dim] => format!("{} along dim {dim} (its kernel)", op.name()),
        _ => format!("{} along dims {dims:?} (its kernel)", op.name()),
    }
}

/// [`step_label`] of an upsampling.
fn upsample_label(mode: Interpolation) -> String {
    match mode {
        Interpolation::Nearest => "upsample_nearest2d (gather copy)".to_string(),
        Interpolation::Bilinear { align_corners } => {
            format!("upsample_bilinear2d (align_corners={align_corners})")
        }
        Interpolation::Bicubic { align_corners } => {
            format!("upsample_bicubic2d (align_corners={align_corners})")
        }
        Interpolation::Antialiased {
            filter,
            align_corners,
        } => format!("{} (align_corners={align_corners})", filter.op_name()),
    }
}

/// What a compiled plan does, step by step (see `CompiledProgram::describe`).
pub(crate) fn describe(plan: &Plan, indent: &str, out: &mut String) {
    use std::fmt::Write;
    for s in &plan.steps {
        let slot = s.slot.map(|x| format!(" -> slot {x}")).unwrap_or_default();
        let what = step_label(&s.kind);
        let _ = writeln!(out, "{indent}{}: {what}{slot}", s.info.name);
        if let Kind::HigherOrder { op, subplans, .. } = &s.kind {
            for (role, b) in op.subgraph_roles().iter().zip(subplans) {
                let _ = writeln!(out, "{indent}  {role}:");
                if let Some(p) = plan.subplans.get(*b) {
                    describe(p, &format!("{indent}    "), out);
                }
            }
        }
    }
}

/// The eager fallbacks of a plan (subplans included) per op, in order of first use:
/// `eager fallbacks: none`, or `eager fallbacks: 3 (aten::_softmax.default ×2,
/// aten::native_layer_norm.default ×1)`.
pub(crate) fn fallback_summary(plan: &Plan) -> String {
    let mut s = crate::PlanStats::default();
    stats(plan, &mut s);
    let fallbacks = match s.fallback_ops.is_empty() {
        true => "eager fallbacks: none".to_string(),
        false => format!("eager fallbacks: {}", count_ops(&s.fallback_ops)),
    };
    match s.per_size_ops.is_empty() {
        true => fallbacks,
        false => format!(
            "computed once per input size: {}\n{fallbacks}",
            count_ops(&s.per_size_ops)
        ),
    }
}

/// `3 (aten::_softmax.default ×2, aten::native_layer_norm.default ×1)`.
fn count_ops(ops: &[String]) -> String {
    let mut counts: Vec<(&String, usize)> = Vec::new();
    for op in ops {
        match counts.iter_mut().find(|(o, _)| *o == op) {
            Some((_, n)) => *n += 1,
            None => counts.push((op, 1)),
        }
    }
    let list: Vec<String> = counts.iter().map(|(o, n)| format!("{o} ×{n}")).collect();
    format!("{} ({})", ops.len(), list.join(", "))
}

/// `2 LSTM layers, bidirectional, batch first (layer kernel)`.
fn recurrent_label(spec: &ferrex::ops::rnn::RecurrentSpec) -> String {
    let cell = match spec.cell {
        ferrex_kernels::rnn::RecurrentCell::Gru => "GRU",
        ferrex_kernels::rnn::RecurrentCell::Lstm => "LSTM",
        ferrex_kernels::rnn::RecurrentCell::RnnTanh => "RNN (tanh)",
        ferrex_kernels::rnn::RecurrentCell::RnnRelu => "RNN (relu)",
    };
    let layers = match spec.layers {
        1 => format!("1 {cell} layer"),
        n => format!("{n} {cell} layers"),
    };
    let bi = if spec.bidirectional {
        ", bidirectional"
    } else {
        ""
    };
    let first = if spec.batch_first {
        ", batch first"
    } else {
        ""
    };
    let projected = if spec.projections { ", projected" } else { "" };
    format!("{layers}{bi}{first}{projected} (layer kernel: packed product + fused cell per step)")
}

/// Counts for [`crate::PlanStats`].
pub(crate) fn stats(plan: &Plan, s: &mut crate::PlanStats) {
    s.folded_constants += plan.const_values.len() + plan.const_multi.len();
    s.buffer_slots += plan.slot_sizes.len();
    s.buffer_bytes += plan.slot_sizes.iter().sum::<usize>() * 4;
    let mut packed = std::collections::HashSet::new();
    for step in &plan.steps {
        if let Kind::Gemm(GemmStep {
            b: GemmB::Packed(p, _),
            ..
        }) = &step.kind
        {
            packed.insert(std::sync::Arc::as_ptr(p));
        }
        match &step.kind {
            Kind::Fallback {
                op,
                per_size: Some(_),
                ..
            } => s.per_size_ops.push(op.name()),
            Kind::Fallback { op, .. } => s.fallback_ops.push(op.name()),
            Kind::Typed { .. } => s.typed += 1,
            Kind::Gemm(g) => {
                s.gemm += 1;
                if let Some(e) = &g.epilogue {
                    s.fused_ops += e.prog.label.split('+').count();
                }
            }
            Kind::Conv(c) => {
                s.conv += 1;
                if let Some(e) = &c.epilogue {
                    s.fused_ops += e.prog.label.split('+').count();
                }
            }
            Kind::ConvTranspose(_) => s.conv += 1,
            Kind::Fused { prog, .. } => {
                s.fused_groups += 1;
                s.fused_ops += prog.label.split('+').count();
            }
            Kind::Alias { .. } => s.reshapes += 1,
            Kind::Pool { .. } => s.pools += 1,
            Kind::Permute { .. } => s.permutes += 1,
            Kind::Softmax { .. } => s.softmaxes += 1,
            Kind::LayerNorm { .. } | Kind::GroupNorm { .. } => s.layer_norms += 1,
            Kind::View { .. } => s.views += 1,
            Kind::Attention { .. } => s.attentions += 1,
            Kind::Reduce { .. } => s.reductions += 1,
            Kind::Gather { .. } => s.gathers += 1,
            Kind::Roll { .. } | Kind::Pad { .. } => s.views += 1,
            Kind::Lanes { .. } => s.lanes += 1,
            Kind::Recurrent { .. } => s.recurrent += 1,
            Kind::Bmm { .. } => s.gemm += 1,
            Kind::Concat { .. } => s.concats += 1,
            Kind::Upsample { .. } => s.upsamples += 1,
            Kind::Compare { .. } => s.compares += 1,
            Kind::HigherOrder { op, subplans, .. } => {
                match op.name() {
                    "cond" => s.conds += 1,
                    "map_impl" => s.maps += 1,
                    _ => {}
                }
                for b in subplans {
                    if let Some(p) = plan.subplans.get(*b) {
                        stats(p, s);
                    }
                }
            }
            Kind::GetItem { .. } => {}
        }
    }
    s.packed_weights += packed.len();
}

/// The node of a value, for messages.
pub(crate) fn node_name(plan: &Plan, v: V) -> &str {
    plan.names.get(v).map_or("?", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's `view` rule: dims contiguous with each other in the layout split and
    /// merge; dims a permute pulled apart do not merge.
    #[test]
    fn strided_layouts_reshape_only_within_their_contiguous_runs() {
        // A select of a permuted [3, 6, 4, 16]: [6, 4, 16], strides (48, 288, 1).
        let (xs, xst) = ([6, 4, 16], [48, 288, 1]);
        assert_eq!(
            reshaped_strides(&xs, &xst, &[6, 4, 2, 8]),
            Some(vec![48, 288, 8, 1])
        );
        assert_eq!(reshaped_strides(&xs, &xst, &[6, 64]), None);
        assert_eq!(
            reshaped_strides(&xs, &xst, &[2, 3, 4, 16]),
            Some(vec![144, 48, 288, 1])
        );
        assert_eq!(reshaped_strides(&xs, &xst, &[24, 16]), None);
        // A transpose of [4, 3].
        assert_eq!(reshaped_strides(&[3, 4], &[1, 3], &[12]), None);
        assert_eq!(
            reshaped_strides(&[3, 4], &[1, 3], &[3, 2, 2]),
            Some(vec![1, 6, 3])
        );
        // Size-1 dims, whatever their strides, come and go.
        assert_eq!(
            reshaped_strides(&[1, 5], &[999, 2], &[5, 1]),
            Some(vec![2, 2])
        );
        // Through `layout_over`: a permute then a select then a split of the last dim,
        // against the elements' offsets counted by hand.
        let int = |s: &SymInt| s.as_int().ok_or_else(|| "not a number".to_string());
        let (at, st) = ViewOp::Permute {
            dims: vec![1, 0, 2],
        }
        .layout_over((5, &[2, 3, 4], &[12, 4, 1]), &[3, 2, 4], int)
        .unwrap();
        assert_eq!((at, &st[..]), (5, &[4, 12, 1][..]));
        let (at, st) = ViewOp::Select {
            dim: 0,
            index: SymInt::Int(2),
        }
        .layout_over((at, &[3, 2, 4], &st), &[2, 4], int)
        .unwrap();
        assert_eq!((at, &st[..]), (13, &[12, 1][..]));
        let (at, st) = ViewOp::Reshape
            .layout_over((at, &[2, 4], &st), &[2, 2, 2], int)
            .unwrap();
        assert_eq!((at, &st[..]), (13, &[12, 2, 1][..]));
        assert!(ViewOp::Reshape
            .layout_over((0, &[3, 2], &[1, 3]), &[6], int)
            .is_err());
    }
}
