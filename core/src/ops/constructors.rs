//! Tensor constructors: `zeros`, `ones`, `full`, `arange`, `randn`, `rand`, `full_like`,
//! `ones_like`, `new_zeros` / `new_ones` / `new_empty` / `new_full`, `eye`. Called while tracing, they record a node (so symbolic sizes stay
//! symbolic).

use super::op_def;
use super::util::{concrete, meta_of};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{with_default_generator, DType, Element, Scalar, Storage, Tensor, TensorMeta};

/// A size list, checked non-negative.
fn checked_sizes(sizes: &[SymInt]) -> Result<Vec<SymInt>, OpError> {
    if let Some(neg) = sizes.iter().find(|s| s.hint() < 0) {
        op_bail!(
            "Trying to create tensor with negative dimension {neg}: {}",
            crate::symbolic::format_sizes(sizes)
        );
    }
    Ok(sizes.to_vec())
}

/// `empty_permuted`'s result: `physical_layout` must order every dim once.
fn empty_permuted_meta(a: &EmptyPermuted) -> Result<Vec<TensorMeta>, OpError> {
    let rank = a.size.len();
    if a.physical_layout.len() != rank {
        op_bail!(
            "Number of dimensions in size does not match the length of the physical_layout; i.e. len(size) = {rank} is not equal to len(physical_layout) = {}",
            a.physical_layout.len()
        );
    }
    let mut seen = vec![false; rank];
    for &p in &a.physical_layout {
        let Some(slot) = usize::try_from(p).ok().and_then(|i| seen.get_mut(i)) else {
            op_bail!(
                "Dimension out of range (expected to be in range of [0, {}], but got {p})",
                rank.saturating_sub(1)
            );
        };
        if std::mem::replace(slot, true) {
            op_bail!("Dimension {p} was passed to physical_layout more than once");
        }
    }
    Ok(vec![TensorMeta::new(
        a.dtype.unwrap_or(DType::DEFAULT_FLOAT),
        checked_sizes(&a.size)?,
    )])
}

/// The one result meta computed.
fn single(metas: &[TensorMeta]) -> Result<&TensorMeta, OpError> {
    metas
        .first()
        .ok_or_else(|| OpError::new("constructor: no result meta"))
}

/// A tensor of the result's shape and dtype filled with `value`.
/// A `*_like` fill: the result's sizes, the value as a number (its dtype the result's).
fn fill_lowering<T>(value: Scalar) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Fill {
        value: value.to::<f64>(),
    })
}

fn filled(metas: &[TensorMeta], value: Scalar) -> Result<Vec<Storage>, OpError> {
    let m = single(metas)?;
    Ok(vec![Storage::full_scalar(
        &concrete(&m.sizes),
        value,
        m.dtype,
    )])
}

fn zeros_meta(a: &Filled) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = a.dtype.unwrap_or(DType::DEFAULT_FLOAT);
    Ok(vec![TensorMeta::new(dtype, checked_sizes(&a.size)?)])
}

/// `full`'s dtype follows its fill value when none is given.
fn fill_dtype(v: Scalar) -> DType {
    match v {
        Scalar::Bool(_) => DType::Bool,
        Scalar::Int(_) => DType::I64,
        Scalar::Float(_) => DType::DEFAULT_FLOAT,
    }
}

fn full_meta(a: &Full) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = a.dtype.unwrap_or(fill_dtype(a.fill_value));
    Ok(vec![TensorMeta::new(dtype, checked_sizes(&a.size)?)])
}

