//! The op registry: one [`OpDef`] per ATen overload, holding its schema, meta function
//! (dtype and symbolic-shape inference), eager kernel and optional decomposition. Ops
//! live in one file per family; adding an op touches one place.
//!
//! [`dispatch`] is the single entry point every tensor method goes through: it records a
//! node when tracing and runs the kernel otherwise.

pub mod activation;
pub mod argument;
pub mod attention;
pub mod comparison;
pub mod constructors;
pub mod conv;
pub mod copy;
pub mod custom;
#[doc(hidden)]
pub mod decode;
pub mod dense;
pub mod einsum;
pub mod elementwise;
pub mod embedding_bag;
pub mod grid_sample;
pub mod hook;
pub mod im2col;
pub mod indexing;
pub mod inplace;
pub mod linalg;
pub mod loss;
pub mod lowering;
pub mod mutation;
pub mod nonzero;
pub mod normalization;
pub mod pixel_shuffle;
pub mod pool3d;
pub mod pooling;
mod prepack;
pub mod quantize;
pub mod reduction;
pub mod resample;
pub mod rnn;
pub mod scalar;
pub mod scatter;
pub mod schema;
pub mod search;
pub mod shape;
pub mod sort;
pub mod special;
pub mod sym;
mod util;
pub mod view_inverse;

pub use argument::Argument;
pub use custom::{custom_op, CustomOpBuilder};
pub use decode::{OpArguments, TensorOrNumber};
pub use ferrex_macros::op_def;
#[doc(hidden)]
pub use inventory;
pub use lowering::{Interpolation, LowerFn, Lowering, Reduction};
pub use schema::{Schema, SchemaArg};
pub use util::{broadcast_shapes, normalize_dim};

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use crate::error::{OpError, SourceLocation, TensorError};
use crate::symbolic::SymInt;
use crate::tensor::{DType, Storage, Tensor, TensorMeta, TensorState};

/// An argument of an op call: tensors as [`Tensor`]s.
pub type Value = argument::Argument<Tensor>;

pub type MetaFn = fn(&OpArgs) -> Result<Vec<TensorMeta>, OpError>;
pub type KernelFn = fn(&OpArgs) -> Result<Vec<Storage>, OpError>;
/// The eager call of an op defined with `op_def!`: decodes its arguments once, runs its
/// meta, checks the results' sizes ([`check_results`]) and runs its typed kernel.
pub type TypedEagerFn = fn(&OpArgs) -> Result<Vec<Tensor>, EagerError>;

/// How an op runs eagerly.
#[derive(Clone, Copy)]
pub enum Eager {
    /// A kernel over positional arguments (custom ops: their schema is known only at
    /// run time), run after the meta function.
    Kernel(KernelFn),
    /// An op defined with `op_def!` (every built-in op).
    Typed(TypedEagerFn),
}
/// A decomposition writes the op in terms of other ops, through the public tensor API,
/// so that it can be traced (`run_decompositions`) or run eagerly.
pub type DecompFn = fn(&OpArgs) -> Result<Vec<Tensor>, OpError>;

