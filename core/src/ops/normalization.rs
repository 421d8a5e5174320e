//! Normalisation: `native_layer_norm`, `native_group_norm` and
//! `_native_batch_norm_legit_no_training` (three outputs each, as ATen returns them), and
//! the composites exported graphs keep whole — `layer_norm`, `group_norm`, `batch_norm`
//! (inference) — each with its decomposition into the native op. Statistics are
//! computed in f64 and rounded once.

use super::lowering::Lowering;
use super::op_def;
use super::util::{concrete, meta_of, shapes_match, sizes_match, with_float_dtype};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};
use ferrex_kernels::try_filled;

/// The data of a float tensor as f64, row-major.
fn f64_data(s: &Storage) -> Vec<f64> {
    s.to_f64_vec()
}

/// Builds a storage of `dtype` (a float type) from f64 values.
fn from_f64(shape: &[usize], data: Vec<f64>, dtype: DType, op: &str) -> Result<Storage, OpError> {
    Ok(with_float_dtype!(dtype, op, T => {
        let v: Vec<T> = data.into_iter().map(T::from_f64).collect();
        typed_storage(shape, v, op)?
    }))
}

/// Checks an optional per-channel (or per-element) parameter's shape and dtype.
fn check_param(
    t: Option<Tensor>,
    want: &[SymInt],
    dtype: DType,
    what: &str,
    op: &str,
) -> Result<(), OpError> {
    if let Some(t) = t {
        let m = meta_of(&t)?;
        if !shapes_match(&m.sizes, want) {
            op_bail!(
                "{op}: expected {what} of shape {}, but got {}",
                format_sizes(want),
                format_sizes(&m.sizes)
            );
        }
        if m.dtype != dtype {
            op_bail!(
                "{op}: expected {what} to have dtype {dtype}, but got {}",
                m.dtype
            );
        }
    }
    Ok(())
}

fn float_input(x: &Tensor, op: &str) -> Result<TensorMeta, OpError> {
    let m = meta_of(x)?;
    if !m.dtype.is_float() {
        op_bail!("\"{op}\" not implemented for '{}'", m.dtype);
    }
    Ok(m)
}

/// An optional parameter's data as `T` (its dtype was checked against the input's).
fn typed_param<T: Element>(t: &Option<Tensor>) -> Result<Option<Vec<T>>, OpError> {
    Ok(match t {
        Some(t) => Some(t.storage_or_op_error()?.to_vec::<T>()),
        None => None,
    })
}

/// A norm's input data as `T`: in place when it is contiguous `T` (the storage held in
/// `typed`), else one copy (held in `copied`: a transposed input).
fn data_of<'a, T: Element>(
    x: &Storage,
    typed: &'a mut Option<ndarray::ArcArray<T, ndarray::IxDyn>>,
    copied: &'a mut Vec<T>,
) -> &'a [T] {
    *typed = T::unwrap(x.clone()).filter(|a| a.is_standard_layout());
    match typed {
        Some(a) => a.as_slice().unwrap_or_default(),
        None => {
            *copied = x.to_vec::<T>();
            copied
        }
    }
}

/// A storage of row-major `data` in `shape`.
fn typed_storage<T: Element>(shape: &[usize], data: Vec<T>, op: &str) -> Result<Storage, OpError> {
    Storage::from_vec(shape, data).ok_or_else(|| OpError(format!("{op}: output shape")))
}

fn opt_data(t: &Option<Tensor>) -> Result<Option<Vec<f64>>, OpError> {
    Ok(match t {
        Some(t) => Some(f64_data(&t.storage_or_op_error()?)),
        None => None,
    })
}

// ---------------------------------------------------------------------------------------
// native_layer_norm / layer_norm

