//! `ferrex-runtime`: the fast path for exported programs. [`compile`] turns an
//! [`ExportedProgram`] into a [`CompiledProgram`] once; [`CompiledProgram::call`] then
//! runs it with the same inputs, checks and results as `ep.module().call`, faster.
//! [`load`] reads a program saved with `ferrex::save` and compiles it, with no model
//! source needed.
//!
//! ```
//! use ferrex::prelude::*;
//!
//! #[export_module]
//! struct Mlp {
//!     fc1: nn::Linear,
//!     fc2: nn::Linear,
//! }
//!
//! #[export_module]
//! impl Mlp {
//!     fn forward(&self, x: &Tensor) -> Tensor {
//!         self.fc2.forward(&self.fc1.forward(x).relu())
//!     }
//! }
//!
//! let m = Mlp { fc1: nn::Linear::new(16, 32), fc2: nn::Linear::new(32, 4) };
//! let ep = ferrex::export(&m, (Tensor::randn([8, 16]),))?;
//! let compiled = ferrex_runtime::compile(&ep)?;
//! // addmm + relu runs as one GEMM with a fused epilogue; nothing falls back.
//! assert!(compiled.stats().fallback_ops.is_empty());
//!
//! let x = Tensor::randn([8, 16]);
//! let fast = compiled.call((x.copy(),))?;
//! let reference = ep.module().call((x,))?;
//! let (a, b) = (fast[0].to_vec::<f32>()?, reference[0].to_vec::<f32>()?);
//! assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() <= 1e-5 * (1.0 + q.abs())));
//!
//! // Input errors are the interpreter's, word for word.
//! let err = compiled.call((Tensor::randn([8, 15]),)).unwrap_err();
//! assert_eq!(err.to_string(), "Guard failed: x.size()[1] == 16, but got 15");
//!
//! // Saved and loaded back without `Mlp`:
//! let path = std::env::temp_dir().join(format!("mlp-doc-{}.pt2", std::process::id()));
//! ferrex::save(&ep, &path)?;
//! let loaded = ferrex_runtime::load(&path)?;
//! assert_eq!(loaded.call((Tensor::ones([8, 16]),))?[0].shape(), [8, 4]);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the plan does
//!
//! - **Constant folding and prepacking.** Parameters, constants and buffers the program
//!   does not mutate are frozen at compile time; nodes computed only from them (`t`,
//!   `narrow` of a weight) are computed once, and weights of matrix products are packed
//!   once into the own GEMM's 16-column panels (`ferrex_kernels::PackedB`). Convolution
//!   weights are stored as `[c_out, c_in·kh·kw]` and prepared for the kernel at their
//!   first call (again when the input's size changes), and inference batch norms become
//!   a per-channel scale and shift.
//! - **Matrix products** (`addmm`, `mm`, `matmul` with a 2-D right operand, `linear`)
//!   with a constant weight run on the own packed GEMM (AVX-512 or AVX2 + FMA tiles,
//!   chosen at run time, or a portable tile; wide tiles for one to three rows), column
//!   panels split over the one thread pool (`FERREX_NUM_THREADS`); products of two
//!   run-time operands through `ferrex_kernels::gemm`. `conv2d` (groups = 1) runs
//!   GEMM tiles that read the input planes in place where the geometry allows (AVX-512;
//!   `ferrex_kernels::conv`), else over unrolled (im2col) panels, samples split over
//!   threads; `max_pool2d` (4-D, `ceil_mode = false`) has its
//!   own kernel, planes split over threads; `transpose`/`permute` are strided copies and
//!   `softmax`/`log_softmax` run the kernel the eager ops use.
//! - **Attention, norms, reductions, views**: `scaled_dot_product_attention` runs the
//!   fused, blocked kernel (online softmax, no full score matrix) that the eager op
//!   runs; `layer_norm`, `group_norm`, `sum` / `mean` (and `adaptive_avg_pool2d` to
//!   1×1, the mean of each plane), `embedding` and `bmm` run the shared kernels; views
//!   of any f32 value (`view`, `expand`, `select`, `slice`, `narrow`, and each piece of
//!   a `split` or `chunk`, …) are one strided copy; `cat` and `stack` of f32 values are
//!   block copies and `upsample_nearest2d` a gather copy (the kernels the eager ops
//!   run); comparisons with a number (a `cond`
//!   predicate) give a bool tensor. The core IR's `convolution`, `native_layer_norm`,
//!   `_native_batch_norm_legit_no_training` and `max_pool2d_with_indices` become the
//!   same steps when only their first output is read, and PyTorch's safe softmax (the
//!   `where` / `any` / `eq` chain of its attention decomposition) is one softmax step.
//! - **Recurrent layers**: `gru.input` / `lstm.input` (`nn.GRU`, `nn.LSTM`: any number
//!   of layers, bidirectional, batch first or not) are one step running the eager
//!   kernel's `ferrex::ops::rnn::recurrent_layers` — per layer one input projection,
//!   then per time step the packed recurrent product and one fused cell — so compiled
//!   and interpreted calls give the same bits. Calls of such programs are not split
//!   along the batch: the layer kernel splits it over the threads itself. A layer the
//!   kernel does not run (hidden size below 8, not f32) is planned as its per-step ops.
//! - **Fused elementwise chains**: f32 `add`/`sub`/`mul`/`div` (tensors or numbers,
//!   broadcasting), `relu`, `gelu`, `silu`, `sigmoid`, `tanh`, `exp`, `log`, `sqrt`,
//!   `rsqrt`, `neg`, `abs`, `sin`, `cos`, `tan`, `erf`, `expm1`, `log1p`, `floor`,
//!   `ceil`, `round`, `sign`, `clamp`, `hardtanh`, `leaky_relu`,
//!   `pow` by a number and inference `batch_norm` are grouped while each intermediate
//!   value has one user, and run as one pass in chunks of 256 elements, without
//!   intermediate tensors. A chain that starts at a GEMM or convolution output runs in
//!   place on it, right after it (an epilogue: bias + `relu`, batch norm + `relu`, …).
//!   Large outputs are split over threads.
//! - **Memory planning.** Every planned output has a buffer slot; slots are reused as
//!   soon as every value in them is dead, and keep their capacity between calls.
//!   Reshapes (`view`, `reshape`, `flatten`, `unsqueeze`, `squeeze.dim`, `clone`) of a
//!   planned buffer are free.
//! - **Everything else** (data-dependent ops such as `item` and `nonzero`, most ops on
//!   other dtypes than f32) runs the registry's eager kernel, exactly as the interpreter
//!   does, so every program `ep.module()` runs, the runtime runs, with the same results
//!   (within float rounding: the fused and matrix kernels sum in another order).
//!   `cond` branches and `map` bodies are compiled as plans of their own.
//!
//! The compiled program shares the exported program's buffers: a buffer the program
//! mutates is updated in place, as `ep.module().call` does. Parameters and constants are
//! read once, at compile time; compile again after changing them.

