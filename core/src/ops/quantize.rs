//! Fake quantization, as quantization-aware training leaves it in an exported model:
//! `fake_quantize_per_tensor_affine` (a scale and zero point, as numbers or as tensors),
//! `fake_quantize_per_channel_affine` (one pair per index along `axis`), and the forms
//! PyTorch's core IR keeps, which also return the mask of the values inside the grid
//! (`…_cachemask`). Each value becomes `(clamp(z + round(x / s), qmin, qmax) - z) · s`
//! with ATen's CPU arithmetic: `x · (1 / s)` in the input's precision and `1 / s` in f32,
//! rounded half to even; a per-channel value that does not fit an `i64` (NaN, ±∞) goes to
//! `qmin`, as x86's conversion leaves it.

use super::lowering::Lowering;
use super::op_def;
use super::util::{first_result, meta_of, normalize_dim};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// A call's quantization grid, `qmin..=qmax`.
#[derive(Clone, Copy)]
struct Grid {
    qmin: i64,
    qmax: i64,
}

impl Grid {
    /// ATen's checks of the grid and of zero points in it.
    fn new(qmin: i64, qmax: i64, zero_points: &[i64]) -> Result<Grid, OpError> {
        if qmin > qmax {
            op_bail!("`quant_min` should be less than or equal to `quant_max`.");
        }
        if zero_points.iter().any(|z| !(qmin..=qmax).contains(z)) {
            op_bail!("`zero_point` must be between `quant_min` and `quant_max`.");
        }
        Ok(Grid { qmin, qmax })
    }

    /// One value per tensor (ATen's `_fake_quantize_tensor_helper`): `qf = z + round(x ·
    /// inv)` in the input's precision, clamped in f64, the product `(q - z) · s` in f32;
    /// and whether `qf` is inside the grid.
    fn per_tensor<T: Quantized>(&self, x: T, [scale, inv]: [f32; 2], z: i64) -> (T, bool) {
        let qf = x.shifted(inv, z);
        let q = qf.max(self.qmin as f64).min(self.qmax as f64) as i64;
        let out = T::from_f32((q.wrapping_sub(z)) as f32 * scale);
        (out, T::bound(self.qmin) <= qf && qf <= T::bound(self.qmax))
    }

    /// One value per channel (ATen's `fake_quant_per_channel_cachemask_cpu`): `qf` as
    /// above converted to an `i64` first (x86's conversion: what does not fit is
    /// `i64::MIN`), then `(clamp(q) - z) · s` in f64.
    fn per_channel<T: Quantized>(&self, x: T, [scale, inv]: [f32; 2], z: i64) -> (T, bool) {
        let qf = x.shifted(inv, z);
        // `i64::MIN as f64` is -2^63 exactly; 2^63 is the first value past `i64::MAX`.
        let fits = qf >= i64::MIN as f64 && qf < 9_223_372_036_854_775_808.0;
        let q = if fits { qf as i64 } else { i64::MIN };
        let clamped = q.clamp(self.qmin, self.qmax);
        let out = T::from_f64((clamped as f64 - z as f64) * f64::from(scale));
        (out, self.qmin <= q && q <= self.qmax)
    }
}

/// The float types fake quantization takes, with the precision ATen computes each step
/// in for them.
trait Quantized: Copy {
    /// `z + round(x · inv)` in this type's precision, as an f64.
    fn shifted(self, inv: f32, z: i64) -> f64;
    /// A grid bound as this type compares it (`i64` converted to it).
    fn bound(q: i64) -> f64;
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
}