/// Output metas of `native_layer_norm` (the arguments `layer_norm` shares).
fn layer_norm_metas(
    x: &Tensor,
    shape: &[SymInt],
    weight: &Option<Tensor>,
    bias: &Option<Tensor>,
) -> Result<Vec<TensorMeta>, OpError> {
    let m = float_input(x, "native_layer_norm")?;
    let k = shape.len();
    let fits = k <= m.rank()
        && m.sizes[m.rank() - k..]
            .iter()
            .zip(shape)
            .all(|(a, b)| sizes_match(a, b));
    if k == 0 || !fits {
        op_bail!(
            "Given normalized_shape={}, expected input with shape [*, {}], but got input of size{}",
            format_sizes(shape),
            format_sizes(shape).trim_matches(['[', ']']),
            format_sizes(&m.sizes)
        );
    }
    check_param(weight.clone(), shape, m.dtype, "weight", "layer_norm")?;
    check_param(bias.clone(), shape, m.dtype, "bias", "layer_norm")?;
    let mut stat = m.sizes[..m.rank() - k].to_vec();
    stat.extend(std::iter::repeat_n(SymInt::Int(1), k));
    let stat = TensorMeta::new(m.dtype, stat);
    Ok(vec![m, stat.clone(), stat])
}

/// `native_layer_norm`'s three results into `metas` (its meta's), on the data's own
/// dtype: the kernel (the one the compiled runtime's layer-norm step calls) keeps its
/// statistics in f64 and rounds once, so f32 data gives what f64 data rounded would.
fn layer_norm_storages(a: &NativeLayerNorm, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.input.storage_or_op_error()?;
    let k = a.normalized_shape.len();
    let shape = x.shape().to_vec();
    let n: usize = shape[shape.len() - k..].iter().product();
    let rows: usize = shape[..shape.len() - k].iter().product();
    let stat_shape = match metas {
        [_, stat, ..] => concrete(&stat.sizes),
        _ => op_bail!("native_layer_norm has three results"),
    };
    Ok(with_float_dtype!(x.dtype(), "native_layer_norm", T => {
        let (mut typed, mut copied) = (None, Vec::new());
        let data = data_of::<T>(&x, &mut typed, &mut copied);
        let (w, b) = (typed_param::<T>(&a.weight)?, typed_param::<T>(&a.bias)?);
        let params = ferrex_kernels::norm::LayerNormParams {
            weight: w.as_deref(),
            bias: b.as_deref(),
            eps: a.eps,
        };
        let mut out = try_filled(data.len(), T::default()).map_err(|e| OpError(e.0))?;
        let (mut means, mut rstds) = (vec![T::default(); rows], vec![T::default(); rows]);
        ferrex_kernels::norm::layer_norm(
            data,
            [rows, n],
            &params,
            &mut out,
            Some((&mut means, &mut rstds)),
        )
        .map_err(|e| OpError(e.0))?;
        vec![
            typed_storage(&shape, out, "native_layer_norm")?,
            typed_storage(&stat_shape, means, "native_layer_norm")?,
            typed_storage(&stat_shape, rstds, "native_layer_norm")?,
        ]
    }))
}

/// `layer_norm`'s arguments as `native_layer_norm`'s.
fn as_native_layer_norm(a: &LayerNorm) -> NativeLayerNorm {
    NativeLayerNorm {
        input: a.input.clone(),
        normalized_shape: a.normalized_shape.clone(),
        weight: a.weight.clone(),
        bias: a.bias.clone(),
        eps: a.eps,
    }
}

fn layer_norm_meta(a: &LayerNorm) -> Result<Vec<TensorMeta>, OpError> {
    let metas = layer_norm_metas(&a.input, &a.normalized_shape, &a.weight, &a.bias)?;
    Ok(metas.into_iter().take(1).collect())
}

fn layer_norm_kernel(a: &LayerNorm, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let native = as_native_layer_norm(a);
    let metas = layer_norm_metas(&a.input, &a.normalized_shape, &a.weight, &a.bias)?;
    Ok(layer_norm_storages(&native, &metas)?
        .into_iter()
        .take(1)
        .collect())
}

/// `layer_norm` = `native_layer_norm(...)[0]`.
fn layer_norm_decomposition(a: &LayerNorm) -> Result<Vec<Tensor>, OpError> {
    let (out, _, _) = a.input.native_layer_norm(
        &a.normalized_shape,
        a.weight.as_ref(),
        a.bias.as_ref(),
        a.eps,
    );
    Ok(vec![out])
}

/// What a layer norm offers the runtime.
fn layer_norm_lowering<T: Clone>(
    input: &T,
    shape: &[SymInt],
    weight: &Option<T>,
    bias: &Option<T>,
    eps: f64,
) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::LayerNorm {
        input: input.clone(),
        normalized_rank: shape.len(),
        weight: weight.clone(),
        bias: bias.clone(),
        eps,
    })
}

