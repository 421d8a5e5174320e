//! Normalisation: `native_layer_norm`, `native_group_norm` and
//! `_native_batch_norm_legit_no_training` (three outputs each, as ATen returns them), and
//! the composites exported graphs keep whole — `layer_norm`, `group_norm`, `batch_norm`
//! (inference) — each with its decomposition into the native op. Statistics are
//! computed in f64 and rounded once.

use super::util::{concrete, meta_of, sizes_match, with_float_dtype};
use super::{OpArgs, OpDef};
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
        Storage::from_vec(shape, v).ok_or_else(|| OpError(format!("{op}: output shape")))?
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
        let same =
            m.rank() == want.len() && m.sizes.iter().zip(want).all(|(a, b)| sizes_match(a, b));
        if !same {
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

fn float_input(args: &OpArgs, op: &str) -> Result<TensorMeta, OpError> {
    let m = args.meta(0)?;
    if !m.dtype.is_float() {
        op_bail!("\"{op}\" not implemented for '{}'", m.dtype);
    }
    Ok(m)
}

fn opt_data(args: &OpArgs, i: usize) -> Result<Option<Vec<f64>>, OpError> {
    Ok(match args.opt_tensor(i)? {
        Some(_) => Some(f64_data(&args.storage(i)?)),
        None => None,
    })
}

// ---------------------------------------------------------------------------------------
// native_layer_norm / layer_norm

/// Output metas of `native_layer_norm` (argument layout shared with `layer_norm`).
fn layer_norm_metas(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = float_input(args, "native_layer_norm")?;
    let shape = args.int_list(1)?;
    let k = shape.len();
    let fits = k <= m.rank()
        && m.sizes[m.rank() - k..]
            .iter()
            .zip(&shape)
            .all(|(a, b)| sizes_match(a, b));
    if k == 0 || !fits {
        op_bail!(
            "Given normalized_shape={}, expected input with shape [*, {}], but got input of size{}",
            format_sizes(&shape),
            format_sizes(&shape).trim_matches(['[', ']']),
            format_sizes(&m.sizes)
        );
    }
    check_param(args.opt_tensor(2)?, &shape, m.dtype, "weight", "layer_norm")?;
    check_param(args.opt_tensor(3)?, &shape, m.dtype, "bias", "layer_norm")?;
    let mut stat = m.sizes[..m.rank() - k].to_vec();
    stat.extend(std::iter::repeat_n(SymInt::Int(1), k));
    let stat = TensorMeta::new(m.dtype, stat);
    Ok(vec![m, stat.clone(), stat])
}

fn layer_norm_storages(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let metas = layer_norm_metas(args)?;
    let x = args.storage(0)?;
    let k = args.int_list(1)?.len();
    let shape = x.shape().to_vec();
    let n: usize = shape[shape.len() - k..].iter().product();
    let rows: usize = shape[..shape.len() - k].iter().product();
    let data = f64_data(&x);
    let (w, b) = (opt_data(args, 2)?, opt_data(args, 3)?);
    let params = ferrex_kernels::norm::LayerNormParams {
        weight: w.as_deref(),
        bias: b.as_deref(),
        eps: args.float(4)?,
    };
    // The kernel the compiled runtime's layer-norm step calls (here on f64 data, then
    // rounded once to the dtype, as the runtime's f32 kernel rounds).
    let mut out = vec![0.0; data.len()];
    let (mut means, mut rstds) = (vec![0.0; rows], vec![0.0; rows]);
    ferrex_kernels::norm::layer_norm(
        &data,
        [rows, n],
        &params,
        &mut out,
        Some((&mut means, &mut rstds)),
    )
    .map_err(|e| OpError(e.0))?;
    let dtype = metas[0].dtype;
    let stat_shape = concrete(&metas[1].sizes);
    Ok(vec![
        from_f64(&shape, out, dtype, "native_layer_norm")?,
        from_f64(&stat_shape, means, dtype, "native_layer_norm")?,
        from_f64(&stat_shape, rstds, dtype, "native_layer_norm")?,
    ])
}

fn layer_norm_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(layer_norm_metas(args)?.into_iter().take(1).collect())
}

