//! 3-D pooling: `max_pool3d` (and the core IR's `max_pool3d_with_indices`),
//! `avg_pool3d`, `adaptive_avg_pool3d` (and `_adaptive_avg_pool3d`). Inputs are
//! `[N, C, D, H, W]` or unbatched `[C, D, H, W]`; each kernel works volume by volume on
//! a row-major f64 copy, with ATen's CPU windows, NaN rule and divisors. The compiled
//! runtime runs them as eager steps.

use super::lowering::Lowering;
use super::op_def;
use super::pooling::{adaptive_window, expand_ints, max_values, pooled, result_shape};
use super::util::{meta_of, usize_array, with_float_dtype};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// The dims a 3-D pooling works over (`[N, C, D, H, W]` or `[C, D, H, W]`): each volume
/// alone, a planned step of the op's kernel.
const VOLUME: [i64; 3] = [-3, -2, -1];

/// The leading sizes (batch and channels, as given) and the three spatial sizes of a
/// 4-D or 5-D input of a floating type.
fn split_volume(m: &TensorMeta, op: &str) -> Result<(Vec<SymInt>, [SymInt; 3]), OpError> {
    if !m.dtype.is_float() {
        op_bail!("\"{op}\" not implemented for '{}'", m.dtype);
    }
    let r = m.rank();
    if r != 4 && r != 5 {
        op_bail!(
            "{op}: Expected 4D or 5D tensor for input, but got: {}",
            format_sizes(&m.sizes)
        );
    }
    let s = &m.sizes;
    Ok((
        s[..r - 3].to_vec(),
        [s[r - 3].clone(), s[r - 2].clone(), s[r - 1].clone()],
    ))
}

/// A 3-D pooling window, validated: kernel, stride (the kernel when empty), padding,
/// dilation per spatial dim.
#[derive(Clone, Copy, Debug)]
struct Window3 {
    k: [usize; 3],
    s: [usize; 3],
    p: [usize; 3],
    d: [usize; 3],
}

fn window3(
    kernel_size: &[i64],
    stride: &[i64],
    padding: &[i64],
    dilation: &[i64],
    op: &str,
) -> Result<Window3, OpError> {
    let k = expand_ints(kernel_size, 3, "kernel_size")?;
    let s = match stride.is_empty() {
        true => k.clone(),
        false => expand_ints(stride, 3, "stride")?,
    };
    let p = expand_ints(padding, 3, "padding")?;
    let d = expand_ints(dilation, 3, "dilation")?;
    if k.iter().any(|&v| v <= 0) {
        op_bail!("{op}: kernel_size must be greater than zero, but got {k:?}");
    }
    if s.iter().any(|&v| v <= 0) {
        op_bail!("{op}: stride must be greater than zero, but got {s:?}");
    }
    if d.iter().any(|&v| v <= 0) {
        op_bail!("{op}: dilation must be greater than zero, but got {d:?}");
    }
    if (0..3).any(|i| p[i] < 0 || k[i] / 2 < p[i]) {
        op_bail!(
            "pad should be smaller than or equal to half of kernel size, but got kT={} kW={} kH={} padT={} padW={} padH={}",
            k[0], k[2], k[1], p[0], p[2], p[1]
        );
    }
    Ok(Window3 {
        k: usize_array(&k, op)?,
        s: usize_array(&s, op)?,
        p: usize_array(&p, op)?,
        d: usize_array(&d, op)?,
    })
}

/// The output meta of a windowed 3-D pooling of `x`.
fn pool3d_meta(x: &Tensor, w: &Window3, ceil: bool, op: &str) -> Result<TensorMeta, OpError> {
    let m = meta_of(x)?;
    let (mut sizes, spatial) = split_volume(&m, op)?;
    let out: Vec<SymInt> = (0..3)
        .map(|i| {
            let [k, s, p, d] = [w.k[i], w.s[i], w.p[i], w.d[i]].map(|v| v as i64);
            pooled(&spatial[i], k, s, p, d, ceil)
        })
        .collect();
    if out.iter().any(|o| o.hint() <= 0) {
        op_bail!(
            "Given input size: ({}x{}x{}x{}). Calculated output size: ({}x{}x{}x{}). Output size is too small",
            sizes[sizes.len() - 1],
            spatial[0],
            spatial[1],
            spatial[2],
            sizes[sizes.len() - 1],
            out[0],
            out[1],
            out[2]
        );
    }
    sizes.extend(out);
    Ok(TensorMeta::new(m.dtype, sizes))
}

