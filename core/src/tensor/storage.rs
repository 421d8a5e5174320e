//! Eager storage: one ndarray per dtype. `ArcArray` makes clones and strided views
//! (transpose, permute, slice) share the data instead of copying it.

use ndarray::{ArcArray, ArrayD, IxDyn};

use crate::dtype::DType;

/// Eager tensor data.
#[derive(Clone, Debug)]
pub enum Storage {
    Bool(ArcArray<bool, IxDyn>),
    U8(ArcArray<u8, IxDyn>),
    I32(ArcArray<i32, IxDyn>),
    I64(ArcArray<i64, IxDyn>),
    F32(ArcArray<f32, IxDyn>),
    F64(ArcArray<f64, IxDyn>),
}

/// Applies an expression to the array inside a [`Storage`], whatever its dtype.
#[macro_export]
#[doc(hidden)]
macro_rules! with_storage {
    ($s:expr, $a:ident => $body:expr) => {
        match $s {
            $crate::tensor::Storage::Bool($a) => $body,
            $crate::tensor::Storage::U8($a) => $body,
            $crate::tensor::Storage::I32($a) => $body,
            $crate::tensor::Storage::I64($a) => $body,
            $crate::tensor::Storage::F32($a) => $body,
            $crate::tensor::Storage::F64($a) => $body,
        }
    };
}

/// Maps the array inside a [`Storage`] to a new array of the same dtype.
#[macro_export]
#[doc(hidden)]
macro_rules! map_storage {
    ($s:expr, $a:ident => $body:expr) => {
        match $s {
            $crate::tensor::Storage::Bool($a) => $crate::tensor::Storage::Bool($body),
            $crate::tensor::Storage::U8($a) => $crate::tensor::Storage::U8($body),
            $crate::tensor::Storage::I32($a) => $crate::tensor::Storage::I32($body),
            $crate::tensor::Storage::I64($a) => $crate::tensor::Storage::I64($body),
            $crate::tensor::Storage::F32($a) => $crate::tensor::Storage::F32($body),
            $crate::tensor::Storage::F64($a) => $crate::tensor::Storage::F64($body),
        }
    };
}

/// An element type that a [`Storage`] can hold.
pub trait Element: Copy + Default + Send + Sync + std::fmt::Debug + PartialOrd + 'static {
    const DTYPE: DType;
    fn wrap(a: ArcArray<Self, IxDyn>) -> Storage;
    /// The array inside `s` if it holds this element type.
    fn unwrap(s: Storage) -> Option<ArcArray<Self, IxDyn>>;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// Integers and bools convert through `i64`, exactly (never through `f64`, which
    /// rounds above 2^53); floats truncate toward zero as `as` does.
    fn from_i64(v: i64) -> Self;
    fn to_i64(self) -> i64;
}

macro_rules! element {
    ($t:ty, $variant:ident, $from:expr, $to:expr, $from_int:expr, $to_int:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn wrap(a: ArcArray<Self, IxDyn>) -> Storage {
                Storage::$variant(a)
            }
            fn unwrap(s: Storage) -> Option<ArcArray<Self, IxDyn>> {
                match s {
                    Storage::$variant(a) => Some(a),
                    _ => None,
                }
            }
            // Inlined across crates: conversions run per element (a mask loaded
            // by a fused step, an eager cast).
            #[inline]
            fn from_f64(v: f64) -> Self {
                let f: fn(f64) -> $t = $from;
                f(v)
            }
            #[inline]
            fn to_f64(self) -> f64 {
                let f: fn($t) -> f64 = $to;
                f(self)
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                let f: fn(i64) -> $t = $from_int;
                f(v)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                let f: fn($t) -> i64 = $to_int;
                f(self)
            }
        }
    };
}

