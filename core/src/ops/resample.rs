//! Resampling ops written over `pooling.rs`'s: `nearest-exact` interpolation (PyTorch's
//! decomposition: source indices `floor((i + 0.5) · scale)` read by one `index`),
//! trilinear interpolation (bilinear over each depth plane, then linear along the
//! depth: linear interpolation is separable), `max_unpool2d` (the values written back at
//! their indices) and `adaptive_max_pool1d` (the 2-D pooling of a height-1 plane).

use super::op_def;
use super::util::meta_of;
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Tensor, TensorMeta};

/// The output sizes of an `nd`-D upsampling of `m` (`[N, C, *spatial]`), from exactly
/// one of `output_size` and `scale_factors` (`floor(size · factor)`), and the factors.
fn resampled(
    m: &TensorMeta,
    nd: usize,
    output_size: &Option<Vec<SymInt>>,
    scale_factors: &Option<Vec<f64>>,
    op: &str,
) -> Result<(Vec<SymInt>, Option<Vec<f64>>), OpError> {
    if m.rank() != nd + 2 {
        op_bail!(
            "{op}: Expected a {}D input tensor, but got {}",
            nd + 2,
            format_sizes(&m.sizes)
        );
    }
    let spatial = &m.sizes[2..];
    let out = match (output_size, scale_factors) {
        (Some(o), None) if o.len() == nd => o.clone(),
        (None, Some(s)) if s.len() == nd => {
            let mut out = Vec::with_capacity(nd);
            for (size, &f) in spatial.iter().zip(s) {
                if !(f.is_finite() && f > 0.0) {
                    op_bail!("{op}: scale factors must be positive, got {s:?}");
                }
                match size {
                    SymInt::Int(n) => out.push(SymInt::Int((*n as f64 * f).floor() as i64)),
                    s => op_bail!("{op}: a scale factor of the dynamic size {s} is not supported; give output_size"),
                }
            }
            out
        }
        _ => op_bail!("{op}: give exactly one of output_size and scale_factors, with {nd} values"),
    };
    if out.iter().any(|s| s.hint() <= 0) || spatial.iter().any(|s| s.hint() <= 0) {
        op_bail!(
            "{op}: Input and output sizes should be greater than 0, but got input {} and output {}",
            format_sizes(spatial),
            format_sizes(&out)
        );
    }
    let mut sizes = m.sizes[..2].to_vec();
    sizes.extend(out.iter().cloned());
    Ok((sizes, scale_factors.clone()))
}

fn float_input(m: &TensorMeta, op: &str) -> Result<(), OpError> {
    if !m.dtype.is_float() {
        op_bail!("\"{op}\" not implemented for '{}'", m.dtype);
    }
    Ok(())
}

/// The source index of each output index along one dim: `floor((i + 0.5) · scale)`,
/// `scale` being `1 / factor` when a factor was given, else `in / out` (in f32, as
/// PyTorch's decomposition computes it).
fn exact_indices(input: &SymInt, output: &SymInt, factor: Option<f64>) -> Tensor {
    let scale = match factor {
        Some(f) => 1.0 / f,
        None => input.hint() as f64 / output.hint() as f64,
    };
    let i = Tensor::arange(output.clone()).to_dtype(DType::F32);
    let last = (input.hint() - 1).max(0) as f64;
    let src = i.add(0.5).mul(scale).floor();
    src.clamp(None, Some(last)).to_dtype(DType::I64)
}

/// A nearest-exact call, checked: the input's meta, the output sizes, the factors.
struct ExactPlan {
    input: TensorMeta,
    sizes: Vec<SymInt>,
    factors: Option<Vec<f64>>,
}

impl NearestExactVec {
    fn plan(&self, nd: usize) -> Result<ExactPlan, OpError> {
        let input = meta_of(&self.input)?;
        let op = "upsample_nearest_exact";
        let (sizes, factors) = resampled(&input, nd, &self.output_size, &self.scale_factors, op)?;
        Ok(ExactPlan {
            input,
            sizes,
            factors,
        })
    }
}

fn nearest_exact(a: &NearestExactVec, nd: usize) -> Result<Vec<Tensor>, OpError> {
    let ExactPlan {
        input: m,
        sizes,
        factors,
    } = a.plan(nd)?;
    let mut index: Vec<Option<Tensor>> = vec![None, None];
    for d in 0..nd {
        let factor = factors.as_ref().and_then(|f| f.get(d).copied());
        let mut ix = exact_indices(&m.sizes[2 + d], &sizes[2 + d], factor);
        // Broadcast the dims' indices against each other (the earlier dims outer).
        for _ in d + 1..nd {
            ix = ix.unsqueeze(-1);
        }
        index.push(Some(ix));
    }
    let refs: Vec<Option<&Tensor>> = index.iter().map(Option::as_ref).collect();
    Ok(vec![a.input.index(&refs)])
}

