//! Pooling and resampling: `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`,
//! `adaptive_max_pool2d`,
//! `upsample_nearest2d.vec`. Inputs are `[N, C, H, W]` or unbatched `[C, H, W]`; each
//! kernel works plane by plane on row-major data, accumulating sums in f64.

use ferrex_kernels::pool::AntialiasFilter;
use ferrex_kernels::{
    avg_pool2d, max_pool2d, max_pool2d_argmax, try_filled, AvgDivisor, PoolWindow,
};

use super::lowering::{Interpolation, Lowering, Reduction};
use super::op_def;
use super::util::{concrete, expand_param, meta_of, with_float_dtype};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, CmpOp, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// The leading sizes (batch and channels, as given) and the spatial sizes of a 3-D or
/// 4-D pooling input.
fn split_input(m: &TensorMeta, op: &str) -> Result<(Vec<SymInt>, [SymInt; 2]), OpError> {
    if m.rank() != 3 && m.rank() != 4 {
        op_bail!(
            "{op}: Expected 3D or 4D (batch mode) tensor for input, but got: {}",
            format_sizes(&m.sizes)
        );
    }
    let r = m.rank();
    Ok((
        m.sizes[..r - 2].to_vec(),
        [m.sizes[r - 2].clone(), m.sizes[r - 1].clone()],
    ))
}

/// Pooling output size along one dim, as PyTorch's `pooling_output_shape`.
pub(super) fn pooled(input: &SymInt, k: i64, s: i64, p: i64, d: i64, ceil: bool) -> SymInt {
    // Saturating: hostile windows give a size the memory check refuses, not a wrap.
    let span = 2i64
        .saturating_mul(p)
        .saturating_sub(d.saturating_mul(k - 1))
        .saturating_sub(1)
        .saturating_add(if ceil { s - 1 } else { 0 });
    let span = SymInt::Int(span);
    let mut out = input.add(&span).floor_div(s).add(&SymInt::Int(1));
    // With ceil_mode the last window must start inside the input or left padding.
    let last_start = out.sub(&SymInt::Int(1)).mul(&SymInt::Int(s));
    if ceil && last_start.compare(CmpOp::Ge, &input.add(&SymInt::Int(p))) {
        out = out.sub(&SymInt::Int(1));
    }
    out
}

/// Window parameters of a 2-D pooling call: the shared kernels' [`PoolWindow`].
type Window = PoolWindow;

/// The window arguments of a 2-D pooling call (`dilation` `None`: `avg_pool2d`, which
/// has none).
struct PoolCall<'a> {
    kernel_size: &'a [i64],
    stride: &'a [i64],
    padding: &'a [i64],
    dilation: Option<&'a [i64]>,
}

impl MaxPool2d {
    fn pool(&self) -> PoolCall<'_> {
        PoolCall {
            kernel_size: &self.kernel_size,
            stride: &self.stride,
            padding: &self.padding,
            dilation: Some(&self.dilation),
        }
    }
}

impl AvgPool2d {
    fn pool(&self) -> PoolCall<'_> {
        PoolCall {
            kernel_size: &self.kernel_size,
            stride: &self.stride,
            padding: &self.padding,
            dilation: None,
        }
    }
}

impl<T> AvgPool2d<T> {
    /// What divides each window's sum.
    fn divisor(&self) -> AvgDivisor {
        AvgDivisor {
            count_include_pad: self.count_include_pad,
            divisor_override: self.divisor_override,
        }
    }
}

/// A per-spatial-dim `int[]` parameter (one value or one per dim), expanded to `n`.
pub(super) fn expand_ints(list: &[i64], n: usize, name: &str) -> Result<Vec<i64>, OpError> {
    let sizes: Vec<SymInt> = list.iter().map(|&v| SymInt::Int(v)).collect();
    expand_param(&sizes, n, name)
}

/// The window of a 2-D pooling call, validated.
fn window(c: &PoolCall, op: &str) -> Result<Window, OpError> {
    let k = expand_ints(c.kernel_size, 2, "kernel_size")?;
    let s = if c.stride.is_empty() {
        k.clone()
    } else {
        expand_ints(c.stride, 2, "stride")?
    };
    let p = expand_ints(c.padding, 2, "padding")?;
    let d = match c.dilation {
        Some(d) => expand_ints(d, 2, "dilation")?,
        None => vec![1, 1],
    };
    if k.iter().any(|&v| v <= 0) {
        op_bail!("{op}: kernel_size must be greater than zero, but got {k:?}");
    }
    if s.iter().any(|&v| v <= 0) {
        op_bail!("{op}: stride must be greater than zero, but got {s:?}");
    }
    if d.iter().any(|&v| v <= 0) {
        op_bail!("{op}: dilation must be greater than zero, but got {d:?}");
    }
    // Padding is at most half the effective (dilated) kernel.
    let half = |i: usize| (k[i] - 1).saturating_mul(d[i]).saturating_add(1) / 2;
    if (0..2).any(|i| p[i] < 0 || p[i] > half(i)) {
        op_bail!(
            "{op}: pad should be at most half of effective kernel size, but got pad={}, kernel_size={} and dilation={}",
            p[0],
            k[0],
            d[0]
        );
    }
    let two = |v: &[i64]| [v[0] as usize, v[1] as usize];
    Ok(Window {
        k: two(&k),
        s: two(&s),
        p: two(&p),
        d: two(&d),
    })
}

/// The output meta of a 2-D pooling of `x`.
fn pool_meta(x: &Tensor, c: &PoolCall, ceil: bool, op: &str) -> Result<TensorMeta, OpError> {
    let m = meta_of(x)?;
    if !m.dtype.is_float() {
        op_bail!("\"{op}\" not implemented for '{}'", m.dtype);
    }
    let (mut sizes, [h, w]) = split_input(&m, op)?;
    let win = window(c, op)?;
    let oh = pooled(
        &h,
        win.k[0] as i64,
        win.s[0] as i64,
        win.p[0] as i64,
        win.d[0] as i64,
        ceil,
    );
    let ow = pooled(
        &w,
        win.k[1] as i64,
        win.s[1] as i64,
        win.p[1] as i64,
        win.d[1] as i64,
        ceil,
    );
    if oh.hint() <= 0 || ow.hint() <= 0 {
        op_bail!(
            "Given input size: ({}x{}x{}). Calculated output size: ({}x{}x{}). Output size is too small",
            sizes[sizes.len() - 1],
            h,
            w,
            sizes[sizes.len() - 1],
            oh,
            ow
        );
    }
    sizes.extend([oh, ow]);
    Ok(TensorMeta::new(m.dtype, sizes))
}

