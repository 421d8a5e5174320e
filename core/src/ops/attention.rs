//! Attention: `scaled_dot_product_attention` (PyTorch's math path: an optional additive
//! or boolean mask, `is_causal`, `scale`, grouped-query heads with `enable_gqa`; dropout
//! only with `dropout_p = 0`). The eager kernel is the shared fused kernel
//! `ferrex_kernels::attention` (blocked, online softmax in f64); the decomposition spells the same math with
//! `matmul`, `mul`, `softmax`.

use ferrex_kernels::attention::{attention_strided, AttentionGeom, Strided};
use ferrex_kernels::Float;
use ndarray::{Axis, IxDyn};

use super::elementwise::MUL_SCALAR;
use super::linalg::Gemm;
use super::util::{broadcast_shapes, concrete, meta_of, sizes_match, with_float_dtype};
use super::{op_def, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// The validated shapes of a call.
struct SdpaPlan {
    out: TensorMeta,
    /// Broadcast batch dims of the output.
    batch: Vec<SymInt>,
    /// `Hq / Hkv` for grouped-query attention (1 otherwise).
    kv_repeat: usize,
    scale: f64,
    mask: Option<TensorMeta>,
}

fn sdpa_plan(args: &Sdpa) -> Result<SdpaPlan, OpError> {
    let (q, k, v) = (
        meta_of(&args.query)?,
        meta_of(&args.key)?,
        meta_of(&args.value)?,
    );
    check_dtypes_and_ranks(&q, &k, &v)?;
    let dropout = args.dropout_p;
    if dropout != 0.0 {
        op_bail!("scaled_dot_product_attention: only dropout_p=0.0 is supported, got {dropout}");
    }
    let is_causal = args.is_causal;
    let mask = match &args.attn_mask {
        Some(m) => Some(meta_of(m)?),
        None => None,
    };
    if is_causal && mask.is_some() {
        op_bail!("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True");
    }
    check_matching_dims(&q, &k, &v)?;
    let (batch, kv_repeat) = batch_and_kv_repeat(&q, &k, &v, args.enable_gqa)?;
    let (rq, rk, rv) = (q.rank(), k.rank(), v.rank());
    let (l, s) = (q.sizes[rq - 2].clone(), k.sizes[rk - 2].clone());
    if let Some(m) = &mask {
        let mut scores = batch.clone();
        scores.extend([l.clone(), s]);
        check_mask(m, q.dtype, &scores)?;
    }
    let scale = match args.scale {
        Some(s) => s,
        None => 1.0 / (q.sizes[rq - 1].hint().max(1) as f64).sqrt(),
    };
    let mut out = batch.clone();
    out.extend([l, v.sizes[rv - 1].clone()]);
    Ok(SdpaPlan {
        out: TensorMeta::new(q.dtype, out),
        batch,
        kv_repeat,
        scale,
        mask,
    })
}

/// Query, key and value: one floating dtype, at least 2-D.
fn check_dtypes_and_ranks(q: &TensorMeta, k: &TensorMeta, v: &TensorMeta) -> Result<(), OpError> {
    if !q.dtype.is_float() {
        op_bail!(
            "scaled_dot_product_attention: expected a floating query, got {}",
            q.dtype
        );
    }
    if k.dtype != q.dtype || v.dtype != q.dtype {
        op_bail!(
            "Expected query, key, and value to have the same dtype, but got query.dtype: {} key.dtype: {} and value.dtype: {} instead.",
            q.dtype,
            k.dtype,
            v.dtype
        );
    }
    if q.rank() < 2 || k.rank() < 2 || v.rank() < 2 {
        op_bail!(
            "scaled_dot_product_attention: query, key and value must be at least 2-D, got {}, {} and {}",
            format_sizes(&q.sizes),
            format_sizes(&k.sizes),
            format_sizes(&v.sizes)
        );
    }
    Ok(())
}

/// The embedding dims of query and key, and the sequence lengths of key and value.
fn check_matching_dims(q: &TensorMeta, k: &TensorMeta, v: &TensorMeta) -> Result<(), OpError> {
    let (rq, rk, rv) = (q.rank(), k.rank(), v.rank());
    if !sizes_match(&q.sizes[rq - 1], &k.sizes[rk - 1]) {
        op_bail!(
            "scaled_dot_product_attention: the last dims of query and key must match, got {} and {}",
            format_sizes(&q.sizes),
            format_sizes(&k.sizes)
        );
    }
    if !sizes_match(&k.sizes[rk - 2], &v.sizes[rv - 2]) {
        op_bail!(
            "scaled_dot_product_attention: key and value must have the same sequence length, got {} and {}",
            format_sizes(&k.sizes),
            format_sizes(&v.sizes)
        );
    }
    Ok(())
}

/// The broadcast batch dims of the output, and how many query heads share a key/value
/// head (with `enable_gqa`, key and value heads count as the query's when broadcasting).
fn batch_and_kv_repeat(
    q: &TensorMeta,
    k: &TensorMeta,
    v: &TensorMeta,
    enable_gqa: bool,
) -> Result<(Vec<SymInt>, usize), OpError> {
    let (rq, rk, rv) = (q.rank(), k.rank(), v.rank());
    let mut bk = k.sizes[..rk - 2].to_vec();
    let mut bv = v.sizes[..rv - 2].to_vec();
    let bq = q.sizes[..rq - 2].to_vec();
    let mut kv_repeat = 1;
    if enable_gqa && rq >= 3 && rk >= 3 && rv >= 3 {
        let hq = q.sizes[rq - 3].hint();
        let (hk, hv) = (k.sizes[rk - 3].hint(), v.sizes[rv - 3].hint());
        if hk != hq {
            if hk <= 0 || hq % hk != 0 || hv != hk {
                op_bail!(
                    "scaled_dot_product_attention: number of heads in key/value must divide number of heads in query, got {hq} and {hk}/{hv}"
                );
            }
            kv_repeat = (hq / hk) as usize;
            let hq = &q.sizes[rq - 3];
            for b in [&mut bk, &mut bv] {
                if let Some(h) = b.last_mut() {
                    *h = hq.clone();
                }
            }
        }
    }
    let batch = broadcast_shapes(&broadcast_shapes(&bq, &bk)?, &bv)?;
    Ok((batch, kv_repeat))
}

/// The mask: bool or the query's dtype, broadcasting to the scores' shape `scores`.
fn check_mask(m: &TensorMeta, q_dtype: DType, scores: &[SymInt]) -> Result<(), OpError> {
    if m.dtype != DType::Bool && m.dtype != q_dtype {
        op_bail!(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: {} and  query.dtype: {} instead.",
            m.dtype,
            q_dtype
        );
    }
    let b = broadcast_shapes(&m.sizes, scores)?;
    if b.len() != scores.len() || !b.iter().zip(scores).all(|(x, y)| x.same_as(y)) {
        op_bail!(
            "scaled_dot_product_attention: attn_mask of shape {} does not broadcast to the attention scores' shape {}",
            format_sizes(&m.sizes),
            format_sizes(scores)
        );
    }
    Ok(())
}

fn sdpa_meta(args: &Sdpa) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![sdpa_plan(args)?.out])
}