/// Everything about one ATen overload.
pub struct OpDef {
    /// The ATen schema, `aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor`.
    pub schema: &'static str,
    pub meta: MetaFn,
    pub eager: Eager,
    pub decomposition: Option<DecompFn>,
    /// For an in-place op (`relu_`): the functional op that functionalization puts in
    /// its place; argument 0 is the mutated one.
    pub functional: Option<&'static OpDef>,
    /// Traced through its decomposition rather than recorded; the op stays registered
    /// for graphs that contain it and for eager calls. No built-in op uses it: PyTorch
    /// 2.15's export keeps its CompositeImplicitAutograd ops (`linear`) whole, and
    /// `run_decompositions` lowers them.
    pub decompose_when_tracing: bool,
    /// For custom ops written with tensor methods: the eager implementation, run by
    /// `kernel` (see `custom::CustomOpBuilder`).
    pub implementation: Option<DecompFn>,
    /// In PyTorch's Core ATen opset although it has a decomposition (`_softmax`): the
    /// default table (`run_decompositions()`) keeps it whole; only a table that names it,
    /// or `DecompositionTable::All`, decomposes it.
    pub core_aten: bool,
    /// Random ops: kept by dead-code elimination even when unused, because running them
    /// advances the generator (as PyTorch keeps them).
    pub nondeterministic: bool,
    /// The op's capability for the compiled runtime: what it computes, in terms the
    /// runtime's kernels implement ([`Lowering`]: a pointwise function, a GEMM, a
    /// convolution, a pooling window, a softmax, a reduction, a norm, a view, attention,
    /// …), decoded from the op's typed arguments with node indices for tensors. The
    /// runtime asks this instead of matching op names, so aliases (`conv2d` and the core
    /// IR's `convolution`) are one capability, and argument positions and schema
    /// defaults live only in the op's schema. `None`: the registry's eager kernel.
    pub lowering: Option<LowerFn>,
    /// The op that computes this op's output 0 alone from the same arguments
    /// (`max_pool2d` for `max_pool2d_with_indices`): the interpreter runs it where
    /// nothing reads the other outputs (the core IR's pooling indices).
    pub output0: Option<&'static OpDef>,
    parsed: OnceLock<Result<Schema, String>>,
}

impl OpDef {
    pub const fn new(schema: &'static str, meta: MetaFn, kernel: KernelFn) -> OpDef {
        OpDef {
            schema,
            meta,
            eager: Eager::Kernel(kernel),
            decomposition: None,
            functional: None,
            decompose_when_tracing: false,
            implementation: None,
            core_aten: false,
            nondeterministic: false,
            lowering: None,
            output0: None,
            parsed: OnceLock::new(),
        }
    }

    /// An op defined with `op_def!`, which generates `meta` and `eager` from the op's
    /// typed argument struct (decoded once per call).
    pub const fn typed(schema: &'static str, meta: MetaFn, eager: TypedEagerFn) -> OpDef {
        let mut op = OpDef::new(schema, meta, custom::implementation_kernel);
        op.eager = Eager::Typed(eager);
        op
    }

    /// The op computing output 0 alone (see `output0`).
    pub const fn with_output0(mut self, op: &'static OpDef) -> OpDef {
        self.output0 = Some(op);
        self
    }

    /// The runtime's lowering hook (see `lowering`).
    pub const fn with_lowering(mut self, lower: LowerFn) -> OpDef {
        self.lowering = Some(lower);
        self
    }

    /// Sets the eager implementation (a composite op's decomposition run on eager
    /// tensors).
    pub const fn with_implementation(mut self, f: DecompFn) -> OpDef {
        self.implementation = Some(f);
        self
    }

    /// A composite op: its decomposition is also its eager implementation (the kernel
    /// runs it on eager tensors, as a custom op's implementation), so the op is defined
    /// once, in terms of other ops, and `run_decompositions` lowers it to them.
    pub const fn composite(schema: &'static str, meta: MetaFn, decomposition: DecompFn) -> OpDef {
        let mut op = OpDef::new(schema, meta, custom::implementation_kernel);
        op.decomposition = Some(decomposition);
        op.implementation = Some(decomposition);
        op
    }

    pub const fn with_decomposition(mut self, d: DecompFn) -> OpDef {
        self.decomposition = Some(d);
        self
    }

    /// Marks the op as traced through its decomposition (see `decompose_when_tracing`).
    pub const fn composite_implicit(mut self) -> OpDef {
        self.decompose_when_tracing = true;
        self
    }

    /// Marks an op of PyTorch's Core ATen opset that has a decomposition (see
    /// `core_aten`).
    pub const fn core_aten(mut self) -> OpDef {
        self.core_aten = true;
        self
    }

