//! Running a [`Plan`]: values live in an environment indexed by node; planned outputs
//! in the arena's reusable f32 slots; everything else as eager storages.

use std::borrow::Cow;

use ferrex::error::{SourceLocation, TensorError};
use std::cell::RefCell;

use ferrex::graph::{call_higher_order, Arg, Argument, HigherOrderOp};
use ferrex::ops::rnn::{recurrent_layers, RecurrentSpec};
use ferrex::ops::{run_eager, OpDef, Value};
use ferrex::program::{storages_of, Bindings};
use ferrex::symbolic::{Expr, SymInt};
use ferrex::tensor::{view_to_vec, Storage, Tensor, TensorMeta};
use ferrex::RunError;

use crate::fused::{Access, ChainOperand, ChainStep, FusedProgram, Input};
use crate::plan::{
    node_name, Epilogue, GemmB, InputSource, Kind, NodeInfo, Operand, PerSize, Plan, ReadView,
    Step, ViewOp, V,
};
use ferrex_kernels::threads::{num_threads, PAR_MIN_MACS};
use ferrex_kernels::{self as kernels, ConvGeom, Mat};

mod steps;

/// A matrix view of `data`: `[rows, cols]` with strides `[rs, cs]`.
fn mat(data: &[f32], [rows, cols]: [usize; 2], [rs, cs]: [usize; 2]) -> Mat<'_, f32> {
    Mat {
        data,
        rows,
        cols,
        rs,
        cs,
    }
}

/// The reusable buffers of a plan (and of its `cond` branches).
#[derive(Debug, Default)]
pub(crate) struct Arena {
    slots: Vec<Vec<f32>>,
    subs: Vec<Arena>,
}

impl Arena {
    /// Buffers of the planned sizes (the example input's), allocated once.
    pub(crate) fn for_plan(plan: &Plan) -> Arena {
        Arena {
            // Empty until first written: each step grows its slot to the size it needs,
            // through the bounded allocation (planned sizes come from a possibly hostile
            // file, and are only an example).
            slots: plan.slot_sizes.iter().map(|_| Vec::new()).collect(),
            subs: plan.subplans.iter().map(Arena::for_plan).collect(),
        }
    }
}

/// Step functions shared by the plan's runner and generated code (`ferrex-aot`), so
/// both compute the same numbers with the same kernels.
///
/// `beta * init`, broadcast to `[m, n]`, written into `out` (`addmm`'s bias, the first
/// half of a GEMM step with a bias).
pub fn bias_init(
    init: &[f32],
    init_shape: &[usize],
    beta: f32,
    [m, n]: [usize; 2],
    out: &mut [f32],
) -> Result<(), String> {
    let access = Access::of(init_shape, &[m, n]).ok_or_else(|| {
        format!("the bias of shape {init_shape:?} does not broadcast to [{m}, {n}]")
    })?;
    crate::fused::broadcast_into(&Input { data: init, access }, &[m, n], out)?;
    if beta != 1.0 {
        out.iter_mut().for_each(|v| *v *= beta);
    }
    Ok(())
}

/// A constant GEMM weight packed for the own GEMM: `data` is a row-major `[r, c]`
/// matrix, the `B` operand itself (`[k, n]`) or, `transposed` (`linear`'s `[n, k]`
/// weight), read as its transpose.
pub fn pack(
    data: &[f32],
    [r, c]: [usize; 2],
    transposed: bool,
) -> Result<kernels::PackedB, kernels::KernelError> {
    let mat = if transposed {
        Mat {
            data,
            rows: c,
            cols: r,
            rs: 1,
            cs: c,
        }
    } else {
        Mat::row_major(data, r, c)
    };
    kernels::PackedB::pack(mat)
}

/// An inference batch norm as a per-channel affine map: `x * scale + shift`, from its
/// weight and bias (absent: 1 and 0), running mean and variance — computed in f64 by the
/// eager op's own `ferrex_kernels::norm::batch_norm_scale_shift`, rounded to f32. `None`
/// when the lengths differ.
pub fn batch_norm_affine(
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> Option<(Vec<f32>, Vec<f32>)> {
    let c = mean.len();
    if var.len() != c || weight.is_some_and(|w| w.len() != c) || bias.is_some_and(|b| b.len() != c)
    {
        return None;
    }
    let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let (weight, bias) = (weight.map(wide), bias.map(wide));
    let (scale, shift) = kernels::norm::batch_norm_scale_shift(
        weight.as_deref(),
        bias.as_deref(),
        &wide(mean),
        &wide(var),
        eps,
    )
    .ok()?;
    let narrow = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    Some((narrow(scale), narrow(shift)))
}

/// A convolution's epilogue as [`conv_fused`] takes it: the program, its inputs
/// (`(data, sizes)`) and the output's rank.
pub type ConvEpilogueArgs<'a> = (&'a FusedProgram, &'a [(&'a [f32], &'a [usize])], usize);

/// A convolution (`x` `[batch, c_in, h, w]`; the weight's data and, optionally, the
/// weight as the kernel prepared it for `g`, [`kernels::ConvWeight`]) and its epilogue
/// `prog` (inputs as for [`fused`], broadcast against the output as the graph has it:
/// `out_rank` 3 for a 1-D convolution's `[N, C, L]`): a chain of steps on the output
/// ([`FusedProgram::output_chain`]) whose inputs the kernel can read runs in the
/// convolution's tiles ([`kernels::conv2d_prepared`]); any other program runs after,
/// over the output.
pub fn conv_fused(
    x: &[f32],
    batch: usize,
    weight: (&[f32], Option<&kernels::ConvWeight>),
    bias: Option<&[f32]>,
    g: &ConvGeom,
    (prog, inputs, out_rank): ConvEpilogueArgs<'_>,
    out: &mut [f32],
) -> Result<(), String> {
    let shape = [batch, g.c_out, g.oh, g.ow];
    // A 1-D convolution (`out_rank` 3) runs over `[N, C, 1, L]`: its chain's inputs,
    // broadcast against `[N, C, L]`, get the height-1 dim too (a batch norm's `[C, 1]`
    // is `[C, 1, 1]`).
    let sizes: Vec<Vec<usize>> = (inputs.iter())
        .map(|(_, s)| match (out_rank, s.len()) {
            (3, r @ 0..=3) => {
                let mut four = vec![1; 3 - r];
                four.extend_from_slice(s);
                four.insert(2, 1);
                four
            }
            _ => s.to_vec(),
        })
        .collect();
    let inputs: Vec<(&[f32], &[usize])> = (inputs.iter().zip(&sizes))
        .map(|((d, _), s)| (*d, &s[..]))
        .collect();
    let chain = prog.output_chain();
    if let Some(steps) = chain.and_then(|c| conv_epilogue_steps(&c, &inputs, &shape)) {
        return Ok(kernels::conv2d_prepared(
            x, batch, weight, bias, g, &steps, out,
        )?);
    }
    kernels::conv2d_prepared(x, batch, weight, bias, g, &[], out)?;
    fused(prog, &inputs, &shape, out)
}

/// A convolution epilogue's chain ([`FusedProgram::output_chain`]) as the kernel's
/// steps, its inputs (`(data, sizes)`) read per output channel (`[c, 1, 1]` after
/// leading ones), as the output itself (`shape`), or as one value; `None` when an input
/// is read otherwise.
fn conv_epilogue_steps<'a>(
    chain: &[ChainStep],
    inputs: &[(&'a [f32], &[usize])],
    shape: &[usize],
) -> Option<Vec<kernels::ConvEpilogueStep<'a>>> {
    use kernels::{ConvEpilogueStep as Step, EpilogueOperand as Of};
    let channels = shape.get(1).copied()?;
    let operand = |x: ChainOperand| -> Option<Of<'a>> {
        let &(data, sizes) = match x {
            ChainOperand::Const(c) => return Some(Of::Scalar(c)),
            ChainOperand::Input(i) => inputs.get(i)?,
        };
        let numel: usize = sizes.iter().product();
        let core = &sizes[sizes.iter().take_while(|&&d| d == 1).count()..];
        match () {
            _ if data.len() < numel => None,
            _ if numel == 1 => data.first().map(|&v| Of::Scalar(v)),
            _ if sizes == shape => Some(Of::Output(&data[..numel])),
            _ if sizes.len() <= shape.len() && core == [channels, 1, 1] => {
                Some(Of::Channel(&data[..numel]))
            }
            _ => None,
        }
    };
    chain
        .iter()
        .map(|step| match *step {
            ChainStep::Relu => Some(Step::Relu),
            ChainStep::Unary(op) => Some(Step::Unary(op)),
            ChainStep::Binary { op, x, x_first } => Some(Step::Binary {
                op,
                x: operand(x)?,
                x_first,
            }),
        })
        .collect()
}