fn nearest_exact_meta(a: &NearestExactVec, nd: usize) -> Result<Vec<TensorMeta>, OpError> {
    let plan = a.plan(nd)?;
    Ok(vec![TensorMeta::new(plan.input.dtype, plan.sizes)])
}

fn trilinear_meta(a: &Trilinear) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.input)?;
    float_input(&m, "upsample_trilinear3d_out_frame")?;
    let (sizes, _) = resampled(
        &m,
        3,
        &a.output_size,
        &a.scale_factors,
        "upsample_trilinear3d",
    )?;
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// Bilinear over `(H, W)` with the depth as channels, then linear along the depth with
/// the planes as channels: each output is the same weighted sum of the 8 corners.
fn trilinear(a: &Trilinear) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.input)?;
    let (sizes, factors) = resampled(
        &m,
        3,
        &a.output_size,
        &a.scale_factors,
        "upsample_trilinear3d",
    )?;
    let hint = |s: &SymInt| s.hint();
    let (n, c, d) = (m.sizes[0].clone(), m.sizes[1].clone(), m.sizes[2].clone());
    let (od, oh, ow) = (hint(&sizes[2]), hint(&sizes[3]), hint(&sizes[4]));
    let nc = n.mul(&c);
    let planes = a.input.reshape([
        nc.clone(),
        d.clone(),
        m.sizes[3].clone(),
        m.sizes[4].clone(),
    ]);
    let hw_factors = factors.as_ref().map(|f| [f[1], f[2]]);
    let hw = planes.upsample_bilinear2d(
        factors.is_none().then_some(&[oh, ow][..]),
        a.align_corners,
        hw_factors.as_ref().map(|f| &f[..]),
    );
    let along_d = hw
        .reshape([nc.clone(), d, SymInt::Int(oh * ow)])
        .permute(&[0, 2, 1]);
    let args = vec![
        Value::Tensor(along_d),
        match &factors {
            None => Value::IntList(vec![SymInt::Int(od)]),
            Some(_) => Value::None,
        },
        Value::Bool(a.align_corners),
        match &factors {
            Some(f) => Value::FloatList(vec![f[0]]),
            None => Value::None,
        },
    ];
    let deep = Tensor::call_op(&super::pooling::UPSAMPLE_LINEAR1D_VEC, args).swap_remove(0);
    let out = deep.permute(&[0, 2, 1]).reshape(sizes);
    Ok(vec![out])
}

/// `[N, C, oh, ow]` zeros with `self`'s values written at their flat plane `indices`
/// (what `max_pool2d_with_indices` returned).
fn max_unpool2d(a: &MaxUnpool2d) -> Result<Vec<Tensor>, OpError> {
    let out = max_unpool2d_meta(a)?.swap_remove(0);
    let m = meta_of(&a.self_)?;
    let lead = m.sizes[..m.rank() - 2]
        .iter()
        .fold(SymInt::Int(1), |p, s| p.mul(s));
    let plane = SymInt::Int(out.sizes[out.rank() - 2].hint() * out.sizes[out.rank() - 1].hint());
    let values = a.self_.reshape([lead.clone(), SymInt::Int(-1)]);
    let at = a.indices.reshape([lead.clone(), SymInt::Int(-1)]);
    let rows = Tensor::arange(lead.clone()).unsqueeze(1);
    let zeros = Tensor::zeros_dtype([lead, plane], m.dtype);
    let args = vec![
        Value::Tensor(zeros),
        Value::OptTensorList(vec![Some(rows), Some(at)]),
        Value::Tensor(values),
        Value::Bool(false),
    ];
    let flat = Tensor::call_op(&super::mutation::INDEX_PUT, args).swap_remove(0);
    Ok(vec![flat.reshape(out.sizes)])
}