/// The concrete sizes of the one result (or the first) meta computed.
pub(super) fn result_shape(metas: &[TensorMeta]) -> Result<Vec<usize>, OpError> {
    metas
        .first()
        .map(|m| concrete(&m.sizes))
        .ok_or_else(|| OpError::new("pooling: no result meta"))
}

/// The planes of a pooling call: `planes` planes of `[h, w]` in, `[oh, ow]` out, and the
/// output's element count `len` (checked).
struct Planes {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    len: usize,
}

impl Planes {
    /// The planes of input `x` (3-D or 4-D, as the meta checked) pooled to `out_shape`.
    fn of(x: &Storage, out_shape: &[usize], op: &str) -> Result<Planes, OpError> {
        let (xs, r) = (x.shape(), x.shape().len());
        if r < 2 || out_shape.len() != r {
            op_bail!("{op}: expected input and output of one rank (at least 2)");
        }
        let planes: usize = xs[..r - 2].iter().product();
        let (oh, ow) = (out_shape[r - 2], out_shape[r - 1]);
        let len = (planes.checked_mul(oh)).and_then(|n| n.checked_mul(ow));
        Ok(Planes {
            planes,
            h: xs[r - 2],
            w: xs[r - 1],
            oh,
            ow,
            len: len.ok_or_else(|| OpError(format!("{op}: the output size overflows")))?,
        })
    }
}

/// The input rows (or columns) of adaptive window `i` of `out` over `size`:
/// `⌊i·size/out⌋ .. ⌈(i+1)·size/out⌉`, as ATen's adaptive poolings.
pub(super) fn adaptive_window(i: usize, size: usize, out: usize) -> std::ops::Range<usize> {
    i * size / out..((i + 1) * size).div_ceil(out)
}

/// A per-plane computation: `(input, h, w, output, oh, ow)`.
type PlaneFn<'a> = dyn Fn(&[f64], usize, usize, &mut [f64], usize, usize) + 'a;

/// Runs `f(plane_in, plane_out)` over every `[h, w]` → `[oh, ow]` plane, on row-major
/// copies, in the float type of the tensor.
fn per_plane(x: &Storage, out_shape: &[usize], op: &str, f: &PlaneFn) -> Result<Storage, OpError> {
    let Planes {
        planes,
        h,
        w,
        oh,
        ow,
        ..
    } = Planes::of(x, out_shape, op)?;
    Ok(with_float_dtype!(x.dtype(), op, T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src: Vec<f64> = a.iter().map(|v| v.to_f64()).collect();
        let mut out = vec![0.0f64; planes * oh * ow];
        let mut buf = vec![0.0f64; oh * ow];
        for p in 0..planes {
            f(&src[p * h * w..(p + 1) * h * w], h, w, &mut buf, oh, ow);
            out[p * oh * ow..(p + 1) * oh * ow].copy_from_slice(&buf);
        }
        let data: Vec<T> = out.into_iter().map(T::from_f64).collect();
        Storage::from_vec(out_shape, data).ok_or_else(|| OpError(format!("{op}: output shape")))?
    }))
}

// ---------------------------------------------------------------------------------------
// max_pool2d

fn max_pool_meta(a: &MaxPool2d) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![pool_meta(
        &a.self_,
        &a.pool(),
        a.ceil_mode,
        "max_pool2d",
    )?])
}

fn max_pool_kernel(a: &MaxPool2d, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let win = window(&a.pool(), "max_pool2d")?;
    Ok(vec![pool_kernel(
        &a.self_,
        &result_shape(metas)?,
        &win,
        None,
        "max_pool2d",
    )?])
}

/// A max (`avg`: average) pooling of `x`'s last two dims into `shape`, by the shared
/// kernels, in `x`'s float type.
fn pool_kernel(
    x: &Tensor,
    shape: &[usize],
    win: &PoolWindow,
    avg: Option<AvgDivisor>,
    op: &str,
) -> Result<Storage, OpError> {
    let x = x.storage_or_op_error()?;
    let r = x.shape().len();
    let (h, w) = (x.shape()[r - 2], x.shape()[r - 1]);
    let (oh, ow) = (shape[r - 2], shape[r - 1]);
    let planes: usize = x.shape()[..r - 2].iter().product();
    let fail = |what: &str| OpError(format!("{op}: {what}"));
    Ok(with_float_dtype!(x.dtype(), op, T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src = a.as_slice().ok_or_else(|| fail("input layout"))?;
        let len = planes.checked_mul(oh * ow).ok_or_else(|| fail("the output size overflows"))?;
        let mut out = try_filled(len, T::default()).map_err(|e| OpError(e.0))?;
        match avg {
            None => max_pool2d(src, planes, h, w, win, oh, ow, &mut out),
            Some(d) => avg_pool2d(src, planes, h, w, win, d, oh, ow, &mut out),
        }
        .map_err(|e| OpError(e.0))?;
        Storage::from_vec(shape, out).ok_or_else(|| fail("output shape"))?
    }))
}

/// What a max pooling offers the runtime (`max_pool2d`, and the core IR's
/// `max_pool2d_with_indices` for its output 0).
fn max_pool_lowering<T: Clone>(a: &MaxPool2d<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::MaxPool {
        input: a.self_.clone(),
        kernel_size: a.kernel_size.clone(),
        stride: a.stride.clone(),
        padding: a.padding.clone(),
        dilation: a.dilation.clone(),
        ceil_mode: a.ceil_mode,
    })
}