/// `zeros` / `ones` → `full(size, 0 | 1, …)` with the same keyword arguments, as
/// PyTorch's table writes them (`True` for a bool `ones`).
fn filled_decomposition(a: &Filled, one: bool) -> Result<Vec<Tensor>, OpError> {
    let dtype = a.dtype.unwrap_or(DType::DEFAULT_FLOAT);
    let fill = match dtype {
        DType::Bool => Value::Bool(one),
        _ => Value::Int(SymInt::Int(i64::from(one))),
    };
    // The dtype is written out (PyTorch's `full(..., 0, dtype=f32)`): an integer fill
    // with `dtype=None` would make `full` an integer tensor.
    let values = vec![
        Value::IntList(checked_sizes(&a.size)?),
        fill,
        Value::DType(dtype),
        a.layout.clone(),
        a.device.clone(),
        opt_bool(a.pin_memory),
    ];
    Ok(Tensor::call_op(&FULL, values))
}

fn opt_bool(b: Option<bool>) -> Value {
    b.map_or(Value::None, Value::Bool)
}

op_def! {
    pub static ZEROS: struct Filled =
        "aten::zeros(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: zeros_meta,
        kernel: |_: &Filled, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
        decomposition: |a: &Filled| filled_decomposition(a, false),
    }
    pub static ONES: Filled =
        "aten::ones(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: zeros_meta,
        kernel: |_: &Filled, m: &[TensorMeta]| filled(m, Scalar::Int(1)),
        decomposition: |a: &Filled| filled_decomposition(a, true),
    }
    /// Uninitialised memory in PyTorch (the core IR's circular pad fills every element
    /// it reads): zeros here, so that a program never reads stale data.
    pub static EMPTY_MEMORY_FORMAT: struct Empty =
        "aten::empty.memory_format(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor" {
        meta: |a: &Empty| Ok(vec![TensorMeta::new(a.dtype.unwrap_or(DType::DEFAULT_FLOAT), checked_sizes(&a.size)?)]),
        kernel: |_: &Empty, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
    }
    /// `empty` whose memory is laid out in `physical_layout`'s order of dims (the core
    /// IR's `rsub` of a number builds its `full_like` on one): ferrex's tensors are
    /// row-major, so only the layout's validity matters; zeros, as `empty`.
    pub static EMPTY_PERMUTED: struct EmptyPermuted =
        "aten::empty_permuted(SymInt[] size, int[] physical_layout, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: empty_permuted_meta,
        kernel: |_: &EmptyPermuted, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
    }
    pub static FULL: struct Full =
        "aten::full(SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: full_meta,
        kernel: |a: &Full, m: &[TensorMeta]| filled(m, a.fill_value),
    }
}

// ---------------------------------------------------------------------------------------
// scalar_tensor

fn scalar_tensor_meta(a: &ScalarTensor) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = a.dtype.unwrap_or(DType::DEFAULT_FLOAT);
    Ok(vec![TensorMeta::new(dtype, Vec::new())])
}

fn scalar_tensor_kernel(a: &ScalarTensor, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    Ok(vec![Storage::full(
        &[],
        a.s.to::<f64>(),
        single(metas)?.dtype,
    )])
}

op_def! {
    /// A zero-dim tensor holding a number — also a symbolic size, which keeps a size-based
    /// value in the graph instead of specialising it.
    pub static SCALAR_TENSOR: struct ScalarTensor =
        "aten::scalar_tensor(Scalar s, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: scalar_tensor_meta,
        kernel: scalar_tensor_kernel,
    }
}

// ---------------------------------------------------------------------------------------
// arange

/// An `arange` call's bounds as given (symbolic sizes stay symbolic) and its dtype.
struct Range<'a> {
    start: &'a Value,
    end: &'a Value,
    step: &'a Value,
    dtype: Option<DType>,
}

const ZERO: Value = Value::Int(SymInt::Int(0));
const ONE: Value = Value::Int(SymInt::Int(1));

impl Arange {
    fn range(&self) -> Range<'_> {
        Range {
            start: &ZERO,
            end: &self.end,
            step: &ONE,
            dtype: self.dtype,
        }
    }
}

impl ArangeStartStep {
    fn range(&self) -> Range<'_> {
        Range {
            start: &self.start,
            end: &self.end,
            step: &self.step,
            dtype: self.dtype,
        }
    }
}