/// The volumes of a call: `[D, H, W]` in, `[OD, OH, OW]` out.
#[derive(Clone, Copy)]
struct Volumes {
    count: usize,
    input: [usize; 3],
    output: [usize; 3],
}

impl Volumes {
    fn of(x: &Storage, out_shape: &[usize], op: &str) -> Result<Volumes, OpError> {
        let (xs, r) = (x.shape(), x.shape().len());
        if r < 3 || out_shape.len() != r {
            op_bail!("{op}: expected input and output of one rank (at least 3)");
        }
        let count = xs[..r - 3].iter().product();
        let len = |s: &[usize]| s.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        if len(out_shape).is_none() {
            op_bail!("{op}: the output size overflows");
        }
        Ok(Volumes {
            count,
            input: [xs[r - 3], xs[r - 2], xs[r - 1]],
            output: [out_shape[r - 3], out_shape[r - 2], out_shape[r - 1]],
        })
    }
}

/// A per-volume computation: `(input, output, indices)` (`indices` empty unless asked).
type VolumeFn<'a> = dyn Fn(&[f64], &mut [f64], &mut [i64]) + 'a;

/// Runs `f(volume_in, volume_out)` over every volume, on a row-major f64 copy of `x`,
/// into storages of `x`'s float type (`indices`: also an i64 result per output, which
/// `f` writes).
fn per_volume(
    x: &Storage,
    out_shape: &[usize],
    op: &str,
    with_indices: bool,
    f: &VolumeFn,
) -> Result<Vec<Storage>, OpError> {
    let v = Volumes::of(x, out_shape, op)?;
    let (in_len, out_len) = (v.input.iter().product::<usize>(), v.output.iter().product());
    let total = v.count.saturating_mul(out_len);
    let mut out = ferrex_kernels::try_filled(total, 0f64).map_err(|e| OpError(e.0))?;
    let index_len = if with_indices { total } else { 0 };
    let mut indices = ferrex_kernels::try_filled(index_len, 0i64).map_err(|e| OpError(e.0))?;
    let values = with_float_dtype!(x.dtype(), op, T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src: Vec<f64> = a.iter().map(|v| v.to_f64()).collect();
        let mut none = [0i64; 0];
        for (i, dst) in out.chunks_exact_mut(out_len.max(1)).enumerate() {
            let at = &src[i * in_len..(i + 1) * in_len];
            let idx = match with_indices {
                true => &mut indices[i * out_len..(i + 1) * out_len],
                false => &mut none[..],
            };
            f(at, dst, idx);
        }
        let data: Vec<T> = out.into_iter().map(T::from_f64).collect();
        Storage::from_vec(out_shape, data).ok_or_else(|| OpError(format!("{op}: output shape")))?
    });
    let mut results = vec![values];
    if with_indices {
        let i = Storage::from_vec(out_shape, indices);
        results.push(i.ok_or_else(|| OpError(format!("{op}: output shape")))?);
    }
    Ok(results)
}

/// The input positions (`None` in the padding) of window `o` along one dim.
fn taps(o: usize, w: &Window3, dim: usize, size: usize) -> impl Iterator<Item = usize> + '_ {
    (0..w.k[dim]).filter_map(move |t| {
        let at = (o * w.s[dim] + t * w.d[dim]).checked_sub(w.p[dim])?;
        (at < size).then_some(at)
    })
}

/// Every output position of a volume, `(z, y, x)` in row-major order.
fn positions(out: [usize; 3]) -> impl Iterator<Item = [usize; 3]> {
    let [od, oh, ow] = out;
    (0..od).flat_map(move |z| (0..oh).flat_map(move |y| (0..ow).map(move |x| [z, y, x])))
}

// ---------------------------------------------------------------------------------------
// max_pool3d, max_pool3d_with_indices

fn max_pool3d_window(a: &MaxPool3d, op: &str) -> Result<Window3, OpError> {
    window3(&a.kernel_size, &a.stride, &a.padding, &a.dilation, op)
}

fn max_pool3d_meta(a: &MaxPool3d, indices: bool) -> Result<Vec<TensorMeta>, OpError> {
    let op = ["max_pool3d", "max_pool3d_with_indices"][usize::from(indices)];
    let m = pool3d_meta(&a.self_, &max_pool3d_window(a, op)?, a.ceil_mode, op)?;
    let mut out = vec![m.clone()];
    if indices {
        out.push(TensorMeta::new(DType::I64, m.sizes));
    }
    Ok(out)
}