mod exec;
pub mod fused;
pub mod plan;
mod split;

/// The step functions the plan's runner calls and that generated code (`ferrex-aot`)
/// calls too: one implementation of each step, so an ahead-of-time compiled program
/// computes the plan's numbers bit for bit. The kernels themselves are
/// `ferrex_kernels`'.
pub mod step {
    pub use crate::exec::{
        batch_norm_affine, bias_init, conv_fused, epilogue_threads, fused, fused_on, fused_views,
        higher_order, keep_mask_additive, pack, step_error, ConvEpilogueArgs, InputView,
    };
}

use std::path::Path;
use std::sync::Mutex;

use ferrex::module::{ForwardArgs, InputLeaf};
use ferrex::program::{Bindings, InputKind, OutputKind, SplitPolicy};
use ferrex::tensor::Tensor;

pub use ferrex::program::BatchSplit;
pub use ferrex::{ExportedProgram, LoadError, RunError};

use exec::Arena;
use plan::Plan;

/// Why a program could not be compiled (or loaded and compiled).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The program's graph or signature is inconsistent.
    #[error("the exported program cannot be compiled: {0}")]
    Malformed(String),
    /// Loading the saved program failed.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// The wall time of each top-level step of one call, named by its node
/// ([`CompiledProgram::profile`]).
pub type StepTimes = Vec<(String, std::time::Duration)>;