fn arange_meta(r: &Range) -> Result<Vec<TensorMeta>, OpError> {
    let all_int = [r.start, r.end, r.step]
        .iter()
        .all(|v| matches!(v, Value::Int(_)));
    let dtype = r.dtype.unwrap_or(if all_int {
        DType::I64
    } else {
        DType::DEFAULT_FLOAT
    });
    let len = match (r.start, r.end, r.step) {
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
            let (a, b, s) = (f(r.start)?, f(r.end)?, f(r.step)?);
            if s == 0.0 {
                op_bail!("step must be nonzero");
            }
            SymInt::Int(((b - a) / s).ceil().max(0.0) as i64)
        }
    };
    Ok(vec![TensorMeta::new(dtype, vec![len])])
}

fn arange_kernel(r: &Range, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let m = single(metas)?;
    let num = |v: &Value| match v {
        Value::Int(i) => i.hint() as f64,
        Value::Float(x) => *x,
        _ => 0.0,
    };
    let n = m.sizes[0].hint().max(0) as usize;
    let storage = match (r.start, r.step) {
        // Integer ranges in i64, exactly (f64 rounds above 2^53).
        (Value::Int(start), Value::Int(step)) if !m.dtype.is_float() => {
            let (start, step) = (start.hint(), step.hint());
            let data: Vec<i64> = (0..n as i64)
                .map(|i| start.wrapping_add(step.wrapping_mul(i)))
                .collect();
            Storage::from_vec(&[n], data)
        }
        _ => {
            let (start, step) = (num(r.start), num(r.step));
            let data: Vec<f64> = (0..n).map(|i| start + step * i as f64).collect();
            Storage::from_vec(&[n], data)
        }
    };
    storage
        .map(|s| vec![s.into_dtype(m.dtype)])
        .ok_or_else(|| OpError::new("arange: invalid length"))
}

/// `arange(end, …)` → `arange.start_step(0, end, …)`.
fn arange_decomposition(a: &Arange) -> Result<Vec<Tensor>, OpError> {
    let values = vec![
        ZERO,
        a.end.clone(),
        ONE,
        a.dtype.map_or(Value::None, Value::DType),
        a.layout.clone(),
        a.device.clone(),
        opt_bool(a.pin_memory),
    ];
    Ok(Tensor::call_op(&ARANGE_START_STEP, values))
}

op_def! {
    pub static ARANGE: struct Arange =
        "aten::arange(Scalar end, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &Arange| arange_meta(&a.range()),
        kernel: |a: &Arange, m: &[TensorMeta]| arange_kernel(&a.range(), m),
        decomposition: arange_decomposition,
        raw: [end],
    }
    pub static ARANGE_START_STEP: struct ArangeStartStep =
        "aten::arange.start_step(Scalar start, Scalar end, Scalar step=1, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &ArangeStartStep| arange_meta(&a.range()),
        kernel: |a: &ArangeStartStep, m: &[TensorMeta]| arange_kernel(&a.range(), m),
        raw: [start, end, step],
    }
}

// ---------------------------------------------------------------------------------------
// linspace

fn linspace_meta(a: &Linspace) -> Result<Vec<TensorMeta>, OpError> {
    if a.steps < 0 {
        op_bail!(
            "linspace: number of steps must be non-negative, got {}",
            a.steps
        );
    }
    let dtype = a.dtype.unwrap_or(DType::DEFAULT_FLOAT);
    Ok(vec![TensorMeta::new(dtype, vec![SymInt::Int(a.steps)])])
}

/// `steps` values from `start` to `end`, as ATen's kernel computes them: the first half
/// `start + step·i`, the second `end - step·(steps - 1 - i)` (so both ends are exact).
fn linspace_kernel(a: &Linspace, m: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let m = single(m)?;
    let n = usize::try_from(a.steps).map_err(|_| OpError::new("linspace: negative steps"))?;
    let (start, end) = (a.start.to::<f64>(), a.end.to::<f64>());
    let data: Vec<f64> = match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (end - start) / (n - 1) as f64;
            (0..n)
                .map(|i| match i < n / 2 {
                    true => start + step * i as f64,
                    false => end - step * (n - 1 - i) as f64,
                })
                .collect()
        }
    };
    Storage::from_vec(&[n], data)
        .map(|s| vec![s.into_dtype(m.dtype)])
        .ok_or_else(|| OpError::new("linspace: invalid length"))
}