op_def! {
    pub static NATIVE_LAYER_NORM: struct NativeLayerNorm =
        "aten::native_layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight, Tensor? bias, float eps) -> (Tensor, Tensor, Tensor)" {
        meta: |a: &NativeLayerNorm| layer_norm_metas(&a.input, &a.normalized_shape, &a.weight, &a.bias),
        kernel: layer_norm_storages,
        lowering: |a: &NativeLayerNorm<_>| layer_norm_lowering(&a.input, &a.normalized_shape, &a.weight, &a.bias, a.eps),
    }
    pub static LAYER_NORM: struct LayerNorm =
        "aten::layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight=None, Tensor? bias=None, float eps=1e-05, bool cudnn_enable=True) -> Tensor" {
        meta: layer_norm_meta,
        kernel: layer_norm_kernel,
        decomposition: layer_norm_decomposition,
        lowering: |a: &LayerNorm<_>| layer_norm_lowering(&a.input, &a.normalized_shape, &a.weight, &a.bias, a.eps),
    }
}

// ---------------------------------------------------------------------------------------
// native_group_norm / group_norm

/// The shared checks of both group norms: the input meta.
fn group_norm_check(
    x: &Tensor,
    weight: &Option<Tensor>,
    bias: &Option<Tensor>,
    groups: i64,
) -> Result<TensorMeta, OpError> {
    let m = float_input(x, "group_norm")?;
    if m.rank() < 2 {
        op_bail!(
            "Expected at least 2 dimensions for input tensor but received {}",
            m.rank()
        );
    }
    let c = m.sizes[1].hint();
    if groups <= 0 || c % groups != 0 {
        op_bail!(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape {} and num_groups={groups}",
            format_sizes(&m.sizes)
        );
    }
    let ch = [m.sizes[1].clone()];
    check_param(weight.clone(), &ch, m.dtype, "weight", "group_norm")?;
    check_param(bias.clone(), &ch, m.dtype, "bias", "group_norm")?;
    Ok(m)
}

fn native_group_norm_metas(a: &NativeGroupNorm) -> Result<Vec<TensorMeta>, OpError> {
    let groups = a.group;
    let m = group_norm_check(&a.input, &a.weight, &a.bias, groups)?;
    let (n, c, hw) = (a.N.clone(), a.C.clone(), a.HxW.clone());
    let numel = m.numel();
    let declared = n.mul(&c).mul(&hw);
    if !sizes_match(&m.sizes[0], &n)
        || !sizes_match(&m.sizes[1], &c)
        || !sizes_match(&numel, &declared)
    {
        op_bail!(
            "native_group_norm: N={n}, C={c}, HxW={hw} do not describe an input of size {}",
            format_sizes(&m.sizes)
        );
    }
    let stat = TensorMeta::new(m.dtype, vec![n, SymInt::Int(groups)]);
    Ok(vec![m, stat.clone(), stat])
}

/// Group norm of `x` (`[n, c, …]`) in `groups` groups, on its own dtype and the shared
/// kernel (`ferrex_kernels::norm::group_norm`, which the compiled runtime runs too):
/// `[out, means, rstds]`, or only `[out]` without `stats`.
fn group_norm_storages(
    x: &Storage,
    groups: usize,
    weight: &Option<Tensor>,
    bias: &Option<Tensor>,
    eps: f64,
    stats: bool,
) -> Result<Vec<Storage>, OpError> {
    let shape = x.shape().to_vec();
    let (n, c) = (shape[0], shape[1]);
    let hw: usize = shape[2..].iter().product();
    Ok(with_float_dtype!(x.dtype(), "native_group_norm", T => {
        let (mut typed, mut copied) = (None, Vec::new());
        let data = data_of::<T>(x, &mut typed, &mut copied);
        let (w, b) = (typed_param::<T>(weight)?, typed_param::<T>(bias)?);
        let p = ferrex_kernels::norm::LayerNormParams {
            weight: w.as_deref(),
            bias: b.as_deref(),
            eps,
        };
        let mut out = try_filled(data.len(), T::default()).map_err(|e| OpError(e.0))?;
        let stat_len = if stats { n * groups } else { 0 };
        let (mut means, mut rstds) = (vec![T::default(); stat_len], vec![T::default(); stat_len]);
        ferrex_kernels::norm::group_norm(
            data,
            [n, c, hw],
            groups,
            &p,
            &mut out,
            stats.then_some((&mut means[..], &mut rstds[..])),
        )
        .map_err(|e| OpError(format!("group_norm: {e}")))?;
        let mut results = vec![typed_storage(&shape, out, "group_norm")?];
        if stats {
            results.push(typed_storage(&[n, groups], means, "native_group_norm")?);
            results.push(typed_storage(&[n, groups], rstds, "native_group_norm")?);
        }
        results
    }))
}