/// `s` broadcast to `shape`, as row-major values of `T`.
fn flat<T: Element>(s: &Storage, shape: &[usize]) -> Result<Vec<T>, OpError> {
    let a = s.typed::<T>();
    let b = a.broadcast(IxDyn(shape)).ok_or_else(|| {
        OpError(format!(
            "scaled_dot_product_attention: cannot broadcast {:?} to {:?}",
            a.shape(),
            shape
        ))
    })?;
    Ok(crate::tensor::view_to_vec(&b))
}

/// `a` broadcast to `shape` (`[batch.., rows, cols]`) as the kernel reads it in place:
/// through its own strides, where its elements fill its memory in some order with no
/// negative stride (a contiguous, transposed or permuted tensor, broadcast or not);
/// `None` for the rest, which are copied ([`flat`]).
fn in_place<'a, T: Element>(
    a: &'a ndarray::ArcArray<T, IxDyn>,
    shape: &[usize],
) -> Option<Strided<'a, T>> {
    let data = a.as_slice_memory_order()?;
    let b = a.broadcast(IxDyn(shape))?;
    let st: Vec<usize> = (b.strides().iter())
        .map(|&s| usize::try_from(s).ok())
        .collect::<Option<_>>()?;
    Strided::with_layout(data, 0, shape, &st)
}

/// Repeats each head (dim -3) `n` times, as `repeat_interleave` does.
fn repeat_heads(s: &Storage, n: usize) -> Storage {
    if n == 1 {
        return s.clone();
    }
    let r = s.shape().len();
    let idx: Vec<usize> = (0..s.shape()[r - 3] * n).map(|h| h / n).collect();
    crate::map_storage!(s, a => a.select(Axis(r - 3), &idx).into_shared())
}

