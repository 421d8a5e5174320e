//! Tensor constructors: `zeros`, `ones`, `full`, `arange`, `randn`, `rand`, `full_like`,
//! `ones_like`, `new_zeros` / `new_ones` / `new_empty` / `new_full`, `eye`. Called while tracing, they record a node (so symbolic sizes stay
//! symbolic).

use super::util::concrete;
use super::{OpArgs, OpDef, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{with_default_generator, DType, Element, Storage, Tensor, TensorMeta};

fn sizes_of(args: &OpArgs) -> Result<Vec<SymInt>, OpError> {
    sizes_at(args, 0)
}

/// The size list argument `i`, checked non-negative.
fn sizes_at(args: &OpArgs, i: usize) -> Result<Vec<SymInt>, OpError> {
    let sizes = args.int_list(i)?;
    if let Some(neg) = sizes.iter().find(|s| s.hint() < 0) {
        op_bail!(
            "Trying to create tensor with negative dimension {neg}: {}",
            crate::symbolic::format_sizes(&sizes)
        );
    }
    Ok(sizes)
}

/// The dtype argument sits right after the positional ones.
fn filled_meta(
    args: &OpArgs,
    dtype_arg: usize,
    default: DType,
) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = args.opt_dtype(dtype_arg)?.unwrap_or(default);
    Ok(vec![TensorMeta::new(dtype, sizes_of(args)?)])
}

fn zeros_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    filled_meta(args, 1, DType::DEFAULT_FLOAT)
}

fn zeros_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &zeros_meta(args)?[0];
    Ok(vec![Storage::full(&concrete(&m.sizes), 0.0, m.dtype)])
}

fn ones_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &zeros_meta(args)?[0];
    Ok(vec![Storage::full(&concrete(&m.sizes), 1.0, m.dtype)])
}

/// `full`'s dtype follows its fill value when none is given.
fn fill_dtype(v: &Value) -> DType {
    match v {
        Value::Bool(_) => DType::Bool,
        Value::Int(_) => DType::I64,
        _ => DType::DEFAULT_FLOAT,
    }
}

fn full_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    filled_meta(args, 2, fill_dtype(&args.get(1)))
}

fn full_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &full_meta(args)?[0];
    Ok(vec![Storage::full_scalar(
        &concrete(&m.sizes),
        args.scalar(1)?,
        m.dtype,
    )])
}

/// `zeros` / `ones` → `full(size, 0 | 1, …)` with the same keyword arguments, as
/// PyTorch's table writes them (`True` for a bool `ones`).
fn filled_decomposition(args: &OpArgs, one: bool) -> Result<Vec<Tensor>, OpError> {
    let dtype = zeros_meta(args)?.swap_remove(0).dtype;
    let fill = match dtype {
        DType::Bool => Value::Bool(one),
        _ => Value::Int(SymInt::Int(i64::from(one))),
    };
    // The dtype is written out (PyTorch's `full(..., 0, dtype=f32)`): an integer fill
    // with `dtype=None` would make `full` an integer tensor.
    let mut values = vec![Value::IntList(sizes_of(args)?), fill, Value::DType(dtype)];
    values.extend(args.values.iter().skip(2).cloned());
    Ok(Tensor::call_op(&FULL, values))
}

fn zeros_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    filled_decomposition(args, false)
}

fn ones_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    filled_decomposition(args, true)
}

pub static ZEROS: OpDef = OpDef::new(
    "aten::zeros(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    zeros_meta,
    zeros_kernel,
)
.with_decomposition(zeros_decomposition);
pub static ONES: OpDef = OpDef::new(
    "aten::ones(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    zeros_meta,
    ones_kernel,
)
.with_decomposition(ones_decomposition);
pub static FULL: OpDef = OpDef::new(
    "aten::full(SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    full_meta,
    full_kernel,
);

// ---------------------------------------------------------------------------------------
// scalar_tensor

fn scalar_tensor_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = args.opt_dtype(1)?.unwrap_or(DType::DEFAULT_FLOAT);
    Ok(vec![TensorMeta::new(dtype, Vec::new())])
}

fn scalar_tensor_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &scalar_tensor_meta(args)?[0];
    Ok(vec![Storage::full(&[], args.float(0)?, m.dtype)])
}

/// A zero-dim tensor holding a number — also a symbolic size, which keeps a size-based
/// value in the graph instead of specialising it.
pub static SCALAR_TENSOR: OpDef = OpDef::new(
    "aten::scalar_tensor(Scalar s, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    scalar_tensor_meta,
    scalar_tensor_kernel,
);

// ---------------------------------------------------------------------------------------
// arange

struct Range {
    start: Value,
    end: Value,
    step: Value,
    dtype_arg: usize,
}

fn range_of(args: &OpArgs) -> Range {
    if args.op.name() == "aten::arange.default" {
        Range {
            start: Value::Int(SymInt::Int(0)),
            end: args.get(0),
            step: Value::Int(SymInt::Int(1)),
            dtype_arg: 1,
        }
    } else {
        Range {
            start: args.get(0),
            end: args.get(1),
            step: args.get(2),
            dtype_arg: 3,
        }
    }
}