fn native_group_norm_storages(
    a: &NativeGroupNorm,
    _: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let x = a.input.storage_or_op_error()?;
    group_norm_storages(&x, a.group as usize, &a.weight, &a.bias, a.eps, true)
}

fn group_norm_meta(a: &GroupNorm) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![group_norm_check(
        &a.input,
        &a.weight,
        &a.bias,
        a.num_groups,
    )?])
}

fn group_norm_kernel(a: &GroupNorm, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.input.storage_or_op_error()?;
    group_norm_storages(&x, a.num_groups as usize, &a.weight, &a.bias, a.eps, false)
}

/// `group_norm` = `native_group_norm(input, w, b, N, C, H*W*…, groups, eps)[0]`.
fn group_norm_decomposition(a: &GroupNorm) -> Result<Vec<Tensor>, OpError> {
    let x = &a.input;
    let sizes = meta_of(x)?.sizes;
    if sizes.len() < 2 {
        op_bail!(
            "Expected at least 2 dimensions for input tensor but received {}",
            sizes.len()
        );
    }
    let hw = sizes[2..].iter().fold(SymInt::Int(1), |acc, s| acc.mul(s));
    let (out, _, _) = x.native_group_norm(
        a.weight.as_ref(),
        a.bias.as_ref(),
        sizes[0].clone(),
        sizes[1].clone(),
        hw,
        a.num_groups,
        a.eps,
    );
    Ok(vec![out])
}

/// What a group norm offers the runtime.
fn group_norm_lowering<T: Clone>(
    input: &T,
    groups: i64,
    weight: &Option<T>,
    bias: &Option<T>,
    eps: f64,
) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::GroupNorm {
        input: input.clone(),
        groups,
        weight: weight.clone(),
        bias: bias.clone(),
        eps,
    })
}

op_def! {
    pub static NATIVE_GROUP_NORM: struct NativeGroupNorm =
        "aten::native_group_norm(Tensor input, Tensor? weight, Tensor? bias, SymInt N, SymInt C, SymInt HxW, int group, float eps) -> (Tensor, Tensor, Tensor)" {
        meta: native_group_norm_metas,
        kernel: native_group_norm_storages,
        lowering: |a: &NativeGroupNorm<_>| group_norm_lowering(&a.input, a.group, &a.weight, &a.bias, a.eps),
    }
    pub static GROUP_NORM: struct GroupNorm =
        "aten::group_norm(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, float eps=1e-05, bool cudnn_enabled=True) -> Tensor" {
        meta: group_norm_meta,
        kernel: group_norm_kernel,
        decomposition: group_norm_decomposition,
        lowering: |a: &GroupNorm<_>| group_norm_lowering(&a.input, a.num_groups, &a.weight, &a.bias, a.eps),
    }
}

// ---------------------------------------------------------------------------------------
// _native_batch_norm_legit_no_training / batch_norm

/// A float input `[N, C, …]` of at least `min_rank` dims, and its channel count (the
/// shape of per-channel parameters).
fn channel_input(
    x: &Tensor,
    op: &str,
    min_rank: usize,
) -> Result<(TensorMeta, [SymInt; 1]), OpError> {
    let m = float_input(x, op)?;
    if m.rank() < min_rank {
        op_bail!(
            "{op}: expected an input with at least {min_rank} dims (N, C, …), got {}",
            format_sizes(&m.sizes)
        );
    }
    let ch = [m.sizes[1].clone()];
    Ok((m, ch))
}

/// An inference batch norm's operands (both ops' arguments).
struct BatchNormCall<'a> {
    input: &'a Tensor,
    weight: &'a Option<Tensor>,
    bias: &'a Option<Tensor>,
    running_mean: Option<&'a Tensor>,
    running_var: Option<&'a Tensor>,
    eps: f64,
}