impl Quantized for f32 {
    fn shifted(self, inv: f32, z: i64) -> f64 {
        f64::from(z as f32 + (self * inv).round_ties_even())
    }
    fn bound(q: i64) -> f64 {
        f64::from(q as f32)
    }
    fn from_f32(v: f32) -> f32 {
        v
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

impl Quantized for f64 {
    fn shifted(self, inv: f32, z: i64) -> f64 {
        z as f64 + (self * f64::from(inv)).round_ties_even()
    }
    fn bound(q: i64) -> f64 {
        q as f64
    }
    fn from_f32(v: f32) -> f64 {
        f64::from(v)
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
}

/// The output and mask metas: the input's sizes, its float dtype and bool.
fn fake_quantize_metas(x: &Tensor, mask: bool) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    if !matches!(m.dtype, DType::F32 | DType::F64) {
        op_bail!(
            "fake_quantize: expected a float32 or float64 input, got {}",
            m.dtype
        );
    }
    let mut metas = vec![m.clone()];
    if mask {
        metas.push(TensorMeta::new(DType::Bool, m.sizes));
    }
    Ok(metas)
}

/// How each element of a call is fake-quantized: per tensor (one scale and zero point)
/// or per channel (those of the element's index along the axis).
enum Quantizer {
    PerTensor {
        grid: Grid,
        scale: [f32; 2],
        z: i64,
    },
    PerChannel {
        grid: Grid,
        /// Per channel: the scale and its inverse, and the zero point.
        params: Vec<([f32; 2], i64)>,
        /// The elements after the axis (a channel's run).
        inner: usize,
    },
}

impl Quantizer {
    /// Element `k` (row-major) of value `x`, fake-quantized, and whether it is inside
    /// the grid.
    fn at<T: Quantized>(&self, x: T, k: usize) -> (T, bool) {
        match self {
            Quantizer::PerTensor { grid, scale, z } => grid.per_tensor(x, *scale, *z),
            Quantizer::PerChannel {
                grid,
                params,
                inner,
            } => {
                let (scale, z) = params[(k / (*inner).max(1)) % params.len().max(1)];
                grid.per_channel(x, scale, z)
            }
        }
    }

    /// `s` fake-quantized, and the mask of its elements inside the grid.
    fn run(&self, s: &Storage) -> Result<Vec<Storage>, OpError> {
        match s.dtype() {
            DType::F32 => self.each::<f32>(s),
            _ => self.each::<f64>(s),
        }
    }

    fn each<T: Quantized + Element>(&self, s: &Storage) -> Result<Vec<Storage>, OpError> {
        let (out, mask): (Vec<T>, Vec<bool>) = (s.to_vec::<T>().into_iter())
            .enumerate()
            .map(|(k, v)| self.at(v, k))
            .unzip();
        let stored =
            |s: Option<Storage>| s.ok_or_else(|| OpError::new("fake_quantize: result shape"));
        Ok(vec![
            stored(Storage::from_vec(s.shape(), out))?,
            stored(Storage::from_vec(s.shape(), mask))?,
        ])
    }
}

/// Per tensor: `scale` as ATen's kernel takes it (f32) and its inverse.
fn per_tensor_kernel(
    x: &Tensor,
    scale: f64,
    z: i64,
    [qmin, qmax]: [i64; 2],
) -> Result<Vec<Storage>, OpError> {
    let grid = Grid::new(qmin, qmax, &[z])?;
    let scale = scale as f32;
    let scale = [scale, 1.0 / scale];
    Quantizer::PerTensor { grid, scale, z }.run(&x.storage_or_op_error()?)
}

/// The single value of a per-tensor parameter given as a tensor.
fn item(t: &Tensor, what: &str) -> Result<f64, OpError> {
    let s = t.storage_or_op_error()?;
    if s.len() != 1 {
        op_bail!("fake_quantize: expected one {what}, got {:?}", s.shape());
    }
    Ok(s.to_vec::<f64>()[0])
}

/// The per-channel parameters, one per index along `axis`: scales (f32) and integer
/// zero points.
fn per_channel_kernel(a: &PerChannel) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let axis = normalize_dim(a.axis, s.shape().len())?;
    let (scales, zs) = (
        a.scale.storage_or_op_error()?,
        a.zero_point.storage_or_op_error()?,
    );
    if zs.dtype().is_float() {
        op_bail!("fake_quantize_per_channel_affine: float zero points are not supported yet");
    }
    let (scales, zs) = (scales.to_vec::<f32>(), zs.to_vec::<i64>());
    let grid = Grid::new(a.quant_min, a.quant_max, &zs)?;
    // One scale and zero point per index along `axis`.
    let Some(&size) = s.shape().get(axis) else {
        op_bail!("fake_quantize_per_channel_affine: the input has no dim {axis}");
    };
    if scales.len() != size || zs.len() != size {
        op_bail!("fake_quantize_per_channel_affine: expected {size} scales and zero points, got {} and {}", scales.len(), zs.len());
    }
    let inner: usize = s.shape()[axis + 1..].iter().product();
    let params = (scales.iter().zip(zs))
        .map(|(&s, z)| ([s, 1.0 / s], z))
        .collect();
    Quantizer::PerChannel {
        grid,
        params,
        inner,
    }
    .run(&s)
}

/// ATen's checks of per-channel parameters: 1-D, one per index along `axis`.
fn per_channel_metas(a: &PerChannel, mask: bool) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let axis = usize::try_from(a.axis)
        .ok()
        .filter(|&d| d < m.rank().max(1));
    let Some(axis) = axis else {
        op_bail!("`axis` must be between 0 and number of dimensions of input");
    };
    for (t, what) in [(&a.scale, "scale"), (&a.zero_point, "zero_point")] {
        let p = meta_of(t)?;
        if p.rank() != 1 || m.sizes.get(axis).is_none_or(|n| !p.sizes[0].sym_eq(n)) {
            op_bail!(
                "dimensions of {what} and input must match along `axis`: expected [{}], got {}",
                m.sizes.get(axis).map_or("1".into(), |n| n.to_string()),
                crate::symbolic::format_sizes(&p.sizes)
            );
        }
    }
    if meta_of(&a.scale)?.dtype != DType::F32 {
        op_bail!("Scale must be Float, found {}", meta_of(&a.scale)?.dtype);
    }
    fake_quantize_metas(&a.self_, mask)
}