fn arange_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let r = range_of(args);
    let all_int = [&r.start, &r.end, &r.step]
        .iter()
        .all(|v| matches!(v, Value::Int(_)));
    let dtype = args.opt_dtype(r.dtype_arg)?.unwrap_or(if all_int {
        DType::I64
    } else {
        DType::DEFAULT_FLOAT
    });
    let len = match (&r.start, &r.end, &r.step) {
        (Value::Int(a), Value::Int(b), Value::Int(s)) => {
            let s = s.hint();
            if s == 0 {
                op_bail!("step must be nonzero");
            }
            if s > 0 {
                b.sub(a)
                    .add(&SymInt::Int(s - 1))
                    .floor_div(s)
                    .max(&SymInt::Int(0))
            } else {
                // In i128: hostile bounds must not wrap around.
                let len = (i128::from(a.hint()) - i128::from(b.hint()) - i128::from(s) - 1)
                    / -i128::from(s);
                SymInt::Int(i64::try_from(len.max(0)).unwrap_or(i64::MAX))
            }
        }
        _ => {
            let f = |v: &Value| match v {
                Value::Int(i) => Ok(i.hint() as f64),
                Value::Float(x) => Ok(*x),
                _ => Err(OpError::new("arange bounds must be numbers")),
            };
            let (a, b, s) = (f(&r.start)?, f(&r.end)?, f(&r.step)?);
            if s == 0.0 {
                op_bail!("step must be nonzero");
            }
            SymInt::Int(((b - a) / s).ceil().max(0.0) as i64)
        }
    };
    Ok(vec![TensorMeta::new(dtype, vec![len])])
}

fn arange_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &arange_meta(args)?[0];
    let r = range_of(args);
    let num = |v: &Value| match v {
        Value::Int(i) => i.hint() as f64,
        Value::Float(x) => *x,
        _ => 0.0,
    };
    let n = m.sizes[0].hint().max(0) as usize;
    let storage = match (&r.start, &r.step) {
        // Integer ranges in i64, exactly (f64 rounds above 2^53).
        (Value::Int(start), Value::Int(step)) if !m.dtype.is_float() => {
            let (start, step) = (start.hint(), step.hint());
            let data: Vec<i64> = (0..n as i64)
                .map(|i| start.wrapping_add(step.wrapping_mul(i)))
                .collect();
            Storage::from_vec(&[n], data)
        }
        _ => {
            let (start, step) = (num(&r.start), num(&r.step));
            let data: Vec<f64> = (0..n).map(|i| start + step * i as f64).collect();
            Storage::from_vec(&[n], data)
        }
    };
    storage
        .map(|s| vec![s.cast(m.dtype)])
        .ok_or_else(|| OpError::new("arange: invalid length"))
}

/// `arange(end, …)` → `arange.start_step(0, end, …)`.
fn arange_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let mut values = vec![Value::Int(SymInt::Int(0)), args.get(0)];
    if args.values.len() > 1 {
        values.push(Value::Int(SymInt::Int(1)));
        values.extend(args.values.iter().skip(1).cloned());
    }
    Ok(Tensor::call_op(&ARANGE_START_STEP, values))
}

pub static ARANGE: OpDef = OpDef::new(
    "aten::arange(Scalar end, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    arange_meta,
    arange_kernel,
)
.with_decomposition(arange_decomposition);
pub static ARANGE_START_STEP: OpDef = OpDef::new(
    "aten::arange.start_step(Scalar start, Scalar end, Scalar step=1, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    arange_meta,
    arange_kernel,
);

// ---------------------------------------------------------------------------------------
// random

fn random_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = filled_meta(args, 1, DType::DEFAULT_FLOAT)?;
    if !m[0].dtype.is_float() {
        op_bail!(
            "random tensors must have a floating dtype, got {}",
            m[0].dtype
        );
    }
    Ok(m)
}

fn random_kernel(
    args: &OpArgs,
    sample: fn(&mut crate::tensor::Generator) -> f64,
) -> Result<Vec<Storage>, OpError> {
    let m = &random_meta(args)?[0];
    let shape = concrete(&m.sizes);
    let n: usize = shape.iter().product();
    let data: Vec<f64> = with_default_generator(|g| (0..n).map(|_| sample(g)).collect());
    let s = match m.dtype {
        DType::F64 => Storage::from_vec(&shape, data),
        _ => Storage::from_vec(
            &shape,
            data.into_iter()
                .map(<f32 as Element>::from_f64)
                .collect::<Vec<f32>>(),
        ),
    };
    s.map(|s| vec![s])
        .ok_or_else(|| OpError::new("invalid shape"))
}

fn randn_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    random_kernel(args, crate::tensor::Generator::normal)
}

fn rand_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    random_kernel(args, crate::tensor::Generator::uniform)
}

pub static RANDN: OpDef = OpDef::new(
    "aten::randn(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    random_meta,
    randn_kernel,
)
.random();
pub static RAND: OpDef = OpDef::new(
    "aten::rand(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    random_meta,
    rand_kernel,
)
.random();