/// Checks a batch norm in inference mode.
fn batch_norm_check(a: &BatchNormCall) -> Result<TensorMeta, OpError> {
    let (m, ch) = channel_input(a.input, "batch_norm", 2)?;
    check_param(a.weight.clone(), &ch, m.dtype, "weight", "batch_norm")?;
    check_param(a.bias.clone(), &ch, m.dtype, "bias", "batch_norm")?;
    for (t, what) in [
        (a.running_mean, "running_mean"),
        (a.running_var, "running_var"),
    ] {
        match t {
            Some(t) => check_param(Some(t.clone()), &ch, m.dtype, what, "batch_norm")?,
            None => op_bail!("batch_norm: {what} must be given in inference mode"),
        }
    }
    Ok(m)
}

/// `(x - mean) / sqrt(var + eps) * w + b` per channel (dim 1), into `dtype`, as the
/// per-channel affine map of `ferrex_kernels::norm` (the runtime folds the same one).
fn batch_norm_compute(a: &BatchNormCall, dtype: DType) -> Result<Storage, OpError> {
    let x = a.input.storage_or_op_error()?;
    let shape = x.shape().to_vec();
    let c = shape[1];
    let inner: usize = shape[2..].iter().product();
    let (w, b) = (opt_data(a.weight)?, opt_data(a.bias)?);
    let stat = |t: Option<&Tensor>| -> Result<Vec<f64>, OpError> {
        let t = t.ok_or_else(|| OpError::new("batch_norm: running statistics are needed"))?;
        Ok(f64_data(&t.storage_or_op_error()?))
    };
    let (mean, var) = (stat(a.running_mean)?, stat(a.running_var)?);
    let (scale, shift) = ferrex_kernels::norm::batch_norm_scale_shift(
        w.as_deref(),
        b.as_deref(),
        &mean,
        &var,
        a.eps,
    )
    .map_err(|e| OpError(format!("batch_norm: {}", e.0)))?;
    let outer = shape[0];
    if x.dtype() != dtype {
        op_bail!("batch_norm: expected a {} input, got {}", dtype, x.dtype());
    }
    Ok(with_float_dtype!(dtype, "batch_norm", T => {
        let x = x.typed::<T>();
        let x = x.as_standard_layout();
        let xs = x.as_slice().ok_or_else(|| OpError::new("batch_norm: input layout"))?;
        let out = ferrex_kernels::norm::batch_norm_inference_new(xs, [outer, c, inner], &scale, &shift)
            .map_err(|e| OpError(format!("batch_norm: {}", e.0)))?;
        typed_storage(&shape, out, "batch_norm")?
    }))
}

fn no_training_call(a: &BnNoTraining) -> BatchNormCall<'_> {
    BatchNormCall {
        input: &a.input,
        weight: &a.weight,
        bias: &a.bias,
        running_mean: Some(&a.running_mean),
        running_var: Some(&a.running_var),
        eps: a.eps,
    }
}

fn batch_norm_call(a: &BatchNorm) -> BatchNormCall<'_> {
    BatchNormCall {
        input: &a.input,
        weight: &a.weight,
        bias: &a.bias,
        running_mean: a.running_mean.as_ref(),
        running_var: a.running_var.as_ref(),
        eps: a.eps,
    }
}

fn bn_no_training_metas(a: &BnNoTraining) -> Result<Vec<TensorMeta>, OpError> {
    let m = batch_norm_check(&no_training_call(a))?;
    // The saved mean and invstd are empty in inference, as ATen returns them.
    let empty = TensorMeta::new(m.dtype, vec![SymInt::Int(0)]);
    Ok(vec![m, empty.clone(), empty])
}

fn bn_no_training_kernel(a: &BnNoTraining, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = metas.first().map_or(DType::F32, |m| m.dtype);
    let out = batch_norm_compute(&no_training_call(a), dtype)?;
    let empty = Storage::full(&[0], 0.0, out.dtype());
    Ok(vec![out, empty.clone(), empty])
}

fn batch_norm_meta(a: &BatchNorm) -> Result<Vec<TensorMeta>, OpError> {
    if a.training {
        op_bail!(
            "batch_norm in training mode (batch statistics, running-stat updates) is not supported; call it with training=false"
        );
    }
    Ok(vec![batch_norm_check(&batch_norm_call(a))?])
}