fn layer_norm_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(layer_norm_storages(args)?.into_iter().take(1).collect())
}

/// `layer_norm` = `native_layer_norm(...)[0]`.
fn layer_norm_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let x = args.tensor(0)?;
    let (w, b) = (args.opt_tensor(2)?, args.opt_tensor(3)?);
    let (out, _, _) =
        x.native_layer_norm(&args.int_list(1)?, w.as_ref(), b.as_ref(), args.float(4)?);
    Ok(vec![out])
}

pub static NATIVE_LAYER_NORM: OpDef = OpDef::new(
    "aten::native_layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight, Tensor? bias, float eps) -> (Tensor, Tensor, Tensor)",
    layer_norm_metas,
    layer_norm_storages,
);
pub static LAYER_NORM: OpDef = OpDef::new(
    "aten::layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight=None, Tensor? bias=None, float eps=1e-05, bool cudnn_enable=True) -> Tensor",
    layer_norm_meta,
    layer_norm_kernel,
)
.with_decomposition(layer_norm_decomposition);

// ---------------------------------------------------------------------------------------
// native_group_norm / group_norm

/// The shared checks of both group norms: `(input meta, C, groups)`.
fn group_norm_check(
    args: &OpArgs,
    weight: usize,
    bias: usize,
    groups: i64,
) -> Result<TensorMeta, OpError> {
    let m = float_input(args, "group_norm")?;
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
    check_param(
        args.opt_tensor(weight)?,
        &ch,
        m.dtype,
        "weight",
        "group_norm",
    )?;
    check_param(args.opt_tensor(bias)?, &ch, m.dtype, "bias", "group_norm")?;
    Ok(m)
}

fn native_group_norm_metas(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let groups = args.i64(6)?;
    let m = group_norm_check(args, 1, 2, groups)?;
    let (n, c, hw) = (args.int(3)?, args.int(4)?, args.int(5)?);
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

/// A group norm's output, and each (sample, group)'s mean and rstd.
type GroupNormResult = (Vec<f64>, Vec<f64>, Vec<f64>);

/// Group norm over row-major `[n, c, hw]` data, on the shared kernel
/// (`ferrex_kernels::norm::group_norm`, which the compiled runtime runs too):
/// `(out, means, rstds)`.
#[allow(clippy::too_many_arguments)]
fn group_norm_compute(
    data: &[f64],
    n: usize,
    c: usize,
    groups: usize,
    w: Option<&[f64]>,
    b: Option<&[f64]>,
    eps: f64,
) -> Result<GroupNormResult, OpError> {
    let hw = data.len().checked_div(n * c).unwrap_or(0);
    let mut out = vec![0.0; data.len()];
    let (mut means, mut rstds) = (vec![0.0; n * groups], vec![0.0; n * groups]);
    let p = ferrex_kernels::norm::LayerNormParams {
        weight: w,
        bias: b,
        eps,
    };
    ferrex_kernels::norm::group_norm(
        data,
        [n, c, hw],
        groups,
        &p,
        &mut out,
        Some((&mut means, &mut rstds)),
    )
    .map_err(|e| OpError(format!("group_norm: {e}")))?;
    Ok((out, means, rstds))
}

fn native_group_norm_storages(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let metas = native_group_norm_metas(args)?;
    let x = args.storage(0)?;
    let shape = x.shape().to_vec();
    let groups = args.i64(6)? as usize;
    let (w, b) = (opt_data(args, 1)?, opt_data(args, 2)?);
    let (out, means, rstds) = group_norm_compute(
        &f64_data(&x),
        shape[0],
        shape[1],
        groups,
        w.as_deref(),
        b.as_deref(),
        args.float(7)?,
    )?;
    let dtype = metas[0].dtype;
    let stat = [shape[0], groups];
    Ok(vec![
        from_f64(&shape, out, dtype, "native_group_norm")?,
        from_f64(&stat, means, dtype, "native_group_norm")?,
        from_f64(&stat, rstds, dtype, "native_group_norm")?,
    ])
}

fn group_norm_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![group_norm_check(args, 2, 3, args.i64(1)?)?])
}