op_def! {
    pub static MAX_POOL2D: struct MaxPool2d =
        "aten::max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> Tensor" {
        meta: max_pool_meta,
        kernel: max_pool_kernel,
        decomposition: max_pool_decomposition,
        lowering: max_pool_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// max_pool2d_with_indices: the Core ATen op that max_pool2d decomposes to

fn max_pool_with_indices_meta(a: &MaxPool2d) -> Result<Vec<TensorMeta>, OpError> {
    let m = pool_meta(&a.self_, &a.pool(), a.ceil_mode, "max_pool2d_with_indices")?;
    let indices = TensorMeta::new(DType::I64, m.sizes.clone());
    Ok(vec![m, indices])
}

fn max_pool_with_indices_kernel(
    a: &MaxPool2d,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let values = max_pool_kernel(a, metas)?;
    let win = window(&a.pool(), "max_pool2d_with_indices")?;
    let shape = result_shape(metas)?;
    let x = a.self_.storage_or_op_error()?;
    let Planes {
        planes,
        h,
        w,
        oh,
        ow,
        len,
    } = Planes::of(&x, &shape, "max_pool2d_with_indices")?;
    let mut indices = try_filled(len, 0i64).map_err(|e| OpError(e.0))?;
    with_float_dtype!(x.dtype(), "max_pool2d_with_indices", T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src = a.as_slice().ok_or_else(|| OpError::new("max_pool2d_with_indices: input layout"))?;
        max_pool2d_argmax(src, planes, h, w, &win, oh, ow, &mut indices).map_err(|e| OpError(e.0))?;
    });
    let indices = Storage::from_vec(&shape, indices)
        .ok_or_else(|| OpError::new("max_pool2d_with_indices: output shape"))?;
    let mut out = values;
    out.push(indices);
    Ok(out)
}

/// `max_pool2d` → `max_pool2d_with_indices(...)[0]`, same arguments.
fn max_pool_decomposition(a: &MaxPool2d) -> Result<Vec<Tensor>, OpError> {
    let window = [&a.kernel_size[..], &a.stride, &a.padding, &a.dilation];
    Ok(max_values(
        &MAX_POOL2D_WITH_INDICES,
        &a.self_,
        window,
        a.ceil_mode,
    ))
}

/// Output 0 of a `max_pool{2,3}d_with_indices` call `op` of `x` with the window
/// `[kernel_size, stride, padding, dilation]`: what `max_pool{2,3}d` decompose to.
pub(super) fn max_values(
    op: &'static super::OpDef,
    x: &Tensor,
    window: [&[i64]; 4],
    ceil_mode: bool,
) -> Vec<Tensor> {
    let ints = |v: &[i64]| Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect());
    let mut args = vec![Value::Tensor(x.clone())];
    args.extend(window.map(ints));
    args.push(Value::Bool(ceil_mode));
    Tensor::call_op(op, args).into_iter().take(1).collect()
}

op_def! {
    /// In PyTorch's Core ATen opset; the indices are flat positions in each input plane.
    pub static MAX_POOL2D_WITH_INDICES: MaxPool2d =
        "aten::max_pool2d_with_indices(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)" {
        meta: max_pool_with_indices_meta,
        kernel: max_pool_with_indices_kernel,
        lowering: max_pool_lowering,
        output0: MAX_POOL2D,
    }
}

// ---------------------------------------------------------------------------------------
// avg_pool2d

fn avg_pool_meta(a: &AvgPool2d) -> Result<Vec<TensorMeta>, OpError> {
    let out = pool_meta(&a.self_, &a.pool(), a.ceil_mode, "avg_pool2d")?;
    if a.divisor_override == Some(0) {
        op_bail!("divisor must be not zero");
    }
    Ok(vec![out])
}

fn avg_pool_kernel(a: &AvgPool2d, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    // A zero divisor: refused by the meta function, and by the kernel.
    let win = window(&a.pool(), "avg_pool2d")?;
    let shape = result_shape(metas)?;
    Ok(vec![pool_kernel(
        &a.self_,
        &shape,
        &win,
        Some(a.divisor()),
        "avg_pool2d",
    )?])
}

/// What an average pooling offers the runtime.
fn avg_pool_lowering<T: Clone>(a: &AvgPool2d<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::AvgPool {
        input: a.self_.clone(),
        kernel_size: a.kernel_size.clone(),
        stride: a.stride.clone(),
        padding: a.padding.clone(),
        ceil_mode: a.ceil_mode,
        divisor: a.divisor(),
    })
}

op_def! {
    pub static AVG_POOL2D: struct AvgPool2d =
        "aten::avg_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None) -> Tensor" {
        meta: avg_pool_meta,
        kernel: avg_pool_kernel,
        lowering: avg_pool_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// adaptive_avg_pool2d

fn adaptive_meta(a: &AdaptiveAvgPool2d) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if !m.dtype.is_float() {
        op_bail!("\"adaptive_avg_pool2d\" not implemented for '{}'", m.dtype);
    }
    let (mut sizes, _) = split_input(&m, "adaptive_avg_pool2d")?;
    let out = a.output_size.clone();
    if out.len() != 2 {
        op_bail!("adaptive_avg_pool2d: output_size must be 2");
    }
    if out.iter().any(|s| s.hint() < 0) {
        op_bail!(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {}",
            format_sizes(&out)
        );
    }
    sizes.extend(out);
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// Whether an adaptive average pooling's output is one element per plane: the mean of
/// the last two dims, which the eager kernel and the compiled runtime both compute as
/// that `mean` (the shared reduction kernel).
fn pools_to_one<T>(a: &AdaptiveAvgPool2d<T>) -> bool {
    a.output_size.len() == 2 && a.output_size.iter().all(|s| s.as_int() == Some(1))
}

fn adaptive_lowering<T: Clone>(a: &AdaptiveAvgPool2d<T>) -> Result<Lowering<T>, OpError> {
    Ok(match pools_to_one(a) {
        true => Lowering::Reduce {
            input: a.self_.clone(),
            dims: Some(vec![-2, -1]),
            dtype: None,
            op: Reduction::Mean,
        },
        // Other sizes: each plane alone, by the op's kernel.
        false => Lowering::lanes_along(&a.self_, &[-2, -1])?,
    })
}

fn adaptive_kernel(a: &AdaptiveAvgPool2d, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let shape = result_shape(metas)?;
    let s = a.self_.storage_or_op_error()?;
    let rank = s.shape().len();
    if pools_to_one(a) && rank >= 2 {
        let mean = super::reduction::float_sum(&s, &[rank - 2, rank - 1], true, |n| 1.0 / n as f64);
        if let Some(mean) = mean {
            return Ok(vec![mean]);
        }
    }
    let f = |x: &[f64], h: usize, w: usize, out: &mut [f64], oh: usize, ow: usize| {
        for oy in 0..oh {
            let rows = adaptive_window(oy, h, oh);
            for ox in 0..ow {
                let cols = adaptive_window(ox, w, ow);
                let mut sum = 0.0;
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        sum += x[iy * w + ix];
                    }
                }
                out[oy * ow + ox] = sum / (rows.len() * cols.len()) as f64;
            }
        }
    };
    Ok(vec![per_plane(&s, &shape, "adaptive_avg_pool2d", &f)?])
}