/// What a compiled plan specialised, for inspection and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanStats {
    /// Matrix products run by the GEMM/GEMV kernels.
    pub gemm: usize,
    /// Convolutions run by the convolution kernel (implicit or unrolled GEMM tiles).
    pub conv: usize,
    /// Max poolings run by the runtime's kernel.
    pub pools: usize,
    /// Elementwise chains run as fused steps (not counting epilogues).
    pub fused_groups: usize,
    /// Elementwise ops inside fused steps and epilogues.
    pub fused_ops: usize,
    /// Reshapes of planned buffers (no copy).
    pub reshapes: usize,
    /// Transposes and permutes run as strided copies.
    pub permutes: usize,
    /// Softmaxes and log-softmaxes run by the shared kernel.
    pub softmaxes: usize,
    /// Layer and group norms run by the shared kernels.
    pub layer_norms: usize,
    /// Views (reshape, expand, select, slice) run as strided copies.
    pub views: usize,
    /// Attentions run by the fused kernel.
    pub attentions: usize,
    /// Sums and means run by the shared reduction kernel.
    pub reductions: usize,
    /// Embeddings and index gathers (`index_select`, `index.Tensor`), run as row
    /// gathers.
    pub gathers: usize,
    /// Recurrent ops (`gru`, `lstm`) run by the layer kernel.
    pub recurrent: usize,
    /// `cat` and `stack` run as block copies.
    pub concats: usize,
    /// Nearest-neighbour upsamplings run as gather copies.
    pub upsamples: usize,
    /// Comparisons with a number (bool results, such as `cond` predicates).
    pub compares: usize,
    /// Calls on bool or integer data (a mask's views, comparisons, logical ops, casts),
    /// run by their op's kernel or as a view's gather ([`plan::Kind::Typed`]).
    pub typed: usize,
    /// Calls computed lane by lane along a dim (`argmax`, `topk`, `sort`, `cumsum`, …),
    /// run by their op's kernel ([`plan::Kind::Lanes`]).
    pub lanes: usize,
    /// `cond` nodes (their branches are counted too).
    pub conds: usize,
    /// `map` nodes (their bodies are counted too).
    pub maps: usize,
    /// Weights packed into the GEMM's panels at compile time: one per constant, however
    /// many products read it (tied weights, an unrolled recurrent layer's steps).
    pub packed_weights: usize,
    /// Values computed at compile time.
    pub folded_constants: usize,
    /// Ops run by the registry's eager kernels, in plan order.
    pub fallback_ops: Vec<String>,
    /// Ops run by the registry's eager kernels once per input size: they read only
    /// constants and sizes, and their results are kept (a causal mask, position ids).
    pub per_size_ops: Vec<String>,
    /// Reusable buffers, and their preallocated size in bytes.
    pub buffer_slots: usize,
    pub buffer_bytes: usize,
}

/// An exported program compiled into an execution plan. `Send + Sync`: calls from
/// several threads are fine (a call that finds the buffers in use allocates its own).
pub struct CompiledProgram {
    program: ExportedProgram,
    plan: Plan,
    arena: Mutex<Option<Arena>>,
    /// How calls split along the batch, or why they cannot.
    split: Result<split::BatchSplit, String>,
    split_policy: SplitPolicy,
}

impl std::fmt::Debug for CompiledProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledProgram")
            .field("model", &self.program.model_name())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Compiles a program into an execution plan (see the crate docs for what it does).
pub fn compile(ep: &ExportedProgram) -> Result<CompiledProgram, CompileError> {
    let program = inline_composites(ep);
    let frozen = frozen_inputs(&program, |t, tensor| {
        let s =
            (tensor.try_storage()).map_err(|e| CompileError::Malformed(format!("`{t}`: {e}")))?;
        Ok(plan::Known::Data(s))
    })?;
    let plan = plan::compile_graph(program.graph(), &frozen, true)?;
    let arena = Arena::for_plan(&plan);
    let split = if mutates_state(&program) {
        Err("the program mutates its inputs or buffers".to_string())
    } else {
        split::BatchSplit::of(&plan)
    };
    Ok(CompiledProgram {
        program,
        plan,
        arena: Mutex::new(Some(arena)),
        split,
        split_policy: SplitPolicy::default(),
    })
}