element!(
    bool,
    Bool,
    |v| v != 0.0,
    |b| if b { 1.0 } else { 0.0 },
    |v| v != 0,
    i64::from
);
// i64 → u8 / i32 wraps, as PyTorch's integer narrowing does.
element!(
    u8,
    U8,
    |v| v as i64 as u8,
    f64::from,
    |v| v as u8,
    i64::from
);
element!(i32, I32, |v| v as i32, f64::from, |v| v as i32, i64::from);
element!(i64, I64, |v| v as i64, |v| v as f64, |v| v, |v| v);
element!(f32, F32, |v| v as f32, f64::from, |v| v as f32, |v| v
    as i64);
element!(f64, F64, |v| v, |v| v, |v| v as f64, |v| v as i64);

/// A number as an op argument holds it: a PyTorch `Scalar`. Integers stay integers, so
/// filling or combining an integer tensor with one is exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    /// The value as element type `T`: exact for integers into integer types.
    pub fn to<T: Element>(self) -> T {
        match self {
            Scalar::Bool(b) => T::from_i64(i64::from(b)),
            Scalar::Int(i) => T::from_i64(i),
            Scalar::Float(f) => T::from_f64(f),
        }
    }
}

impl Storage {
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Bool(_) => DType::Bool,
            Storage::U8(_) => DType::U8,
            Storage::I32(_) => DType::I32,
            Storage::I64(_) => DType::I64,
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        with_storage!(self, a => a.shape())
    }

    pub fn len(&self) -> usize {
        with_storage!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A storage of `shape` filled with `value` converted to `dtype`.
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Storage {
        Storage::full_scalar(shape, Scalar::Float(value), dtype)
    }

    /// A storage of `shape` filled with `value` converted to `dtype` (exactly, for an
    /// integer into an integer type).
    pub fn full_scalar(shape: &[usize], value: Scalar, dtype: DType) -> Storage {
        fn fill<T: Element>(shape: &[usize], v: Scalar) -> Storage {
            T::wrap(ArcArray::from_elem(IxDyn(shape), v.to::<T>()))
        }
        match dtype {
            DType::Bool => fill::<bool>(shape, value),
            DType::U8 => fill::<u8>(shape, value),
            DType::I32 => fill::<i32>(shape, value),
            DType::I64 => fill::<i64>(shape, value),
            DType::F32 => fill::<f32>(shape, value),
            DType::F64 => fill::<f64>(shape, value),
        }
    }

    /// Converts every element to `dtype` (`aten::_to_copy`); no copy when it already is.
    /// [`Storage::cast`] of an owned storage: itself when it has that dtype already.
    pub fn into_dtype(self, dtype: DType) -> Storage {
        if self.dtype() == dtype {
            return self;
        }
        self.cast(dtype)
    }

    pub fn cast(&self, dtype: DType) -> Storage {
        if self.dtype() == dtype {
            return self.clone();
        }
        fn conv<S: Element, T: Element>(a: &ArcArray<S, IxDyn>) -> ArcArray<T, IxDyn> {
            a.map(|&v| convert::<S, T>(v)).into_shared()
        }
        with_storage!(self, a => match dtype {
            DType::Bool => Storage::Bool(conv(a)),
            DType::U8 => Storage::U8(conv(a)),
            DType::I32 => Storage::I32(conv(a)),
            DType::I64 => Storage::I64(conv(a)),
            DType::F32 => Storage::F32(conv(a)),
            DType::F64 => Storage::F64(conv(a)),
        })
    }

    /// The elements in row-major order, converted to f64.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        // Contiguous data maps as a slice (vectorised); other layouts are copied
        // row-major first.
        with_storage!(self, a => match a.as_slice() {
            Some(s) => s.iter().map(|v| v.to_f64()).collect(),
            None => view_to_vec(&a.view()).into_iter().map(|v| v.to_f64()).collect(),
        })
    }

    /// The elements in row-major order, as `T` (converted when the dtype differs).
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        // The same dtype: a copy, without a conversion through f64 per element (a pass of
        // its own over an eager group norm's input).
        if let Some(a) = T::unwrap(self.clone()) {
            return match a.as_slice() {
                Some(s) => s.to_vec(),
                None => view_to_vec(&a.view()),
            };
        }
        with_storage!(self, a => match a.as_slice() {
            Some(s) => s.iter().map(|&v| convert(v)).collect(),
            None => view_to_vec(&a.view()).into_iter().map(convert).collect(),
        })
    }

    /// A standard-layout (row-major contiguous) copy, or `self` when it already is.
    pub fn contiguous(&self) -> Storage {
        map_storage!(self, a => if a.is_standard_layout() {
            a.clone()
        } else {
            // `view_to_vec` holds exactly `a.len()` elements in `a`'s shape.
            ArrayD::from_shape_vec(a.raw_dim(), view_to_vec(&a.view()))
                .unwrap_or_else(|_| a.as_standard_layout().into_owned())
                .into_shared()
        })
    }

    /// `len` indices from `start` along dim `d`, sharing the data (a view, as
    /// `narrow`); `None` when `d` or the range is out of bounds.
    pub fn narrow(&self, d: usize, start: usize, len: usize) -> Option<Storage> {
        let size = *self.shape().get(d)?;
        let end = start.checked_add(len).filter(|&e| e <= size)?;
        Some(map_storage!(self, a => {
            let mut v = a.clone();
            v.slice_axis_inplace(ndarray::Axis(d), ndarray::Slice::from(start..end));
            v
        }))
    }

    /// `parts` (of one dtype and rank) concatenated along dim `d` into new memory
    /// (`cat`), by the kernels' [`concat`](ferrex_kernels::layout::concat) that the
    /// compiled runtime runs too; an error when there are none, their dtypes differ,
    /// their other sizes do, or the result cannot be allocated.
    pub fn concat(parts: &[Storage], d: usize) -> Result<Storage, String> {
        let first = parts.first().ok_or("nothing to concatenate")?.shape();
        if d >= first.len() {
            return Err(format!("dim {d} is out of range for {} dims", first.len()));
        }
        let mut shape = first.to_vec();
        shape[d] = 0;
        for p in parts {
            let s = p.shape();
            let alike = s.len() == first.len()
                && (s.iter().zip(first).enumerate()).all(|(i, (a, b))| i == d || a == b);
            if !alike {
                return Err(format!("cannot join {first:?} and {s:?} along dim {d}"));
            }
            shape[d] = shape[d]
                .checked_add(s[d])
                .ok_or("the result's size overflows")?;
        }
        let len = (shape.iter())
            .try_fold(1usize, |n, &x| n.checked_mul(x))
            .ok_or("the result's size overflows")?;
        let outer: usize = first[..d].iter().product();
        macro_rules! cat {
            ($($v:ident),*) => {
                match &parts[0] {
                    $(Storage::$v(_) => {
                        let datas = (parts.iter())
                            .map(|p| match p {
                                Storage::$v(a) => Ok(match a.as_slice() {
                                    Some(s) => std::borrow::Cow::Borrowed(s),
                                    None => std::borrow::Cow::Owned(view_to_vec(&a.view())),
                                }),
                                _ => Err("the parts' dtypes differ".to_string()),
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        let slices: Vec<&[_]> = datas.iter().map(|c| c.as_ref()).collect();
                        let mut out = ferrex_kernels::try_filled(len, Default::default())
                            .map_err(|e| e.to_string())?;
                        ferrex_kernels::layout::concat(&slices, outer, &mut out)
                            .map_err(|e| e.to_string())?;
                        ArrayD::from_shape_vec(IxDyn(&shape), out)
                            .map(|c| Storage::$v(c.into_shared()))
                            .map_err(|e| e.to_string())
                    })*
                }
            };
        }
        cat!(Bool, U8, I32, I64, F32, F64)
    }

    /// The data as an array of `T`, converting when the dtype differs.
    pub fn typed<T: Element>(&self) -> ArcArray<T, IxDyn> {
        match T::unwrap(self.cast(T::DTYPE)) {
            Some(a) => a,
            // `cast` always yields `T::DTYPE`; this arm only keeps the function total.
            None => ArcArray::from_elem(IxDyn(self.shape()), T::default()),
        }
    }

    /// Builds a storage from row-major data.
    pub fn from_vec<T: Element>(shape: &[usize], data: Vec<T>) -> Option<Storage> {
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .ok()
            .map(|a| T::wrap(a.into_shared()))
    }
}

/// The elements of a view in row-major order as a slice: its own memory when it is
/// contiguous, else a [`view_to_vec`] copy (a broadcast operand, a transpose), so that
/// elementwise kernels loop over slices instead of walking a view of dynamic rank
/// element by element (~25 ns a float).
pub fn view_as_slice<'a, T: Copy>(a: &'a ndarray::ArrayViewD<'_, T>) -> std::borrow::Cow<'a, [T]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(view_to_vec(a)),
    }
}