    /// Marks a random op (see `nondeterministic`).
    pub const fn random(mut self) -> OpDef {
        self.nondeterministic = true;
        self
    }

    /// Declares this op the in-place form of `functional` (same meta and kernel).
    pub const fn inplace_of(mut self, functional: &'static OpDef) -> OpDef {
        self.functional = Some(functional);
        self
    }

    /// The parsed schema; a malformed schema is an error, reported by [`register`] and
    /// by the registry's own test.
    pub fn parsed(&self) -> Result<&Schema, OpError> {
        self.parsed
            .get_or_init(|| schema::parse(self.schema))
            .as_ref()
            .map_err(|e| OpError(e.clone()))
    }

    /// `aten::add.Tensor`.
    pub fn name(&self) -> String {
        match self.parsed() {
            Ok(s) => s.qualified_name(),
            Err(_) => self
                .schema
                .split('(')
                .next()
                .unwrap_or(self.schema)
                .to_string(),
        }
    }

    /// The base name used to name graph nodes: `add`, `addmm`, `relu_`.
    pub fn base_name(&self) -> String {
        let name = self.parsed().map(|s| s.name.clone()).unwrap_or_default();
        name.rsplit("::").next().unwrap_or(&name).to_string()
    }

    /// How many tensors the op returns (a list return counts as one, unknown length).
    pub fn num_returns(&self) -> usize {
        self.parsed().map(|s| s.returns.len()).unwrap_or(1)
    }
}

impl std::fmt::Debug for OpDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpDef({})", self.name())
    }
}

/// The arguments of one call, with ATen's defaults filled in on access.
pub struct OpArgs<'a> {
    pub op: &'static OpDef,
    pub values: &'a [Value],
    /// The results' metas when known beforehand (see [`run_eager_known`]).
    known: Option<&'a [TensorMeta]>,
}