/// The program with every composite op the plan has no step for (no lowering hook:
/// `rms_norm`, `masked_fill`, `F.pad`'s modes, `glu`, …; a recurrent layer its kernel
/// does not run) decomposed into
/// the ops it is written in, which the plan does have steps for: a composite op is then
/// planned, not run as one eager fallback. The program is kept as it is when it has no
/// such op, or when the decomposition fails (the eager fallback still runs it).
fn inline_composites(ep: &ExportedProgram) -> ExportedProgram {
    let table = ferrex::program::DecompositionTable::UnloweredComposites;
    let any = (ep.graph().nodes.iter()).any(|n| n.op().is_some_and(|op| table.selects_call(op, n)));
    // Data-dependent sizes (`item`, `nonzero`) stay as the program has them: the
    // retrace would make their users' size arguments symbolic lists.
    let unbacked = (ep.graph().nodes.iter()).flat_map(|n| &n.meta).any(|m| {
        let value = matches!(&m.sym, Some(ferrex::symbolic::SymScalar::Int(v)) if v.is_unbacked());
        value || m.sizes.iter().any(ferrex::symbolic::SymInt::is_unbacked)
    });
    if !any || unbacked {
        return ep.clone();
    }
    ep.run_decompositions_with(&table)
        .unwrap_or_else(|_| ep.clone())
}

/// Whether a call writes back a buffer or an input (which its halves would race on).
fn mutates_state(program: &ExportedProgram) -> bool {
    let sig = program.graph_signature();
    (sig.output_specs.iter()).any(|s| s.kind != OutputKind::UserOutput)
}

/// The plan [`compile`] makes of a program read for its structure only
/// (`ferrex::serialize::pt2::structure_from_bytes`), without its weights: the same steps,
/// constants (`const_metas`, `const_origins`), packed-weight sources, slots and
/// description, in a time independent of the weights' size — constants are not folded
/// nor packed, only recorded (`consts` is empty, packed panels are empty). Nothing runs
/// it; it is what a code generator (`ferrex-aot`) reads. One difference: [`compile`]
/// first inlines the composite ops the plan has no step for (`masked_fill`, `rms_norm`,
/// …) by retracing the program; this plan does not, and keeps them as eager calls, so
/// generated code runs them eagerly (the same values).
pub fn plan_structure(
    program: &ferrex::serialize::pt2::ProgramStructure,
) -> Result<Plan, CompileError> {
    let frozen = frozen_inputs(&program.program, |t, _| {
        let meta = program.stored.get(t).cloned();
        let meta = meta.ok_or_else(|| CompileError::Malformed(format!("no stored `{t}`")))?;
        Ok(plan::Known::Meta(meta))
    })?;
    plan::compile_graph(program.program.graph(), &frozen, false)
}

/// The plan, one step per line, then its calls kept per input size and its eager
/// fallbacks ([`CompiledProgram::describe`]).
pub fn describe(plan: &Plan) -> String {
    describe_with(plan, None)
}

/// The plan's steps, then `note` (a line of what the compiled program adds), then its
/// eager fallbacks.
fn describe_with(plan: &Plan, note: Option<&str>) -> String {
    let mut out = String::new();
    plan::describe(plan, "", &mut out);
    if let Some(note) = note {
        out.push_str(note);
        out.push('\n');
    }
    out.push_str(&plan::fallback_summary(plan));
    out.push('\n');
    out
}

/// What each placeholder is at compile time: the constant `known` makes of the state
/// tensor `target` it reads, or `None` for a run-time input (user inputs, mutated
/// buffers).
fn frozen_inputs(
    program: &ExportedProgram,
    known: impl Fn(&str, &Tensor) -> Result<plan::Known, CompileError>,
) -> Result<Vec<Option<plan::Known>>, CompileError> {
    let sig = program.graph_signature();
    let mutated: Vec<&str> = sig
        .output_specs
        .iter()
        .filter(|s| s.kind == OutputKind::BufferMutation)
        .filter_map(|s| s.target.as_deref())
        .collect();
    // One entry per placeholder (input specs without a placeholder are constants the
    // call checks).
    let mut frozen = Vec::new();
    for spec in &sig.input_specs {
        if matches!(spec.arg, ferrex::program::ArgumentSpec::Constant { .. }) {
            continue;
        }
        let state = spec
            .target
            .as_deref()
            .filter(|_| spec.kind != InputKind::UserInput);
        frozen.push(match state {
            Some(t) if !(spec.kind == InputKind::Buffer && mutated.contains(&t)) => {
                let tensor = program
                    .state_dict()
                    .get(t)
                    .or_else(|| program.constants().get(t))
                    .ok_or_else(|| CompileError::Malformed(format!("no tensor for `{t}`")))?;
                Some(known(t, tensor)?)
            }
            _ => None,
        });
    }
    let placeholders = program.graph().placeholders().count();
    if frozen.len() != placeholders {
        return Err(CompileError::Malformed(format!(
            "the graph has {placeholders} placeholders but the signature lists {} inputs",
            frozen.len()
        )));
    }
    Ok(frozen)
}