/// The maximum of each window and its flat position in the volume, as ATen's CPU
/// kernel: the first tap inside the input is the starting index, a value greater than
/// the best so far or a NaN takes over.
fn max_pool3d_kernel(
    a: &MaxPool3d,
    metas: &[TensorMeta],
    indices: bool,
) -> Result<Vec<Storage>, OpError> {
    let op = ["max_pool3d", "max_pool3d_with_indices"][usize::from(indices)];
    let w = max_pool3d_window(a, op)?;
    let x = a.self_.storage_or_op_error()?;
    let shape = result_shape(metas)?;
    let v = Volumes::of(&x, &shape, op)?;
    let [d, h, wd] = v.input;
    per_volume(&x, &shape, op, indices, &|src, dst, idx| {
        for (k, [z, y, c]) in positions(v.output).enumerate() {
            let mut best = (f64::NEG_INFINITY, None);
            for iz in taps(z, &w, 0, d) {
                for iy in taps(y, &w, 1, h) {
                    for ix in taps(c, &w, 2, wd) {
                        let at = (iz * h + iy) * wd + ix;
                        let val = src[at];
                        best.1 = best.1.or(Some(at));
                        if val > best.0 || val.is_nan() {
                            best = (val, Some(at));
                        }
                    }
                }
            }
            dst[k] = best.0;
            if let Some(i) = idx.get_mut(k) {
                *i = best.1.map_or(0, |at| at as i64);
            }
        }
    })
}

/// `max_pool3d` → `max_pool3d_with_indices(...)[0]`, same arguments.
fn max_pool3d_decomposition(a: &MaxPool3d) -> Result<Vec<Tensor>, OpError> {
    let window = [&a.kernel_size[..], &a.stride, &a.padding, &a.dilation];
    Ok(max_values(
        &MAX_POOL3D_WITH_INDICES,
        &a.self_,
        window,
        a.ceil_mode,
    ))
}

op_def! {
    pub static MAX_POOL3D: struct MaxPool3d =
        "aten::max_pool3d(Tensor self, int[3] kernel_size, int[3] stride=[], int[3] padding=0, int[3] dilation=1, bool ceil_mode=False) -> Tensor" {
        meta: |a: &MaxPool3d| max_pool3d_meta(a, false),
        kernel: |a: &MaxPool3d, m: &[TensorMeta]| max_pool3d_kernel(a, m, false),
        decomposition: max_pool3d_decomposition,
        lowering: |a: &MaxPool3d<_>| Lowering::lanes_along(&a.self_, &VOLUME),
    }
    /// In PyTorch's Core ATen opset; the indices are flat positions in each input volume.
    pub static MAX_POOL3D_WITH_INDICES: MaxPool3d =
        "aten::max_pool3d_with_indices(Tensor self, int[3] kernel_size, int[3] stride=[], int[3] padding=0, int[3] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)" {
        meta: |a: &MaxPool3d| max_pool3d_meta(a, true),
        kernel: |a: &MaxPool3d, m: &[TensorMeta]| max_pool3d_kernel(a, m, true),
        lowering: |a: &MaxPool3d<_>| Lowering::lanes_along(&a.self_, &VOLUME),
        output0: MAX_POOL3D,
    }
}

// ---------------------------------------------------------------------------------------
// avg_pool3d

fn avg_pool3d_window(a: &AvgPool3d) -> Result<Window3, OpError> {
    window3(&a.kernel_size, &a.stride, &a.padding, &[1], "avg_pool3d")
}

fn avg_pool3d_meta(a: &AvgPool3d) -> Result<Vec<TensorMeta>, OpError> {
    if a.divisor_override == Some(0) {
        op_bail!("divisor must be not zero");
    }
    let w = avg_pool3d_window(a)?;
    Ok(vec![pool3d_meta(&a.self_, &w, a.ceil_mode, "avg_pool3d")?])
}

