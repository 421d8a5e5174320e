//! What generated code calls at run time. Not an API for hand-written code: generated
//! modules name these items as `::ferrex_aot::rt::…`, so that a crate with a generated
//! module depends on `ferrex-aot` alone. The kernels are the runtime's (`ferrex_kernels`,
//! `ferrex_runtime::step`): one kernel set for the plan and for generated code.

use std::borrow::Cow;

pub use ferrex::module::{ForwardArgs, InputLeaf, LeafValue};
pub use ferrex::symbolic::CmpOp;
pub use ferrex::symbolic::SymBool;
pub use ferrex::tensor::TensorMeta;
pub use ferrex::tensor::{DType, Storage};
pub use ferrex::{RunError, SourceLocation, Tensor};
pub use ferrex_aot_codegen::{fnv1a, packed_layout, u32_le_at};
pub use ferrex_kernels::attention::{attention, attention_strided, AttentionGeom, Strided};
pub use ferrex_kernels::conv::{conv2d_prepared, conv_transpose, ConvWeight, TransposedConv};
pub use ferrex_kernels::layout::{
    concat, gather_along, gather_rows, pad_constant, permute, roll, strided_copy,
};
pub use ferrex_kernels::norm::{group_norm, layer_norm, safe_softmax, softmax, LayerNormParams};
pub use ferrex_kernels::pool::{
    upsample_antialiased, upsample_bicubic, upsample_bilinear, upsample_nearest, AntialiasFilter,
};
pub use ferrex_kernels::reduce::extreme as reduce_extreme;
pub use ferrex_kernels::reduce::sum as reduce_sum;
pub use ferrex_kernels::{
    avg_pool2d, conv2d, gemm, gemm_packed, max_pool2d, AvgDivisor, ConvGeom, Mat, PackedB,
    PoolWindow,
};
pub use ferrex_runtime::fused::{as_f32, BinOp, FusedProgram, Instr, Src, UnOp};
pub use ferrex_runtime::plan::ViewOp;
pub use ferrex_runtime::step::{
    bias_init, conv_fused, epilogue_threads, fused, fused_on, fused_views, keep_mask_additive,
    pack, step_error,
};

/// Panels of a `[k, n]` GEMM weight packed by the build script, at `offset` of the
/// prepacked file (little-endian f32).
pub fn packed_panels(
    prepacked: &[u8],
    offset: usize,
    [k, n]: [usize; 2],
) -> Result<PackedB, RunError> {
    let len = n.div_ceil(ferrex_kernels::sgemm::NR).checked_mul(k);
    let len = len.and_then(|v| v.checked_mul(ferrex_kernels::sgemm::NR));
    let len = len.ok_or_else(|| RunError::Malformed(format!("a [{k}, {n}] weight overflows")))?;
    let data = f32_le(prepacked, offset, len)?;
    PackedB::from_panels(k, n, &data).map_err(|e| RunError::Malformed(e.to_string()))
}