op_def! {
    pub static ADAPTIVE_AVG_POOL2D: struct AdaptiveAvgPool2d =
        "aten::adaptive_avg_pool2d(Tensor self, SymInt[2] output_size) -> Tensor" {
        meta: adaptive_meta,
        kernel: adaptive_kernel,
        lowering: adaptive_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// adaptive_max_pool2d

fn adaptive_max_meta(a: &AdaptiveMaxPool2d) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if !m.dtype.is_float() {
        op_bail!("\"adaptive_max_pool2d\" not implemented for '{}'", m.dtype);
    }
    let (mut sizes, [h, w]) = split_input(&m, "adaptive_max_pool2d")?;
    let &[oh, ow] = &a.output_size[..] else {
        op_bail!("adaptive_max_pool2d: internal error: output_size.size() must be 2");
    };
    if oh < 0 || ow < 0 {
        op_bail!("adaptive_max_pool2d: elements of output_size must be greater than or equal to 0 but received [{oh}, {ow}]");
    }
    if (h.hint() == 0 || w.hint() == 0) && oh * ow > 0 {
        op_bail!(
            "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {}",
            format_sizes(&m.sizes)
        );
    }
    sizes.extend([SymInt::Int(oh), SymInt::Int(ow)]);
    let indices = TensorMeta::new(DType::I64, sizes.clone());
    Ok(vec![TensorMeta::new(m.dtype, sizes), indices])
}

/// The index in its `w`-wide plane of the largest value of window `rows × cols`; as
/// ATen's kernel, a NaN wins and a later NaN replaces it, equal values keep the first.
fn window_argmax<T: Element>(
    plane: &[T],
    w: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) -> usize {
    let mut at = rows.start * w + cols.start;
    let mut best = plane[at].to_f64();
    for i in rows.flat_map(|iy| cols.clone().map(move |ix| iy * w + ix)) {
        let v = plane[i].to_f64();
        if v > best || v.is_nan() {
            (best, at) = (v, i);
        }
    }
    at
}

/// The largest value of each adaptive window (those of `adaptive_avg_pool2d`) and its
/// index in the plane ([`window_argmax`]).
fn adaptive_max_kernel(
    a: &AdaptiveMaxPool2d,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let shape = result_shape(metas)?;
    let x = a.self_.storage_or_op_error()?;
    let Planes {
        planes,
        h,
        w,
        oh,
        ow,
        len,
    } = Planes::of(&x, &shape, "adaptive_max_pool2d")?;
    if h * w == 0 {
        op_bail!(
            "adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions"
        );
    }
    let mut indices = try_filled(len, 0i64).map_err(|e| OpError(e.0))?;
    let values = with_float_dtype!(x.dtype(), "adaptive_max_pool2d", T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src = a.as_slice().ok_or_else(|| OpError::new("adaptive_max_pool2d: input layout"))?;
        let mut values: Vec<T> = Vec::with_capacity(len);
        let windows = (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox)));
        for plane in src.chunks_exact(h * w).take(planes) {
            for (oy, ox) in windows.clone() {
                let at = window_argmax(plane, w, adaptive_window(oy, h, oh), adaptive_window(ox, w, ow));
                values.push(plane[at]);
                indices[values.len() - 1] = at as i64;
            }
        }
        Storage::from_vec(&shape, values)
            .ok_or_else(|| OpError::new("adaptive_max_pool2d: output shape"))?
    });
    let indices = Storage::from_vec(&shape, indices)
        .ok_or_else(|| OpError::new("adaptive_max_pool2d: output shape"))?;
    Ok(vec![values, indices])
}

op_def! {
    pub static ADAPTIVE_MAX_POOL2D: struct AdaptiveMaxPool2d =
        "aten::adaptive_max_pool2d(Tensor self, int[2] output_size) -> (Tensor, Tensor)" {
        meta: adaptive_max_meta,
        kernel: adaptive_max_kernel,
        lowering: |a: &AdaptiveMaxPool2d<_>| Lowering::lanes_along(&a.self_, &[-2, -1]),
    }
}

// ---------------------------------------------------------------------------------------
// upsample_nearest2d.vec

/// The output sizes and the scales (`None` when the sizes were given) of an upsample:
/// exactly one of `output_size` (2 sizes) and `scales` (2 factors; a size is
/// `floor(input * factor)`).
fn upsample_sizes(
    m: &TensorMeta,
    output_size: Option<Vec<SymInt>>,
    scales: Option<Vec<f64>>,
    op: &str,
) -> Result<(TensorMeta, [Option<f64>; 2]), OpError> {
    if m.rank() != 4 {
        op_bail!(
            "{op}: Expected a 4D input tensor, but got {}",
            format_sizes(&m.sizes)
        );
    }
    let (out, scales) = match (output_size, scales) {
        (Some(o), None) => {
            if o.len() != 2 {
                op_bail!("{op}: output_size must have 2 elements, got {}", o.len());
            }
            ([o[0].clone(), o[1].clone()], [None, None])
        }
        (None, Some(s)) => {
            if s.len() != 2 {
                op_bail!("{op}: scale_factors must have 2 elements, got {}", s.len());
            }
            let size = |input: &SymInt, f: f64| -> SymInt {
                if f.fract() == 0.0 && f >= 0.0 {
                    input.mul(&SymInt::Int(f as i64))
                } else {
                    SymInt::Int((input.guard_int() as f64 * f).floor() as i64)
                }
            };
            (
                [size(&m.sizes[2], s[0]), size(&m.sizes[3], s[1])],
                [Some(s[0]), Some(s[1])],
            )
        }
        (Some(_), Some(_)) | (None, None) => {
            op_bail!("Must specify exactly one of output_size and scale_factors")
        }
    };
    if out.iter().chain(&m.sizes[2..]).any(|s| s.hint() <= 0) {
        op_bail!(
            "Input and output sizes should be greater than 0, but got input (H: {}, W: {}) output (H: {}, W: {})",
            m.sizes[2],
            m.sizes[3],
            out[0],
            out[1]
        );
    }
    let mut sizes = m.sizes[..2].to_vec();
    sizes.extend(out);
    Ok((TensorMeta::new(m.dtype, sizes), scales))
}

/// The scales of a `.vec` upsample (`None` when the sizes were given).
fn vec_scales(scale_factors: &Option<Vec<f64>>) -> [Option<f64>; 2] {
    match scale_factors.as_deref() {
        Some([h, w, ..]) => [Some(*h), Some(*w)],
        _ => [None, None],
    }
}

fn upsample_meta(a: &UpsampleVec) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _) = upsample_sizes(
        &meta_of(&a.input)?,
        a.output_size.clone(),
        a.scale_factors.clone(),
        "upsample_nearest2d",
    )?;
    Ok(vec![m])
}