fn batch_norm_kernel(a: &BatchNorm, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = metas.first().map_or(DType::F32, |m| m.dtype);
    Ok(vec![batch_norm_compute(&batch_norm_call(a), dtype)?])
}

/// `batch_norm` (inference) = `_native_batch_norm_legit_no_training(...)[0]`.
fn batch_norm_decomposition(a: &BatchNorm) -> Result<Vec<Tensor>, OpError> {
    if a.training {
        op_bail!("batch_norm in training mode is not supported");
    }
    let (Some(mean), Some(var)) = (&a.running_mean, &a.running_var) else {
        op_bail!("batch_norm: running_mean and running_var must be given in inference mode");
    };
    let (out, _, _) = a.input.native_batch_norm_legit_no_training(
        a.weight.as_ref(),
        a.bias.as_ref(),
        mean,
        var,
        a.momentum,
        a.eps,
    );
    Ok(vec![out])
}

/// What an inference batch norm offers the runtime (a training one: its eager kernel).
fn batch_norm_lowering<T: Clone>(a: &BatchNorm<T>) -> Result<Lowering<T>, OpError> {
    if a.training {
        return Ok(Lowering::Eager);
    }
    Ok(Lowering::BatchNorm {
        input: a.input.clone(),
        weight: a.weight.clone(),
        bias: a.bias.clone(),
        running_mean: a.running_mean.clone(),
        running_var: a.running_var.clone(),
        eps: a.eps,
    })
}

fn bn_no_training_lowering<T: Clone>(a: &BnNoTraining<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::BatchNorm {
        input: a.input.clone(),
        weight: a.weight.clone(),
        bias: a.bias.clone(),
        running_mean: Some(a.running_mean.clone()),
        running_var: Some(a.running_var.clone()),
        eps: a.eps,
    })
}