/// Loads a program saved with `ferrex::save`, or by PyTorch's `torch.export.save` (see
/// `ferrex::serialize::pt2`), and compiles it. `ferrex::load` validates the program first
/// (metas re-derived from each op, signature, symbols, ranges), so the plan's shapes are
/// the ones the interpreter's kernels produce.
pub fn load(path: impl AsRef<Path>) -> Result<CompiledProgram, CompileError> {
    let ep = ferrex::load(path)?;
    compile(&ep)
}

impl CompiledProgram {
    /// Runs the program on `args` (a tuple, as for `export` and `ep.module().call`) and
    /// returns the user outputs, flattened. Inputs are checked first, with the
    /// interpreter's checks and messages.
    pub fn call<A: ForwardArgs>(&self, args: A) -> Result<Vec<Tensor>, RunError> {
        self.call_flat(&self.program.flatten_inputs(args))
    }

    /// The split of this call (with `bindings`) and its two halves, if it can split.
    fn halves(&self, bindings: &Bindings) -> Option<(&split::BatchSplit, [usize; 2])> {
        let split = self.split.as_ref().ok()?;
        Some((split, split.halves(bindings)?))
    }

    /// Runs the program on already-flattened inputs.
    pub fn call_flat(&self, leaves: &[InputLeaf]) -> Result<Vec<Tensor>, RunError> {
        let mut checked = self.program.check_inputs(leaves)?;
        let inputs = std::mem::take(&mut checked.placeholders);
        let Some((split, halves)) = self.halves(&checked.bindings) else {
            let outputs =
                self.with_arena(|plan, arena| plan.run(inputs, &checked.bindings, arena))?;
            return Ok(self.program.finish_call(checked, outputs));
        };
        let bindings = &checked.bindings;
        let outputs = self
            .split_policy
            .run(halves[0] + halves[1], |splits| match splits {
                true => split.run(&inputs, bindings, halves, None),
                false => self.with_arena(|plan, arena| plan.run(inputs, bindings, arena)),
            })?;
        Ok(self.program.finish_call(checked, outputs))
    }