impl<'a> OpArgs<'a> {
    pub fn new(op: &'static OpDef, values: &'a [Value]) -> OpArgs<'a> {
        OpArgs {
            op,
            values,
            known: None,
        }
    }

    fn arg_name(&self, i: usize) -> String {
        self.op
            .parsed()
            .ok()
            .and_then(|s| s.args.get(i).map(|a| a.name.clone()))
            .unwrap_or_else(|| format!("#{i}"))
    }

    /// Argument `i`, or its schema default, or `None`.
    pub fn get(&self, i: usize) -> Value {
        if let Some(v) = self.values.get(i) {
            return v.clone();
        }
        self.op
            .parsed()
            .ok()
            .and_then(|s| {
                s.args
                    .get(i)
                    .and_then(|a| a.default.as_ref().map(schema::default_value))
            })
            .unwrap_or(Value::None)
    }

    fn wrong(&self, i: usize, want: &str, got: &Value) -> OpError {
        OpError(format!(
            "argument `{}` must be {want}, got {}",
            self.arg_name(i),
            got.kind()
        ))
    }

    pub fn tensor(&self, i: usize) -> Result<Tensor, OpError> {
        match self.get(i) {
            Value::Tensor(t) => Ok(t),
            v => Err(self.wrong(i, "a tensor", &v)),
        }
    }

    pub fn opt_tensor(&self, i: usize) -> Result<Option<Tensor>, OpError> {
        match self.get(i) {
            Value::Tensor(t) => Ok(Some(t)),
            Value::None => Ok(None),
            v => Err(self.wrong(i, "a tensor or None", &v)),
        }
    }

    pub fn tensor_list(&self, i: usize) -> Result<Vec<Tensor>, OpError> {
        match self.get(i) {
            Value::TensorList(t) => Ok(t),
            Value::Tensor(t) => Ok(vec![t]),
            v => Err(self.wrong(i, "a tensor list", &v)),
        }
    }

    /// The meta of tensor argument `i`.
    pub fn meta(&self, i: usize) -> Result<TensorMeta, OpError> {
        self.tensor(i)?.meta().map_err(|e| OpError(e.to_string()))
    }

    /// The eager data of tensor argument `i` (kernels only).
    pub fn storage(&self, i: usize) -> Result<Storage, OpError> {
        self.tensor(i)?.storage_or_op_error()
    }

    pub fn int(&self, i: usize) -> Result<SymInt, OpError> {
        match self.get(i) {
            Value::Int(v) => Ok(v),
            Value::Bool(b) => Ok(SymInt::Int(b as i64)),
            v => Err(self.wrong(i, "an int", &v)),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<SymInt>, OpError> {
        match self.get(i) {
            Value::None => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A concrete int (kernels, and metas of args that are never symbolic).
    pub fn i64(&self, i: usize) -> Result<i64, OpError> {
        Ok(self.int(i)?.hint())
    }

    pub fn float(&self, i: usize) -> Result<f64, OpError> {
        match self.get(i) {
            Value::Float(v) => Ok(v),
            Value::Int(v) => Ok(v.hint() as f64),
            Value::Bool(b) => Ok(b as i64 as f64),
            v => Err(self.wrong(i, "a number", &v)),
        }
    }

    /// A number as it was given (a PyTorch `Scalar`): integers stay exact.
    pub fn scalar(&self, i: usize) -> Result<crate::tensor::Scalar, OpError> {
        use crate::tensor::Scalar;
        match self.get(i) {
            Value::Float(v) => Ok(Scalar::Float(v)),
            Value::Int(v) => Ok(Scalar::Int(v.hint())),
            Value::Bool(b) => Ok(Scalar::Bool(b)),
            v => Err(self.wrong(i, "a number", &v)),
        }
    }

    pub fn opt_float(&self, i: usize) -> Result<Option<f64>, OpError> {
        match self.get(i) {
            Value::None => Ok(None),
            _ => self.float(i).map(Some),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, OpError> {
        match self.get(i) {
            Value::Bool(b) => Ok(b),
            Value::Int(v) => Ok(v.hint() != 0),
            // A SymBool reaches a kernel with its sizes bound (`Evaluator::size`).
            Value::SymBool(b) => Ok(b.op.eval(b.lhs.hint(), b.rhs.hint())),
            v => Err(self.wrong(i, "a bool", &v)),
        }
    }

    pub fn int_list(&self, i: usize) -> Result<Vec<SymInt>, OpError> {
        match self.get(i) {
            Value::IntList(v) => Ok(v),
            Value::Int(v) => Ok(vec![v]),
            v => Err(self.wrong(i, "an int list", &v)),
        }
    }

    pub fn opt_int_list(&self, i: usize) -> Result<Option<Vec<SymInt>>, OpError> {
        match self.get(i) {
            Value::None => Ok(None),
            _ => self.int_list(i).map(Some),
        }
    }

    pub fn opt_str(&self, i: usize) -> Result<Option<String>, OpError> {
        match self.get(i) {
            Value::None => Ok(None),
            Value::Str(s) => Ok(Some(s)),
            v => Err(self.wrong(i, "a string", &v)),
        }
    }

    pub fn opt_dtype(&self, i: usize) -> Result<Option<DType>, OpError> {
        match self.get(i) {
            Value::None => Ok(None),
            Value::DType(d) => Ok(Some(d)),
            v => Err(self.wrong(i, "a dtype", &v)),
        }
    }
}

impl Tensor {
    fn storage_or_op_error(&self) -> Result<Storage, OpError> {
        match self.state() {
            TensorState::Eager(s) => Ok(s),
            TensorState::Traced(_) => Err(OpError::new("a kernel received a traced tensor")),
            TensorState::Failed(e) => Err(OpError(e.to_string())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Registry

/// A built-in op, registered by its `op_def!` definition (`inventory`), so no list can
/// forget one.
#[doc(hidden)]
pub struct BuiltinOp(pub &'static OpDef);

inventory::collect!(BuiltinOp);

fn builtin_ops() -> Vec<&'static OpDef> {
    inventory::iter::<BuiltinOp>().map(|b| b.0).collect()
}

fn registry() -> &'static RwLock<HashMap<String, &'static OpDef>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, &'static OpDef>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        RwLock::new(
            builtin_ops()
                .into_iter()
                .map(|op| (op.name(), op))
                .collect(),
        )
    })
}

/// Looks an op up by its qualified name (`aten::add.Tensor`).
pub fn lookup(name: &str) -> Option<&'static OpDef> {
    let name = if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.default")
    };
    registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&name)
        .copied()
}

/// Every registered op, sorted by name.
pub fn all_ops() -> Vec<&'static OpDef> {
    let mut ops: Vec<&'static OpDef> = registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .copied()
        .collect();
    ops.sort_by_key(|o| o.name());
    ops
}

/// Registers an op at run time (custom ops). Its schema must parse and its name must be
/// new. The definition lives for the rest of the program.
pub fn register(op: OpDef) -> Result<&'static OpDef, OpError> {
    let name = op.parsed()?.qualified_name();
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    if reg.contains_key(&name) {
        return Err(OpError(format!(
            "an op named `{name}` is already registered"
        )));
    }
    let op: &'static OpDef = Box::leak(Box::new(op));
    reg.insert(name, op);
    Ok(op)
}