/// Each window's mean, as ATen's CPU kernel divides it: by `divisor_override`, else by
/// the window clipped to the padded input (`count_include_pad`) or to the input.
fn avg_pool3d_kernel(a: &AvgPool3d, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let w = avg_pool3d_window(a)?;
    let x = a.self_.storage_or_op_error()?;
    let shape = result_shape(metas)?;
    let v = Volumes::of(&x, &shape, "avg_pool3d")?;
    let [d, h, wd] = v.input;
    per_volume(&x, &shape, "avg_pool3d", false, &|src, dst, _| {
        for (k, o) in positions(v.output).enumerate() {
            // The window's extent clipped to the padded input, then to the input.
            let mut padded = 1usize;
            let mut inside = 1usize;
            for (dim, &size) in v.input.iter().enumerate() {
                let start = o[dim] * w.s[dim];
                let end = (start + w.k[dim]).min(size + 2 * w.p[dim]);
                padded *= end.saturating_sub(start);
                inside *= taps(o[dim], &w, dim, size).count();
            }
            let mut sum = 0.0;
            for iz in taps(o[0], &w, 0, d) {
                for iy in taps(o[1], &w, 1, h) {
                    for ix in taps(o[2], &w, 2, wd) {
                        sum += src[(iz * h + iy) * wd + ix];
                    }
                }
            }
            let divisor = match (a.divisor_override, a.count_include_pad) {
                (Some(n), _) => n as f64,
                (None, true) => padded as f64,
                (None, false) => inside as f64,
            };
            dst[k] = if inside == 0 { 0.0 } else { sum / divisor };
        }
    })
}

op_def! {
    /// In PyTorch's Core ATen opset.
    pub static AVG_POOL3D: struct AvgPool3d =
        "aten::avg_pool3d(Tensor self, int[3] kernel_size, int[3] stride=[], int[3] padding=0, bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None) -> Tensor" {
        meta: avg_pool3d_meta,
        kernel: avg_pool3d_kernel,
        lowering: |a: &AvgPool3d<_>| Lowering::lanes_along(&a.self_, &VOLUME),
    }
}

// ---------------------------------------------------------------------------------------
// adaptive_avg_pool3d

fn adaptive3d_meta(a: &AdaptiveAvgPool3d) -> Result<Vec<TensorMeta>, OpError> {
    let op = "adaptive_avg_pool3d";
    let m = meta_of(&a.self_)?;
    let (mut sizes, _) = split_volume(&m, op)?;
    if a.output_size.len() != 3 {
        op_bail!("{op}: output_size must be 3");
    }
    if a.output_size.iter().any(|s| s.hint() < 0) {
        op_bail!(
            "{op}: elements of output_size must be greater than or equal to 0 but received {}",
            format_sizes(&a.output_size)
        );
    }
    sizes.extend(a.output_size.iter().cloned());
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// Each adaptive window's mean (ATen's windows, [`adaptive_window`] per dim).
fn adaptive3d_kernel(a: &AdaptiveAvgPool3d, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let op = "adaptive_avg_pool3d";
    let x = a.self_.storage_or_op_error()?;
    let shape = result_shape(metas)?;
    let v = Volumes::of(&x, &shape, op)?;
    let [d, h, wd] = v.input;
    let [od, oh, ow] = v.output;
    per_volume(&x, &shape, op, false, &|src, dst, _| {
        for (k, [z, y, c]) in positions(v.output).enumerate() {
            let (zs, ys, xs) = (
                adaptive_window(z, d, od),
                adaptive_window(y, h, oh),
                adaptive_window(c, wd, ow),
            );
            let count = zs.len() * ys.len() * xs.len();
            let mut sum = 0.0;
            for iz in zs {
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        sum += src[(iz * h + iy) * wd + ix];
                    }
                }
            }
            dst[k] = sum / count.max(1) as f64;
        }
    })
}

op_def! {
    pub static ADAPTIVE_AVG_POOL3D: struct AdaptiveAvgPool3d =
        "aten::adaptive_avg_pool3d(Tensor self, SymInt[3] output_size) -> Tensor" {
        meta: adaptive3d_meta,
        kernel: adaptive3d_kernel,
        lowering: |a: &AdaptiveAvgPool3d<_>| Lowering::lanes_along(&a.self_, &VOLUME),
        decomposition: |a: &AdaptiveAvgPool3d| Ok(Tensor::call_op(
            &_ADAPTIVE_AVG_POOL3D,
            vec![Value::Tensor(a.self_.clone()), Value::IntList(a.output_size.clone())],
        )),
    }
    /// In PyTorch's Core ATen opset: what `adaptive_avg_pool3d` decomposes to.
    pub static _ADAPTIVE_AVG_POOL3D: AdaptiveAvgPool3d =
        "aten::_adaptive_avg_pool3d(Tensor self, SymInt[3] output_size) -> Tensor" {
        meta: adaptive3d_meta,
        kernel: adaptive3d_kernel,
        lowering: |a: &AdaptiveAvgPool3d<_>| Lowering::lanes_along(&a.self_, &VOLUME),
    }
}