/// `numel` little-endian f32 values stored at `offset` of the embedded archive, decoded
/// (so big-endian targets read the same numbers).
pub fn f32_le(archive: &[u8], offset: usize, numel: usize) -> Result<Vec<f32>, RunError> {
    let bytes = numel
        .checked_mul(4)
        .and_then(|n| archive.get(offset..offset.checked_add(n)?))
        .ok_or_else(|| {
            RunError::Malformed(format!(
                "the embedded archive has no {numel} f32 values at offset {offset}"
            ))
        })?;
    // Reserved within the memory limit, then written once (no zero fill first).
    let refused = |e: &dyn std::fmt::Display| RunError::Malformed(e.to_string());
    ferrex_kernels::alloc::check_buffer(numel as u64, 4).map_err(|e| refused(&e))?;
    let mut out = Vec::new();
    out.try_reserve_exact(numel).map_err(|e| refused(&e))?;
    out.extend((bytes.chunks_exact(4)).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    Ok(out)
}

/// A buffer of `len` zeros (a workspace slot, an output).
pub fn zeros(len: usize) -> Result<Vec<f32>, RunError> {
    let mut out = Vec::new();
    ferrex_kernels::try_grow(&mut out, len, 0.0).map_err(|e| RunError::Malformed(e.to_string()))?;
    Ok(out)
}

/// A kernel's error as the plan words it (`step_error`).
pub fn failed(
    node: &str,
    op: &str,
    at: Option<SourceLocation>,
    e: &dyn std::fmt::Display,
) -> RunError {
    step_error(node, op, at, e.to_string())
}

/// The length check of a typed `forward` argument: `what` must hold `expected` values
/// (its meta is `meta`, for the message).
pub fn check_len(what: &str, meta: &str, got: usize, expected: usize) -> Result<(), RunError> {
    if got == expected {
        return Ok(());
    }
    Err(RunError::InputValue {
        name: what.to_string(),
        expected: format!("{expected} values ({meta})"),
        got: format!("{got} values"),
    })
}

/// As many leaves as the program has user inputs (the interpreter's first check).
pub fn check_count(leaves: &[InputLeaf], expected: usize) -> Result<(), RunError> {
    if leaves.len() != expected {
        return Err(RunError::InputCount {
            expected,
            got: leaves.len(),
        });
    }
    Ok(())
}

/// Leaf `index`, a tensor of dtype f32 and static sizes `sizes`, checked in the
/// interpreter's order and with its words (`ExportedProgram::check_inputs`): a tensor,
/// then the dtype, the rank, each size.
pub fn input_f32(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    sizes: &[usize],
) -> Result<Storage, RunError> {
    let storage = input_f32_rank(leaves, index, name, sizes.len())?;
    for (dim, (&want, &got)) in sizes.iter().zip(storage.shape()).enumerate() {
        check_size(name, dim, want as i64, got)?;
    }
    Ok(storage)
}

/// Leaf `index`, a tensor of dtype f32 and rank `rank` (the checks of [`input_f32`]
/// before the sizes, which a program with dynamic dims checks as it binds them).
pub fn input_f32_rank(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    rank: usize,
) -> Result<Storage, RunError> {
    input_rank(leaves, index, name, DType::F32, rank)
}

/// [`input_f32`] for an i64 input (an embedding's indices).
pub fn input_i64(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    sizes: &[usize],
) -> Result<Storage, RunError> {
    let storage = input_i64_rank(leaves, index, name, sizes.len())?;
    for (dim, (&want, &got)) in sizes.iter().zip(storage.shape()).enumerate() {
        check_size(name, dim, want as i64, got)?;
    }
    Ok(storage)
}

/// [`input_f32_rank`] for an i64 input.
pub fn input_i64_rank(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    rank: usize,
) -> Result<Storage, RunError> {
    input_rank(leaves, index, name, DType::I64, rank)
}

/// [`input_f32`] for a bool input (a `cond` predicate).
pub fn input_bool(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    sizes: &[usize],
) -> Result<Storage, RunError> {
    let storage = input_bool_rank(leaves, index, name, sizes.len())?;
    for (dim, (&want, &got)) in sizes.iter().zip(storage.shape()).enumerate() {
        check_size(name, dim, want as i64, got)?;
    }
    Ok(storage)
}

/// [`input_f32_rank`] for a bool input.
pub fn input_bool_rank(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    rank: usize,
) -> Result<Storage, RunError> {
    input_rank(leaves, index, name, DType::Bool, rank)
}

/// Leaf `index`: a tensor, of dtype `dtype`, of rank `rank` — in that order.
fn input_rank(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    dtype: DType,
    rank: usize,
) -> Result<Storage, RunError> {
    let leaf = leaves
        .get(index)
        .ok_or_else(|| RunError::Malformed("missing user input".into()))?;
    let storage = match &leaf.value {
        LeafValue::Tensor(t) => {
            let not_eager = |got: String| RunError::NotATensor {
                name: leaf.path.clone(),
                got,
            };
            if t.is_traced() {
                return Err(not_eager("a traced tensor".into()));
            }
            if let Some(e) = t.error() {
                return Err(not_eager(format!("a failed tensor ({e})")));
            }
            t.try_storage()
                .map_err(|e| not_eager(format!("a failed tensor ({e})")))?
        }
        other => {
            return Err(RunError::NotATensor {
                name: leaf.path.clone(),
                got: other.describe(),
            })
        }
    };
    if storage.dtype() != dtype {
        return Err(RunError::InputDType {
            name: name.into(),
            expected: dtype,
            got: storage.dtype(),
        });
    }
    let shape = storage.shape();
    if shape.len() != rank {
        return Err(RunError::InputRank {
            name: name.into(),
            expected: rank,
            got: shape.len(),
        });
    }
    Ok(storage)
}

/// The sizes of a checked input of rank `R`.
pub fn shape_of<const R: usize>(s: &Storage) -> Result<[usize; R], RunError> {
    <[usize; R]>::try_from(s.shape()).map_err(|_| {
        RunError::Malformed(format!(
            "an input of rank {} is not of rank {R}",
            s.shape().len()
        ))
    })
}

/// Dim `dim` of input `name` is the literal `want`.
pub fn check_size(name: &str, dim: usize, want: i64, got: usize) -> Result<(), RunError> {
    let got = got as i64;
    if want != got {
        return Err(RunError::InputSize {
            name: name.into(),
            dim,
            expected: want.to_string(),
            got,
        });
    }
    Ok(())
}

/// The first input dim of the form `a*s + b` binds `s` (`guard` renders the dim's
/// equation for the message when `got` is not of that form).
pub fn bind_linear(guard: &str, a: i64, b: i64, got: usize) -> Result<i64, RunError> {
    let got = got as i64;
    let x = got.checked_sub(b);
    match x.and_then(|x| Some((x.checked_rem(a)?, x.checked_div(a)?))) {
        Some((0, s)) => Ok(s),
        _ => Err(RunError::Guard {
            guard: guard.to_string(),
            detail: format!("but got {got}, which is not of that form"),
        }),
    }
}

/// A dim checked once every symbol is bound: `got` must be the expected `value`
/// (unchecked when the value cannot be computed, as the interpreter skips it).
pub fn check_deferred(guard: &str, value: Option<i64>, got: i64) -> Result<(), RunError> {
    match value {
        Some(v) if v != got => Err(RunError::Guard {
            guard: guard.to_string(),
            detail: format!("but got {got} and {v}"),
        }),
        _ => Ok(()),
    }
}

/// A range constraint of the program on the expression rendered `text`.
pub fn check_range(
    text: &str,
    value: Option<i64>,
    lower: i64,
    upper: Option<i64>,
) -> Result<(), RunError> {
    let Some(v) = value else { return Ok(()) };
    if v < lower {
        return Err(RunError::Guard {
            guard: format!("{text} >= {lower}"),
            detail: format!("but got {v}"),
        });
    }
    match upper {
        Some(u) if v > u => Err(RunError::Guard {
            guard: format!("{text} <= {u}"),
            detail: format!("but got {v}"),
        }),
        _ => Ok(()),
    }
}

/// A guard of the program (`guard` its rendered text), checked as the interpreter does.
pub fn check_guard(
    guard: &str,
    lhs: Option<i64>,
    rhs: Option<i64>,
    op: CmpOp,
) -> Result<(), RunError> {
    match (lhs, rhs) {
        (Some(l), Some(r)) if !op.eval(l, r) => Err(RunError::Guard {
            guard: guard.to_string(),
            detail: format!("but got {l} and {r}"),
        }),
        _ => Ok(()),
    }
}

/// A per-call size (`text` its expression), as a length: `Expr::eval`'s value, refused
/// when it overflows or is negative.
pub fn size(value: Option<i64>, text: &str) -> Result<usize, RunError> {
    match value {
        Some(v) => usize::try_from(v)
            .map_err(|_| RunError::Malformed(format!("size {text} evaluates to {v}"))),
        None => Err(RunError::Malformed(format!("size {text} overflows"))),
    }
}

/// `a + b` of size expressions, checked (`Expr::eval`).
pub fn e_add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a?.checked_add(b?)
}