fn group_norm_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = group_norm_meta(args)?;
    let x = args.storage(0)?;
    let shape = x.shape().to_vec();
    let (w, b) = (opt_data(args, 2)?, opt_data(args, 3)?);
    let (out, _, _) = group_norm_compute(
        &f64_data(&x),
        shape[0],
        shape[1],
        args.i64(1)? as usize,
        w.as_deref(),
        b.as_deref(),
        args.float(4)?,
    )?;
    Ok(vec![from_f64(&shape, out, m[0].dtype, "group_norm")?])
}

/// `group_norm` = `native_group_norm(input, w, b, N, C, H*W*…, groups, eps)[0]`.
fn group_norm_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let x = args.tensor(0)?;
    let sizes = meta_of(&x)?.sizes;
    if sizes.len() < 2 {
        op_bail!(
            "Expected at least 2 dimensions for input tensor but received {}",
            sizes.len()
        );
    }
    let hw = sizes[2..].iter().fold(SymInt::Int(1), |acc, s| acc.mul(s));
    let (w, b) = (args.opt_tensor(2)?, args.opt_tensor(3)?);
    let (out, _, _) = x.native_group_norm(
        w.as_ref(),
        b.as_ref(),
        sizes[0].clone(),
        sizes[1].clone(),
        hw,
        args.i64(1)?,
        args.float(4)?,
    );
    Ok(vec![out])
}

pub static NATIVE_GROUP_NORM: OpDef = OpDef::new(
    "aten::native_group_norm(Tensor input, Tensor? weight, Tensor? bias, SymInt N, SymInt C, SymInt HxW, int group, float eps) -> (Tensor, Tensor, Tensor)",
    native_group_norm_metas,
    native_group_norm_storages,
);
pub static GROUP_NORM: OpDef = OpDef::new(
    "aten::group_norm(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, float eps=1e-05, bool cudnn_enabled=True) -> Tensor",
    group_norm_meta,
    group_norm_kernel,
)
.with_decomposition(group_norm_decomposition);

// ---------------------------------------------------------------------------------------
// _native_batch_norm_legit_no_training / batch_norm

/// A float input `[N, C, …]` of at least `min_rank` dims, and its channel count (the
/// shape of per-channel parameters).
fn channel_input(
    args: &OpArgs,
    op: &str,
    min_rank: usize,
) -> Result<(TensorMeta, [SymInt; 1]), OpError> {
    let m = float_input(args, op)?;
    if m.rank() < min_rank {
        op_bail!(
            "{op}: expected an input with at least {min_rank} dims (N, C, …), got {}",
            format_sizes(&m.sizes)
        );
    }
    let ch = [m.sizes[1].clone()];
    Ok((m, ch))
}

/// Checks a batch norm in inference mode; arguments `weight, bias, running_mean,
/// running_var` at `at..at + 4`.
fn batch_norm_check(args: &OpArgs, at: usize) -> Result<TensorMeta, OpError> {
    let (m, ch) = channel_input(args, "batch_norm", 2)?;
    check_param(args.opt_tensor(at)?, &ch, m.dtype, "weight", "batch_norm")?;
    check_param(args.opt_tensor(at + 1)?, &ch, m.dtype, "bias", "batch_norm")?;
    for (i, what) in [(at + 2, "running_mean"), (at + 3, "running_var")] {
        match args.opt_tensor(i)? {
            Some(t) => check_param(Some(t), &ch, m.dtype, what, "batch_norm")?,
            None => op_bail!("batch_norm: {what} must be given in inference mode"),
        }
    }
    Ok(m)
}