fn upsample_kernel(a: &UpsampleVec, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let scales = vec_scales(&a.scale_factors);
    let shape = result_shape(metas)?;
    let s = a.input.storage_or_op_error()?.contiguous();
    let (h, w, oh, ow) = (s.shape()[2], s.shape()[3], shape[2], shape[3]);
    let planes = shape[0] * shape[1];
    let out = crate::map_storage!(&s, a => {
        let src = a.as_slice().unwrap_or(&[]);
        let mut data = try_filled(planes * oh * ow, Default::default()).map_err(|e| OpError(e.0))?;
        ferrex_kernels::pool::upsample_nearest(src, planes, [h, w], [oh, ow], scales, &mut data)
            .map_err(|e| OpError(format!("upsample_nearest2d: {e}")))?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), data)
            .map_err(|e| OpError(e.to_string()))?
            .into_shared()
    });
    Ok(vec![out])
}

fn upsample_lowering<T: Clone>(a: &UpsampleVec<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Upsample {
        input: a.input.clone(),
        scales: vec_scales(&a.scale_factors),
        mode: Interpolation::Nearest,
    })
}

op_def! {
    pub static UPSAMPLE_NEAREST2D_VEC: struct UpsampleVec =
        "aten::upsample_nearest2d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor" {
        meta: upsample_meta,
        kernel: upsample_kernel,
        lowering: upsample_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// upsample_bilinear2d (.vec and the sizes-and-scales overload)

fn bilinear_vec_meta(a: &UpsampleBilinearVec) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _) = upsample_sizes(
        &meta_of(&a.input)?,
        a.output_size.clone(),
        a.scale_factors.clone(),
        "upsample_bilinear2d",
    )?;
    float_upsample(m, "upsample_bilinear2d")
}

/// `upsample_bilinear2d(self, output_size, align_corners, scales_h, scales_w)`: the
/// sizes are given, the scales only with them.
fn bilinear_default_meta(a: &UpsampleBilinear) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _) = upsample_sizes(
        &meta_of(&a.self_)?,
        Some(a.output_size.clone()),
        None,
        "upsample_bilinear2d",
    )?;
    float_upsample(m, "upsample_bilinear2d")
}

/// The meta of a floating-point upsampling `op` (`"upsample_bilinear2d"`, …).
fn float_upsample(m: TensorMeta, op: &str) -> Result<Vec<TensorMeta>, OpError> {
    if !m.dtype.is_float() {
        op_bail!("\"{op}_out_frame\" not implemented for '{}'", m.dtype);
    }
    Ok(vec![m])
}

/// An upsampling `op` of a float `[N, C, H, W]` input in `mode` by the runtime's kernel
/// ([`ferrex_kernels::pool::upsample`], which the compiled runtime's step calls too).
fn upsample_run(
    op: &str,
    x: &Tensor,
    mode: Interpolation,
    metas: &[TensorMeta],
    scales: [Option<f64>; 2],
) -> Result<Vec<Storage>, OpError> {
    let shape = result_shape(metas)?;
    let s = x.storage_or_op_error()?.contiguous();
    let (Ok([n, c, h, w]), Some(&[_, _, oh, ow])) =
        (<[usize; 4]>::try_from(s.shape()), shape.get(..4))
    else {
        op_bail!("{op}: expected a 4-D input");
    };
    let len = (n * c).checked_mul(oh * ow);
    let len = len.ok_or_else(|| OpError(format!("{op}: the output size overflows")))?;
    let out = with_float_dtype!(s.dtype(), op, T => {
        let a = s.typed::<T>();
        let src = a.as_slice().unwrap_or(&[]);
        let mut data = try_filled(len, T::default()).map_err(|e| OpError(e.0))?;
        ferrex_kernels::pool::upsample(src, n * c, [h, w], [oh, ow], mode, scales, &mut data)
            .map_err(|e| OpError(format!("{op}: {e}")))?;
        Storage::from_vec(&shape, data).ok_or_else(|| OpError(format!("{op}: output shape")))?
    });
    Ok(vec![out])
}

fn bilinear_run(
    x: &Tensor,
    align_corners: bool,
    metas: &[TensorMeta],
    scales: [Option<f64>; 2],
) -> Result<Vec<Storage>, OpError> {
    let mode = Interpolation::Bilinear { align_corners };
    upsample_run("upsample_bilinear2d", x, mode, metas, scales)
}

fn bilinear_vec_kernel(
    a: &UpsampleBilinearVec,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let scales = vec_scales(&a.scale_factors);
    bilinear_run(&a.input, a.align_corners, metas, scales)
}

fn bilinear_default_kernel(
    a: &UpsampleBilinear,
    metas: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    bilinear_run(&a.self_, a.align_corners, metas, [a.scales_h, a.scales_w])
}

fn bilinear_vec_lowering<T: Clone>(a: &UpsampleBilinearVec<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Upsample {
        input: a.input.clone(),
        scales: vec_scales(&a.scale_factors),
        mode: Interpolation::Bilinear {
            align_corners: a.align_corners,
        },
    })
}

fn bilinear_default_lowering<T: Clone>(a: &UpsampleBilinear<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Upsample {
        input: a.self_.clone(),
        scales: [a.scales_h, a.scales_w],
        mode: Interpolation::Bilinear {
            align_corners: a.align_corners,
        },
    })
}

op_def! {
    /// In PyTorch's Core ATen opset (`F.interpolate(mode="bilinear")` records it).
    pub static UPSAMPLE_BILINEAR2D_VEC: struct UpsampleBilinearVec =
        "aten::upsample_bilinear2d.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor" {
        meta: bilinear_vec_meta,
        kernel: bilinear_vec_kernel,
        lowering: bilinear_vec_lowering,
    }
    pub static UPSAMPLE_BILINEAR2D: struct UpsampleBilinear =
        "aten::upsample_bilinear2d(Tensor self, SymInt[2] output_size, bool align_corners, float? scales_h=None, float? scales_w=None) -> Tensor" {
        meta: bilinear_default_meta,
        kernel: bilinear_default_kernel,
        lowering: bilinear_default_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// upsample_bicubic2d (.vec and the sizes-and-scales overload)

fn bicubic_run(
    x: &Tensor,
    align_corners: bool,
    metas: &[TensorMeta],
    scales: [Option<f64>; 2],
) -> Result<Vec<Storage>, OpError> {
    let mode = Interpolation::Bicubic { align_corners };
    upsample_run("upsample_bicubic2d", x, mode, metas, scales)
}

/// What a bicubic upsampling offers the runtime.
fn bicubic_lowering<T: Clone>(
    input: &T,
    align_corners: bool,
    scales: [Option<f64>; 2],
) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Upsample {
        input: input.clone(),
        scales,
        mode: Interpolation::Bicubic { align_corners },
    })
}