/// The elements of any view in row-major order. Contiguous data is one slice copy; a
/// view of data contiguous in some order of its axes, some of them broadcast (a
/// transpose, a permute, an `expand`), is the kernels' strided copy over the memory;
/// other views go lane by lane (each innermost lane with unit stride is a slice copy),
/// instead of ndarray's element-by-element walk of the whole view (which was most of an
/// eager group norm of a transposed input).
pub fn view_to_vec<T: Copy>(a: &ndarray::ArrayViewD<'_, T>) -> Vec<T> {
    if let Some(s) = a.as_slice() {
        return s.to_vec();
    }
    if a.ndim() == 0 {
        return a.iter().copied().collect();
    }
    if let Some(v) = strided_to_vec(a) {
        return v;
    }
    let mut out = Vec::with_capacity(a.len());
    for lane in a.rows() {
        match lane.as_slice() {
            Some(s) => out.extend_from_slice(s),
            None => out.extend(lane.iter().copied()),
        }
    }
    out
}

/// [`view_to_vec`] of a view whose memory, once its broadcast axes (stride 0) are
/// taken once, is contiguous in some order of its axes: the axes sorted by decreasing
/// stride give a standard-layout view of that memory, which the kernels' strided copy
/// reads in `a`'s order (stride 0 on a broadcast axis). `None` for other views.
fn strided_to_vec<T: Copy>(a: &ndarray::ArrayViewD<'_, T>) -> Option<Vec<T>> {
    let strides = a.strides();
    if strides.iter().any(|&s| s < 0) {
        return None;
    }
    let mut base = a.view();
    for (d, &s) in strides.iter().enumerate() {
        if s == 0 && a.shape()[d] > 1 {
            base.slice_axis_inplace(ndarray::Axis(d), ndarray::Slice::from(0..1));
        }
    }
    let mut order: Vec<usize> = (0..a.ndim()).collect();
    order.sort_by_key(|&d| std::cmp::Reverse(base.strides()[d]));
    let sizes = base.shape().to_vec();
    let memory = base.permuted_axes(order.clone());
    let data = memory.to_slice()?;
    let mut mem_strides = vec![0usize; order.len()];
    let mut step = 1usize;
    for &d in order.iter().rev() {
        mem_strides[d] = if strides[d] == 0 { 0 } else { step };
        step = step.checked_mul(sizes[d])?;
    }
    let mut out = ferrex_kernels::try_filled(a.len(), *data.first()?).ok()?;
    ferrex_kernels::layout::strided_copy(data, 0, a.shape(), &mem_strides, &mut out).ok()?;
    Some(out)
}

/// Converts one element between element types as PyTorch's `to(dtype)` does
/// (float → int truncates toward zero; anything → bool is `!= 0`).
pub fn convert<S: Element, T: Element>(v: S) -> T {
    if S::DTYPE.is_float() || T::DTYPE.is_float() {
        T::from_f64(v.to_f64())
    } else {
        T::from_i64(v.to_i64())
    }
}