/// A mask as the kernel's additive terms in its own shape (a bool mask's `false` is
/// `-inf`), contiguous.
fn kernel_mask<T: Element + Float>(st: &Storage, dtype: DType) -> Result<Vec<T>, OpError> {
    let shape = st.shape().to_vec();
    Ok(if dtype == DType::Bool {
        flat::<bool>(st, &shape)?
            .into_iter()
            .map(|keep| if keep { T::ZERO } else { T::NEG_INFINITY })
            .collect()
    } else {
        flat::<T>(st, &shape)?
    })
}

/// The kernel [`attention`] (fused, blocked, online softmax) on the call's operands, each
/// broadcast over the batch dims; the mask is read through broadcast strides.
fn sdpa_typed<T: Gemm>(args: &Sdpa, plan: &SdpaPlan) -> Result<Storage, OpError> {
    let batch = concrete(&plan.batch);
    let nb: usize = batch.iter().product();
    let (q, k, v) = (
        args.query.storage_or_op_error()?,
        args.key.storage_or_op_error()?,
        args.value.storage_or_op_error()?,
    );
    let (k, v) = (
        repeat_heads(&k, plan.kv_repeat),
        repeat_heads(&v, plan.kv_repeat),
    );
    let (rq, rk, rv) = (q.shape().len(), k.shape().len(), v.shape().len());
    let (l, e) = (q.shape()[rq - 2], q.shape()[rq - 1]);
    let s = k.shape()[rk - 2];
    let ev = v.shape()[rv - 1];
    let with = |a: usize, b: usize| {
        let mut sh = batch.clone();
        sh.extend([a, b]);
        sh
    };
    let shapes = [with(l, e), with(s, e), with(s, ev)];
    // In place where the kernel can read them so (see `in_place`), else copied.
    let arrays = [&q, &k, &v]
        .into_iter()
        .zip(&shapes)
        .map(|(st, sh)| {
            let a = st.typed::<T>();
            if in_place(&a, sh).is_some() {
                return Ok(a);
            }
            ndarray::ArcArray::from_shape_vec(IxDyn(sh), flat::<T>(st, sh)?)
                .map_err(|e| OpError(format!("scaled_dot_product_attention: {e}")))
        })
        .collect::<Result<Vec<_>, OpError>>()?;
    let operands: Vec<Strided<'_, T>> = (arrays.iter().zip(&shapes))
        .map(|(a, sh)| in_place(a, sh))
        .collect::<Option<_>>()
        .ok_or_else(|| OpError::new("scaled_dot_product_attention: operand layout"))?;
    let mask_data = match (&plan.mask, &args.attn_mask) {
        (Some(m), Some(t)) => {
            let st = t.storage_or_op_error()?;
            Some((kernel_mask::<T>(&st, m.dtype)?, st))
        }
        _ => None,
    };
    let mask = match &mask_data {
        None => None,
        Some((d, st)) => {
            Some(Strided::broadcast(d, st.shape(), &batch, [l, s]).map_err(|e| OpError(e.0))?)
        }
    };
    let geom = AttentionGeom {
        batch: nb,
        l,
        s,
        e,
        ev,
        scale: plan.scale,
        causal: args.is_causal,
    };
    let mut out = ferrex_kernels::try_filled(nb * l * ev, T::ZERO).map_err(|e| OpError(e.0))?;
    let [q, k, v] = &operands[..] else {
        return Err(OpError::new("scaled_dot_product_attention: operand layout"));
    };
    attention_strided([q, k, v], mask.as_ref(), &geom, &mut out).map_err(|e| OpError(e.0))?;
    Storage::from_vec(&with(l, ev), out)
        .ok_or_else(|| OpError::new("scaled_dot_product_attention: output shape"))
}

fn sdpa_kernel(args: &Sdpa, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let plan = sdpa_plan(args)?;
    Ok(vec![
        with_float_dtype!(plan.out.dtype, "scaled_dot_product_attention", T => {
            sdpa_typed::<T>(args, &plan)?
        }),
    ])
}