    /// Sets whether calls run as two halves of their batch, one on each of two threads
    /// (default [`BatchSplit::Auto`]). A plan splits when none of its steps mixes
    /// samples (see [`CompiledProgram::batch_split`]); a split call gives the same bits
    /// as a whole one. Splitting pays where the model's steps are too small to split
    /// each over the threads (a transformer or GroupNorm block at a small batch); `Auto`
    /// times the first calls of each batch size both ways and keeps the faster.
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// use ferrex_runtime::BatchSplit;
    ///
    /// #[export_module]
    /// struct Head {
    ///     fc: nn::Linear,
    /// }
    ///
    /// #[export_module]
    /// impl Head {
    ///     fn forward(&self, x: &Tensor) -> Tensor {
    ///         self.fc.forward(x).softmax(1)
    ///     }
    /// }
    ///
    /// let m = Head { fc: nn::Linear::new(16, 4) };
    /// let x = Tensor::randn([8, 16]);
    /// let compiled = ferrex_runtime::compile(&ferrex::export(&m, (x.copy(),))?)?;
    /// assert_eq!(compiled.batch_split(), Ok(()));
    /// compiled.set_batch_split(BatchSplit::Always);
    /// let split = compiled.call((x.clone(),))?[0].to_vec::<f32>()?;
    /// compiled.set_batch_split(BatchSplit::Never);
    /// let whole = compiled.call((x.clone(),))?[0].to_vec::<f32>()?;
    /// assert_eq!(split, whole); // bit for bit
    ///
    /// // A softmax over the batch mixes samples: such a plan's calls stay whole.
    /// #[export_module]
    /// struct OverBatch {
    ///     fc: nn::Linear,
    /// }
    ///
    /// #[export_module]
    /// impl OverBatch {
    ///     fn forward(&self, x: &Tensor) -> Tensor {
    ///         self.fc.forward(x).softmax(0)
    ///     }
    /// }
    ///
    /// let m = OverBatch { fc: nn::Linear::new(16, 4) };
    /// let compiled = ferrex_runtime::compile(&ferrex::export(&m, (x.copy(),))?)?;
    /// assert_eq!(compiled.batch_split(), Err("`softmax` normalizes over the batch"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_batch_split(&self, mode: BatchSplit) {
        self.split_policy.set_mode(mode);
    }

    /// Whether the plan's calls can run as two halves of their batch, or why not (the
    /// first step that mixes samples, say).
    pub fn batch_split(&self) -> Result<(), &str> {
        self.split.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// Runs `f` with the plan's buffers, or with fresh ones while another call holds
    /// them.
    fn with_arena<T>(&self, f: impl FnOnce(&Plan, &mut Arena) -> T) -> T {
        match self.arena.try_lock() {
            Ok(mut guard) => {
                let arena = guard.get_or_insert_with(|| Arena::for_plan(&self.plan));
                f(&self.plan, arena)
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                let mut guard = p.into_inner();
                let arena = guard.get_or_insert_with(|| Arena::for_plan(&self.plan));
                f(&self.plan, arena)
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                f(&self.plan, &mut Arena::for_plan(&self.plan))
            }
        }
    }

    /// Runs the program like [`CompiledProgram::call`] and returns, beside the outputs,
    /// the wall time of each top-level step (named by its node), to see where a call
    /// spends its time. A call that splits its batch (see
    /// [`CompiledProgram::set_batch_split`]) is timed as it runs: each step's time is the
    /// slower half's, and a last entry, `stack halves`, the copy of both halves' outputs
    /// into the call's.
    pub fn profile<A: ForwardArgs>(&self, args: A) -> Result<(Vec<Tensor>, StepTimes), RunError> {
        self.profile_flat(&self.program.flatten_inputs(args))
    }

    /// [`CompiledProgram::profile`] of flattened inputs (as [`CompiledProgram::call_flat`]).
    pub fn profile_flat(&self, leaves: &[InputLeaf]) -> Result<(Vec<Tensor>, StepTimes), RunError> {
        let mut checked = self.program.check_inputs(leaves)?;
        let inputs = std::mem::take(&mut checked.placeholders);
        let mut profile = Vec::new();
        let split = (self.halves(&checked.bindings))
            .filter(|(_, h)| self.split_policy.choose(h[0] + h[1]).0);
        let outputs = match split {
            Some((split, halves)) => {
                split.run(&inputs, &checked.bindings, halves, Some(&mut profile))?
            }
            None => self.with_arena(|plan, arena| {
                plan.run_profiled(inputs, &checked.bindings, arena, Some(&mut profile))
            })?,
        };
        Ok((self.program.finish_call(checked, outputs), profile))
    }

    /// The compiled plan, for code generators (`ferrex-aot`) and tools. The
    /// [`plan`] types are read-only views of the runtime's internals: they change with
    /// the runtime, with no stability promise beyond this workspace.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The program this plan runs.
    pub fn program(&self) -> &ExportedProgram {
        &self.program
    }

    /// What the plan specialised and what falls back.
    pub fn stats(&self) -> PlanStats {
        let mut s = PlanStats::default();
        plan::stats(&self.plan, &mut s);
        s
    }

    /// The plan, one step per line (`addmm: gemm, prepacked weight + bias + relu ->
    /// slot 0`), whether calls split along the batch (`batch split: two halves, one per
    /// thread`, or `batch split: no (`mean` reduces over the batch)`), the eager calls
    /// kept per input size if any (`computed once per input size: 1
    /// (aten::arange.default ×1)`), then the eager fallbacks per op (`eager fallbacks:
    /// none`, or `eager fallbacks: 2 (aten::_softmax.default ×2)`).
    pub fn describe(&self) -> String {
        let split = match &self.split {
            Ok(_) => "batch split: two halves, one per thread".to_string(),
            Err(why) => format!("batch split: no ({why})"),
        };
        describe_with(&self.plan, Some(&split))
    }
}

/// Whether this CPU runs the AVX2 + FMA kernels (detected at run time).
pub fn uses_avx2() -> bool {
    ferrex_kernels::threads::has_avx2_fma()
}