/// Each value alone: a planned step of the kernel along no dim (per tensor), or along
/// the channels' axis (per channel).
fn per_tensor_lowering<T: Clone>(x: &T) -> Result<Lowering<T>, OpError> {
    Lowering::lanes_along(x, &[])
}

/// `op(args)[0]`: the output of a `_cachemask` form.
fn output_of(op: &'static super::OpDef, args: Vec<Value>) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![first_result(
        Tensor::call_op(op, args),
        op.name().as_str(),
    )?])
}

op_def! {
    /// What PyTorch's core IR keeps: the output and the mask.
    pub static FAKE_QUANTIZE_PER_TENSOR_AFFINE_CACHEMASK: struct PerTensor =
        "aten::fake_quantize_per_tensor_affine_cachemask(Tensor self, float scale, int zero_point, int quant_min, int quant_max) -> (Tensor output, Tensor mask)" {
        meta: |a: &PerTensor| fake_quantize_metas(&a.self_, true),
        kernel: |a: &PerTensor, _: &[TensorMeta]| {
            per_tensor_kernel(&a.self_, a.scale, a.zero_point, [a.quant_min, a.quant_max])
        },
        lowering: |a: &PerTensor<_>| per_tensor_lowering(&a.self_),
    }
    pub static FAKE_QUANTIZE_PER_TENSOR_AFFINE: PerTensor =
        "aten::fake_quantize_per_tensor_affine(Tensor self, float scale, int zero_point, int quant_min, int quant_max) -> Tensor" {
        meta: |a: &PerTensor| fake_quantize_metas(&a.self_, false),
        kernel: |a: &PerTensor, _: &[TensorMeta]| {
            let mut out = per_tensor_kernel(&a.self_, a.scale, a.zero_point, [a.quant_min, a.quant_max])?;
            out.truncate(1);
            Ok(out)
        },
        decomposition: |a: &PerTensor| output_of(&FAKE_QUANTIZE_PER_TENSOR_AFFINE_CACHEMASK, vec![
            Value::Tensor(a.self_.clone()),
            Value::Float(a.scale),
            Value::Int(a.zero_point.into()),
            Value::Int(a.quant_min.into()),
            Value::Int(a.quant_max.into()),
        ]),
        lowering: |a: &PerTensor<_>| per_tensor_lowering(&a.self_),
    }
    /// The core IR's form of the tensor parameters, with a switch (`fake_quant_enabled`
    /// 0 passes the input through, with a mask of ones).
    pub static FAKE_QUANTIZE_PER_TENSOR_AFFINE_CACHEMASK_TENSOR_QPARAMS: struct PerTensorQparams =
        "aten::_fake_quantize_per_tensor_affine_cachemask_tensor_qparams(Tensor self, Tensor scale, Tensor zero_point, Tensor fake_quant_enabled, int quant_min, int quant_max) -> (Tensor output, Tensor mask)" {
        meta: |a: &PerTensorQparams| fake_quantize_metas(&a.self_, true),
        kernel: |a: &PerTensorQparams, _: &[TensorMeta]| {
            if item(&a.fake_quant_enabled, "switch")? == 0.0 {
                let s = a.self_.storage_or_op_error()?;
                let ones = Storage::full(s.shape(), 1.0, DType::Bool);
                return Ok(vec![s, ones]);
            }
            let z = item(&a.zero_point, "zero point")? as i64;
            per_tensor_kernel(&a.self_, item(&a.scale, "scale")?, z, [a.quant_min, a.quant_max])
        },
        lowering: |a: &PerTensorQparams<_>| per_tensor_lowering(&a.self_),
    }
    pub static FAKE_QUANTIZE_PER_TENSOR_AFFINE_TENSOR_QPARAMS: struct PerTensorTensors =
        "aten::fake_quantize_per_tensor_affine.tensor_qparams(Tensor self, Tensor scale, Tensor zero_point, int quant_min, int quant_max) -> Tensor" {
        meta: |a: &PerTensorTensors| fake_quantize_metas(&a.self_, false),
        kernel: |a: &PerTensorTensors, _: &[TensorMeta]| {
            let z = item(&a.zero_point, "zero point")? as i64;
            let mut out = per_tensor_kernel(&a.self_, item(&a.scale, "scale")?, z, [a.quant_min, a.quant_max])?;
            out.truncate(1);
            Ok(out)
        },
        // PyTorch's decomposition: the switch on (`full([1], 1)`).
        decomposition: |a: &PerTensorTensors| output_of(&FAKE_QUANTIZE_PER_TENSOR_AFFINE_CACHEMASK_TENSOR_QPARAMS, vec![
            Value::Tensor(a.self_.clone()),
            Value::Tensor(a.scale.clone()),
            Value::Tensor(a.zero_point.clone()),
            Value::Tensor(Tensor::full([1], 1i64)),
            Value::Int(a.quant_min.into()),
            Value::Int(a.quant_max.into()),
        ]),
        lowering: |a: &PerTensorTensors<_>| per_tensor_lowering(&a.self_),
    }
    /// What PyTorch's core IR keeps: the output and the mask.
    pub static FAKE_QUANTIZE_PER_CHANNEL_AFFINE_CACHEMASK: struct PerChannel =
        "aten::fake_quantize_per_channel_affine_cachemask(Tensor self, Tensor scale, Tensor zero_point, int axis, int quant_min, int quant_max) -> (Tensor output, Tensor mask)" {
        meta: |a: &PerChannel| per_channel_metas(a, true),
        kernel: |a: &PerChannel, _: &[TensorMeta]| per_channel_kernel(a),
        lowering: |a: &PerChannel<_>| Lowering::lanes_along(&a.self_, &[a.axis]),
    }
    pub static FAKE_QUANTIZE_PER_CHANNEL_AFFINE: PerChannel =
        "aten::fake_quantize_per_channel_affine(Tensor self, Tensor scale, Tensor zero_point, int axis, int quant_min, int quant_max) -> Tensor" {
        meta: |a: &PerChannel| per_channel_metas(a, false),
        kernel: |a: &PerChannel, _: &[TensorMeta]| {
            let mut out = per_channel_kernel(a)?;
            out.truncate(1);
            Ok(out)
        },
        decomposition: |a: &PerChannel| output_of(&FAKE_QUANTIZE_PER_CHANNEL_AFFINE_CACHEMASK, vec![
            Value::Tensor(a.self_.clone()),
            Value::Tensor(a.scale.clone()),
            Value::Tensor(a.zero_point.clone()),
            Value::Int(a.axis.into()),
            Value::Int(a.quant_min.into()),
            Value::Int(a.quant_max.into()),
        ]),
        lowering: |a: &PerChannel<_>| Lowering::lanes_along(&a.self_, &[a.axis]),
    }
}