/// `a * b`, checked.
pub fn e_mul(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a?.checked_mul(b?)
}

/// `floor(a / d)`.
pub fn e_fdiv(a: Option<i64>, d: i64) -> Option<i64> {
    a?.checked_div_euclid(d)
}

/// `a mod d`.
pub fn e_mod(a: Option<i64>, d: i64) -> Option<i64> {
    a?.checked_rem_euclid(d)
}

pub fn e_min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    Some(a?.min(b?))
}

pub fn e_max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    Some(a?.max(b?))
}

/// Grows a workspace slot to the largest of `needs` (elements) when it holds fewer:
/// the only allocation of a call, for dims beyond what the workspace was sized for.
pub fn fit(slot: &mut Vec<f32>, needs: &[usize]) -> Result<(), RunError> {
    let need = needs.iter().copied().max().unwrap_or(0);
    if slot.len() < need {
        ferrex_kernels::try_grow(slot, need, 0.0)
            .map_err(|e| RunError::Malformed(e.to_string()))?;
    }
    Ok(())
}

/// Where a view of a contiguous input of sizes `xs` starts and its strides, for an
/// output of sizes `out`: the runner's `ViewOp::layout` on the call's sizes.
pub fn view_layout(
    view: &ViewOp,
    xs: &[usize],
    out: &[usize],
) -> Result<(usize, Vec<usize>), String> {
    view.layout(xs, out, |s| {
        s.as_int()
            .ok_or_else(|| format!("a symbolic view bound {s}"))
    })
}