op_def! {
    pub static NATIVE_BATCH_NORM_LEGIT_NO_TRAINING: struct BnNoTraining =
        "aten::_native_batch_norm_legit_no_training(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean, Tensor running_var, float momentum, float eps) -> (Tensor, Tensor, Tensor)" {
        meta: bn_no_training_metas,
        kernel: bn_no_training_kernel,
        lowering: bn_no_training_lowering,
    }
    pub static BATCH_NORM: struct BatchNorm =
        "aten::batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor" {
        meta: batch_norm_meta,
        kernel: batch_norm_kernel,
        decomposition: batch_norm_decomposition,
        lowering: batch_norm_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// _native_batch_norm_legit.no_stats / instance_norm

/// Batch statistics without running statistics: per channel (dim 1) over the batch and
/// spatial dims. Outputs the normalized input, the mean and `1 / sqrt(var + eps)`.
fn bn_no_stats_metas(a: &BnNoStats) -> Result<Vec<TensorMeta>, OpError> {
    let (m, ch) = channel_input(&a.input, "batch_norm", 2)?;
    if !a.training {
        op_bail!("_native_batch_norm_legit.no_stats: training must be True when no running statistics are given");
    }
    check_param(a.weight.clone(), &ch, m.dtype, "weight", "batch_norm")?;
    check_param(a.bias.clone(), &ch, m.dtype, "bias", "batch_norm")?;
    let stat = TensorMeta::new(m.dtype, ch.to_vec());
    Ok(vec![m, stat.clone(), stat])
}

fn bn_no_stats_kernel(a: &BnNoStats, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.input.storage_or_op_error()?;
    let shape = x.shape().to_vec();
    let (n, c) = (shape[0], shape[1]);
    let inner: usize = shape[2..].iter().product();
    let (w, b) = (opt_data(&a.weight)?, opt_data(&a.bias)?);
    let eps = a.eps;
    let data = f64_data(&x);
    let mut out = vec![0.0; data.len()];
    let (mut means, mut invstds) = (Vec::with_capacity(c), Vec::with_capacity(c));
    let mut channel = Vec::with_capacity(n * inner);
    for ch in 0..c {
        channel.clear();
        for s in 0..n {
            let at = (s * c + ch) * inner;
            channel.extend_from_slice(&data[at..at + inner]);
        }
        let (mean, invstd) = ferrex_kernels::norm::moments(&channel, eps);
        let scale = invstd * w.as_ref().map_or(1.0, |w| w[ch]);
        let shift = b.as_ref().map_or(0.0, |b| b[ch]);
        for s in 0..n {
            let at = (s * c + ch) * inner;
            for k in at..at + inner {
                out[k] = (data[k] - mean) * scale + shift;
            }
        }
        means.push(mean);
        invstds.push(invstd);
    }
    let dtype = metas.first().map_or(x.dtype(), |m| m.dtype);
    Ok(vec![
        from_f64(&shape, out, dtype, "_native_batch_norm_legit")?,
        from_f64(&[c], means, dtype, "_native_batch_norm_legit")?,
        from_f64(&[c], invstds, dtype, "_native_batch_norm_legit")?,
    ])
}

/// Each channel by its statistics over the batch and the spatial dims.
fn bn_no_stats_lowering<T: Clone>(a: &BnNoStats<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::ChannelNorm {
        input: a.input.clone(),
        weight: a.weight.clone(),
        bias: a.bias.clone(),
        eps: a.eps,
        per_sample: false,
    })
}

op_def! {
    /// In PyTorch's Core ATen opset: what `instance_norm` (and a training-mode batch norm
    /// without running statistics) decomposes to.
    pub static NATIVE_BATCH_NORM_LEGIT_NO_STATS: struct BnNoStats =
        "aten::_native_batch_norm_legit.no_stats(Tensor input, Tensor? weight, Tensor? bias, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)" {
        meta: bn_no_stats_metas,
        kernel: bn_no_stats_kernel,
        lowering: bn_no_stats_lowering,
    }
}

fn instance_norm_meta(a: &InstanceNorm) -> Result<Vec<TensorMeta>, OpError> {
    let (m, ch) = channel_input(&a.input, "instance_norm", 3)?;
    for (t, what) in [
        (&a.weight, "weight"),
        (&a.bias, "bias"),
        (&a.running_mean, "running_mean"),
        (&a.running_var, "running_var"),
    ] {
        check_param(t.clone(), &ch, m.dtype, what, "instance_norm")?;
    }
    if !a.use_input_stats && (a.running_mean.is_none() || a.running_var.is_none()) {
        op_bail!(
            "Expected running_mean and running_var to be defined when use_input_stats is false"
        );
    }
    Ok(vec![m])
}

/// ATen's `instance_norm`: with input statistics, the input viewed as `[1, N * C, …]`
/// through `_native_batch_norm_legit.no_stats` (weight and bias repeated per sample),
/// viewed back; with running statistics, an inference batch norm per channel. Running
/// statistics are not updated (an exported graph is an inference graph).
fn instance_norm_decomposition(a: &InstanceNorm) -> Result<Vec<Tensor>, OpError> {
    let m = instance_norm_meta(a)?.remove(0);
    let x = &a.input;
    let (w, b) = (a.weight.clone(), a.bias.clone());
    let (momentum, eps) = (a.momentum, a.eps);
    if !a.use_input_stats {
        let (Some(mean), Some(var)) = (&a.running_mean, &a.running_var) else {
            op_bail!(
                "Expected running_mean and running_var to be defined when use_input_stats is false"
            );
        };
        let (out, _, _) =
            x.native_batch_norm_legit_no_training(w.as_ref(), b.as_ref(), mean, var, momentum, eps);
        return Ok(vec![out]);
    }
    let batch = m.sizes[0].clone();
    let mut planar = vec![SymInt::Int(1), batch.mul(&m.sizes[1])];
    planar.extend(m.sizes[2..].iter().cloned());
    let repeat = |p: Option<Tensor>| p.map(|p| p.repeat(vec![batch.clone()]));
    let value = |p: Option<Tensor>| p.map_or(super::Value::None, super::Value::Tensor);
    let out = Tensor::call_op(
        &NATIVE_BATCH_NORM_LEGIT_NO_STATS,
        vec![
            super::Value::Tensor(x.view(planar)),
            value(repeat(w)),
            value(repeat(b)),
            super::Value::Bool(true),
            super::Value::Float(momentum),
            super::Value::Float(eps),
        ],
    );
    let normalized = out
        .into_iter()
        .next()
        .ok_or_else(|| OpError::new("instance_norm: no output"))?;
    Ok(vec![normalized.view(m.sizes)])
}

/// With input statistics, each sample's channels normalized alone; with running
/// statistics, the inference batch norm its decomposition calls.
fn instance_norm_lowering<T: Clone>(a: &InstanceNorm<T>) -> Result<Lowering<T>, OpError> {
    Ok(match (a.use_input_stats, &a.running_mean, &a.running_var) {
        (true, _, _) => Lowering::ChannelNorm {
            input: a.input.clone(),
            weight: a.weight.clone(),
            bias: a.bias.clone(),
            eps: a.eps,
            per_sample: true,
        },
        (false, Some(mean), Some(var)) => Lowering::BatchNorm {
            input: a.input.clone(),
            weight: a.weight.clone(),
            bias: a.bias.clone(),
            running_mean: Some(mean.clone()),
            running_var: Some(var.clone()),
            eps: a.eps,
        },
        _ => Lowering::Eager,
    })
}

op_def! {
    pub static INSTANCE_NORM: struct InstanceNorm =
        "aten::instance_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool use_input_stats, float momentum, float eps, bool cudnn_enabled) -> Tensor" {
        meta: instance_norm_meta,
        composite: instance_norm_decomposition,
        lowering: instance_norm_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// rms_norm: a composite, as PyTorch's decomposition

fn rms_norm_meta(a: &RmsNorm) -> Result<Vec<TensorMeta>, OpError> {
    let metas = layer_norm_metas(&a.input, &a.normalized_shape, &a.weight, &None)?;
    Ok(metas.into_iter().take(1).collect())
}

/// `x * rsqrt(mean(x², last dims) + eps) * weight`, `eps` the dtype's machine epsilon
/// by default.
fn rms_norm_decomposition(a: &RmsNorm) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.input)?;
    let k = a.normalized_shape.len() as i64;
    let dims: Vec<i64> = (-k..0).collect();
    let eps = a.eps.unwrap_or(match m.dtype {
        DType::F64 => f64::EPSILON,
        _ => f64::from(f32::EPSILON),
    });
    let x = &a.input;
    let scale = x.mul(x).mean_dim(&dims, true).add(eps).rsqrt();
    let y = x.mul(&scale);
    Ok(vec![match &a.weight {
        Some(w) => y.mul(w),
        None => y,
    }])
}

op_def! {
    pub static RMS_NORM: struct RmsNorm =
        "aten::rms_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight=None, float? eps=None) -> Tensor" {
        meta: rms_norm_meta,
        composite: rms_norm_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// _weight_norm (`nn.utils.parametrizations.weight_norm`)

/// The dims `_weight_norm` reduces: all but `dim`, or every dim for `dim` -1 (PyTorch's
/// `norm_except_dim`, where -1 means the whole tensor, not the last dim).
fn weight_norm_dims(a: &WeightNorm) -> Result<(TensorMeta, Vec<i64>), OpError> {
    let v = meta_of(&a.v)?;
    let g = meta_of(&a.g)?;
    if v.dtype != g.dtype || !v.dtype.is_float() {
        op_bail!(
            "_weight_norm: expected v and g of one floating dtype, got {} and {}",
            v.dtype,
            g.dtype
        );
    }
    let rank = v.rank() as i64;
    if a.dim != -1 && !(0..rank).contains(&a.dim) {
        op_bail!(
            "_weight_norm: dim {} is out of range for a {rank}-D weight",
            a.dim
        );
    }
    let dims = (0..rank).filter(|&d| d != a.dim).collect();
    Ok((v, dims))
}

fn weight_norm_meta(a: &WeightNorm) -> Result<Vec<TensorMeta>, OpError> {
    let (v, _) = weight_norm_dims(a)?;
    let g = meta_of(&a.g)?;
    // `g` broadcasts against the kept-dims norm.
    super::util::broadcast_shapes(&v.sizes, &g.sizes)?;
    Ok(vec![v])
}

/// `v * (g / ‖v‖)`, the norm over every dim but `dim`, kept as size-1 dims.
fn weight_norm_decomposition(a: &WeightNorm) -> Result<Vec<Tensor>, OpError> {
    let (_, dims) = weight_norm_dims(a)?;
    let norm = a.v.pow(2).sum_dim(&dims, true).sqrt();
    Ok(vec![a.v.mul(a.g.div(&norm))])
}

op_def! {
    pub static _WEIGHT_NORM: struct WeightNorm =
        "aten::_weight_norm(Tensor v, Tensor g, int dim=0) -> Tensor" {
        meta: weight_norm_meta,
        composite: weight_norm_decomposition,
    }
}