/// `(x - mean) / sqrt(var + eps) * w + b` per channel (dim 1), as the per-channel affine
/// map of `ferrex_kernels::norm` (the runtime folds the same one); arguments as in
/// [`batch_norm_check`], eps at `eps_at`.
fn batch_norm_compute(args: &OpArgs, at: usize, eps_at: usize) -> Result<Storage, OpError> {
    let m = batch_norm_check(args, at)?;
    let x = args.storage(0)?;
    let shape = x.shape().to_vec();
    let c = shape[1];
    let inner: usize = shape[2..].iter().product();
    let (w, b) = (opt_data(args, at)?, opt_data(args, at + 1)?);
    let mean = f64_data(&args.storage(at + 2)?);
    let var = f64_data(&args.storage(at + 3)?);
    let eps = args.float(eps_at)?;
    let (scale, shift) =
        ferrex_kernels::norm::batch_norm_scale_shift(w.as_deref(), b.as_deref(), &mean, &var, eps)
            .map_err(|e| OpError(format!("batch_norm: {}", e.0)))?;
    let outer = shape[0];
    if x.dtype() != m.dtype {
        op_bail!(
            "batch_norm: expected a {} input, got {}",
            m.dtype,
            x.dtype()
        );
    }
    Ok(with_float_dtype!(m.dtype, "batch_norm", T => {
        let x = x.typed::<T>();
        let x = x.as_standard_layout();
        let xs = x.as_slice().ok_or_else(|| OpError::new("batch_norm: input layout"))?;
        let mut out = try_filled(xs.len(), T::default()).map_err(|e| OpError(e.0))?;
        ferrex_kernels::norm::batch_norm_inference(xs, [outer, c, inner], &scale, &shift, &mut out)
            .map_err(|e| OpError(format!("batch_norm: {}", e.0)))?;
        Storage::from_vec(&shape, out).ok_or_else(|| OpError::new("batch_norm: output shape"))?
    }))
}

fn bn_no_training_metas(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = batch_norm_check(args, 1)?;
    // The saved mean and invstd are empty in inference, as ATen returns them.
    let empty = TensorMeta::new(m.dtype, vec![SymInt::Int(0)]);
    Ok(vec![m, empty.clone(), empty])
}

fn bn_no_training_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let out = batch_norm_compute(args, 1, 6)?;
    let empty = Storage::full(&[0], 0.0, out.dtype());
    Ok(vec![out, empty.clone(), empty])
}

fn batch_norm_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    if args.bool(5)? {
        op_bail!(
            "batch_norm in training mode (batch statistics, running-stat updates) is not supported; call it with training=false"
        );
    }
    Ok(vec![batch_norm_check(args, 1)?])
}

fn batch_norm_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    batch_norm_meta(args)?;
    Ok(vec![batch_norm_compute(args, 1, 7)?])
}

/// `batch_norm` (inference) = `_native_batch_norm_legit_no_training(...)[0]`.
fn batch_norm_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    if args.bool(5)? {
        op_bail!("batch_norm in training mode is not supported");
    }
    let x = args.tensor(0)?;
    let (w, b) = (args.opt_tensor(1)?, args.opt_tensor(2)?);
    let (Some(mean), Some(var)) = (args.opt_tensor(3)?, args.opt_tensor(4)?) else {
        op_bail!("batch_norm: running_mean and running_var must be given in inference mode");
    };
    let (out, _, _) = x.native_batch_norm_legit_no_training(
        w.as_ref(),
        b.as_ref(),
        &mean,
        &var,
        args.float(6)?,
        args.float(7)?,
    );
    Ok(vec![out])
}

pub static NATIVE_BATCH_NORM_LEGIT_NO_TRAINING: OpDef = OpDef::new(
    "aten::_native_batch_norm_legit_no_training(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean, Tensor running_var, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    bn_no_training_metas,
    bn_no_training_kernel,
);
pub static BATCH_NORM: OpDef = OpDef::new(
    "aten::batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor",
    batch_norm_meta,
    batch_norm_kernel,
)
.with_decomposition(batch_norm_decomposition);