// ---------------------------------------------------------------------------------------
// full_like / ones_like / eye

fn like_meta(args: &OpArgs, dtype_arg: usize) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let dtype = args.opt_dtype(dtype_arg)?.unwrap_or(m.dtype);
    Ok(vec![TensorMeta::new(dtype, m.sizes)])
}

fn full_like_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    like_meta(args, 2)
}

fn full_like_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &full_like_meta(args)?[0];
    Ok(vec![Storage::full_scalar(
        &concrete(&m.sizes),
        args.scalar(1)?,
        m.dtype,
    )])
}

fn ones_like_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    like_meta(args, 1)
}

fn ones_like_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &ones_like_meta(args)?[0];
    Ok(vec![Storage::full(&concrete(&m.sizes), 1.0, m.dtype)])
}

pub static FULL_LIKE: OpDef = OpDef::new(
    "aten::full_like(Tensor self, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    full_like_meta,
    full_like_kernel,
);
pub static ONES_LIKE: OpDef = OpDef::new(
    "aten::ones_like(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    ones_like_meta,
    ones_like_kernel,
);

// ---------------------------------------------------------------------------------------
// new_zeros / new_ones / new_empty / new_full: `self` gives the dtype by default

/// `(size argument, fill argument if any, dtype argument)` of a `new_*` op.
fn new_filled_layout(op: &OpDef) -> (Option<usize>, usize) {
    if std::ptr::eq(op, &NEW_FULL) {
        (Some(2), 3)
    } else {
        (None, 2)
    }
}

fn new_filled_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (_, dtype_arg) = new_filled_layout(args.op);
    let dtype = args.opt_dtype(dtype_arg)?.unwrap_or(args.meta(0)?.dtype);
    Ok(vec![TensorMeta::new(dtype, sizes_at(args, 1)?)])
}

/// The fill value: `new_full`'s argument, 1 for `new_ones`, 0 otherwise (`new_empty`'s
/// contents are unspecified; zeros are a valid choice).
fn new_fill(args: &OpArgs) -> Value {
    match new_filled_layout(args.op) {
        (Some(fill), _) => args.get(fill),
        _ => Value::Int(SymInt::Int(i64::from(std::ptr::eq(args.op, &NEW_ONES)))),
    }
}

fn new_filled_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &new_filled_meta(args)?[0];
    let fill = match new_filled_layout(args.op) {
        (Some(fill), _) => args.scalar(fill)?,
        _ => crate::tensor::Scalar::Int(i64::from(std::ptr::eq(args.op, &NEW_ONES))),
    };
    Ok(vec![Storage::full_scalar(
        &concrete(&m.sizes),
        fill,
        m.dtype,
    )])
}

/// `full(size, fill, dtype=…)` with `self`'s dtype made explicit, as PyTorch's table does.
fn new_filled_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let m = new_filled_meta(args)?.swap_remove(0);
    let (_, dtype_arg) = new_filled_layout(args.op);
    let mut values = vec![
        Value::IntList(m.sizes),
        new_fill(args),
        Value::DType(m.dtype),
    ];
    values.extend(args.values.iter().skip(dtype_arg + 1).cloned());
    Ok(Tensor::call_op(&FULL, values))
}

macro_rules! new_filled {
    ($($name:ident $schema:literal;)*) => {$(
        pub static $name: OpDef = OpDef::new($schema, new_filled_meta, new_filled_kernel)
            .with_decomposition(new_filled_decomposition);
    )*};
}

new_filled! {
    NEW_ZEROS "aten::new_zeros(Tensor self, SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor";
    NEW_ONES "aten::new_ones(Tensor self, SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor";
    NEW_EMPTY "aten::new_empty(Tensor self, SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor";
    NEW_FULL "aten::new_full(Tensor self, SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor";
}

fn eye_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let n = args.int(0)?;
    if n.hint() < 0 {
        op_bail!("n must be greater or equal to 0, got {n}");
    }
    let dtype = args.opt_dtype(1)?.unwrap_or(DType::DEFAULT_FLOAT);
    Ok(vec![TensorMeta::new(dtype, vec![n.clone(), n])])
}

fn eye_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = &eye_meta(args)?[0];
    let n = m.sizes[0].hint().max(0) as usize;
    let data: Vec<f64> = (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect();
    Storage::from_vec(&[n, n], data)
        .map(|s| vec![s.cast(m.dtype)])
        .ok_or_else(|| OpError::new("eye: invalid size"))
}

pub static EYE: OpDef = OpDef::new(
    "aten::eye(SymInt n, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    eye_meta,
    eye_kernel,
);

pub static OPS: &[&OpDef] = &[
    &SCALAR_TENSOR,
    &NEW_ZEROS,
    &NEW_ONES,
    &NEW_EMPTY,
    &NEW_FULL,
    &ZEROS,
    &ONES,
    &FULL,
    &ARANGE,
    &ARANGE_START_STEP,
    &RANDN,
    &RAND,
    &FULL_LIKE,
    &ONES_LIKE,
    &EYE,
];