/// PyTorch's reference (`torch._refs.linspace`), which its core IR records: an i64
/// `arange`, the first half `start + step·i`, the second `end - step·(steps - 1 - i)`,
/// chosen by `where(i < steps / 2)`; computed in the result's float type (f64 for an
/// integer result, then truncated).
fn linspace_decomposition(a: &Linspace) -> Result<Vec<Tensor>, OpError> {
    let dtype = single(&linspace_meta(a)?)?.dtype;
    let (start, end, n) = (a.start.to::<f64>(), a.end.to::<f64>(), a.steps);
    if n <= 1 || start == end {
        return Ok(vec![Tensor::full([n], start).to_dtype(dtype)]);
    }
    let compute = if dtype.is_float() { dtype } else { DType::F64 };
    let step = (end - start) / (n - 1) as f64;
    let rg = Tensor::arange_step(0, n, 1);
    let first = rg.to_dtype(compute).mul(step).add(start);
    // `number - tensor` as PyTorch records it: `sub.Tensor` with a wrapped number.
    let minus = |number: Value, t: Tensor| {
        let sub = &super::elementwise::SUB_TENSOR;
        Tensor::call_op(sub, vec![number, Value::Tensor(t)]).pop()
    };
    let rest = minus(Value::Int(SymInt::Int(n - 1)), rg.clone())
        .ok_or_else(|| OpError::new("linspace: sub has one result"))?;
    let from_end = rest.to_dtype(compute).mul(step);
    let second = minus(Value::Float(end), from_end)
        .ok_or_else(|| OpError::new("linspace: sub has one result"))?;
    let out = Tensor::where_(&rg.lt(n as f64 / 2.0), &first, &second);
    Ok(vec![out.to_dtype(dtype)])
}

op_def! {
    pub static LINSPACE: struct Linspace =
        "aten::linspace(Scalar start, Scalar end, int steps, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: linspace_meta,
        kernel: linspace_kernel,
        decomposition: linspace_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// random

fn random_meta(a: &Filled) -> Result<Vec<TensorMeta>, OpError> {
    let m = zeros_meta(a)?;
    if !m[0].dtype.is_float() {
        op_bail!(
            "random tensors must have a floating dtype, got {}",
            m[0].dtype
        );
    }
    Ok(m)
}

fn random_kernel(
    metas: &[TensorMeta],
    sample: fn(&mut crate::tensor::Generator) -> f64,
) -> Result<Vec<Storage>, OpError> {
    let m = single(metas)?;
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

op_def! {
    pub static RANDN: Filled =
        "aten::randn(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: random_meta,
        kernel: |_: &Filled, m: &[TensorMeta]| random_kernel(m, crate::tensor::Generator::normal),
        random,
    }
    pub static RAND: Filled =
        "aten::rand(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: random_meta,
        kernel: |_: &Filled, m: &[TensorMeta]| random_kernel(m, crate::tensor::Generator::uniform),
        random,
    }
}

// ---------------------------------------------------------------------------------------
// full_like / ones_like / eye

fn like_meta(x: &Tensor, dtype: Option<DType>) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    Ok(vec![TensorMeta::new(dtype.unwrap_or(m.dtype), m.sizes)])
}