op_def! {
    /// `F.interpolate(mode="bicubic")`; kept whole by `run_decompositions` (PyTorch's
    /// core IR spells it in pointwise ops and `index`).
    pub static UPSAMPLE_BICUBIC2D_VEC: struct UpsampleBicubicVec =
        "aten::upsample_bicubic2d.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor" {
        meta: |a: &UpsampleBicubicVec| float_upsample(upsample_sizes(
            &meta_of(&a.input)?, a.output_size.clone(), a.scale_factors.clone(), "upsample_bicubic2d",
        )?.0, "upsample_bicubic2d"),
        kernel: |a: &UpsampleBicubicVec, m: &[TensorMeta]| {
            bicubic_run(&a.input, a.align_corners, m, vec_scales(&a.scale_factors))
        },
        lowering: |a: &UpsampleBicubicVec<_>| {
            bicubic_lowering(&a.input, a.align_corners, vec_scales(&a.scale_factors))
        },
    }
    pub static UPSAMPLE_BICUBIC2D: struct UpsampleBicubic =
        "aten::upsample_bicubic2d(Tensor self, SymInt[2] output_size, bool align_corners, float? scales_h=None, float? scales_w=None) -> Tensor" {
        meta: |a: &UpsampleBicubic| float_upsample(upsample_sizes(
            &meta_of(&a.self_)?, Some(a.output_size.clone()), None, "upsample_bicubic2d",
        )?.0, "upsample_bicubic2d"),
        kernel: |a: &UpsampleBicubic, m: &[TensorMeta]| {
            bicubic_run(&a.self_, a.align_corners, m, [a.scales_h, a.scales_w])
        },
        lowering: |a: &UpsampleBicubic<_>| {
            bicubic_lowering(&a.self_, a.align_corners, [a.scales_h, a.scales_w])
        },
    }
}

// ---------------------------------------------------------------------------------------
// _upsample_bilinear2d_aa, _upsample_bicubic2d_aa (`F.interpolate(.., antialias=True)`)

/// The meta of an antialiased upsampling with `filter` of `x` to the given sizes or
/// scales.
fn antialiased_meta(
    filter: AntialiasFilter,
    x: &Tensor,
    output_size: Option<Vec<SymInt>>,
    scale_factors: Option<Vec<f64>>,
) -> Result<Vec<TensorMeta>, OpError> {
    let op = filter.op_name();
    let (m, _) = upsample_sizes(&meta_of(x)?, output_size, scale_factors, op)?;
    float_upsample(m, op)
}

fn antialiased_mode(filter: AntialiasFilter, align_corners: bool) -> Interpolation {
    Interpolation::Antialiased {
        filter,
        align_corners,
    }
}

/// The antialiased upsampling kernel with `filter`.
fn antialiased_run(
    filter: AntialiasFilter,
    x: &Tensor,
    align_corners: bool,
    metas: &[TensorMeta],
    scales: [Option<f64>; 2],
) -> Result<Vec<Storage>, OpError> {
    let mode = antialiased_mode(filter, align_corners);
    upsample_run(filter.op_name(), x, mode, metas, scales)
}

/// PyTorch's decomposition of an antialiased `.vec` upsampling: the overload of sizes
/// and scales (`op`), the sizes computed from the scale factors where given.
fn antialiased_by_sizes(
    op: &'static super::OpDef,
    x: &Tensor,
    output_size: Option<Vec<SymInt>>,
    align_corners: bool,
    scale_factors: Option<Vec<f64>>,
) -> Result<Vec<Tensor>, OpError> {
    let (m, scales) = upsample_sizes(&meta_of(x)?, output_size, scale_factors, op.name().as_str())?;
    let scale = |s: Option<f64>| s.map_or(Value::None, Value::Float);
    let args = vec![
        Value::Tensor(x.clone()),
        Value::IntList(m.sizes[2..].to_vec()),
        Value::Bool(align_corners),
        scale(scales[0]),
        scale(scales[1]),
    ];
    Ok(Tensor::call_op(op, args))
}

/// What an antialiased upsampling offers the runtime.
fn antialiased_lowering<T: Clone>(
    input: &T,
    filter: AntialiasFilter,
    align_corners: bool,
    scales: [Option<f64>; 2],
) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Upsample {
        input: input.clone(),
        scales,
        mode: antialiased_mode(filter, align_corners),
    })
}