#[cfg(test)]
mod tests {
    use super::Grid;

    /// PyTorch 2.15's values (`torch.fake_quantize_per_tensor_affine(x, 0.1, 3, -128,
    /// 127)` and the per-channel form with the same parameters on every channel, f32
    /// and f64): ties to even, NaN to `qmin`, ±1e30 clamped per tensor but `qmin` per
    /// channel (x86's conversion).
    #[test]
    fn values_are_pytorchs() {
        let x: [f32; 9] = [
            0.25,
            0.35,
            -0.05,
            f32::NAN,
            1e30,
            -1e30,
            0.149999,
            12.8,
            12.9,
        ];
        let grid = Grid::new(-128, 127, &[3]).unwrap();
        let s = [0.1f32, 1.0 / 0.1f32];
        let per_tensor: Vec<f32> = x.iter().map(|&v| grid.per_tensor(v, s, 3).0).collect();
        // 124 · 0.1 in f32 is 12.400001, PyTorch's value.
        let want = [
            0.2f32, 0.4, 0.0, -13.1, 12.400001, -13.1, 0.1, 12.400001, 12.400001,
        ];
        assert_eq!(per_tensor, want);
        let per_channel: Vec<f32> = x.iter().map(|&v| grid.per_channel(v, s, 3).0).collect();
        let want = [
            0.2f32, 0.4, 0.0, -13.1, -13.1, -13.1, 0.1, 12.400001, 12.400001,
        ];
        assert_eq!(per_channel, want);
        let f64s: Vec<f64> = (x.iter())
            .map(|&v| grid.per_channel(f64::from(v), s, 3).0)
            .collect();
        let (a, b, c) = (-13.100000195205212, 0.10000000149011612, 12.400000184774399);
        let want64 = [2.0 * b, 0.30000000447034836, -b, a, a, a, b, c, c];
        assert_eq!(f64s, want64);
        // The mask: inside the grid before clamping.
        let masks: Vec<bool> = x.iter().map(|&v| grid.per_tensor(v, s, 3).1).collect();
        assert_eq!(
            masks,
            [true, true, true, false, false, false, true, false, false]
        );
        assert!(Grid::new(5, 4, &[]).is_err());
        assert!(Grid::new(-128, 127, &[200]).is_err());
    }
}