op_def! {
    pub static FULL_LIKE: struct FullLike =
        "aten::full_like(Tensor self, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor" {
        meta: |a: &FullLike| like_meta(&a.self_, a.dtype),
        kernel: |a: &FullLike, m: &[TensorMeta]| filled(m, a.fill_value),
        lowering: |a: &FullLike<_>| fill_lowering(a.fill_value),
    }
    pub static ONES_LIKE: struct OnesLike =
        "aten::ones_like(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor" {
        meta: |a: &OnesLike| like_meta(&a.self_, a.dtype),
        kernel: |_: &OnesLike, m: &[TensorMeta]| filled(m, Scalar::Int(1)),
        lowering: |_: &OnesLike<_>| fill_lowering(Scalar::Int(1)),
    }
    pub static ZEROS_LIKE: OnesLike =
        "aten::zeros_like(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor" {
        meta: |a: &OnesLike| like_meta(&a.self_, a.dtype),
        kernel: |_: &OnesLike, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
        lowering: |_: &OnesLike<_>| fill_lowering(Scalar::Int(0)),
    }
    /// The functional form of `fill_` (what programs write `x.fill_(v)` with).
    pub static FILL_SCALAR: struct Fill = "aten::fill.Scalar(Tensor self, Scalar value) -> Tensor" {
        meta: |a: &Fill| like_meta(&a.self_, None),
        kernel: |a: &Fill, m: &[TensorMeta]| filled(m, a.value),
        lowering: |a: &Fill<_>| fill_lowering(a.value),
    }
    /// The functional form of `zero_`.
    pub static ZERO_FN: struct Zero = "aten::zero(Tensor self) -> Tensor" {
        meta: |a: &Zero| like_meta(&a.self_, None),
        kernel: |_: &Zero, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
        lowering: |_: &Zero<_>| fill_lowering(Scalar::Int(0)),
    }
}

// ---------------------------------------------------------------------------------------
// new_zeros / new_ones / new_empty / new_full: `self` gives the dtype by default

/// A `new_*` call: `self`, the sizes, the fill value (`new_full`'s argument, 1 for
/// `new_ones`, 0 otherwise: `new_empty`'s contents are unspecified, zeros are a valid
/// choice) and the keyword arguments.
struct NewCall<'a> {
    self_: &'a Tensor,
    size: &'a [SymInt],
    fill: Scalar,
    dtype: Option<DType>,
    rest: [Value; 3],
}

impl NewFilled {
    fn call(&self, fill: i64) -> NewCall<'_> {
        NewCall {
            self_: &self.self_,
            size: &self.size,
            fill: Scalar::Int(fill),
            dtype: self.dtype,
            rest: [
                self.layout.clone(),
                self.device.clone(),
                opt_bool(self.pin_memory),
            ],
        }
    }
}

impl NewFull {
    fn call(&self) -> NewCall<'_> {
        NewCall {
            self_: &self.self_,
            size: &self.size,
            fill: self.fill_value,
            dtype: self.dtype,
            rest: [
                self.layout.clone(),
                self.device.clone(),
                opt_bool(self.pin_memory),
            ],
        }
    }
}

fn new_filled_meta(c: &NewCall) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = match c.dtype {
        Some(d) => d,
        None => meta_of(c.self_)?.dtype,
    };
    Ok(vec![TensorMeta::new(dtype, checked_sizes(c.size)?)])
}

/// A 0-d tensor of `value` in `dtype` (`scalar_tensor`): a composite's number as a
/// tensor operand (`masked_fill`'s value, `threshold`'s, `nan_to_num`'s fills).
pub(super) fn scalar_tensor_of(value: Scalar, dtype: DType) -> Tensor {
    Tensor::call_op(
        &SCALAR_TENSOR,
        vec![scalar_value(value), Value::DType(dtype)],
    )
    .swap_remove(0)
}

/// A number as the argument value it was given as.
pub(super) fn scalar_value(s: Scalar) -> Value {
    match s {
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Int(SymInt::Int(i)),
        Scalar::Float(f) => Value::Float(f),
    }
}