// ---------------------------------------------------------------------------------------
// Dispatch

/// Applies `op` to `args`: records a graph node while a trace is active, runs the eager
/// kernel otherwise. Never panics: a failure becomes a failed tensor carrying the error.
pub fn dispatch(op: &'static OpDef, args: Vec<Value>, at: SourceLocation) -> Vec<Tensor> {
    let n_out = op.num_returns().max(1);
    // Propagate the first failure among the inputs.
    let mut failure = None;
    let mut any_traced = false;
    for v in &args {
        v.for_each_tensor(|t| {
            // A view whose tensor was written since it was taken is taken again, here.
            t.refresh(at);
            // Looked at in place: cloning each input's state was a tenth of a small op.
            t.with_state(|s| match s {
                TensorState::Failed(e) if failure.is_none() => failure = Some((**e).clone()),
                TensorState::Traced(_) => any_traced = true,
                _ => {}
            })
        });
    }
    if let Some(e) = failure {
        return vec![Tensor::failed(e); n_out];
    }
    if let Some(mode) = hook::recording() {
        return mode.record_call(op, args, at);
    }
    if any_traced {
        return vec![Tensor::failed(TensorError::StaleTrace { at }); n_out];
    }
    match run_eager_checked(&OpArgs::new(op, &args)) {
        Ok(out) => out,
        Err(EagerError::Op(e)) => vec![
            Tensor::failed(TensorError::Op {
                op: op.name(),
                message: e.0,
                at
            });
            n_out
        ],
        Err(EagerError::Memory(error)) => vec![
            Tensor::failed(TensorError::OutOfMemory {
                op: op.name(),
                error: Box::new(error),
                at
            });
            n_out
        ],
    }
}

/// The first output of [`dispatch`].
pub fn dispatch1(op: &'static OpDef, args: Vec<Value>, at: SourceLocation) -> Tensor {
    dispatch(op, args, at)
        .into_iter()
        .next()
        .unwrap_or_else(|| {
            Tensor::failed(TensorError::Op {
                op: op.name(),
                message: "the op returned no tensor".into(),
                at,
            })
        })
}

/// Runs the eager kernel of `op` after checking the arguments with its meta function.
pub fn run_eager(op: &'static OpDef, args: &[Value]) -> Result<Vec<Tensor>, OpError> {
    run_eager_checked(&OpArgs::new(op, args)).map_err(OpError::from)
}