fn max_unpool2d_meta(a: &MaxUnpool2d) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let i = meta_of(&a.indices)?;
    if m.rank() != 3 && m.rank() != 4 {
        op_bail!(
            "max_unpool2d: Expected 3D or 4D input, but got {}",
            format_sizes(&m.sizes)
        );
    }
    if i.dtype != DType::I64 || !crate::ops::util::shapes_match(&i.sizes, &m.sizes) {
        op_bail!(
            "max_unpool2d: expected indices of dtype i64 and the input's shape {}, got {} of {}",
            format_sizes(&m.sizes),
            i.dtype,
            format_sizes(&i.sizes)
        );
    }
    let [oh, ow] = &a.output_size[..] else {
        op_bail!("max_unpool2d: There should be exactly two elements (height, width) in output_size, but got {}", a.output_size.len());
    };
    if oh.hint() <= 0 || ow.hint() <= 0 {
        op_bail!("max_unpool2d: output_size must be positive, got [{oh}, {ow}]");
    }
    let mut sizes = m.sizes[..m.rank() - 2].to_vec();
    sizes.extend([oh.clone(), ow.clone()]);
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// `adaptive_max_pool2d` of a height-1 plane: the same windows along the length.
fn adaptive_max_pool1d(a: &AdaptiveMaxPool1d) -> Result<Vec<Tensor>, OpError> {
    let args = vec![
        Value::Tensor(a.self_.unsqueeze(-2)),
        Value::IntList(vec![SymInt::Int(1), SymInt::Int(a.output_size[0])]),
    ];
    let out = Tensor::call_op(&super::pooling::ADAPTIVE_MAX_POOL2D, args);
    Ok(out.iter().map(|t| t.squeeze_dim(-2)).collect())
}

fn adaptive_max_pool1d_meta(a: &AdaptiveMaxPool1d) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.rank() != 2 && m.rank() != 3 {
        op_bail!(
            "adaptive_max_pool1d: Expected 2D or 3D input, but got {}",
            format_sizes(&m.sizes)
        );
    }
    float_input(&m, "adaptive_max_pool2d")?;
    let [size] = a.output_size[..] else {
        op_bail!(
            "adaptive_max_pool1d: output_size must have 1 element, got {}",
            a.output_size.len()
        );
    };
    if size <= 0 || m.sizes[m.rank() - 1].hint() == 0 {
        op_bail!("adaptive_max_pool1d(): Expected a positive output size and a non-empty input, got {size} of {}", format_sizes(&m.sizes));
    }
    let mut sizes = m.sizes.clone();
    let last = sizes.len() - 1;
    sizes[last] = SymInt::Int(size);
    Ok(vec![
        TensorMeta::new(m.dtype, sizes.clone()),
        TensorMeta::new(DType::I64, sizes),
    ])
}

op_def! {
    /// `F.interpolate(mode="nearest-exact")` of a length.
    pub static _UPSAMPLE_NEAREST_EXACT1D_VEC: struct NearestExactVec =
        "aten::_upsample_nearest_exact1d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor" {
        meta: |a: &NearestExactVec| nearest_exact_meta(a, 1),
        composite: |a: &NearestExactVec| nearest_exact(a, 1),
    }
    pub static _UPSAMPLE_NEAREST_EXACT2D_VEC: NearestExactVec =
        "aten::_upsample_nearest_exact2d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor" {
        meta: |a: &NearestExactVec| nearest_exact_meta(a, 2),
        composite: |a: &NearestExactVec| nearest_exact(a, 2),
    }
    pub static _UPSAMPLE_NEAREST_EXACT3D_VEC: NearestExactVec =
        "aten::_upsample_nearest_exact3d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor" {
        meta: |a: &NearestExactVec| nearest_exact_meta(a, 3),
        composite: |a: &NearestExactVec| nearest_exact(a, 3),
    }
    pub static UPSAMPLE_TRILINEAR3D_VEC: struct Trilinear =
        "aten::upsample_trilinear3d.vec(Tensor input, SymInt[]? output_size, bool align_corners, float[]? scale_factors) -> Tensor" {
        meta: trilinear_meta,
        composite: trilinear,
    }
    pub static MAX_UNPOOL2D: struct MaxUnpool2d =
        "aten::max_unpool2d(Tensor self, Tensor indices, SymInt[2] output_size) -> Tensor" {
        meta: max_unpool2d_meta,
        composite: max_unpool2d,
    }
    pub static ADAPTIVE_MAX_POOL1D: struct AdaptiveMaxPool1d =
        "aten::adaptive_max_pool1d(Tensor self, int[1] output_size) -> (Tensor, Tensor)" {
        meta: adaptive_max_pool1d_meta,
        composite: adaptive_max_pool1d,
    }
}