/// `full(size, fill, dtype=…)` with `self`'s dtype made explicit, as PyTorch's table does.
fn new_filled_decomposition(c: &NewCall) -> Result<Vec<Tensor>, OpError> {
    let m = new_filled_meta(c)?.swap_remove(0);
    let mut values = vec![
        Value::IntList(m.sizes),
        scalar_value(c.fill),
        Value::DType(m.dtype),
    ];
    values.extend(c.rest.iter().cloned());
    Ok(Tensor::call_op(&FULL, values))
}

op_def! {
    pub static NEW_ZEROS: struct NewFilled =
        "aten::new_zeros(Tensor self, SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &NewFilled| new_filled_meta(&a.call(0)),
        kernel: |_: &NewFilled, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
        decomposition: |a: &NewFilled| new_filled_decomposition(&a.call(0)),
    }
    pub static NEW_ONES: NewFilled =
        "aten::new_ones(Tensor self, SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &NewFilled| new_filled_meta(&a.call(1)),
        kernel: |_: &NewFilled, m: &[TensorMeta]| filled(m, Scalar::Int(1)),
        decomposition: |a: &NewFilled| new_filled_decomposition(&a.call(1)),
    }
    pub static NEW_EMPTY: NewFilled =
        "aten::new_empty(Tensor self, SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &NewFilled| new_filled_meta(&a.call(0)),
        kernel: |_: &NewFilled, m: &[TensorMeta]| filled(m, Scalar::Int(0)),
        decomposition: |a: &NewFilled| new_filled_decomposition(&a.call(0)),
    }
    pub static NEW_FULL: struct NewFull =
        "aten::new_full(Tensor self, SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &NewFull| new_filled_meta(&a.call()),
        kernel: |a: &NewFull, m: &[TensorMeta]| filled(m, a.fill_value),
        decomposition: |a: &NewFull| new_filled_decomposition(&a.call()),
    }
}

fn eye_meta(a: &Eye) -> Result<Vec<TensorMeta>, OpError> {
    let n = a.n.clone();
    if n.hint() < 0 {
        op_bail!("n must be greater or equal to 0, got {n}");
    }
    let dtype = a.dtype.unwrap_or(DType::DEFAULT_FLOAT);
    Ok(vec![TensorMeta::new(dtype, vec![n.clone(), n])])
}