op_def! {
    /// `F.interpolate(mode="bilinear", antialias=True)`: a triangle filter stretched over
    /// every source pixel a shrinking output pixel covers (PIL's resize). In PyTorch's
    /// Core ATen IR too.
    pub static UPSAMPLE_BILINEAR2D_AA_VEC: struct UpsampleBilinearAaVec =
        "aten::_upsample_bilinear2d_aa.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor" {
        meta: |a: &UpsampleBilinearAaVec| antialiased_meta(
            AntialiasFilter::Triangle, &a.input, a.output_size.clone(), a.scale_factors.clone(),
        ),
        decomposition: |a: &UpsampleBilinearAaVec| antialiased_by_sizes(
            &UPSAMPLE_BILINEAR2D_AA, &a.input, a.output_size.clone(), a.align_corners, a.scale_factors.clone(),
        ),
        kernel: |a: &UpsampleBilinearAaVec, m: &[TensorMeta]| antialiased_run(
            AntialiasFilter::Triangle, &a.input, a.align_corners, m, vec_scales(&a.scale_factors),
        ),
        lowering: |a: &UpsampleBilinearAaVec<_>| antialiased_lowering(&a.input, AntialiasFilter::Triangle, a.align_corners, vec_scales(&a.scale_factors)),
    }
    pub static UPSAMPLE_BILINEAR2D_AA: struct UpsampleBilinearAa =
        "aten::_upsample_bilinear2d_aa(Tensor self, SymInt[2] output_size, bool align_corners, float? scales_h=None, float? scales_w=None) -> Tensor" {
        meta: |a: &UpsampleBilinearAa| antialiased_meta(
            AntialiasFilter::Triangle, &a.self_, Some(a.output_size.clone()), None,
        ),
        kernel: |a: &UpsampleBilinearAa, m: &[TensorMeta]| antialiased_run(
            AntialiasFilter::Triangle, &a.self_, a.align_corners, m, [a.scales_h, a.scales_w],
        ),
        lowering: |a: &UpsampleBilinearAa<_>| antialiased_lowering(&a.self_, AntialiasFilter::Triangle, a.align_corners, [a.scales_h, a.scales_w]),
    }
    /// `F.interpolate(mode="bicubic", antialias=True)`: Keys' cubic stretched as the
    /// bilinear one's triangle.
    pub static UPSAMPLE_BICUBIC2D_AA_VEC: struct UpsampleBicubicAaVec =
        "aten::_upsample_bicubic2d_aa.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor" {
        meta: |a: &UpsampleBicubicAaVec| antialiased_meta(
            AntialiasFilter::Cubic, &a.input, a.output_size.clone(), a.scale_factors.clone(),
        ),
        decomposition: |a: &UpsampleBicubicAaVec| antialiased_by_sizes(
            &UPSAMPLE_BICUBIC2D_AA, &a.input, a.output_size.clone(), a.align_corners, a.scale_factors.clone(),
        ),
        kernel: |a: &UpsampleBicubicAaVec, m: &[TensorMeta]| antialiased_run(
            AntialiasFilter::Cubic, &a.input, a.align_corners, m, vec_scales(&a.scale_factors),
        ),
        lowering: |a: &UpsampleBicubicAaVec<_>| antialiased_lowering(&a.input, AntialiasFilter::Cubic, a.align_corners, vec_scales(&a.scale_factors)),
    }
    pub static UPSAMPLE_BICUBIC2D_AA: struct UpsampleBicubicAa =
        "aten::_upsample_bicubic2d_aa(Tensor self, SymInt[2] output_size, bool align_corners, float? scales_h=None, float? scales_w=None) -> Tensor" {
        meta: |a: &UpsampleBicubicAa| antialiased_meta(
            AntialiasFilter::Cubic, &a.self_, Some(a.output_size.clone()), None,
        ),
        kernel: |a: &UpsampleBicubicAa, m: &[TensorMeta]| antialiased_run(
            AntialiasFilter::Cubic, &a.self_, a.align_corners, m, [a.scales_h, a.scales_w],
        ),
        lowering: |a: &UpsampleBicubicAa<_>| antialiased_lowering(&a.self_, AntialiasFilter::Cubic, a.align_corners, [a.scales_h, a.scales_w]),
    }
}

// ---------------------------------------------------------------------------------------
// avg_pool1d: avg_pool2d over a height-1 plane, as ATen computes it

/// `[N, C, L]` or `[C, L]` → the same with `L` pooled (`avg_pool1d`, `max_pool1d`).
fn pool1d_meta(
    x: &Tensor,
    pool: &[&[i64]; 4],
    ceil_mode: bool,
    op: &str,
) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    if m.rank() != 2 && m.rank() != 3 {
        op_bail!(
            "Expected 2 to 3 dimensions, but got {}-dimensional tensor for argument #1 'self' (while checking arguments for {op})",
            m.rank()
        );
    }
    let names = ["kernel_size", "stride", "padding", "dilation"];
    for (list, name) in pool.iter().zip(names) {
        let n = list.len();
        if n != 1 && !(name == "stride" && n == 0) {
            op_bail!("{op}() argument '{name}' should contain one int (got {n})");
        }
    }
    let one = |list: &[i64], default: Option<i64>, name: &str| -> Result<i64, OpError> {
        Ok(match (list.first(), default) {
            (Some(v), _) => *v,
            (None, Some(d)) => d,
            (None, None) => op_bail!("{op}: missing argument {name}"),
        })
    };
    let k = one(pool[0], None, "kernel_size")?;
    let stride = one(pool[1], Some(k), "stride")?;
    let pad = one(pool[2], None, "padding")?;
    let dilation = one(pool[3], None, "dilation")?;
    if k <= 0 || stride <= 0 || dilation <= 0 {
        op_bail!("{op}: kernel_size, stride and dilation must be greater than zero, but got kernel_size={k}, stride={stride}, dilation={dilation}");
    }
    if pad < 0 || pad > k / 2 {
        op_bail!("pad should be at most half of effective kernel size, but got pad={pad}, kernel_size={k} and dilation={dilation}");
    }
    let length = &m.sizes[m.rank() - 1];
    let out = pooled(length, k, stride, pad, dilation, ceil_mode);
    if out.hint() <= 0 {
        op_bail!(
            "Given input size: ({}x1x{length}). Calculated output size: ({}x1x{out}). Output size is too small",
            m.sizes[m.rank() - 2],
            m.sizes[m.rank() - 2]
        );
    }
    let mut sizes = m.sizes.clone();
    sizes[m.rank() - 1] = out;
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn avg_pool1d_meta(a: &AvgPool1d) -> Result<Vec<TensorMeta>, OpError> {
    let pool = [&a.kernel_size[..], &a.stride, &a.padding, &[1]];
    pool1d_meta(&a.self_, &pool, a.ceil_mode, "avg_pool1d")
}

/// `avg_pool1d` → `squeeze(avg_pool2d(unsqueeze(x, -2), [1, k], [1, s], [0, p]), -2)`,
/// PyTorch's decomposition.
fn avg_pool1d_decomposition(a: &AvgPool1d) -> Result<Vec<Tensor>, OpError> {
    let x = &a.self_;
    let (k, s, p) = (&a.kernel_size, &a.stride, &a.padding);
    let with = |first: i64, v: &[i64]| -> Vec<i64> {
        if v.is_empty() {
            vec![]
        } else {
            [&[first][..], v].concat()
        }
    };
    let pooled = x.unsqueeze(-2).avg_pool2d(
        &with(1, k),
        &with(1, s),
        &with(0, p),
        a.ceil_mode,
        a.count_include_pad,
        None,
    );
    Ok(vec![pooled.squeeze_dim(-2)])
}