pub fn fused(
    prog: &FusedProgram,
    inputs: &[(&[f32], &[usize])],
    shape: &[usize],
    out: &mut [f32],
) -> Result<(), String> {
    fused_on(prog, inputs, shape, out, num_threads())
}

/// The threads a product's epilogue runs on: the pool's when the product itself was
/// split over it (`sgemm::splits_product` for a packed weight; for two run-time
/// operands, the multiply-add bound below which no kernel `gemm` picks splits), else 1
/// — the output is in this core's cache.
pub fn epilogue_threads(m: usize, n: usize, k: usize, packed: Option<&kernels::PackedB>) -> usize {
    let split = match packed {
        Some(p) => kernels::sgemm::splits_product(m, n, k, p),
        None => m.saturating_mul(n).saturating_mul(k) >= PAR_MIN_MACS,
    };
    if split {
        num_threads()
    } else {
        1
    }
}

/// Where a fused input read through a view starts in its value's data, the viewed sizes
/// and the strides ([`crate::plan::ReadView`]).
pub type InputView<'a> = (usize, &'a [usize], &'a [usize]);

/// [`fused`] with inputs read through views ([`fused_views_on`], on the pool's threads).
pub fn fused_views(
    prog: &FusedProgram,
    inputs: &[(&[f32], &[usize])],
    views: &[Option<InputView<'_>>],
    shape: &[usize],
    out: &mut [f32],
) -> Result<(), String> {
    fused_views_on(prog, inputs, views, shape, out, num_threads())
}

/// [`fused_on`] with inputs read through views (`views[i]`, for input `i`; missing: read
/// as they are): a chunk, slice or permute read in place rather than copied first.
pub fn fused_views_on(
    prog: &FusedProgram,
    inputs: &[(&[f32], &[usize])],
    views: &[Option<InputView<'_>>],
    shape: &[usize],
    out: &mut [f32],
    threads: usize,
) -> Result<(), String> {
    let ins = (inputs.iter().enumerate())
        .map(|(i, input)| match views.get(i).copied().flatten() {
            None => fused_input(input, shape),
            Some((at, sizes, strides)) => {
                let data = (input.0.get(at..)).ok_or_else(|| {
                    format!("a view of {:?} from element {at} is out of bounds", input.1)
                })?;
                Access::of_view(sizes, strides, shape)
                    .map(|access| Input { data, access })
                    .ok_or_else(|| format!("cannot broadcast {sizes:?} to {shape:?}"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    prog.run_on(&ins, shape, out, threads)
}

/// [`fused`] on at most `threads` threads ([`FusedProgram::run_on`]).
pub fn fused_on(
    prog: &FusedProgram,
    inputs: &[(&[f32], &[usize])],
    shape: &[usize],
    out: &mut [f32],
    threads: usize,
) -> Result<(), String> {
    // A few inputs (an epilogue's bias or residual) are gathered without allocating.
    match inputs {
        [] => prog.run_on(&[], shape, out, threads),
        [a] => prog.run_on(&[fused_input(a, shape)?], shape, out, threads),
        [a, b] => prog.run_on(
            &[fused_input(a, shape)?, fused_input(b, shape)?],
            shape,
            out,
            threads,
        ),
        _ => {
            let ins = (inputs.iter())
                .map(|i| fused_input(i, shape))
                .collect::<Result<Vec<_>, _>>()?;
            prog.run_on(&ins, shape, out, threads)
        }
    }
}

/// A bool attention mask as loaded (1 where it keeps a score, 0 where it masks it:
/// [`crate::fused::as_f32`]) as the kernel's additive terms: 0 and -inf, as the eager
/// op converts a bool mask (ATen's `convert_boolean_attn_mask`).
pub fn keep_mask_additive(keep: &[f32]) -> Vec<f32> {
    let mut mask = keep.to_vec();
    keep_mask_additive_in_place(&mut mask);
    mask
}

/// [`keep_mask_additive`] of a mask already loaded into a buffer of its own (the plan's
/// bool mask, just converted): no second buffer.
fn keep_mask_additive_in_place(mask: &mut [f32]) {
    for k in mask {
        *k = if *k != 0.0 { 0.0 } else { f32::NEG_INFINITY };
    }
}

/// A fused input `(data, sizes)` read broadcast to `shape`.
fn fused_input<'a>(
    (data, sizes): &(&'a [f32], &[usize]),
    shape: &[usize],
) -> Result<Input<'a>, String> {
    Access::of(sizes, shape)
        .map(|access| Input { data, access })
        .ok_or_else(|| format!("cannot broadcast {sizes:?} to {shape:?}"))
}

/// A higher-order op (`cond`, `map_impl`) on its bound argument values, its subgraphs
/// run by `run`: the op's own definition (`call_higher_order`: `cond` picks a branch by
/// its predicate, `map_impl` runs the body per slice and stacks), the first subgraph
/// error returned as is, a failed result worded by `fail` (the step's error).
pub fn higher_order(
    op: &'static dyn HigherOrderOp,
    values: &[Value],
    run: ferrex::graph::RunSubgraphOf<'_, Tensor, RunError>,
    metas: &[TensorMeta],
    at: SourceLocation,
    fail: &dyn Fn(&dyn std::fmt::Display) -> RunError,
) -> Result<Vec<Storage>, RunError> {
    call_higher_order(op, values, run, metas, at)?
        .iter()
        .map(|t| t.try_storage().map_err(|e| fail(&e)))
        .collect()
}

/// An epilogue's addend ([`Run::addend`]): its data, and whether ReLU follows.
type Addend<'s> = (Cow<'s, [f32]>, bool);

#[derive(Clone, Debug)]
enum Val {
    Empty,
    Store(Storage),
    /// `shape`'s elements of buffer `slot`, from element `at` (a select or slice of a
    /// value there, [`Kind::Alias`]).
    Slot {
        slot: usize,
        at: usize,
        shape: Vec<usize>,
    },
    Multi(Vec<Storage>),
}

fn kernel_error(info: &NodeInfo, message: impl Into<String>) -> RunError {
    step_error(&info.name, &info.op, info.source, message)
}

/// The error of a step that failed: node `node` (op `op`, at `source`) and what went
/// wrong, as the interpreter words a failed kernel.
pub fn step_error(
    node: &str,
    op: &str,
    source: Option<SourceLocation>,
    message: impl Into<String>,
) -> RunError {
    RunError::Kernel {
        node: node.to_string(),
        source: TensorError::Op {
            op: op.to_string(),
            message: message.into(),
            at: source.unwrap_or(SourceLocation::GRAPH),
        },
    }
}

struct Run<'a> {
    plan: &'a Plan,
    bindings: &'a Bindings,
    env: Vec<Val>,
}

/// Per-step wall times of one call, when profiling.
pub(crate) type Profile = Vec<(String, std::time::Duration)>;

impl Run<'_> {
    /// Where `view` of a contiguous value of sizes `xs` starts and its strides, for an
    /// output of sizes `out`, its bounds at this call's bindings.
    fn view_layout(
        &self,
        view: &ViewOp,
        xs: &[usize],
        out: &[usize],
    ) -> Result<(usize, Vec<usize>), String> {
        view.layout(xs, out, |s| Ok(self.bindings.value(s)))
    }

    /// The concrete sizes of a step's result, whose element count is checked to fit
    /// (so the kernels' products of these sizes cannot overflow).
    fn sizes(&self, sizes: &[SymInt]) -> Result<Vec<usize>, String> {
        let out: Vec<usize> = sizes
            .iter()
            .map(|s| {
                let v = self.bindings.value(s);
                usize::try_from(v).map_err(|_| format!("size {s} evaluates to {v}"))
            })
            .collect::<Result<_, _>>()?;
        if out
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(format!("the sizes {out:?} overflow"));
        }
        Ok(out)
    }

    /// The eager storage of a value (a planned buffer is copied out).
    fn storage(&self, v: V, arena: &Arena) -> Result<Storage, RunError> {
        let missing = || {
            RunError::Malformed(format!(
                "`{}` is read before it is computed",
                node_name(self.plan, v)
            ))
        };
        match self.env.get(v).ok_or_else(missing)? {
            Val::Store(s) => Ok(s.clone()),
            Val::Multi(m) => m.first().cloned().ok_or_else(missing),
            Val::Slot { slot, at, shape } => {
                let n: usize = shape.iter().product();
                let data = arena
                    .slots
                    .get(*slot)
                    .and_then(|b| b.get(*at..at.checked_add(n)?))
                    .ok_or_else(missing)?;
                Storage::from_vec(shape, data.to_vec()).ok_or_else(missing)
            }
            Val::Empty => Err(missing()),
        }
    }

    /// The f32 data (row-major) and shape of an operand.
    fn data<'s>(
        &'s self,
        o: Operand,
        arena: &'s Arena,
    ) -> Result<(Cow<'s, [f32]>, Vec<usize>), String> {
        let from_storage = |s: &'s Storage| -> Result<(Cow<'s, [f32]>, Vec<usize>), String> {
            match s {
                Storage::F32(a) => Ok((
                    match a.as_slice() {
                        Some(x) => Cow::Borrowed(x),
                        None => Cow::Owned(view_to_vec(&a.view())),
                    },
                    a.shape().to_vec(),
                )),
                // Bool or integer data (a `where`'s condition, a cast mask) as a fused
                // step loads it; the planner gives other steps f32 operands only.
                other => Ok((
                    Cow::Owned(ferrex::with_storage!(other, a => match a.as_slice() {
                        Some(x) => crate::fused::as_f32(x.iter().copied()),
                        None => crate::fused::as_f32(a.iter().copied()),
                    })),
                    other.shape().to_vec(),
                )),
            }
        };
        match o {
            Operand::Const(c) => from_storage(
                self.plan
                    .consts
                    .get(c)
                    .ok_or_else(|| format!("constant {c} is missing"))?,
            ),
            Operand::Val(v) => match self.env.get(v) {
                Some(Val::Store(s)) => from_storage(s),
                Some(Val::Slot { slot, at, shape }) => {
                    let n: usize = shape.iter().product();
                    let data = arena
                        .slots
                        .get(*slot)
                        .and_then(|b| b.get(*at..at.checked_add(n)?))
                        .ok_or_else(|| {
                            format!(
                                "buffer slot {slot} is smaller than `{}`",
                                node_name(self.plan, v)
                            )
                        })?;
                    Ok((Cow::Borrowed(data), shape.clone()))
                }
                _ => Err(format!(
                    "`{}` is read before it is computed",
                    node_name(self.plan, v)
                )),
            },
        }
    }

    fn value(&self, a: &Arg, arena: &Arena) -> Result<Value, RunError> {
        let value = a.try_map(|id| self.storage(id.0, arena).map(Tensor::from_storage))?;
        Ok(value.map_sizes(|i| SymInt::Int(self.bindings.value(i))))
    }

    /// Runs an epilogue in place on `buf`, on at most `threads` threads.
    fn epilogue(
        &self,
        e: &Epilogue,
        shape: &[usize],
        buf: &mut [f32],
        arena: &Arena,
        threads: usize,
    ) -> Result<(), String> {
        self.run_fused(&e.prog, &e.inputs, shape, buf, arena, threads)
    }

    /// A fused chain over `shape` into `buf`, its inputs read from the step's operands.
    fn run_fused(
        &self,
        prog: &FusedProgram,
        operands: &[Operand],
        shape: &[usize],
        buf: &mut [f32],
        arena: &Arena,
        threads: usize,
    ) -> Result<(), String> {
        let data = operands
            .iter()
            .map(|o| self.data(*o, arena))
            .collect::<Result<Vec<_>, _>>()?;
        let inputs: Vec<(&[f32], &[usize])> = data.iter().map(|(d, s)| (&d[..], &s[..])).collect();
        fused_on(prog, &inputs, shape, buf, threads)
    }

    fn gemm(
        &self,
        step: &Step,
        g: &crate::plan::GemmStep,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (a, a_shape) = self.data(g.a, arena)?;
        let k = a_shape.last().copied().unwrap_or(1);
        let m: usize = a_shape[..a_shape.len().saturating_sub(1)].iter().product();
        let (b, n) = self.gemm_b(&g.b, m, k, arena)?;
        let shape = self.sizes(&step.sizes)?;
        if shape.iter().product::<usize>() != m * n || shape.last().copied().unwrap_or(1) != n {
            return Err(format!(
                "the product of {a_shape:?} and a [{k}, {n}] matrix is not {shape:?}"
            ));
        }
        let len = m * n;
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let out = &mut buf[..len];
        let am = Mat {
            data: &a,
            rows: m,
            cols: k,
            rs: k,
            cs: 1,
        };
        let init = |out: &mut [f32]| match g.init {
            Some((init, beta)) => self.gemm_init(init, beta, [m, n], out, arena).map(|()| 1.0),
            None => Ok(0.0),
        };
        match &g.b {
            GemmB::Packed(p, _) => {
                // A bias row, an addend of the output's shape, a ReLU and any other
                // function of the output alone are applied where the tiles store (or to
                // the rows just stored): the bits of doing them around the product,
                // without their passes over `out`.
                let unary = g.epilogue.as_ref().and_then(|e| e.prog.unary_of_output());
                let relu = unary == Some(kernels::pointwise::Unary::Relu);
                let addend = match &g.epilogue {
                    Some(e) if unary.is_none() => self.addend(e, &shape, arena)?,
                    _ => None,
                };
                let bias = self.bias_row(g.init, n, arena)?;
                let beta = if bias.is_some() { 1.0 } else { init(out)? };
                let epilogue = kernels::GemmEpilogue {
                    bias: bias.as_deref(),
                    relu: relu || addend.as_ref().is_some_and(|a| a.1),
                    addend: addend.as_ref().map(|a| &a.0[..]),
                    unary: unary.filter(|_| !relu),
                };
                kernels::gemm_packed_epilogue(g.alpha, am, p, beta, epilogue, out)?;
                let done = unary.is_some() || addend.is_some();
                if let Some(e) = g.epilogue.as_ref().filter(|_| !done) {
                    let threads = epilogue_threads(m, n, k, Some(p));
                    self.epilogue(e, &shape, out, arena, threads)?;
                }
            }
            GemmB::Dynamic(_) => {
                let beta = init(out)?;
                kernels::gemm(g.alpha, am, mat(&b, [k, n], [n, 1]), beta, out)?;
                if let Some(e) = &g.epilogue {
                    let threads = epilogue_threads(m, n, k, None);
                    self.epilogue(e, &shape, out, arena, threads)?;
                }
            }
        }
        Ok(shape)
    }

    /// The `B` operand of a product with an `[m, k]` left operand, and its `n`.
    fn gemm_b<'s>(
        &'s self,
        b: &GemmB,
        m: usize,
        k: usize,
        arena: &'s Arena,
    ) -> Result<(Cow<'s, [f32]>, usize), String> {
        match b {
            GemmB::Packed(p, _) => {
                let [bk, n] = p.shape();
                if bk != k {
                    return Err(format!(
                        "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {bk}x{n})"
                    ));
                }
                Ok((Cow::Borrowed(&[][..]), n))
            }
            GemmB::Dynamic(o) => {
                let (data, shape) = self.data(*o, arena)?;
                if shape.len() != 2 || shape[0] != k {
                    return Err(format!(
                        "mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {})",
                        shape
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join("x")
                    ));
                }
                Ok((data, shape[1]))
            }
        }
    }

    /// `beta * init` as one row of `n` floats, when `init` is a bias of `n` values (shape
    /// `[n]` or `[1, n]`); `None` for no init or any other broadcast.
    fn bias_row<'s>(
        &'s self,
        init: Option<(Operand, f32)>,
        n: usize,
        arena: &'s Arena,
    ) -> Result<Option<Cow<'s, [f32]>>, String> {
        let Some((init, beta)) = init else {
            return Ok(None);
        };
        let (d, s) = self.data(init, arena)?;
        if !(s == [n] || s == [1, n]) || d.len() != n {
            return Ok(None);
        }
        Ok(Some(if beta == 1.0 {
            d
        } else {
            Cow::Owned(d.iter().map(|v| v * beta).collect())
        }))
    }

    /// The data an epilogue `out + x` (and whether ReLU follows) adds, where `x` has the
    /// output's elements in order ([`FusedProgram::addend_of_output`]).
    fn addend<'s>(
        &'s self,
        e: &Epilogue,
        shape: &[usize],
        arena: &'s Arena,
    ) -> Result<Option<Addend<'s>>, String> {
        let Some((input, relu)) = e.prog.addend_of_output() else {
            return Ok(None);
        };
        let Some(&operand) = e.inputs.get(input) else {
            return Ok(None);
        };
        let (data, sizes) = self.data(operand, arena)?;
        // Read in order (`[8, 512]` for a `[1, 8, 512]` product), not broadcast.
        let in_order = matches!(Access::of(&sizes, shape), Some(Access::Same));
        Ok(in_order.then_some((data, relu)))
    }

    /// Writes `beta * init`, broadcast to `[m, n]`, into `out` (`addmm`'s bias).
    fn gemm_init(
        &self,
        init: Operand,
        beta: f32,
        [m, n]: [usize; 2],
        out: &mut [f32],
        arena: &Arena,
    ) -> Result<(), String> {
        let (d, s) = self.data(init, arena)?;
        bias_init(&d, &s, beta, [m, n], out)
    }

    /// A convolution's constant weight and optional bias.
    #[allow(clippy::type_complexity)]
    fn weight_and_bias<'s>(
        &'s self,
        weight: usize,
        bias: Option<usize>,
        arena: &'s Arena,
    ) -> Result<(Cow<'s, [f32]>, Option<Cow<'s, [f32]>>), String> {
        let (w, _) = self.data(Operand::Const(weight), arena)?;
        let bias = match bias {
            Some(b) => Some(self.data(Operand::Const(b), arena)?.0),
            None => None,
        };
        Ok((w, bias))
    }

    /// A transposed convolution into the step's sizes (a 1-D one's `[N, C, L]` as
    /// `[N, C, 1, L]`).
    fn conv_transpose(
        &self,
        step: &Step,
        c: &crate::plan::ConvTransposeStep,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (x, xs) = self.data(c.x, arena)?;
        let shape = self.sizes(&step.sizes)?;
        let (batch, input, output) = match (&xs[..], &shape[..]) {
            (&[n, ci, h, w], &[_, co, oh, ow]) if ci == c.c_in && co == c.c_out => {
                (n, [h, w], [oh, ow])
            }
            (&[n, ci, l], &[_, co, ol]) if ci == c.c_in && co == c.c_out => (n, [1, l], [1, ol]),
            _ => return Err(format!("a transposed convolution of {xs:?} into {shape:?}")),
        };
        let geom = kernels::conv::TransposedConv {
            batch,
            c_in: c.c_in,
            c_out: c.c_out,
            groups: c.groups,
            input,
            kernel: c.kernel,
            output,
            stride: c.stride,
            pad: c.pad,
            dilation: c.dilation,
        };
        let len: usize = shape.iter().product();
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let (w, bias) = self.weight_and_bias(c.weight, c.bias, arena)?;
        kernels::conv::conv_transpose(&x, &w, bias.as_deref(), &geom, &mut buf[..len])?;
        Ok(shape)
    }

    fn conv(
        &self,
        c: &crate::plan::ConvStep,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (x, given) = self.data(c.x, arena)?;
        // A 1-D convolution's `[N, C, L]` is `[N, C, 1, L]`; its output keeps rank 3.
        let xs = match given[..] {
            [n, ch, l] => vec![n, ch, 1, l],
            _ => given.clone(),
        };
        if xs.len() != 4 || xs[1] != c.c_in {
            return Err(format!(
                "expected an input of shape [N, {}, H, W] or [N, {0}, L], got {given:?}",
                c.c_in
            ));
        }
        let dim = |i: usize, k, s, p, d| {
            ConvGeom::out_dim(xs[i], k, s, p, d).ok_or_else(|| {
                format!(
                    "the kernel ({}x{}) does not fit the padded input {xs:?}",
                    c.kh, c.kw
                )
            })
        };
        let g = ConvGeom {
            c_in: c.c_in,
            h: xs[2],
            w: xs[3],
            c_out: c.c_out,
            kh: c.kh,
            kw: c.kw,
            stride: c.stride,
            pad: c.pad,
            dilation: c.dilation,
            groups: c.groups,
            oh: dim(2, c.kh, c.stride[0], c.pad[0], c.dilation[0])?,
            ow: dim(3, c.kw, c.stride[1], c.pad[1], c.dilation[1])?,
        };
        let shape = match given.len() {
            3 => vec![xs[0], c.c_out, g.ow],
            _ => vec![xs[0], c.c_out, g.oh, g.ow],
        };
        let len: usize = shape.iter().product();
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let (w, bias) = self.weight_and_bias(c.weight, c.bias, arena)?;
        let prepared = c.prepared.prepared_for(&w, &g)?;
        let weight = (&w[..], Some(&*prepared));
        let out = &mut buf[..len];
        match &c.epilogue {
            None => kernels::conv2d_prepared(&x, xs[0], weight, bias.as_deref(), &g, &[], out)?,
            Some(e) => {
                let data = (e.inputs.iter())
                    .map(|o| self.data(*o, arena))
                    .collect::<Result<Vec<_>, _>>()?;
                let inputs: Vec<(&[f32], &[usize])> =
                    data.iter().map(|(d, s)| (&d[..], &s[..])).collect();
                let epilogue = (&e.prog, &inputs[..], shape.len());
                conv_fused(&x, xs[0], weight, bias.as_deref(), &g, epilogue, out)?;
            }
        }
        Ok(shape)
    }

    fn pool(
        &self,
        x: Operand,
        (win, ceil): (&kernels::PoolWindow, bool),
        avg: Option<kernels::AvgDivisor>,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (x, xs) = self.data(x, arena)?;
        if xs.len() != 4 {
            return Err(format!("expected a 4-D input, got {xs:?}"));
        }
        let dim = |i: usize, j: usize| {
            kernels::pooled_dim(xs[i], win.k[j], win.s[j], win.p[j], win.d[j], ceil)
                .ok_or_else(|| format!("the pooling window does not fit the input {xs:?}"))
        };
        let (oh, ow) = (dim(2, 0)?, dim(3, 1)?);
        let shape = vec![xs[0], xs[1], oh, ow];
        let len: usize = shape.iter().product();
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let (planes, out) = (xs[0] * xs[1], &mut buf[..len]);
        match avg {
            None => kernels::max_pool2d(&x, planes, xs[2], xs[3], win, oh, ow, out)?,
            Some(d) => kernels::avg_pool2d(&x, planes, xs[2], xs[3], win, d, oh, ow, out)?,
        }
        Ok(shape)
    }

    fn softmax(
        &self,
        x: Operand,
        dim: usize,
        [log, safe]: [bool; 2],
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (x, xs) = self.data(x, arena)?;
        let geom = match xs.len() {
            0 => [1, 1, 1],
            r if dim < r => [
                xs[..dim].iter().product(),
                xs[dim],
                xs[dim + 1..].iter().product(),
            ],
            _ => return Err(format!("dim {dim} is out of range for {xs:?}")),
        };
        let len: usize = xs.iter().product();
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        match safe {
            true => kernels::norm::safe_softmax(&x, geom, &mut buf[..len])?,
            false => kernels::norm::softmax(&x, geom, log, &mut buf[..len])?,
        }
        Ok(xs.to_vec())
    }

    /// Layer norm over the trailing `k` dims of `x` (the eager op's kernel, on f32).
    fn layer_norm(
        &self,
        x: Operand,
        k: usize,
        [weight, bias]: [Option<Operand>; 2],
        eps: f64,
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (x, xs) = self.data(x, arena)?;
        let split = xs
            .len()
            .checked_sub(k)
            .ok_or_else(|| format!("layer_norm over {k} dims of {xs:?}"))?;
        let rows: usize = xs[..split].iter().product();
        let n: usize = xs[split..].iter().product();
        let weight = weight.map(|w| self.data(w, arena)).transpose()?;
        let bias = bias.map(|b| self.data(b, arena)).transpose()?;
        let params = kernels::norm::LayerNormParams {
            weight: weight.as_ref().map(|(w, _)| &w[..]),
            bias: bias.as_ref().map(|(b, _)| &b[..]),
            eps,
        };
        let len = rows * n;
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        kernels::norm::layer_norm(&x, [rows, n], &params, &mut buf[..len], None)?;
        Ok(xs.to_vec())
    }

    fn permute(
        &self,
        x: Operand,
        dims: &[usize],
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let (x, xs) = self.data(x, arena)?;
        if xs.len() != dims.len() {
            return Err(format!("cannot permute {xs:?} by {dims:?}"));
        }
        let shape: Vec<usize> = dims
            .iter()
            .map(|&d| xs.get(d).copied().unwrap_or(0))
            .collect();
        let len: usize = shape.iter().product();
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        kernels::layout::permute(&x, &xs, dims, &mut buf[..len])?;
        Ok(shape)
    }

    fn fused(
        &self,
        step: &Step,
        prog: &FusedProgram,
        (inputs, views): (&[Operand], &[Option<ReadView>]),
        buf: &mut Vec<f32>,
        arena: &Arena,
    ) -> Result<Vec<usize>, String> {
        let shape = self.sizes(&step.sizes)?;
        let len: usize = shape.iter().product();
        ferrex_kernels::try_grow(buf, len, 0.0).map_err(|e| e.to_string())?;
        let out = &mut buf[..len];
        if views.iter().all(Option::is_none) {
            self.run_fused(prog, inputs, &shape, out, arena, num_threads())?;
            return Ok(shape);
        }
        let data = (inputs.iter())
            .map(|o| self.data(*o, arena))
            .collect::<Result<Vec<_>, _>>()?;
        // Each view's geometry on this call's sizes: its start, sizes and strides (laid
        // out at compile time where they were numbers, for a value of the same sizes).
        let mut geometry = Vec::with_capacity(views.len());
        for ((_, xs), view) in data.iter().zip(views) {
            geometry.push(match view {
                None => None,
                Some(ReadView { fixed: Some(f), .. }) if f.of == *xs => None,
                Some(v) => {
                    let sizes = self.sizes(&v.sizes)?;
                    let (at, strides) = self.view_layout(&v.view, xs, &sizes)?;
                    Some((at, sizes, strides))
                }
            });
        }
        let inputs: Vec<(&[f32], &[usize])> = data.iter().map(|(d, s)| (&d[..], &s[..])).collect();
        let views: Vec<Option<InputView>> = (geometry.iter().zip(views))
            .map(|(g, v)| match (g, v) {
                (Some((at, s, st)), _) => Some((*at, &s[..], &st[..])),
                (None, Some(ReadView { fixed: Some(f), .. })) => {
                    Some((f.at, &f.sizes[..], &f.strides[..]))
                }
                (None, _) => None,
            })
            .collect();
        fused_views_on(prog, &inputs, &views, &shape, out, num_threads())?;
        Ok(shape)
    }

    fn operand_storage(&self, o: &Operand, arena: &Arena) -> Result<Storage, RunError> {
        match o {
            Operand::Val(v) => self.storage(*v, arena),
            Operand::Const(c) => self
                .plan
                .consts
                .get(*c)
                .cloned()
                .ok_or_else(|| RunError::Malformed(format!("constant {c} is missing"))),
        }
    }

    /// A higher-order op, run through its definition: each subplan runs in its own
    /// buffers, taken out of the arena for the call.
    fn higher_order(
        &self,
        step: &Step,
        op: &'static dyn HigherOrderOp,
        args: &[Argument<Operand>],
        subplans: &[usize],
        arena: &mut Arena,
    ) -> Result<Vec<Storage>, RunError> {
        // Sizes (a SymBool predicate) bound, as for any call.
        let values = args
            .iter()
            .map(|a| {
                a.try_map(|o| self.operand_storage(o, arena).map(Tensor::from_storage))
                    .map(|v| v.map_sizes(|i| SymInt::Int(self.bindings.value(i))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metas: Vec<TensorMeta> = step
            .metas
            .iter()
            .map(|m| {
                let sizes = m.sizes.iter().map(|s| SymInt::Int(self.bindings.value(s)));
                TensorMeta::new(m.dtype, sizes.collect())
            })
            .collect();
        let mut sub_arenas = Vec::with_capacity(subplans.len());
        for i in subplans {
            let a = arena
                .subs
                .get_mut(*i)
                .ok_or_else(|| RunError::Malformed("a subgraph has no buffers".into()))?;
            sub_arenas.push(RefCell::new(std::mem::take(a)));
        }
        let run = |k: usize, inputs: Vec<Tensor>| -> Result<Vec<Tensor>, RunError> {
            let (Some(plan), Some(sub_arena)) = (
                subplans.get(k).and_then(|i| self.plan.subplans.get(*i)),
                sub_arenas.get(k),
            ) else {
                return Err(RunError::Malformed(format!(
                    "`{}` names a missing subgraph",
                    step.info.name
                )));
            };
            plan.run(
                storages_of(&inputs)?,
                self.bindings,
                &mut sub_arena.borrow_mut(),
            )
        };
        let at = step.info.source.unwrap_or(SourceLocation::GRAPH);
        let fail = |e: &dyn std::fmt::Display| kernel_error(&step.info, e.to_string());
        let out = higher_order(op, &values, &run, &metas, at, &fail);
        for (i, a) in subplans.iter().zip(sub_arenas) {
            if let Some(slot) = arena.subs.get_mut(*i) {
                *slot = a.into_inner();
            }
        }
        out
    }

    fn step(&mut self, step: &Step, arena: &mut Arena) -> Result<(), RunError> {
        match &step.kind {
            Kind::Fallback { op, args, per_size } => {
                self.fallback(step, op, args, per_size.as_ref(), arena)
            }
            Kind::Typed {
                op,
                args,
                view: None,
                ..
            }
            | Kind::Lanes { op, args, .. } => self.fallback(step, op, args, None, arena),
            Kind::Typed {
                inputs,
                view: Some(view),
                ..
            } => {
                let out = self
                    .typed_view(step, inputs, view, arena)
                    .map_err(|e| kernel_error(&step.info, e))?;
                self.env[step.out] = Val::Store(out);
                Ok(())
            }
            Kind::GetItem { src, index } => self.getitem(step, *src, *index, arena),
            Kind::HigherOrder { op, args, subplans } => {
                let out = self.higher_order(step, *op, args, subplans, arena)?;
                self.env[step.out] = Val::Multi(out);
                Ok(())
            }
            Kind::Alias { src, sizes, at } => self.alias(step, *src, sizes, at.as_ref()),
            Kind::Compare { x, op, rhs } => {
                let out = self
                    .compare(*x, *op, *rhs, arena)
                    .map_err(|e| kernel_error(&step.info, e))?;
                self.env[step.out] = Val::Store(out);
                Ok(())
            }
            Kind::Recurrent { spec, args } => self.recurrent(step, spec, args, arena),
            _ => self.planned(step, arena),
        }
    }

    /// Recurrent layers by the layer kernel, on the storages of the step's input,
    /// states and parameters; the results are the step's outputs.
    fn recurrent(
        &mut self,
        step: &Step,
        spec: &RecurrentSpec,
        args: &[V],
        arena: &Arena,
    ) -> Result<(), RunError> {
        let values = (args.iter())
            .map(|&v| self.storage(v, arena))
            .collect::<Result<Vec<_>, _>>()?;
        let fail = |e: &str| kernel_error(&step.info, e);
        let (input, hx, params) = (spec.operands(&values))
            .ok_or_else(|| fail("operands other than the layers' input, states and parameters"))?;
        let out = recurrent_layers(spec, input, hx, params)
            .ok_or_else(|| fail("the layer kernel does not run these operands"))?
            .map_err(|e| fail(&e.0))?;
        self.env[step.out] = Val::Multi(out);
        Ok(())
    }

    /// The registry's eager kernel on the step's values.
    fn fallback(
        &mut self,
        step: &Step,
        op: &'static OpDef,
        args: &[Arg],
        per_size: Option<&PerSize>,
        arena: &Arena,
    ) -> Result<(), RunError> {
        // A call of constants and sizes alone: its results at these sizes, if kept.
        let sizes = per_size.map(|p| {
            let values = p
                .symbols
                .iter()
                .map(|s| self.bindings.eval(&Expr::symbol(*s)));
            (p, values.collect::<Vec<_>>())
        });
        let kept = sizes.as_ref().and_then(|(p, key)| {
            let kept = p.kept.lock().ok()?;
            kept.as_ref()
                .filter(|(at, _)| at == key)
                .map(|(_, storages)| storages.clone())
        });
        let mut storages = match kept {
            Some(storages) => storages,
            None => {
                let values = args
                    .iter()
                    .map(|a| self.value(a, arena))
                    .collect::<Result<Vec<_>, _>>()?;
                let out = run_eager(op, &values).map_err(|e| kernel_error(&step.info, e.0))?;
                let storages = storages_of(&out)?;
                if let Some((p, key)) = sizes {
                    if let Ok(mut kept) = p.kept.lock() {
                        *kept = Some((key, storages.clone()));
                    }
                }
                storages
            }
        };
        if let Some(metas) = self.plan.metas.get(step.out) {
            self.bindings.bind_outputs(metas, &storages);
        }
        self.env[step.out] = if storages.len() == 1 {
            Val::Store(storages.remove(0))
        } else {
            Val::Multi(storages)
        };
        Ok(())
    }

    /// A view of bool or integer data at the step's sizes: its elements gathered
    /// through the view's layout, whatever their dtype.
    fn typed_view(
        &self,
        step: &Step,
        inputs: &[Operand],
        view: &ViewOp,
        arena: &Arena,
    ) -> Result<Storage, String> {
        let x = match inputs.first() {
            Some(Operand::Val(v)) => self.storage(*v, arena).map_err(|e| e.to_string())?,
            Some(Operand::Const(c)) => (self.plan.consts.get(*c).cloned())
                .ok_or_else(|| format!("constant {c} is missing"))?,
            None => return Err("a view of nothing".into()),
        };
        let shape = self.sizes(&step.sizes)?;
        let (at, strides) = self.view_layout(view, x.shape(), &shape)?;
        let len: usize = shape.iter().product();
        let x = x.contiguous();
        ferrex::with_storage!(&x, a => {
            let data = a.as_slice().ok_or("a view of non-contiguous data")?;
            let mut out = kernels::try_filled(len, Default::default()).map_err(|e| e.to_string())?;
            kernels::layout::strided_copy(data, at, &shape, &strides, &mut out)
                .map_err(|e| e.to_string())?;
            Storage::from_vec(&shape, out).ok_or_else(|| format!("a view of sizes {shape:?}"))
        })
    }

    /// Output `index` of a multi-output value (or output 0 of a single one).
    fn getitem(
        &mut self,
        step: &Step,
        src: V,
        index: usize,
        arena: &Arena,
    ) -> Result<(), RunError> {
        let v = match &self.env[src] {
            Val::Multi(m) => m.get(index).cloned(),
            Val::Store(s) if index == 0 => Some(s.clone()),
            Val::Slot { .. } if index == 0 => Some(self.storage(src, arena)?),
            _ => None,
        };
        let v = v.ok_or_else(|| {
            RunError::Malformed(format!(
                "`{}` has no output {index}",
                node_name(self.plan, src)
            ))
        })?;
        self.env[step.out] = Val::Store(v);
        Ok(())
    }

    /// A reshape of a slot: the same buffer with new sizes; or (`view`) the run of it a
    /// select or slice reads.
    fn alias(
        &mut self,
        step: &Step,
        src: V,
        sizes: &[SymInt],
        view: Option<&ViewOp>,
    ) -> Result<(), RunError> {
        let info = &step.info;
        let shape = self.sizes(sizes).map_err(|e| kernel_error(info, e))?;
        let cannot = || format!("cannot view `{}` as {shape:?}", node_name(self.plan, src));
        let Val::Slot {
            slot,
            at,
            shape: old,
        } = &self.env[src]
        else {
            return Err(kernel_error(info, cannot()));
        };
        let (slot, numel) = (*slot, shape.iter().product::<usize>());
        let at = match view {
            None if old.iter().product::<usize>() == numel => *at,
            None => return Err(kernel_error(info, cannot())),
            Some(view) => {
                let (start, _) =
                    (self.view_layout(view, old, &shape)).map_err(|e| kernel_error(info, e))?;
                let end = start
                    .checked_add(numel)
                    .filter(|&e| e <= old.iter().product::<usize>());
                match end {
                    Some(_) => at + start,
                    None => return Err(kernel_error(info, cannot())),
                }
            }
        };
        self.env[step.out] = Val::Slot { slot, at, shape };
        Ok(())
    }

    /// A kernel writing the step's slot (and its epilogue's value, which lives there).
    fn planned(&mut self, step: &Step, arena: &mut Arena) -> Result<(), RunError> {
        let info = &step.info;
        let slot = step
            .slot
            .ok_or_else(|| RunError::Malformed(format!("`{}` has no buffer", info.name)))?;
        if slot >= arena.slots.len() {
            arena.slots.resize_with(slot + 1, Vec::new);
        }
        // The output buffer is taken out while the inputs (other slots) are read.
        let mut buf = std::mem::take(&mut arena.slots[slot]);
        let shape = match &step.kind {
            Kind::Gemm(g) => self.gemm(step, g, &mut buf, arena),
            Kind::Conv(c) => self.conv(c, &mut buf, arena),
            Kind::ConvTranspose(c) => self.conv_transpose(step, c, &mut buf, arena),
            Kind::Fused {
                prog,
                inputs,
                views,
            } => self.fused(step, prog, (inputs, views), &mut buf, arena),
            Kind::Pool { x, win, ceil, avg } => self.pool(*x, (win, *ceil), *avg, &mut buf, arena),
            Kind::Permute { x, dims } => self.permute(*x, dims, &mut buf, arena),
            Kind::Softmax { x, dim, log, safe } => {
                self.softmax(*x, *dim, [*log, *safe], &mut buf, arena)
            }
            Kind::LayerNorm {
                x,
                k,
                weight,
                bias,
                eps,
            } => self.layer_norm(*x, *k, [*weight, *bias], *eps, &mut buf, arena),
            _ => self.planned_more(step, &mut buf, arena),
        };
        arena.slots[slot] = buf;
        let shape = shape.map_err(|e| kernel_error(info, e))?;
        let epilogue = match &step.kind {
            Kind::Gemm(g) => g.epilogue.as_ref(),
            Kind::Conv(c) => c.epilogue.as_ref(),
            _ => None,
        };
        if let Some(e) = epilogue {
            self.env[e.value] = Val::Slot {
                slot,
                at: 0,
                shape: shape.clone(),
            };
        }
        self.env[step.out] = Val::Slot { slot, at: 0, shape };
        Ok(())
    }
}

impl Plan {
    /// Runs the plan on the values of its placeholders.
    pub(crate) fn run(
        &self,
        inputs: Vec<Storage>,
        bindings: &Bindings,
        arena: &mut Arena,
    ) -> Result<Vec<Tensor>, RunError> {
        self.run_profiled(inputs, bindings, arena, None)
    }

    /// [`Plan::run`], recording each step's wall time into `profile`.
    pub(crate) fn run_profiled(
        &self,
        inputs: Vec<Storage>,
        bindings: &Bindings,
        arena: &mut Arena,
        mut profile: Option<&mut Profile>,
    ) -> Result<Vec<Tensor>, RunError> {
        let mut run = Run {
            plan: self,
            bindings,
            env: vec![Val::Empty; self.n_values],
        };
        let constant = |c: usize| {
            self.consts
                .get(c)
                .cloned()
                .ok_or_else(|| RunError::Malformed(format!("constant {c} is missing")))
        };
        for (v, c) in &self.const_values {
            run.env[*v] = Val::Store(constant(*c)?);
        }
        for (v, cs) in &self.const_multi {
            run.env[*v] = Val::Multi(cs.iter().map(|c| constant(*c)).collect::<Result<_, _>>()?);
        }
        for (v, source) in &self.inputs {
            run.env[*v] = Val::Store(match source {
                InputSource::Frozen(c) => constant(*c)?,
                InputSource::Runtime(k) => inputs.get(*k).cloned().ok_or_else(|| {
                    RunError::Malformed(
                        "a graph received fewer inputs than it has placeholders".into(),
                    )
                })?,
            });
        }
        for step in &self.steps {
            let start = profile.is_some().then(std::time::Instant::now);
            run.step(step, arena)?;
            if let (Some(p), Some(start)) = (profile.as_deref_mut(), start) {
                p.push((step.info.name.clone(), start.elapsed()));
            }
            for v in &step.free_after {
                run.env[*v] = Val::Empty;
            }
        }
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for a in &self.outputs {
            outputs.push(match a {
                Arg::Tensor(n) => Tensor::from_storage(run.storage(n.0, arena)?),
                Arg::Int(s) => Tensor::scalar(bindings.value(s)),
                _ => Tensor::scalar(0i64),
            });
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::BinOp;

    /// A convolution epilogue's inputs are read per channel (`[c, 1, 1]`, with or
    /// without leading ones), as the output, or as one value; any other broadcast (along
    /// rows, or a short buffer) leaves the chain to the fused loop.
    #[test]
    fn conv_epilogue_operands_are_read_by_their_shape() {
        let shape = [2, 3, 4, 5];
        let chain = |input| {
            [
                ChainStep::Binary {
                    op: BinOp::Mul,
                    x: ChainOperand::Input(input),
                    x_first: true,
                },
                ChainStep::Relu,
            ]
        };
        let data = |sizes: &[usize], len: usize| (vec![1.5f32; len], sizes.to_vec());
        let owned = [
            data(&[1, 3, 1, 1], 3),
            data(&[3, 1, 1], 3),
            data(&[2, 3, 4, 5], 120),
            data(&[1], 1),
            data(&[4, 5], 20),
            data(&[3, 1], 3),
            data(&[2, 3, 4, 5], 119),
        ];
        let inputs: Vec<(&[f32], &[usize])> = owned.iter().map(|(d, s)| (&d[..], &s[..])).collect();
        let kind = |i: usize| {
            let steps = conv_epilogue_steps(&chain(i), &inputs, &shape)?;
            Some(match steps.first()? {
                kernels::ConvEpilogueStep::Binary { x, x_first, .. } => {
                    assert!(*x_first);
                    match x {
                        kernels::EpilogueOperand::Channel(c) => format!("channel {}", c.len()),
                        kernels::EpilogueOperand::Output(o) => format!("output {}", o.len()),
                        kernels::EpilogueOperand::Scalar(v) => format!("scalar {v}"),
                    }
                }
                kernels::ConvEpilogueStep::Relu => "relu".into(),
                kernels::ConvEpilogueStep::Unary(op) => format!("{op:?}"),
            })
        };
        let got: Vec<_> = (0..inputs.len()).map(kind).collect();
        let want = [
            Some("channel 3"),
            Some("channel 3"),
            Some("output 120"),
            Some("scalar 1.5"),
            None,
            None,
            None,
        ];
        assert_eq!(got, want.map(|w| w.map(String::from)));
    }
}