fn eye_kernel(metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let m = single(metas)?;
    let n = m.sizes[0].hint().max(0) as usize;
    let data: Vec<f64> = (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect();
    Storage::from_vec(&[n, n], data)
        .map(|s| vec![s.into_dtype(m.dtype)])
        .ok_or_else(|| OpError::new("eye: invalid size"))
}

/// As PyTorch 2.15's core IR writes `torch.eye(n)`: row and column indices (uint8 when
/// they fit, as PyTorch makes them), compared, cast to the result's dtype.
fn eye_decomposition(a: &Eye) -> Result<Vec<Tensor>, OpError> {
    let dtype = single(&eye_meta(a)?)?.dtype;
    let index = match a.n.as_int() {
        Some(n) if n <= 256 => DType::U8,
        _ => DType::I64,
    };
    let range = || {
        let args = vec![ZERO, Value::Int(a.n.clone()), ONE, Value::DType(index)];
        Tensor::call_op(&ARANGE_START_STEP, args).pop()
    };
    let (rows, cols) = range()
        .zip(range())
        .ok_or_else(|| OpError::new("eye: arange"))?;
    Ok(vec![rows.unsqueeze(-1).eq(&cols).to_dtype(dtype)])
}

op_def! {
    pub static EYE: struct Eye =
        "aten::eye(SymInt n, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: eye_meta,
        kernel: |_: &Eye, m: &[TensorMeta]| eye_kernel(m),
        decomposition: eye_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// tril_indices, triu_indices

/// `Σ_{a=lo}^{hi} clamp(a, 0, col)`: the entries of rows whose last kept column (plus
/// one) runs from `lo` to `hi` — in closed form, so a huge `row` is no loop.
fn clamped_sum(lo: i128, hi: i128, col: i128) -> i128 {
    // S(n) = Σ_{a=1}^{n} min(a, col).
    let s = |n: i128| match n {
        n if n <= 0 => 0,
        n if n <= col => n * (n + 1) / 2,
        n => col * (col + 1) / 2 + (n - col) * col,
    };
    s(hi) - s(lo - 1)
}

/// The number of `(r, c)` with `r < row`, `c < col` in the lower (`c − r ≤ offset`) or
/// upper (`c − r ≥ offset`) triangle.
fn triangle_count(row: i64, col: i64, offset: i64, upper: bool) -> i128 {
    let (row, col, offset) = (i128::from(row), i128::from(col), i128::from(offset));
    let lower = |offset: i128| clamped_sum(offset + 1, row + offset, col);
    match upper {
        false => lower(offset),
        true => row * col - lower(offset - 1),
    }
}

fn triangle_meta(a: &TriIndices, upper: bool) -> Result<Vec<TensorMeta>, OpError> {
    let name = if upper {
        "triu_indices"
    } else {
        "tril_indices"
    };
    if a.row < 0 || a.col < 0 {
        op_bail!(
            "{name}: row must be non-negative, got {}, and col must be non-negative, got {}",
            a.row,
            a.col
        );
    }
    let dtype = a.dtype.unwrap_or(DType::I64);
    if !matches!(dtype, DType::I64 | DType::I32) {
        op_bail!("\"{name}\" not implemented for '{dtype}'");
    }
    let n = i64::try_from(triangle_count(a.row, a.col, a.offset, upper))
        .map_err(|_| OpError(format!("{name}: {} × {} is too large", a.row, a.col)))?;
    Ok(vec![TensorMeta::new(
        dtype,
        vec![SymInt::Int(2), SymInt::Int(n)],
    )])
}

/// Row indices then column indices of the triangle, in row-major order.
fn triangle_kernel(
    a: &TriIndices,
    upper: bool,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let m = single(metas)?;
    let n = m.sizes[1].hint().max(0) as usize;
    let mut data = ferrex_kernels::try_filled(2 * n, 0i64).map_err(|e| OpError(e.0))?;
    let (rows, cols) = data.split_at_mut(n);
    let mut k = 0;
    // Lower-triangle rows before `-offset` are empty; every row after the last entry is
    // too (so neither a huge `row` nor a huge `offset` is a long loop).
    let start = if upper {
        0
    } else {
        a.offset.saturating_neg().clamp(0, a.row)
    };
    for r in start..a.row {
        if k == n {
            break;
        }
        // The kept columns of row r: [0, r + offset] or [r + offset, col).
        let (first, last) = match upper {
            false => (0, (r.saturating_add(a.offset)).min(a.col - 1)),
            true => ((r.saturating_add(a.offset)).max(0), a.col - 1),
        };
        for c in first..=last {
            let (Some(rr), Some(cc)) = (rows.get_mut(k), cols.get_mut(k)) else {
                op_bail!("tril_indices: more entries than counted");
            };
            (*rr, *cc) = (r, c);
            k += 1;
        }
    }
    Storage::from_vec(&[2, n], data)
        .map(|s| vec![s.into_dtype(m.dtype)])
        .ok_or_else(|| OpError::new("tril_indices: invalid size"))
}

op_def! {
    /// The indices of the lower triangle of a `row × col` matrix (`c − r ≤ offset`).
    pub static TRIL_INDICES: struct TriIndices =
        "aten::tril_indices(int row, int col, int offset=0, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &TriIndices| triangle_meta(a, false),
        kernel: |a: &TriIndices, m: &[TensorMeta]| triangle_kernel(a, false, m),
    }
    /// The indices of the upper triangle (`c − r ≥ offset`).
    pub static TRIU_INDICES: TriIndices =
        "aten::triu_indices(int row, int col, int offset=0, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor" {
        meta: |a: &TriIndices| triangle_meta(a, true),
        kernel: |a: &TriIndices, m: &[TensorMeta]| triangle_kernel(a, true, m),
    }
}