op_def! {
    pub static AVG_POOL1D: struct AvgPool1d =
        "aten::avg_pool1d(Tensor self, int[1] kernel_size, int[1] stride=[], int[1] padding=0, bool ceil_mode=False, bool count_include_pad=True) -> Tensor" {
        meta: avg_pool1d_meta,
        composite: avg_pool1d_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// max_pool1d, adaptive pooling over lengths, 1-D upsampling: the 2-D ops over a
// height-1 plane (PyTorch's decompositions)

/// `[first] + v`, or empty (a default) when `v` is.
fn lifted(first: i64, v: &[i64]) -> Vec<i64> {
    if v.is_empty() {
        vec![]
    } else {
        [&[first][..], v].concat()
    }
}

fn max_pool1d_decomposition(a: &MaxPool1d) -> Result<Vec<Tensor>, OpError> {
    let pooled = a.self_.unsqueeze(-2).max_pool2d(
        &lifted(1, &a.kernel_size),
        &lifted(1, &a.stride),
        &lifted(0, &a.padding),
        &lifted(1, &a.dilation),
        a.ceil_mode,
    );
    Ok(vec![pooled.squeeze_dim(-2)])
}

/// The input's sizes with the last replaced by `output_size`'s one length.
fn adaptive1d_meta(x: &Tensor, output_size: &[SymInt], op: &str) -> Result<TensorMeta, OpError> {
    let m = meta_of(x)?;
    if m.rank() != 2 && m.rank() != 3 {
        op_bail!(
            "{op}: Expected 2D or 3D tensor, but got {}",
            format_sizes(&m.sizes)
        );
    }
    let [out] = output_size else {
        op_bail!(
            "{op}: output_size should contain one int (got {})",
            output_size.len()
        );
    };
    if out.hint() < 0 {
        op_bail!(
            "{op}: elements of output_size must be greater than or equal to 0 but received {out}"
        );
    }
    let mut sizes = m.sizes.clone();
    sizes[m.rank() - 1] = out.clone();
    Ok(TensorMeta::new(m.dtype, sizes))
}

fn adaptive_avg_pool1d_meta(a: &AdaptiveAvgPool1d) -> Result<Vec<TensorMeta>, OpError> {
    let out: Vec<SymInt> = a.output_size.iter().map(|&v| SymInt::Int(v)).collect();
    let m = adaptive1d_meta(&a.self_, &out, "adaptive_avg_pool1d")?;
    if !m.dtype.is_float() {
        op_bail!("\"adaptive_avg_pool1d\" not implemented for '{}'", m.dtype);
    }
    Ok(vec![m])
}

fn adaptive_avg_pool1d_decomposition(a: &AdaptiveAvgPool1d) -> Result<Vec<Tensor>, OpError> {
    let [length] = a.output_size[..] else {
        op_bail!("adaptive_avg_pool1d: output_size should contain one int");
    };
    let size = vec![SymInt::Int(1), SymInt::Int(length)];
    Ok(vec![a
        .self_
        .unsqueeze(-2)
        .adaptive_avg_pool2d(&size)
        .squeeze_dim(-2)])
}

/// A 1-D upsampling's meta: the 2-D one over `[N, C, 1, L]`, without the 1.
fn upsample1d_meta(
    input: &Tensor,
    output_size: &Option<Vec<SymInt>>,
    scale_factors: &Option<Vec<f64>>,
    op: &str,
) -> Result<TensorMeta, OpError> {
    let m = meta_of(input)?;
    if m.rank() != 3 {
        op_bail!(
            "{op}: Expected a 3D input tensor, but got {}",
            format_sizes(&m.sizes)
        );
    }
    let mut sizes = m.sizes.clone();
    sizes.insert(2, SymInt::Int(1));
    let (out, _) = upsample_sizes(
        &TensorMeta::new(m.dtype, sizes),
        output_size
            .as_ref()
            .map(|o| [&[SymInt::Int(1)][..], o].concat()),
        scale_factors.as_ref().map(|s| [&[1.0][..], s].concat()),
        op,
    )?;
    let mut sizes = out.sizes;
    sizes.remove(2);
    Ok(TensorMeta::new(out.dtype, sizes))
}

fn lifted_sizes(o: &Option<Vec<SymInt>>) -> Option<Vec<i64>> {
    o.as_ref()
        .map(|o| [&[1][..], &o.iter().map(SymInt::hint).collect::<Vec<_>>()].concat())
}

fn lifted_scales(s: &Option<Vec<f64>>) -> Option<Vec<f64>> {
    s.as_ref().map(|s| [&[1.0][..], s].concat())
}

op_def! {
    pub static MAX_POOL1D: struct MaxPool1d =
        "aten::max_pool1d(Tensor self, int[1] kernel_size, int[1] stride=[], int[1] padding=0, int[1] dilation=1, bool ceil_mode=False) -> Tensor" {
        meta: |a: &MaxPool1d| {
            let pool = [&a.kernel_size[..], &a.stride, &a.padding, &a.dilation];
            pool1d_meta(&a.self_, &pool, a.ceil_mode, "max_pool1d")
        },
        composite: max_pool1d_decomposition,
    }
    pub static ADAPTIVE_AVG_POOL1D: struct AdaptiveAvgPool1d =
        "aten::adaptive_avg_pool1d(Tensor self, int[1] output_size) -> Tensor" {
        meta: adaptive_avg_pool1d_meta,
        composite: adaptive_avg_pool1d_decomposition,
    }
    /// What PyTorch's core IR writes for `adaptive_avg_pool1d` and `2d`.
    pub static _ADAPTIVE_AVG_POOL2D: AdaptiveAvgPool2d =
        "aten::_adaptive_avg_pool2d(Tensor self, SymInt[2] output_size) -> Tensor" {
        meta: adaptive_meta,
        kernel: adaptive_kernel,
        lowering: adaptive_lowering,
    }
    pub static UPSAMPLE_NEAREST1D_VEC: struct Upsample1dVec =
        "aten::upsample_nearest1d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor" {
        meta: |a: &Upsample1dVec| Ok(vec![upsample1d_meta(&a.input, &a.output_size, &a.scale_factors, "upsample_nearest1d")?]),
        composite: |a: &Upsample1dVec| {
            let y = a.input.unsqueeze(2).upsample_nearest2d(
                lifted_sizes(&a.output_size).as_deref(),
                lifted_scales(&a.scale_factors).as_deref(),
            );
            Ok(vec![y.squeeze_dim(2)])
        },
    }
    /// Linear interpolation along the length: bilinear over a height-1 plane (the
    /// height's source coordinate is its own row).
    pub static UPSAMPLE_LINEAR1D_VEC: struct UpsampleLinear1dVec =
        "aten::upsample_linear1d.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor" {
        meta: |a: &UpsampleLinear1dVec| {
            let m = upsample1d_meta(&a.input, &a.output_size, &a.scale_factors, "upsample_linear1d")?;
            float_upsample(m, "upsample_bilinear2d")
        },
        composite: |a: &UpsampleLinear1dVec| {
            let y = a.input.unsqueeze(2).upsample_bilinear2d(
                lifted_sizes(&a.output_size).as_deref(),
                a.align_corners,
                lifted_scales(&a.scale_factors).as_deref(),
            );
            Ok(vec![y.squeeze_dim(2)])
        },
    }
}