/// [`run_eager`] of a built-in op whose results' `metas` are known: its meta function
/// is not run again. Only for arguments whose metas are the ones `metas` were derived
/// from (the interpreter's calls of static values in a validated graph).
pub fn run_eager_known(
    op: &'static OpDef,
    args: &[Value],
    metas: &[TensorMeta],
) -> Result<Vec<Tensor>, OpError> {
    let op_args = OpArgs {
        known: Some(metas),
        ..OpArgs::new(op, args)
    };
    run_eager_checked(&op_args).map_err(OpError::from)
}

/// Why an eager call failed: the op refused its arguments, or its results would not fit
/// in memory.
#[doc(hidden)]
pub enum EagerError {
    Op(OpError),
    Memory(ferrex_kernels::AllocError),
}

impl From<OpError> for EagerError {
    fn from(e: OpError) -> EagerError {
        EagerError::Op(e)
    }
}

impl From<EagerError> for OpError {
    fn from(e: EagerError) -> OpError {
        match e {
            EagerError::Op(e) => e,
            EagerError::Memory(e) => OpError(e.to_string()),
        }
    }
}

/// [`run_eager`], with the results' sizes checked before the kernel allocates them (the
/// one bound on eager allocation: every op's outputs pass here), and empty results made
/// without running the kernel (its loops would run over the empty dims for nothing).
fn run_eager_checked(op_args: &OpArgs) -> Result<Vec<Tensor>, EagerError> {
    let op = op_args.op;
    match op.eager {
        Eager::Typed(run) => run(op_args),
        Eager::Kernel(kernel) => {
            let metas = (op.meta)(op_args)?;
            if let Some(empty) = check_results(op, &metas)? {
                return Ok(empty);
            }
            let out = kernel(op_args)?;
            finish_results(op, &metas, out)
        }
    }
}

/// Checks the sizes of the results `metas` promise against the memory bound; when they
/// are all empty, returns them (made from their metas) so the kernel need not run.
#[doc(hidden)]
pub fn check_results(
    op: &'static OpDef,
    metas: &[TensorMeta],
) -> Result<Option<Vec<Tensor>>, EagerError> {
    // A list-returning op's count is known only once it has run.
    let fixed_count = !op.parsed()?.returns_list();
    // In-place ops and custom implementations run even when empty (aliasing, user code).
    let mut all_empty =
        fixed_count && !metas.is_empty() && op.functional.is_none() && op.implementation.is_none();
    for m in metas {
        let numel = concrete_numel(m)?;
        all_empty &= numel == 0;
        ferrex_kernels::check_buffer(numel, m.dtype.size_in_bytes() as u64)
            .map_err(EagerError::Memory)?;
    }
    Ok(all_empty.then(|| metas.iter().map(empty_tensor).collect()))
}

/// The kernel's results as tensors, their count checked against the metas.
#[doc(hidden)]
pub fn finish_results(
    op: &'static OpDef,
    metas: &[TensorMeta],
    out: Vec<Storage>,
) -> Result<Vec<Tensor>, EagerError> {
    if !op.parsed()?.returns_list() && out.len() != metas.len() {
        return Err(OpError(format!(
            "kernel returned {} tensors, meta promised {}",
            out.len(),
            metas.len()
        ))
        .into());
    }
    // Not collected in place: that shrinks the storages' allocation to the tensors'.
    let mut tensors = Vec::with_capacity(out.len());
    tensors.extend(out.into_iter().map(Tensor::from_storage));
    Ok(tensors)
}