/// PyTorch's math path as its default decomposition table writes it:
/// `safe_softmax((q * √scale) @ (k * √scale)ᵀ + mask) @ v` (scaling by `mul.Scalar`,
/// the causal mask as `-inf` above the diagonal, grouped heads repeated), where the safe
/// softmax gives zeros for rows that are entirely `-inf`; a 4-D result is then made
/// contiguous in `[N, L, H, E]` order and transposed back, as the flash-attention
/// layout that PyTorch's export preserves.
fn sdpa_decomposition(args: &Sdpa) -> Result<Vec<Tensor>, OpError> {
    let plan = sdpa_plan(args)?;
    let (q, mut k, mut v) = (args.query.clone(), args.key.clone(), args.value.clone());
    if plan.kv_repeat > 1 {
        let n = plan.kv_repeat as i64;
        let interleave = |t: &Tensor| -> Result<Tensor, OpError> {
            let sizes = meta_of(t)?.sizes;
            let r = sizes.len();
            let mut wide = sizes.clone();
            wide.insert(r - 2, SymInt::Int(n));
            let mut merged = sizes.clone();
            merged[r - 3] = merged[r - 3].mul(&SymInt::Int(n));
            Ok(t.unsqueeze(-3).expand(&wide).reshape(&merged))
        };
        k = interleave(&k)?;
        v = interleave(&v)?;
    }
    let factor = plan.scale.sqrt();
    let scaled = |t: Tensor| -> Result<Tensor, OpError> {
        first(Tensor::call_op(
            &MUL_SCALAR,
            vec![Value::Tensor(t), Value::Float(factor)],
        ))
    };
    let scores = scaled(q)?.matmul(&scaled(k.transpose(-2, -1))?);
    let dtype = meta_of(&scores)?.dtype;
    let mask = if args.is_causal {
        let sizes = meta_of(&scores)?.sizes;
        let (l, s) = (
            sizes[sizes.len() - 2].clone(),
            sizes[sizes.len() - 1].clone(),
        );
        Some(additive_mask(
            &Tensor::ones_dtype(vec![l, s], DType::Bool).tril(0),
            dtype,
        ))
    } else {
        match args.attn_mask.clone() {
            Some(m) if meta_of(&m)?.dtype == DType::Bool => Some(additive_mask(&m, dtype)),
            other => other,
        }
    };
    let scores = match mask {
        Some(m) => scores + m,
        None => scores,
    };
    let out = safe_softmax(&scores).matmul(&v);
    if plan.out.rank() == 4 {
        return Ok(vec![out.transpose(1, 2).copy().transpose(1, 2)]);
    }
    Ok(vec![out])
}

/// A bool mask as an additive one: `0` where it keeps, `-inf` where it masks (ATen's
/// `convert_boolean_attn_mask`).
fn additive_mask(keep: &Tensor, dtype: DType) -> Tensor {
    Tensor::where_(
        keep,
        &Tensor::scalar_tensor(0.0, dtype),
        &Tensor::scalar_tensor(f64::NEG_INFINITY, dtype),
    )
}

/// `softmax(x, -1)`, with zeros for rows that are entirely `-inf` (ATen's
/// `_safe_softmax`, decomposed as PyTorch's table does).
fn safe_softmax(x: &Tensor) -> Tensor {
    let out = x.softmax(-1);
    let masked_rows = x
        .eq(f64::NEG_INFINITY)
        .logical_not()
        .any_dim(-1, true)
        .logical_not();
    Tensor::where_(&masked_rows, &out.full_like(0), &out)
}

fn first(out: Vec<Tensor>) -> Result<Tensor, OpError> {
    out.into_iter()
        .next()
        .ok_or_else(|| OpError::new("an op returned no tensor"))
}

/// What attention offers the runtime (`enable_gqa` is left to the step, which plans
/// only operands of one batch shape).
fn sdpa_lowering<T: Clone>(a: &Sdpa<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Attention {
        query: a.query.clone(),
        key: a.key.clone(),
        value: a.value.clone(),
        attn_mask: a.attn_mask.clone(),
        dropout_p: a.dropout_p,
        is_causal: a.is_causal,
        scale: a.scale,
    })
}

op_def! {
    pub static SCALED_DOT_PRODUCT_ATTENTION: struct Sdpa =
        "aten::scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, float dropout_p=0.0, bool is_causal=False, *, float? scale=None, bool enable_gqa=False) -> Tensor" {
        meta: sdpa_meta,
        kernel: sdpa_kernel,
        decomposition: sdpa_decomposition,
        lowering: sdpa_lowering,
    }
}