/// The f32 elements of a checked input, in row-major order (borrowed when contiguous).
pub fn f32_data(s: &Storage) -> Cow<'_, [f32]> {
    match s {
        Storage::F32(a) => match a.as_slice() {
            Some(x) => Cow::Borrowed(x),
            None => Cow::Owned(a.iter().copied().collect()),
        },
        _ => Cow::Borrowed(&[]),
    }
}

/// The i64 elements of a checked input, in row-major order (borrowed when contiguous).
pub fn i64_data(s: &Storage) -> Cow<'_, [i64]> {
    match s {
        Storage::I64(a) => match a.as_slice() {
            Some(x) => Cow::Borrowed(x),
            None => Cow::Owned(a.iter().copied().collect()),
        },
        _ => Cow::Borrowed(&[]),
    }
}

/// The bool elements of a checked input, in row-major order (borrowed when contiguous).
pub fn bool_data(s: &Storage) -> Cow<'_, [bool]> {
    match s {
        Storage::Bool(a) => match a.as_slice() {
            Some(x) => Cow::Borrowed(x),
            None => Cow::Owned(a.iter().copied().collect()),
        },
        _ => Cow::Borrowed(&[]),
    }
}

/// An output tensor of shape `shape` holding `data`.
pub fn tensor(shape: &[usize], data: Vec<f32>) -> Result<Tensor, RunError> {
    Storage::from_vec(shape, data)
        .map(Tensor::from_storage)
        .ok_or_else(|| RunError::Malformed(format!("an output does not fill its shape {shape:?}")))
}

pub use ferrex::ops::Value;
pub use ferrex::SymInt;

/// A constant as a tensor, made on first use and kept in `cache` (a weight a `cond` /
/// `map` step passes whole: the clone shares it, no copy per call).
pub fn cached_tensor(
    cache: &mut Option<Tensor>,
    data: &[f32],
    shape: &[usize],
) -> Result<Tensor, RunError> {
    if let Some(t) = cache {
        return Ok(t.clone());
    }
    let t = tensor(shape, data.to_vec())?;
    *cache = Some(t.clone());
    Ok(t)
}

/// A tensor of `shape` holding a copy of `data` (an operand of a folded op).
pub fn const_tensor(data: &[f32], shape: &[usize]) -> Result<Tensor, RunError> {
    tensor(shape, data.to_vec())
}

/// Output `output` of op `op` on constant `args`, computed by the op's eager kernel as
/// the planner computed it (a constant the plan folded), as f32 data.
pub fn fold(op: &str, args: &[Value], output: usize) -> Result<Vec<f32>, RunError> {
    let fail = |m: String| RunError::Malformed(format!("folding `{op}`: {m}"));
    let def = ferrex::ops::lookup(op).ok_or_else(|| fail("the op is not registered".into()))?;
    let out = ferrex::ops::run_eager(def, args).map_err(|e| fail(e.0))?;
    let t = out
        .get(output)
        .ok_or_else(|| fail(format!("no output {output}")))?;
    t.to_vec::<f32>().map_err(|e| fail(e.to_string()))
}

/// A folded inference batch norm's scale (or, `shift`, its shift), computed as the
/// planner computes it (`ferrex_runtime::step::batch_norm_affine`).
pub fn batch_norm_part(
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    eps: f64,
    shift: bool,
) -> Result<Vec<f32>, RunError> {
    let (scale, offset) = ferrex_runtime::step::batch_norm_affine(weight, bias, mean, var, eps)
        .ok_or_else(|| RunError::Malformed("a batch norm's statistics differ in length".into()))?;
    Ok(if shift { offset } else { scale })
}