// ---------------------------------------------------------------------------------------
// _native_batch_norm_legit.no_stats / instance_norm

/// Batch statistics without running statistics: per channel (dim 1) over the batch and
/// spatial dims. Outputs the normalized input, the mean and `1 / sqrt(var + eps)`.
fn bn_no_stats_metas(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, ch) = channel_input(args, "batch_norm", 2)?;
    if !args.bool(3)? {
        op_bail!("_native_batch_norm_legit.no_stats: training must be True when no running statistics are given");
    }
    check_param(args.opt_tensor(1)?, &ch, m.dtype, "weight", "batch_norm")?;
    check_param(args.opt_tensor(2)?, &ch, m.dtype, "bias", "batch_norm")?;
    let stat = TensorMeta::new(m.dtype, ch.to_vec());
    Ok(vec![m, stat.clone(), stat])
}

fn bn_no_stats_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let metas = bn_no_stats_metas(args)?;
    let x = args.storage(0)?;
    let shape = x.shape().to_vec();
    let (n, c) = (shape[0], shape[1]);
    let inner: usize = shape[2..].iter().product();
    let (w, b) = (opt_data(args, 1)?, opt_data(args, 2)?);
    let eps = args.float(5)?;
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
    let dtype = metas[0].dtype;
    Ok(vec![
        from_f64(&shape, out, dtype, "_native_batch_norm_legit")?,
        from_f64(&[c], means, dtype, "_native_batch_norm_legit")?,
        from_f64(&[c], invstds, dtype, "_native_batch_norm_legit")?,
    ])
}

/// In PyTorch's Core ATen opset: what `instance_norm` (and a training-mode batch norm
/// without running statistics) decomposes to.
pub static NATIVE_BATCH_NORM_LEGIT_NO_STATS: OpDef = OpDef::new(
    "aten::_native_batch_norm_legit.no_stats(Tensor input, Tensor? weight, Tensor? bias, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    bn_no_stats_metas,
    bn_no_stats_kernel,
);

fn instance_norm_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, ch) = channel_input(args, "instance_norm", 3)?;
    for (i, what) in [
        (1, "weight"),
        (2, "bias"),
        (3, "running_mean"),
        (4, "running_var"),
    ] {
        check_param(args.opt_tensor(i)?, &ch, m.dtype, what, "instance_norm")?;
    }
    if !args.bool(5)? && (args.opt_tensor(3)?.is_none() || args.opt_tensor(4)?.is_none()) {
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
fn instance_norm_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let m = instance_norm_meta(args)?.remove(0);
    let x = args.tensor(0)?;
    let (w, b) = (args.opt_tensor(1)?, args.opt_tensor(2)?);
    let (momentum, eps) = (args.float(6)?, args.float(7)?);
    if !args.bool(5)? {
        let (Some(mean), Some(var)) = (args.opt_tensor(3)?, args.opt_tensor(4)?) else {
            op_bail!(
                "Expected running_mean and running_var to be defined when use_input_stats is false"
            );
        };
        let (out, _, _) = x.native_batch_norm_legit_no_training(
            w.as_ref(),
            b.as_ref(),
            &mean,
            &var,
            momentum,
            eps,
        );
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

pub static INSTANCE_NORM: OpDef = OpDef::composite(
    "aten::instance_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool use_input_stats, float momentum, float eps, bool cudnn_enabled) -> Tensor",
    instance_norm_meta,
    instance_norm_decomposition,
);

pub static OPS: &[&OpDef] = &[
    &NATIVE_LAYER_NORM,
    &LAYER_NORM,
    &NATIVE_GROUP_NORM,
    &GROUP_NORM,
    &NATIVE_BATCH_NORM_LEGIT_NO_TRAINING,
    &BATCH_NORM,
    &NATIVE_BATCH_NORM_LEGIT_NO_STATS,
    &INSTANCE_NORM,
];