/// The eager call of a typed op (what `op_def!` generates): arguments decoded once, then
/// meta, the size checks, and the kernel given the metas meta computed.
#[doc(hidden)]
pub fn run_typed<A>(
    args: &OpArgs,
    decode: fn(&[Value]) -> Result<A, OpError>,
    meta: fn(&A) -> Result<Vec<TensorMeta>, OpError>,
    kernel: fn(&A, &[TensorMeta]) -> Result<Vec<Storage>, OpError>,
) -> Result<Vec<Tensor>, EagerError> {
    let decoded = decode(args.values)?;
    let computed;
    let metas = match args.known {
        Some(metas) => metas,
        None => {
            computed = meta(&decoded)?;
            &computed
        }
    };
    if let Some(empty) = check_results(args.op, metas)? {
        return Ok(empty);
    }
    let out = kernel(&decoded, metas)?;
    finish_results(args.op, metas, out)
}

/// The eager call of a typed composite op: its decomposition run on eager tensors.
#[doc(hidden)]
pub fn run_composite<A>(
    args: &OpArgs,
    decode: fn(&[Value]) -> Result<A, OpError>,
    meta: fn(&A) -> Result<Vec<TensorMeta>, OpError>,
    decomposition: fn(&A) -> Result<Vec<Tensor>, OpError>,
) -> Result<Vec<Tensor>, EagerError> {
    let decoded = decode(args.values)?;
    let metas = meta(&decoded)?;
    check_results(args.op, &metas)?;
    let out = decomposition(&decoded)?
        .iter()
        .map(|t| t.try_storage().map_err(|e| OpError(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    finish_results(args.op, &metas, out)
}

/// The element count of an eager result, checked: every size concrete and non-negative,
/// and the product of the non-zero sizes within `isize` (what an array of that shape
/// needs, even an empty one).
fn concrete_numel(m: &TensorMeta) -> Result<u64, EagerError> {
    let mut numel = 1u64;
    let mut nonzero = 1u64;
    for s in &m.sizes {
        let n = s
            .as_int()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| OpError(format!("the result size {s} is not a non-negative integer")))?;
        numel = numel.saturating_mul(n);
        nonzero = nonzero
            .checked_mul(n.max(1))
            .filter(|&p| p <= isize::MAX as u64)
            .ok_or(EagerError::Memory(ferrex_kernels::AllocError::Overflow))?;
    }
    Ok(numel)
}

/// An empty tensor of `m`'s dtype and (concrete, zero-element) shape.
fn empty_tensor(m: &TensorMeta) -> Tensor {
    let shape: Vec<usize> = m
        .sizes
        .iter()
        .map(|s| {
            s.as_int()
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(0)
        })
        .collect();
    Tensor::from_storage(Storage::full(&shape, 0.0, m.dtype))
}

#[cfg(test)]
mod registry_tests {
    use std::collections::BTreeSet;

    /// Every `aten::` schema written in a family file (`core/src/ops/*.rs`): the ops a
    /// family defines.
    fn schemas_in_family_files() -> BTreeSet<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ops");
        let mut names = BTreeSet::new();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("\"aten::").skip(1) {
                let Some(literal) = piece.split('"').next() else {
                    continue;
                };
                if literal.contains("->") && literal.contains('(') {
                    let schema = super::schema::parse(&format!("aten::{literal}")).unwrap();
                    names.insert(schema.qualified_name());
                }
            }
        }
        names
    }

    /// Registration cannot forget an op: the registry holds exactly the ops the family
    /// files define (each `op_def!` registers itself), and every schema is valid.
    #[test]
    fn every_op_a_family_defines_is_registered() {
        let defined = schemas_in_family_files();
        let registered: BTreeSet<String> = super::all_ops()
            .iter()
            .map(|op| op.name())
            .filter(|n| n.starts_with("aten::"))
            .collect();
        let missing: Vec<_> = defined.difference(&registered).collect();
        let unknown: Vec<_> = registered.difference(&defined).collect();
        assert!(
            missing.is_empty(),
            "defined but not registered: {missing:?}"
        );
        assert!(
            unknown.is_empty(),
            "registered but not found in a family file: {unknown:?}"
        );
        assert!(defined.len() > 150, "{} ops", defined.len());
        for op in super::all_ops() {
            op.parsed().unwrap();
        }
    }
}