pub use ferrex::ops::OpDef;

/// The registered op `name` (an eager fallback's), looked up once in `Model::new`.
pub fn op(name: &str) -> Result<&'static OpDef, RunError> {
    ferrex::ops::lookup(name)
        .ok_or_else(|| RunError::Malformed(format!("the op `{name}` is not registered")))
}

/// An eager fallback: the registry's kernel of `op` on `args`, as the plan's runner calls
/// it (its error worded by `fail`, the step's); each f32 result made contiguous, so
/// later steps read it as a slice.
pub fn fallback(
    op: &'static OpDef,
    args: Vec<Value>,
    fail: &dyn Fn(&dyn std::fmt::Display) -> RunError,
) -> Result<Vec<Storage>, RunError> {
    let out = ferrex::ops::run_eager(op, &args).map_err(|e| fail(&e.0))?;
    out.iter().map(contiguous).collect()
}

pub use ferrex::ops::rnn::RecurrentSpec;
pub use ferrex_kernels::rnn::RecurrentCell;

/// A recurrent step: every layer by the layer kernel (the plan's runner's function), on
/// the input, the states and the parameters in order; results made contiguous.
pub fn recurrent(
    spec: &RecurrentSpec,
    tensors: Vec<Tensor>,
    fail: &dyn Fn(&dyn std::fmt::Display) -> RunError,
) -> Result<Vec<Storage>, RunError> {
    let storages = (tensors.iter())
        .map(|t| t.try_storage().map_err(|e| fail(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let (input, hx, params) = (spec.operands(&storages))
        .ok_or_else(|| fail(&"operands other than the layers' input, states and parameters"))?;
    let out = ferrex::ops::rnn::recurrent_layers(spec, input, hx, params)
        .ok_or_else(|| fail(&"the layer kernel does not run these operands"))?
        .map_err(|e| fail(&e.0))?;
    Ok(out.iter().map(Storage::contiguous).collect())
}

/// A result made contiguous (later steps read it as a slice).
fn contiguous(t: &Tensor) -> Result<Storage, RunError> {
    t.try_storage()
        .map(|s| s.contiguous())
        .map_err(|e| RunError::Malformed(e.to_string()))
}

/// A higher-order op (`higher_order::cond`, `higher_order::map_impl`) of the program.
pub fn hop(target: &str) -> Result<&'static dyn HigherOrderOp, RunError> {
    ferrex::control_flow::lookup_higher_order(target)
        .ok_or_else(|| RunError::Malformed(format!("no higher-order op `{target}`")))
}

pub use ferrex::graph::HigherOrderOp;

/// A `cond` / `map_impl` step: the runtime's own step ([`ferrex_runtime::step::higher_order`],
/// so the branch picked, the slices and the stacking are the plan's), its subgraphs run
/// by the generated functions `run` calls; f32 results made contiguous.
pub fn higher_order(
    op: &'static dyn HigherOrderOp,
    args: &[Value],
    run: &dyn Fn(usize, Vec<Tensor>) -> Result<Vec<Tensor>, RunError>,
    metas: &[TensorMeta],
    at: Option<SourceLocation>,
    fail: &dyn Fn(&dyn std::fmt::Display) -> RunError,
) -> Result<Vec<Storage>, RunError> {
    let at = at.unwrap_or(SourceLocation::GRAPH);
    let out = ferrex_runtime::step::higher_order(op, args, run, metas, at, fail)?;
    out.into_iter()
        .map(|s| contiguous(&Tensor::from_storage(s)))
        .collect()
}

/// The meta of a higher-order step's output at this call's sizes.
pub fn meta(dtype: DType, sizes: &[usize]) -> TensorMeta {
    TensorMeta::from_shape(dtype, sizes)
}

/// A subgraph given `inputs.len()` values where it has `expected` placeholders.
pub fn check_sub_count(inputs: &[Tensor], expected: usize) -> Result<(), RunError> {
    if inputs.len() == expected {
        return Ok(());
    }
    Err(RunError::Malformed(format!(
        "a subgraph received {} inputs, it has {expected} placeholders",
        inputs.len()
    )))
}

/// Input `k` of a subgraph: of the dtype and sizes its placeholder declares (what its
/// generated steps read), else the program is malformed.
pub fn sub_input(
    inputs: &[Tensor],
    k: usize,
    dtype: DType,
    sizes: &[usize],
) -> Result<Storage, RunError> {
    let t = inputs
        .get(k)
        .ok_or_else(|| RunError::Malformed(format!("a subgraph has no input {k}")))?;
    let s = contiguous(t)?;
    if s.dtype() != dtype || s.shape() != sizes {
        return Err(RunError::Malformed(format!(
            "subgraph input {k} is {}{:?}, its placeholder {dtype}{sizes:?}",
            s.dtype(),
            s.shape()
        )));
    }
    Ok(s)
}

/// The value of a 0-d integer result (`aten::item`'s), bound to its symbol.
pub fn item_value(results: &[Storage], output: usize) -> Option<i64> {
    results.get(output)?.to_vec::<i64>().first().copied()
}

/// Dim `dim` of a result (a data-dependent length: `nonzero`'s), bound to its symbol.
pub fn dim_value(results: &[Storage], output: usize, dim: usize) -> Option<i64> {
    let d = *results.get(output)?.shape().get(dim)?;
    i64::try_from(d).ok()
}

/// A size computed from values read from data, as the plan's runner gives it to a
/// kernel: its value, or `i64::MAX` when it overflows (refused by every allocation).
pub fn sym_i64(value: Option<i64>) -> i64 {
    value.unwrap_or(i64::MAX)
}

/// A SymInt output of the program: a 0-d i64 tensor, as `CompiledProgram::call`
/// returns it.
pub fn scalar_i64(value: i64) -> Tensor {
    Tensor::scalar(value)
}

/// Output `i` of an eager fallback's results.
fn eager(results: &[Storage], i: usize) -> Result<&Storage, RunError> {
    results
        .get(i)
        .ok_or_else(|| RunError::Malformed(format!("an eager step has no output {i}")))
}

/// Output `i` of an eager fallback as a tensor (shared, not copied).
pub fn eager_tensor(results: &[Storage], i: usize) -> Result<Tensor, RunError> {
    eager(results, i).map(|s| Tensor::from_storage(s.clone()))
}

/// Output `i` of an eager step, of bool or integer data (a `where`'s condition, a
/// mask), as a fused step loads it ([`as_f32`]).
pub fn eager_as_f32(results: &[Storage], i: usize) -> Result<Vec<f32>, RunError> {
    Ok(ferrex::with_storage!(eager(results, i)?, a => as_f32(a.iter().copied())))
}

/// Output `i` of an eager fallback as i64 data (a gather's indices).
pub fn eager_i64(results: &[Storage], i: usize) -> Result<Cow<'_, [i64]>, RunError> {
    match eager(results, i)? {
        s @ Storage::I64(_) => Ok(i64_data(s)),
        other => Err(RunError::Malformed(format!(
            "an eager result of dtype {} read as indices",
            other.dtype()
        ))),
    }
}

/// Output `i` of an eager fallback as f32 data (made contiguous by [`fallback`]).
pub fn eager_f32(results: &[Storage], i: usize) -> Result<&[f32], RunError> {
    match eager(results, i)? {
        Storage::F32(a) => a
            .as_slice()
            .ok_or_else(|| RunError::Malformed("a non-contiguous eager result".into())),
        other => Err(RunError::Malformed(format!(
            "an eager result of dtype {} read as f32",
            other.dtype()
        ))),
    }
}

/// A tensor of `shape` holding a copy of `data` (an eager fallback's operand).
pub fn tensor_of_f32(data: &[f32], shape: &[usize]) -> Result<Tensor, RunError> {
    tensor(shape, data.to_vec())
}

/// [`tensor_of_f32`] of bool data (a `cond` predicate).
pub fn tensor_of_bool(data: &[bool], shape: &[usize]) -> Result<Tensor, RunError> {
    Storage::from_vec(shape, data.to_vec())
        .map(Tensor::from_storage)
        .ok_or_else(|| RunError::Malformed(format!("bool data does not fill {shape:?}")))
}

/// [`tensor_of_f32`] of i64 data.
pub fn tensor_of_i64(data: &[i64], shape: &[usize]) -> Result<Tensor, RunError> {
    Storage::from_vec(shape, data.to_vec())
        .map(Tensor::from_storage)
        .ok_or_else(|| RunError::Malformed(format!("i64 data does not fill {shape:?}")))
}

pub use ferrex::program::ConstantValue;

/// Leaf `index`, a constant input, must hold the value the program was exported with
/// (the interpreter's check and words).
pub fn check_constant(
    leaves: &[InputLeaf],
    index: usize,
    name: &str,
    value: &ConstantValue,
) -> Result<(), RunError> {
    let leaf = leaves
        .get(index)
        .ok_or_else(|| RunError::Malformed("missing user input".into()))?;
    let same = match (value, &leaf.value) {
        (ConstantValue::Int(a), LeafValue::Int(b)) => a == b,
        (ConstantValue::Float(a), LeafValue::Float(b)) => a == b,
        (ConstantValue::Bool(a), LeafValue::Bool(b)) => a == b,
        (ConstantValue::Str(a), LeafValue::Str(b)) => a == b,
        (ConstantValue::None, LeafValue::None) => true,
        _ => false,
    };
    if same {
        return Ok(());
    }
    Err(RunError::InputValue {
        name: name.to_string(),
        expected: format!("{value} (the value the program was exported with)"),
        got: leaf.value.describe(),
    })
}

/// An input mutation: the caller's tensor (leaf `index`) takes the value `new`, as the
/// interpreter writes it back (`ExportedProgram::finish_call`).
pub fn write_input(leaves: &[InputLeaf], index: usize, new: Tensor) -> Result<(), RunError> {
    match leaves.get(index).map(|l| &l.value) {
        Some(LeafValue::Tensor(t)) => {
            let written = t.copy_(&new);
            match written.error() {
                Some(e) => Err(RunError::Malformed(format!("writing a mutated input: {e}"))),
                None => Ok(()),
            }
        }
        _ => Err(RunError::Malformed(
            "a mutated input is not a tensor".into(),
        )),
    }
}

/// A mutated buffer's state, locked for one call (a poisoned lock still holds the last
/// state written).
pub fn lock(state: &std::sync::Mutex<Vec<f32>>) -> std::sync::MutexGuard<'_, Vec<f32>> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub use ferrex::LoadError;

/// `archive` (shown as `shown`) is the archive generated code was made from: its length
/// and the FNV-1a of its JSON entries (the compile-time check of an embedded archive, at
/// run time).
pub fn check_fingerprint(
    archive: &[u8],
    len: usize,
    fingerprint: &[(usize, usize, u64)],
    name: &str,
    shown: &str,
) -> Result<(), LoadError> {
    let same = archive.len() == len
        && (fingerprint.iter()).all(|&(start, n, h)| fnv1a(archive, start, n) == h);
    if same {
        return Ok(());
    }
    Err(LoadError::Program {
        path: shown.to_string(),
        message: format!(
            "it is not `{name}`, the archive this code was generated from ({} bytes, \
             expected {len} with the same program); generate the code from it again",
            archive.len()
        ),
    })
}

/// The bytes of the archive at `path`.
pub fn read_archive(path: &std::path::Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The weights of a checked archive (shown as `shown`) could not be read.
pub fn weights_error(shown: &str, e: RunError) -> LoadError {
    LoadError::Program {
        path: shown.to_string(),
        message: e.to_string(),
    }
}

/// Copies a computed value into an output of data-dependent sizes (sized by the copy).
pub fn copy_out_vec(out: &mut Vec<f32>, value: &[f32]) -> Result<(), RunError> {
    out.clear();
    ferrex_kernels::try_grow(out, value.len(), 0.0)
        .map_err(|e| RunError::Malformed(e.to_string()))?;
    out.copy_from_slice(value);
    Ok(())
}

/// Copies a computed value into an output (or a mutated buffer's state), refusing a
/// length that differs (a program whose metas disagree with its kernels).
pub fn copy_out(out: &mut [f32], value: &[f32]) -> Result<(), RunError> {
    if out.len() != value.len() {
        return Err(RunError::Malformed(format!(
            "a result of {} values for an output of {}",
            value.len(),
            out.len()
        )));
    }
    out.copy_from_slice(value);
    Ok(())
}
