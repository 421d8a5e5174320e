//! Matrix products: `mm`, `bmm`, `addmm`, `matmul` (with batch broadcasting) and `linear`.
//! Floating-point products go through matrixmultiply directly on the strided data. The
//! other products are composites of these and the pointwise ops, written as ATen's
//! composites or PyTorch's decompositions: `baddbmm` / `addbmm` / `addmv`, `outer`,
//! `dot`, `trace`, `tensordot`, `kron`, `block_diag`, `cartesian_prod`, `cross` /
//! `linalg_cross`, `bilinear` / `_trilinear`.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Dimension, Ix2, IxDyn};

use ferrex_kernels::{gemm, Float, Mat};

use super::lowering::Lowering;
use super::shape::TensorList;
use super::util::{broadcast_shapes, concrete, first_result, meta_of};
use super::{op_def, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Element, Scalar, Storage, Tensor, TensorMeta};

// ---------------------------------------------------------------------------------------
// GEMM kernels

/// A float element type whose products run on the shared kernels' [`gemm`].
pub(crate) trait Gemm: Element + Float {
    /// `c = alpha * a @ b + beta * c` on ndarray views.
    fn gemm(
        alpha: Self,
        a: ArrayView2<Self>,
        b: ArrayView2<Self>,
        beta: Self,
        c: ArrayViewMut2<Self>,
    ) -> Result<(), OpError>;
}

/// Runs `f` on `v` as a kernel [`Mat`]: in place where its memory is one block with
/// non-negative strides, else on a row-major copy.
fn with_mat<T: Element + Float, R>(v: &ArrayView2<T>, f: impl FnOnce(Mat<T>) -> R) -> R {
    let (rows, cols) = v.dim();
    let strides = v.strides();
    if let (Ok(rs), Ok(cs)) = (usize::try_from(strides[0]), usize::try_from(strides[1])) {
        if let Some(data) = v.as_slice_memory_order() {
            return f(Mat {
                data,
                rows,
                cols,
                rs,
                cs,
            });
        }
    }
    let copy: Vec<T> = v.iter().copied().collect();
    f(Mat::row_major(&copy, rows, cols))
}

impl<T: Element + Float> Gemm for T {
    fn gemm(
        alpha: T,
        a: ArrayView2<T>,
        b: ArrayView2<T>,
        beta: T,
        mut c: ArrayViewMut2<T>,
    ) -> Result<(), OpError> {
        let kernel = |out: &mut [T]| {
            with_mat(&a, |am| with_mat(&b, |bm| gemm(alpha, am, bm, beta, out)))
                .map_err(|e| OpError(e.0))
        };
        match c.as_slice_mut() {
            Some(out) => kernel(out),
            None => {
                // A strided output: compute into a row-major buffer, then write back.
                let mut out: Vec<T> = c.iter().copied().collect();
                kernel(&mut out)?;
                c.iter_mut().zip(out).for_each(|(d, v)| *d = v);
                Ok(())
            }
        }
    }
}

/// Integer products, exact (no float rounding).
fn int_gemm<T: Element>(
    alpha: i64,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: i64,
    mut c: ArrayViewMut2<T>,
) -> Result<(), OpError> {
    let (m, k) = a.dim();
    let n = b.dim().1;
    for i in 0..m {
        for j in 0..n {
            let mut acc: i64 = 0;
            for p in 0..k {
                acc = acc.wrapping_add(a[[i, p]].to_i64().wrapping_mul(b[[p, j]].to_i64()));
            }
            let prev = c[[i, j]].to_i64();
            c[[i, j]] = T::from_i64(
                alpha
                    .wrapping_mul(acc)
                    .wrapping_add(beta.wrapping_mul(prev)),
            );
        }
    }
    Ok(())
}

/// Batched `alpha * a @ b + beta * init` for rank ≥ 2 operands whose batch dims are
/// already broadcast to `batch`; `init` (if any) is broadcast to the output.
fn batched<T: Element>(
    a: &Storage,
    b: &Storage,
    batch: &[usize],
    init: Option<&Storage>,
    alpha: f64,
    beta: f64,
    gemm: impl Fn(T, ArrayView2<T>, ArrayView2<T>, T, ArrayViewMut2<T>) -> Result<(), OpError>,
) -> Result<Storage, OpError> {
    let a = a.typed::<T>();
    let b = b.typed::<T>();
    let (m, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let n = b.shape()[b.ndim() - 1];
    if let (true, Ok(a2), Ok(b2)) = (
        batch.is_empty(),
        a.view().into_dimensionality::<Ix2>(),
        b.view().into_dimensionality::<Ix2>(),
    ) {
        // One product (`mm`, `addmm`, a 2-D `matmul`): on the operands as they are,
        // without the batch's broadcast views.
        let mut out = match init {
            Some(s) => broadcast_owned(&s.typed::<T>(), &[m, n])?,
            None => ndarray::ArrayD::<T>::default(IxDyn(&[m, n])),
        };
        let o2 =
            (out.view_mut().into_dimensionality::<Ix2>()).map_err(|e| OpError(e.to_string()))?;
        let beta = if init.is_some() { beta } else { 0.0 };
        gemm(T::from_f64(alpha), a2, b2, T::from_f64(beta), o2)?;
        return Ok(T::wrap(out.into_shared()));
    }
    let mut a_shape = batch.to_vec();
    a_shape.extend([m, k]);
    let mut b_shape = batch.to_vec();
    b_shape.extend([k, n]);
    let mut out_shape = batch.to_vec();
    out_shape.extend([m, n]);
    let av = a
        .broadcast(IxDyn(&a_shape))
        .ok_or_else(|| OpError(format!("cannot broadcast {:?} to {:?}", a.shape(), a_shape)))?;
    let bv = b
        .broadcast(IxDyn(&b_shape))
        .ok_or_else(|| OpError(format!("cannot broadcast {:?} to {:?}", b.shape(), b_shape)))?;
    let mut out = match init {
        Some(s) => broadcast_owned(&s.typed::<T>(), &out_shape)?,
        None => ndarray::ArrayD::<T>::default(IxDyn(&out_shape)),
    };
    let nb: usize = batch.iter().product();
    let a3 = av
        .to_shape((nb, m, k))
        .map_err(|e| OpError(e.to_string()))?;
    let b3 = bv
        .to_shape((nb, k, n))
        .map_err(|e| OpError(e.to_string()))?;
    {
        let mut o3 = out
            .view_mut()
            .into_shape_with_order((nb, m, n))
            .map_err(|e| OpError(e.to_string()))?;
        for i in 0..nb {
            gemm(
                T::from_f64(alpha),
                a3.index_axis(Axis(0), i),
                b3.index_axis(Axis(0), i),
                T::from_f64(if init.is_some() { beta } else { 0.0 }),
                o3.index_axis_mut(Axis(0), i),
            )?;
        }
    }
    Ok(T::wrap(out.into_shared()))
}

/// `init` broadcast to `shape`, as a new array (the output a product adds into).
fn broadcast_owned<T: Element>(
    init: &ndarray::ArcArray<T, IxDyn>,
    shape: &[usize],
) -> Result<ndarray::ArrayD<T>, OpError> {
    let v = init
        .broadcast(IxDyn(shape))
        .ok_or_else(|| OpError(format!("cannot broadcast {:?} to {shape:?}", init.shape())))?;
    Ok(v.to_owned())
}

/// Dispatches [`batched`] on the dtype.
fn batched_any(
    dtype: DType,
    a: &Storage,
    b: &Storage,
    batch: &[usize],
    init: Option<&Storage>,
    alpha: f64,
    beta: f64,
) -> Result<Storage, OpError> {
    match dtype {
        DType::F32 => batched::<f32>(a, b, batch, init, alpha, beta, f32::gemm),
        DType::F64 => batched::<f64>(a, b, batch, init, alpha, beta, f64::gemm),
        DType::I64 => batched::<i64>(a, b, batch, init, alpha, beta, int_gemm),
        DType::I32 => batched::<i32>(a, b, batch, init, alpha, beta, |al, x, y, be, c| {
            int_gemm(al as i64, x, y, be as i64, c)
        }),
        DType::U8 => batched::<u8>(a, b, batch, init, alpha, beta, |al, x, y, be, c| {
            int_gemm(al as i64, x, y, be as i64, c)
        }),
        DType::Bool => Err(OpError::new(
            "matrix products are not implemented for bool tensors",
        )),
    }
}

fn same_dtype(a: &TensorMeta, b: &TensorMeta, op: &str) -> Result<DType, OpError> {
    if a.dtype != b.dtype {
        return Err(OpError(format!(
            "expected {op}'s operands to have the same dtype, but got {} and {}",
            a.dtype, b.dtype
        )));
    }
    Ok(a.dtype)
}

fn check_inner(k1: &SymInt, k2: &SymInt, a: &TensorMeta, b: &TensorMeta) -> Result<(), OpError> {
    if k1.sym_eq(k2) {
        return Ok(());
    }
    Err(OpError(format!(
        "mat1 and mat2 shapes cannot be multiplied ({} and {})",
        shape_text(a),
        shape_text(b)
    )))
}

fn shape_text(m: &TensorMeta) -> String {
    let parts: Vec<String> = m.sizes.iter().map(|s| s.to_string()).collect();
    parts.join("x")
}

// ---------------------------------------------------------------------------------------
// mm / addmm

fn mm_meta(a: &Mm) -> Result<Vec<TensorMeta>, OpError> {
    mm_meta_of(&a.self_, &a.mat2)
}

fn mm_meta_of(a: &Tensor, b: &Tensor) -> Result<Vec<TensorMeta>, OpError> {
    let (a, b) = (meta_of(a)?, meta_of(b)?);
    if a.rank() != 2 || b.rank() != 2 {
        return Err(OpError(format!(
            "mm expects 2-D tensors, got {}-D and {}-D",
            a.rank(),
            b.rank()
        )));
    }
    let dtype = same_dtype(&a, &b, "mm")?;
    check_inner(&a.sizes[1], &b.sizes[0], &a, &b)?;
    Ok(vec![TensorMeta::new(
        dtype,
        vec![a.sizes[0].clone(), b.sizes[1].clone()],
    )])
}

fn mm_kernel(a: &Mm, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (x, w) = (
        a.self_.storage_or_op_error()?,
        a.mat2.storage_or_op_error()?,
    );
    if let Some(y) = by_transposed_weight(&x, &w, None)? {
        return Ok(vec![y]);
    }
    Ok(vec![batched_any(
        result_dtype(out)?,
        &x,
        &w,
        &[],
        None,
        1.0,
        0.0,
    )?])
}

fn bmm_meta(a: &Mm) -> Result<Vec<TensorMeta>, OpError> {
    let (a, b) = (meta_of(&a.self_)?, meta_of(&a.mat2)?);
    if a.rank() != 3 || b.rank() != 3 {
        return Err(OpError(format!(
            "batch1 must be a 3D tensor and batch2 must be a 3D tensor, got {}-D and {}-D",
            a.rank(),
            b.rank()
        )));
    }
    let dtype = same_dtype(&a, &b, "bmm")?;
    if !a.sizes[0].sym_eq(&b.sizes[0]) {
        return Err(OpError(format!(
            "Expected size for first two dimensions of batch2 tensor to be: [{}, {}] but got: [{}, {}].",
            a.sizes[0], a.sizes[2], b.sizes[0], b.sizes[1]
        )));
    }
    check_inner(&a.sizes[2], &b.sizes[1], &a, &b)?;
    Ok(vec![TensorMeta::new(
        dtype,
        vec![a.sizes[0].clone(), a.sizes[1].clone(), b.sizes[2].clone()],
    )])
}

fn bmm_kernel(a: &Mm, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let batch = [out
        .first()
        .and_then(|m| m.sizes.first())
        .map_or(0, |s| s.hint().max(0) as usize)];
    Ok(vec![batched_any(
        result_dtype(out)?,
        &a.self_.storage_or_op_error()?,
        &a.mat2.storage_or_op_error()?,
        &batch,
        None,
        1.0,
        0.0,
    )?])
}

fn addmm_meta(a: &Addmm) -> Result<Vec<TensorMeta>, OpError> {
    let bias = meta_of(&a.self_)?;
    let out = mm_meta_of(&a.mat1, &a.mat2)?;
    same_dtype(&bias, &out[0], "addmm")?;
    let b = broadcast_shapes(&bias.sizes, &out[0].sizes)?;
    if b.len() != 2 || !b.iter().zip(&out[0].sizes).all(|(x, y)| x.same_as(y)) {
        return Err(OpError(format!(
            "addmm: the bias of shape {} does not broadcast to the product's shape {}",
            crate::symbolic::format_sizes(&bias.sizes),
            crate::symbolic::format_sizes(&out[0].sizes)
        )));
    }
    Ok(out)
}

fn addmm_kernel(a: &Addmm, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (beta, alpha) = (a.beta.to::<f64>(), a.alpha.to::<f64>());
    let bias = a.self_.storage_or_op_error()?;
    let (x, w) = (a.mat1.storage_or_op_error()?, a.mat2.storage_or_op_error()?);
    if (alpha, beta) == (1.0, 1.0) {
        if let Some(y) = by_transposed_weight(&x, &w, Some(&bias))? {
            return Ok(vec![y]);
        }
    }
    let init = if beta == 0.0 { None } else { Some(&bias) };
    Ok(vec![batched_any(
        result_dtype(out)?,
        &x,
        &w,
        &[],
        init,
        alpha,
        beta,
    )?])
}

/// `x @ wt + bias` where `wt` is a transposed weight (`[k, n]` with strides `[1, k]`:
/// the core IR's `addmm(b, x, permute(w, [1, 0]))`, which is `linear(x, w, b)`): the
/// product by the weight packed once ([`linear_prepacked`]), not per call. `None` for
/// other operands.
fn by_transposed_weight(
    x: &Storage,
    wt: &Storage,
    bias: Option<&Storage>,
) -> Result<Option<Storage>, OpError> {
    let (Storage::F32(xa), Storage::F32(wa)) = (x, wt) else {
        return Ok(None);
    };
    let transposed =
        matches!((wa.shape(), wa.strides()), ([k, _], [1, s]) if *s as usize == *k && *k > 1);
    if xa.ndim() != 2 || !transposed {
        return Ok(None);
    }
    linear_prepacked(x, &super::shape::transpose_storage(wt, 0, 1), bias)
}

/// The dtype of a product's one result.
fn result_dtype(out: &[TensorMeta]) -> Result<DType, OpError> {
    out.first()
        .map(|m| m.dtype)
        .ok_or_else(|| OpError::new("a product has one result"))
}

fn mm_lowering<T: Clone>(a: &Mm<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Gemm {
        a: a.self_.clone(),
        b: a.mat2.clone(),
        bias: None,
        beta: 0.0,
        alpha: 1.0,
        weight: false,
        any_rank: false,
    })
}

/// `beta * self + alpha * mat1 @ mat2`, the defaults from the schema.
fn addmm_lowering<T: Clone>(a: &Addmm<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Gemm {
        a: a.mat1.clone(),
        b: a.mat2.clone(),
        bias: Some(a.self_.clone()),
        beta: a.beta.to::<f64>(),
        alpha: a.alpha.to::<f64>(),
        weight: false,
        any_rank: false,
    })
}

fn bmm_lowering<T: Clone>(a: &Mm<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Bmm {
        a: a.self_.clone(),
        b: a.mat2.clone(),
    })
}

op_def! {
    pub static MM: struct Mm = "aten::mm(Tensor self, Tensor mat2) -> Tensor" {
        meta: mm_meta,
        kernel: mm_kernel,
        lowering: mm_lowering,
    }
    pub static BMM: Mm = "aten::bmm(Tensor self, Tensor mat2) -> Tensor" {
        meta: bmm_meta,
        kernel: bmm_kernel,
        lowering: bmm_lowering,
    }
    pub static ADDMM: struct Addmm =
        "aten::addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor" {
        meta: addmm_meta,
        kernel: addmm_kernel,
        lowering: addmm_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// matmul

/// The shapes `matmul` works on: both operands lifted to rank ≥ 2, the broadcast batch,
/// and which dims to drop afterwards (from 1-D operands).
struct MatmulPlan {
    a_sizes: Vec<SymInt>,
    b_sizes: Vec<SymInt>,
    batch: Vec<SymInt>,
    out: Vec<SymInt>,
}

fn matmul_plan(a: &TensorMeta, b: &TensorMeta) -> Result<MatmulPlan, OpError> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(OpError(format!(
            "both arguments to matmul need to be at least 1D, but they are {}D and {}D",
            a.rank(),
            b.rank()
        )));
    }
    let mut a_sizes = a.sizes.clone();
    let mut b_sizes = b.sizes.clone();
    if a.rank() == 1 {
        a_sizes.insert(0, SymInt::Int(1));
    }
    if b.rank() == 1 {
        b_sizes.push(SymInt::Int(1));
    }
    let (ra, rb) = (a_sizes.len(), b_sizes.len());
    check_inner(&a_sizes[ra - 1], &b_sizes[rb - 2], a, b)?;
    let batch = broadcast_shapes(&a_sizes[..ra - 2], &b_sizes[..rb - 2])?;
    let mut out = batch.clone();
    if a.rank() > 1 {
        out.push(a_sizes[ra - 2].clone());
    }
    if b.rank() > 1 {
        out.push(b_sizes[rb - 1].clone());
    }
    Ok(MatmulPlan {
        a_sizes,
        b_sizes,
        batch,
        out,
    })
}

fn matmul_meta(a: &Matmul) -> Result<Vec<TensorMeta>, OpError> {
    let (a, b) = (meta_of(&a.self_)?, meta_of(&a.other)?);
    let dtype = same_dtype(&a, &b, "matmul")?;
    Ok(vec![TensorMeta::new(dtype, matmul_plan(&a, &b)?.out)])
}

/// `a @ b` on eager storage, for any ranks matmul accepts.
fn matmul_storage(a: &Storage, b: &Storage) -> Result<Storage, OpError> {
    if a.shape().len() == 2 && b.shape().len() == 2 && a.dtype() == b.dtype() {
        // `mm`, without the plan's reshapes.
        return batched_any(a.dtype(), a, b, &[], None, 1.0, 0.0);
    }
    let (am, bm) = (
        TensorMeta::from_shape(a.dtype(), a.shape()),
        TensorMeta::from_shape(b.dtype(), b.shape()),
    );
    let plan = matmul_plan(&am, &bm)?;
    let a2 = reshape_view(a, &concrete(&plan.a_sizes))?;
    let b2 = reshape_view(b, &concrete(&plan.b_sizes))?;
    let out = batched_any(a.dtype(), &a2, &b2, &concrete(&plan.batch), None, 1.0, 0.0)?;
    reshape_view(&out, &concrete(&plan.out))
}

/// Reshapes without copying when the layout allows it.
fn reshape_view(s: &Storage, shape: &[usize]) -> Result<Storage, OpError> {
    if s.shape() == shape {
        return Ok(s.clone());
    }
    super::shape::reshape_storage(s, shape)
}

fn matmul_kernel(a: &Matmul, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    Ok(vec![matmul_storage(
        &a.self_.storage_or_op_error()?,
        &a.other.storage_or_op_error()?,
    )?])
}

/// A product with a 2-D right operand runs as one GEMM over the left operand's rows.
fn matmul_lowering<T: Clone>(a: &Matmul<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Gemm {
        a: a.self_.clone(),
        b: a.other.clone(),
        bias: None,
        beta: 0.0,
        alpha: 1.0,
        weight: false,
        any_rank: true,
    })
}

/// `matmul` as ATen's composite writes it (`at::matmul`, for contiguous operands):
/// `mm` for 2-D operands (1-D ones unsqueezed, then squeezed back), the larger operand
/// folded to 2-D (`view` + `mm` + `view`) for ≥3-D times ≤2-D, otherwise both operands
/// expanded to the broadcast batch and flattened to 3-D (`expand` + `view`), `bmm`, and
/// a `view` to the result's shape.
fn matmul_decomposition(args: &Matmul) -> Result<Vec<Tensor>, OpError> {
    let (a, b) = (args.self_.clone(), args.other.clone());
    let (am, bm) = (meta_of(&a)?, meta_of(&b)?);
    let plan = matmul_plan(&am, &bm)?;
    let out = match (am.rank(), bm.rank()) {
        (1, 1) => (&a * &b).sum(),
        (2, 1) => a.mm(&b.unsqueeze(1)).squeeze_dim(1),
        (1, 2) => a.unsqueeze(0).mm(&b).squeeze_dim(0),
        (2, 2) => a.mm(&b),
        (ra, rb) if ra >= 3 && rb <= 2 => {
            let lead = &am.sizes[..ra - 1];
            let flat = a.view(vec![product(lead), am.sizes[ra - 1].clone()]);
            let b2 = if rb == 1 { b.unsqueeze(1) } else { b };
            flat.mm(&b2).view(plan.out.clone())
        }
        _ => {
            let batch = product(&plan.batch);
            let to_3d = |t: &Tensor, sizes: &[SymInt]| {
                let r = sizes.len();
                let mut wide = plan.batch.clone();
                wide.extend_from_slice(&sizes[r - 2..]);
                t.expand(wide).view(vec![
                    batch.clone(),
                    sizes[r - 2].clone(),
                    sizes[r - 1].clone(),
                ])
            };
            let b = if bm.rank() == 1 { b.unsqueeze(1) } else { b };
            to_3d(&a, &plan.a_sizes)
                .bmm(&to_3d(&b, &plan.b_sizes))
                .view(plan.out.clone())
        }
    };
    Ok(vec![out])
}

op_def! {
    pub static MATMUL: struct Matmul = "aten::matmul(Tensor self, Tensor other) -> Tensor" {
        meta: matmul_meta,
        kernel: matmul_kernel,
        decomposition: matmul_decomposition,
        lowering: matmul_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// linear

fn linear_meta(a: &Linear) -> Result<Vec<TensorMeta>, OpError> {
    let (x, w) = (meta_of(&a.input)?, meta_of(&a.weight)?);
    if w.rank() != 2 {
        return Err(OpError(format!(
            "linear: weight must be 2-D, got {}-D",
            w.rank()
        )));
    }
    if x.rank() == 0 {
        return Err(OpError::new("linear: input must be at least 1-D"));
    }
    let dtype = same_dtype(&x, &w, "linear")?;
    let (in_x, in_w) = (&x.sizes[x.rank() - 1], &w.sizes[1]);
    if !in_x.sym_eq(in_w) {
        return Err(OpError(format!(
            "mat1 and mat2 shapes cannot be multiplied ({} and {}x{})",
            shape_text(&TensorMeta::new(
                dtype,
                vec![x.numel().floor_div(in_x.hint().max(1)), in_x.clone()]
            )),
            w.sizes[1],
            w.sizes[0]
        )));
    }
    let mut out = x.sizes[..x.rank() - 1].to_vec();
    out.push(w.sizes[0].clone());
    if let Some(bias) = &a.bias {
        let b = meta_of(bias)?;
        same_dtype(&x, &b, "linear")?;
        broadcast_shapes(&b.sizes, &out)?;
    }
    Ok(vec![TensorMeta::new(dtype, out)])
}

fn linear_kernel(a: &Linear, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let out = out
        .first()
        .ok_or_else(|| OpError::new("linear has one result"))?;
    let x = a.input.storage_or_op_error()?;
    let w = a.weight.storage_or_op_error()?;
    let bias = match &a.bias {
        Some(b) => Some(b.storage_or_op_error()?),
        None => None,
    };
    // The packed product first: the result's sizes are needed only by the others.
    let y = match linear_prepacked(&x, &w, bias.as_ref())? {
        Some(y) => y,
        None => linear_unpacked(&x, &w, bias.as_ref(), &concrete(&out.sizes), out.dtype)?,
    };
    Ok(vec![y])
}

/// `x @ w.t() + bias` of eager storages, the result of sizes `shape` and type `dtype`:
/// `linear`'s kernel, and the input projections of the recurrent layers (`rnn.rs`).
pub(crate) fn linear_storage(
    x: &Storage,
    w: &Storage,
    bias: Option<&Storage>,
    shape: &[usize],
    dtype: DType,
) -> Result<Storage, OpError> {
    match linear_prepacked(x, w, bias)? {
        Some(y) => Ok(y),
        None => linear_unpacked(x, w, bias, shape, dtype),
    }
}

/// [`linear_storage`] for the products [`linear_prepacked`] does not take: a product by
/// the transposed weight, then the bias.
fn linear_unpacked(
    x: &Storage,
    w: &Storage,
    bias: Option<&Storage>,
    shape: &[usize],
    dtype: DType,
) -> Result<Storage, OpError> {
    let y = matmul_storage(x, &super::shape::transpose_storage(w, 0, 1))?;
    match bias {
        None => Ok(y),
        Some(b) => super::elementwise::binary_numeric(
            &y,
            b,
            shape,
            dtype,
            |p, q| p + q,
            |p, q| Ok(p.wrapping_add(q)),
        ),
    }
}

/// `x @ w.t() + bias` for f32 products, with the weight packed once per weight
/// ([`super::prepack`]) instead of per call: the compiled runtime's function on the
/// same packed panels, with the bias as its initial value (added by the product, as the
/// runtime's GEMM step adds it), so the same bits. Products of fewer rows than [`gemm`]
/// packs for take it too (the weight is packed once, not per call), and so the threads
/// the packed product splits a large weight over: the interpreter's MLP at batch 1 ran
/// one-threaded GEMV, 1.8× the compiled plan's time at 2 threads. A strided input (a
/// transpose before a projection) is read in place, one product per matrix of its
/// last two dims, or copied when those are several short ones
/// ([`StridedMatrices::read_in_place`]). `None` for the rest.
fn linear_prepacked(
    x: &Storage,
    w: &Storage,
    bias: Option<&Storage>,
) -> Result<Option<Storage>, OpError> {
    let (Storage::F32(xa), Storage::F32(wa)) = (x, w) else {
        return Ok(None);
    };
    let bias = match bias {
        None => None,
        Some(Storage::F32(b)) if b.ndim() == 1 => b.as_slice(),
        Some(_) => return Ok(None),
    };
    let ([n, k], Some((&k_x, lead))) = (wa.shape(), xa.shape().split_last()) else {
        return Ok(None);
    };
    let (n, k) = (*n, *k);
    let m: usize = lead.iter().product();
    if !linear_packs(m, n, k) || k_x != k || bias.is_some_and(|b| b.len() != n) {
        return Ok(None);
    }
    let packed = super::prepack::packed_weight(wa)?;
    let epilogue = ferrex_kernels::GemmEpilogue {
        bias,
        ..Default::default()
    };
    // Held inline up to four dims: no allocation for the shape of a small call.
    let mut shape = IxDyn(xa.shape());
    if let Some(last) = shape.slice_mut().last_mut() {
        *last = n;
    }
    // Written by the products alone (no zero fill), the bias added where they store.
    let multiply = |parts: &[Mat<f32>]| {
        ferrex_kernels::gemm_packed_new(1.0, parts, &packed, epilogue).map_err(|e| OpError(e.0))
    };
    // Row-major data is one matrix as it is; a strided view (a transpose before the
    // projection) one per matrix of its last two dims, unless they are several short
    // ones; other views (a broadcast) are copied row-major first.
    let y = if let Some(rows) = xa.as_slice() {
        multiply(&[Mat::row_major(rows, m, k)])?
    } else if let Some(matrices) = strided_matrices(xa).filter(StridedMatrices::read_in_place) {
        multiply(&matrices.iter().collect::<Vec<_>>())?
    } else {
        let copied = x.contiguous();
        let Some(rows) = (match &copied {
            Storage::F32(c) => c.as_slice(),
            _ => None,
        }) else {
            return Ok(None);
        };
        multiply(&[Mat::row_major(rows, m, k)])?
    };
    Ok(Storage::from_vec(shape.slice(), y))
}

/// Whether an f32 `linear` of `m` rows, `n` outputs and `k` inputs runs the packed
/// product of [`linear_prepacked`] (a weight with 1-D bias or none, any input layout).
pub(crate) fn linear_packs(m: usize, n: usize, k: usize) -> bool {
    m > 0 && n >= 8 && k >= 8
}

/// An array of rank ≥ 1 read as matrices of its last two dims (a vector as one row):
/// its memory and, per matrix, where it starts and its row and column strides.
struct StridedMatrices<'a> {
    memory: &'a [f32],
    /// Each matrix's first element in `memory`, in row-major order of the leading dims.
    starts: Vec<usize>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> StridedMatrices<'a> {
    /// Whether the products read these matrices in place rather than from a row-major
    /// copy: not when they are several of fewer than 64 rows, whose packing (a few rows
    /// at a time) costs more than the copy (the kernels' blocked transpose) and one
    /// product of all their rows. Measured on a 64 → 64 projection of transposed
    /// matrices, one thread: 8 of 32 rows 13.5 µs in place, 12.2 copied; 4 of 64, 12.0
    /// either way; one of 1024, 47 in place, 50–54 copied.
    fn read_in_place(&self) -> bool {
        self.starts.len() == 1 || self.rows >= 64
    }

    fn iter(&self) -> impl Iterator<Item = Mat<'a, f32>> + '_ {
        self.starts.iter().map(|&at| Mat {
            data: &self.memory[at..],
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        })
    }
}

/// [`StridedMatrices`] of a view that is not row-major: one matrix per leading index.
/// `None` for negative strides or memory that is not one slice.
fn strided_matrices(a: &ndarray::ArcArray<f32, IxDyn>) -> Option<StridedMatrices<'_>> {
    let memory = a.as_slice_memory_order()?;
    let strides: Vec<usize> = a
        .strides()
        .iter()
        .map(|&s| usize::try_from(s).ok())
        .collect::<Option<_>>()?;
    let shape = a.shape();
    let rank = shape.len();
    let cols = shape[rank - 1];
    let cs = strides[rank - 1];
    let (rows, rs) = match rank {
        1 => (1, 0),
        _ => (shape[rank - 2], strides[rank - 2]),
    };
    let lead = &shape[..rank.saturating_sub(2)];
    let count: usize = lead.iter().product();
    let mut starts = Vec::with_capacity(count);
    let mut idx = vec![0usize; lead.len()];
    for _ in 0..count {
        starts.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum());
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < lead[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(StridedMatrices {
        memory,
        starts,
        rows,
        cols,
        rs: rs.max(1),
        cs,
    })
}

/// The product of `sizes` (`1` for none).
fn product(sizes: &[SymInt]) -> SymInt {
    sizes.iter().fold(SymInt::Int(1), |acc, s| acc.mul(s))
}

/// `linear(x, w, b)` as ATen's composite writes it (`at::linear`): `addmm(b, x, t(w))`
/// for a 2-D input with a bias; with a 1-D bias, any other input is flattened to 2-D
/// first (`view` + `addmm` + `view`, ATen's `_flatten_nd_linear`, taken for contiguous
/// inputs — ferrex's tensors always are); without a bias, `matmul(x, t(w))`.
fn linear_decomposition(args: &Linear) -> Result<Vec<Tensor>, OpError> {
    let x = args.input.clone();
    let w = args.weight.clone();
    let bias = args.bias.clone();
    let xm = meta_of(&x)?;
    let bias_rank = match &bias {
        Some(b) => Some(meta_of(b)?.rank()),
        None => None,
    };
    // `t(w)` is recorded after the input's `view`, where ATen takes it.
    let out = match (&bias, bias_rank, xm.rank()) {
        (Some(b), _, 2) => b.addmm(&x, &w.t()),
        (Some(b), Some(br), r) if r == 3 || br == 1 => {
            let lead = &xm.sizes[..r.saturating_sub(1)];
            let inner = xm.sizes.last().cloned().unwrap_or(SymInt::Int(1));
            let flat = x.view(vec![product(lead), inner]);
            let mut sizes = lead.to_vec();
            sizes.push(
                meta_of(&w)?
                    .sizes
                    .first()
                    .cloned()
                    .unwrap_or(SymInt::Int(1)),
            );
            b.addmm(&flat, &w.t()).view(sizes)
        }
        (Some(b), _, _) => x.matmul(&w.t()) + b,
        (None, _, _) => x.matmul(&w.t()),
    };
    Ok(vec![out])
}

/// `input @ weight.T + bias`: a GEMM over the weight's rows.
fn linear_lowering<T: Clone>(a: &Linear<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Gemm {
        a: a.input.clone(),
        b: a.weight.clone(),
        bias: a.bias.clone(),
        beta: 1.0,
        alpha: 1.0,
        weight: true,
        any_rank: true,
    })
}

op_def! {
    pub static LINEAR: struct Linear =
        "aten::linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor" {
        meta: linear_meta,
        kernel: linear_kernel,
        decomposition: linear_decomposition,
        lowering: linear_lowering,
    }
}

/// Argument helper for callers building `linear` calls.
pub(crate) fn linear_args(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Vec<Value> {
    vec![
        Value::Tensor(x.clone()),
        Value::Tensor(w.clone()),
        b.map(|b| Value::Tensor(b.clone())).unwrap_or(Value::None),
    ]
}

// ---------------------------------------------------------------------------------------
// baddbmm, outer: composites of bmm and the pointwise ops

fn baddbmm_meta(a: &Baddbmm) -> Result<Vec<TensorMeta>, OpError> {
    let out = bmm_meta(&Mm {
        self_: a.batch1.clone(),
        mat2: a.batch2.clone(),
    })?
    .swap_remove(0);
    check_added_term("baddbmm", &a.self_, &out)?;
    Ok(vec![out])
}

/// `baddbmm`'s products summed over the batch: `[b, n, m] @ [b, m, p]` to `[n, p]`.
fn addbmm_meta(a: &Baddbmm) -> Result<Vec<TensorMeta>, OpError> {
    let mut out = bmm_meta(&Mm {
        self_: a.batch1.clone(),
        mat2: a.batch2.clone(),
    })?
    .swap_remove(0);
    out.sizes.remove(0);
    check_added_term("addbmm", &a.self_, &out)?;
    Ok(vec![out])
}

fn addmv_meta(a: &Addmv) -> Result<Vec<TensorMeta>, OpError> {
    let (s, mat, vec) = (meta_of(&a.self_)?, meta_of(&a.mat)?, meta_of(&a.vec)?);
    if mat.rank() != 2 || vec.rank() != 1 || s.rank() > 1 {
        op_bail!(
            "vector + matrix @ vector expected, got {}, {}, {}",
            s.rank(),
            mat.rank(),
            vec.rank()
        );
    }
    let dtype = same_dtype(&mat, &vec, "addmv")?;
    if !mat.sizes[1].sym_eq(&vec.sizes[0]) {
        op_bail!(
            "size mismatch, got input ({}), mat ({}x{}), vec ({})",
            s.sizes.first().map_or(SymInt::Int(1), Clone::clone),
            mat.sizes[0],
            mat.sizes[1],
            vec.sizes[0]
        );
    }
    let out = TensorMeta::new(dtype, vec![mat.sizes[0].clone()]);
    check_added_term("addmv", &a.self_, &out)?;
    Ok(vec![out])
}

/// `beta * self + alpha * product` (`baddbmm`, `addbmm`, `addmv`); `beta = 0` ignores
/// `self` (NaN too). Integer factors stay integers (an integer product stays one).
fn scaled_sum(self_: &Tensor, product: Tensor, beta: Scalar, alpha: Scalar) -> Tensor {
    let p = scaled(product, alpha);
    match beta.to::<f64>() {
        0.0 => p,
        1.0 => self_.add(&p),
        _ => scaled(self_.clone(), beta).add(&p),
    }
}

/// `t · s`, the number as the kind it is (an integer factor keeps an integer product
/// one); `t` itself for a factor of 1.
fn scaled(t: Tensor, s: Scalar) -> Tensor {
    match s {
        _ if s.to::<f64>() == 1.0 => t,
        Scalar::Int(i) => t.mul(i),
        Scalar::Float(f) => t.mul(f),
        Scalar::Bool(b) => t.mul(i64::from(b)),
    }
}

/// `self` (the term a product is added to) of `op`: the product's dtype, and sizes that
/// broadcast to the product's `out` without widening it (PyTorch expands `self` to it).
fn check_added_term(op: &str, self_: &Tensor, out: &TensorMeta) -> Result<(), OpError> {
    let m = meta_of(self_)?;
    same_dtype(&m, out, op)?;
    let b = broadcast_shapes(&m.sizes, &out.sizes)?;
    if b.len() != out.rank() || b.iter().zip(&out.sizes).any(|(b, o)| b.hint() != o.hint()) {
        return Err(OpError(format!(
            "{op}: self of shape {} does not broadcast to the product's shape {}",
            crate::symbolic::format_sizes(&m.sizes),
            crate::symbolic::format_sizes(&out.sizes)
        )));
    }
    Ok(())
}

fn addr_meta(a: &Addr) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y) = (meta_of(&a.vec1)?, meta_of(&a.vec2)?);
    if x.rank() != 1 || y.rank() != 1 {
        op_bail!(
            "addr: Expected 1-D argument vec1 and vec2, but got {}-D and {}-D",
            x.rank(),
            y.rank()
        );
    }
    let dtype = same_dtype(&x, &y, "addr")?;
    let out = TensorMeta::new(dtype, vec![x.sizes[0].clone(), y.sizes[0].clone()]);
    check_added_term("addr", &a.self_, &out)?;
    Ok(vec![out])
}

fn outer_meta(a: &Outer) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y) = (meta_of(&a.self_)?, meta_of(&a.vec2)?);
    if x.rank() != 1 || y.rank() != 1 {
        return Err(OpError(format!(
            "outer: expected 1-D vectors, got {}-D and {}-D",
            x.rank(),
            y.rank()
        )));
    }
    let dtype = same_dtype(&x, &y, "outer")?;
    Ok(vec![TensorMeta::new(
        dtype,
        vec![x.sizes[0].clone(), y.sizes[0].clone()],
    )])
}

op_def! {
    pub static BADDBMM: struct Baddbmm =
        "aten::baddbmm(Tensor self, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1) -> Tensor" {
        meta: baddbmm_meta,
        composite: |a: &Baddbmm| Ok(vec![scaled_sum(&a.self_, a.batch1.bmm(&a.batch2), a.beta, a.alpha)]),
    }
    /// `beta * self + alpha * Σ_b batch1[b] @ batch2[b]` (PyTorch's core IR keeps it).
    pub static ADDBMM: Baddbmm =
        "aten::addbmm(Tensor self, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1) -> Tensor" {
        meta: addbmm_meta,
        composite: |a: &Baddbmm| {
            let product = a.batch1.bmm(&a.batch2).sum_dim(&[0], false);
            Ok(vec![scaled_sum(&a.self_, product, a.beta, a.alpha)])
        },
        core_aten,
    }
    /// `beta * self + alpha * mat @ vec` (PyTorch's core IR keeps it).
    pub static ADDMV: struct Addmv =
        "aten::addmv(Tensor self, Tensor mat, Tensor vec, *, Scalar beta=1, Scalar alpha=1) -> Tensor" {
        meta: addmv_meta,
        composite: |a: &Addmv| {
            let product = a.mat.mm(&a.vec.unsqueeze(1)).squeeze_dim(1);
            Ok(vec![scaled_sum(&a.self_, product, a.beta, a.alpha)])
        },
        core_aten,
    }
    /// `beta * self + (alpha * vec1)[:, None] * vec2[None, :]`, ATen's order of the
    /// products.
    pub static ADDR: struct Addr =
        "aten::addr(Tensor self, Tensor vec1, Tensor vec2, *, Scalar beta=1, Scalar alpha=1) -> Tensor" {
        meta: addr_meta,
        composite: |a: &Addr| {
            let product = scaled(a.vec1.unsqueeze(1), a.alpha).mul(a.vec2.unsqueeze(0));
            Ok(vec![scaled_sum(&a.self_, product, a.beta, Scalar::Int(1))])
        },
    }
    /// `x[:, None] * y[None, :]`.
    pub static OUTER: struct Outer = "aten::outer(Tensor self, Tensor vec2) -> Tensor" {
        meta: outer_meta,
        composite: |a: &Outer| Ok(vec![a.self_.unsqueeze(1).mul(a.vec2.unsqueeze(0))]),
    }
}

// ---------------------------------------------------------------------------------------
// dot, trace, tensordot, kron: composites of products, sums and views

fn dot_meta(a: &Dot) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y) = (meta_of(&a.self_)?, meta_of(&a.tensor)?);
    if x.rank() != 1 || y.rank() != 1 {
        op_bail!(
            "1D tensors expected, but got {}D and {}D tensors",
            x.rank(),
            y.rank()
        );
    }
    if x.dtype != y.dtype {
        op_bail!(
            "dot : expected both vectors to have same dtype, but found {} and {}",
            x.dtype,
            y.dtype
        );
    }
    if x.dtype == DType::Bool {
        op_bail!("\"dot\" not implemented for 'Bool'");
    }
    if !x.sizes[0].sym_eq(&y.sizes[0]) {
        op_bail!(
            "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements, but got {} and {} elements respectively",
            x.sizes[0],
            y.sizes[0],
            x.sizes[0],
            y.sizes[0]
        );
    }
    Ok(vec![TensorMeta::new(x.dtype, vec![])])
}

/// `Σ x·y`, in the vectors' dtype (a sum of integers is i64 until cast back).
fn dot(a: &Dot) -> Result<Vec<Tensor>, OpError> {
    let dtype = meta_of(&a.self_)?.dtype;
    let s = a.self_.mul(&a.tensor).sum();
    Ok(vec![if dtype.is_float() || dtype == DType::I64 {
        s
    } else {
        s.to_dtype(dtype)
    }])
}

fn trace_meta(a: &Trace) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.rank() != 2 {
        op_bail!(
            "trace: expected a matrix, but got tensor with dim {}",
            m.rank()
        );
    }
    let dtype = if m.dtype.is_float() {
        m.dtype
    } else {
        DType::I64
    };
    Ok(vec![TensorMeta::new(dtype, vec![])])
}

/// The sum of the main diagonal (`sum(diagonal(x))`, as PyTorch's decomposition).
fn trace(a: &Trace) -> Result<Vec<Tensor>, OpError> {
    let diagonal = first_result(
        super::shape::DIAGONAL.call_with(vec![
            Value::Tensor(a.self_.clone()),
            Value::Int(SymInt::Int(0)),
            Value::Int(SymInt::Int(0)),
            Value::Int(SymInt::Int(1)),
        ]),
        "diagonal",
    )?;
    Ok(vec![diagonal.sum()])
}

/// `dims` of a tensor of `rank` dims, normalized, each once; a 0-dim tensor has none.
fn dims_of(dims: &[i64], rank: usize) -> Result<Vec<usize>, OpError> {
    let dims = super::util::normalize_dims(dims, rank)?;
    if let Some(d) = dims.iter().find(|&&d| d >= rank) {
        op_bail!("dimension {d} out of range for a {rank}-D tensor");
    }
    Ok(dims)
}

/// How `tensordot` runs: each operand permuted (free dims of `self` then its contracted
/// ones; contracted dims of `other` then its free ones) and folded to a matrix, one
/// `mm`, the result unfolded to the free dims. A contracted pair of sizes `1` and `n`
/// sums the `n` side first (`sum_self` / `sum_other`, as ATen).
struct TensordotPlan {
    perm_self: Vec<i64>,
    perm_other: Vec<i64>,
    sum_self: Vec<i64>,
    sum_other: Vec<i64>,
    rows: SymInt,
    inner: SymInt,
    cols: SymInt,
    out: TensorMeta,
}

fn tensordot_plan(a: &Tensordot) -> Result<TensordotPlan, OpError> {
    let (x, y) = (meta_of(&a.self_)?, meta_of(&a.other)?);
    if a.dims_self.len() != a.dims_other.len() {
        op_bail!("both dimension lists should have same length");
    }
    if x.dtype != y.dtype {
        op_bail!(
            "both inputs should have same dtype, got {} and {}",
            x.dtype,
            y.dtype
        );
    }
    let (cx, cy) = (
        dims_of(&a.dims_self, x.rank())?,
        dims_of(&a.dims_other, y.rank())?,
    );
    let (mut sum_self, mut sum_other) = (Vec::new(), Vec::new());
    let mut inner = SymInt::Int(1);
    for (&i, &j) in cx.iter().zip(&cy) {
        let (s1, s2) = (&x.sizes[i], &y.sizes[j]);
        if s1.sym_eq(s2) {
            inner = inner.mul(s1);
        } else if s2.as_int() == Some(1) {
            sum_self.push(i as i64);
        } else if s1.as_int() == Some(1) {
            sum_other.push(j as i64);
        } else {
            op_bail!("contracted dimensions need to match, but first has size {s1} in dim {i} and second has size {s2} in dim {j}");
        }
    }
    let free = |rank: usize, contracted: &[usize]| -> Vec<usize> {
        (0..rank).filter(|d| !contracted.contains(d)).collect()
    };
    let (fx, fy) = (free(x.rank(), &cx), free(y.rank(), &cy));
    let sizes_of = |m: &TensorMeta, ds: &[usize]| -> Vec<SymInt> {
        ds.iter().map(|&d| m.sizes[d].clone()).collect()
    };
    let (free_x, free_y) = (sizes_of(&x, &fx), sizes_of(&y, &fy));
    let as_i64 = |ds: &[usize]| -> Vec<i64> { ds.iter().map(|&d| d as i64).collect() };
    let mut out = free_x.clone();
    out.extend(free_y.iter().cloned());
    Ok(TensordotPlan {
        perm_self: as_i64(&[fx, cx.clone()].concat()),
        perm_other: as_i64(&[cy.clone(), fy].concat()),
        sum_self,
        sum_other,
        rows: product(&free_x),
        inner,
        cols: product(&free_y),
        out: TensorMeta::new(x.dtype, out),
    })
}

/// `self` and `other` contracted over `dims_self` / `dims_other` (ATen's composite:
/// `permute`, `reshape`, `mm`, `reshape`).
fn tensordot(a: &Tensordot) -> Result<Vec<Tensor>, OpError> {
    let p = tensordot_plan(a)?;
    let summed = |t: &Tensor, dims: &[i64]| {
        if dims.is_empty() {
            t.clone()
        } else {
            t.sum_dim(dims, true)
        }
    };
    let x = summed(&a.self_, &p.sum_self)
        .permute(&p.perm_self)
        .reshape(vec![p.rows, p.inner.clone()]);
    let y = summed(&a.other, &p.sum_other)
        .permute(&p.perm_other)
        .reshape(vec![p.inner, p.cols]);
    Ok(vec![x.mm(&y).reshape(p.out.sizes)])
}

/// `kron`'s operands as the same number of dims (leading ones added) and the dtype of
/// their product.
fn kron_sizes(a: &Kron) -> Result<(Vec<SymInt>, Vec<SymInt>, DType), OpError> {
    let (x, y) = (meta_of(&a.self_)?, meta_of(&a.other)?);
    let rank = x.rank().max(y.rank());
    let padded = |m: &TensorMeta| {
        let mut s = vec![SymInt::Int(1); rank - m.rank()];
        s.extend(m.sizes.iter().cloned());
        s
    };
    let operand = |m: &TensorMeta| crate::tensor::PromotionOperand::Tensor {
        dtype: m.dtype,
        rank: m.rank(),
    };
    let dtype = crate::tensor::result_type(&[operand(&x), operand(&y)]);
    Ok((padded(&x), padded(&y), dtype))
}

fn kron_meta(a: &Kron) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y, dtype) = kron_sizes(a)?;
    let sizes = x.iter().zip(&y).map(|(p, q)| p.mul(q)).collect();
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// ATen's composite: `self` viewed as `[a0, 1, a1, 1, …]`, `other` as `[1, b0, 1, b1,
/// …]`, their product viewed as `[a0·b0, a1·b1, …]`.
fn kron(a: &Kron) -> Result<Vec<Tensor>, OpError> {
    let (x, y, _) = kron_sizes(a)?;
    let one = SymInt::Int(1);
    let spread = |sizes: &[SymInt], first: bool| -> Vec<SymInt> {
        sizes
            .iter()
            .flat_map(|s| {
                if first {
                    [s.clone(), one.clone()]
                } else {
                    [one.clone(), s.clone()]
                }
            })
            .collect()
    };
    let out: Vec<SymInt> = x.iter().zip(&y).map(|(p, q)| p.mul(q)).collect();
    let p = a
        .self_
        .reshape(spread(&x, true))
        .mul(a.other.reshape(spread(&y, false)));
    Ok(vec![p.reshape(out)])
}

op_def! {
    pub static DOT: struct Dot = "aten::dot(Tensor self, Tensor tensor) -> Tensor" {
        meta: dot_meta,
        composite: dot,
    }
    pub static TRACE: struct Trace = "aten::trace(Tensor self) -> Tensor" {
        meta: trace_meta,
        composite: trace,
    }
    pub static TENSORDOT: struct Tensordot =
        "aten::tensordot(Tensor self, Tensor other, int[] dims_self, int[] dims_other) -> Tensor" {
        meta: |a: &Tensordot| Ok(vec![tensordot_plan(a)?.out]),
        composite: tensordot,
    }
    pub static KRON: struct Kron = "aten::kron(Tensor self, Tensor other) -> Tensor" {
        meta: kron_meta,
        composite: kron,
    }
}

// ---------------------------------------------------------------------------------------
// block_diag, cartesian_prod: composites of `cat`, `meshgrid` and `stack`

/// The dtype of `tensors` together.
fn list_dtype(metas: &[TensorMeta]) -> DType {
    let operands: Vec<_> = metas
        .iter()
        .map(|m| crate::tensor::PromotionOperand::Tensor {
            dtype: m.dtype,
            rank: m.rank(),
        })
        .collect();
    crate::tensor::result_type(&operands)
}

/// `block_diag`'s blocks as matrices (a scalar is `[1, 1]`, a vector one row) and the
/// result's dtype.
fn block_diag_blocks(tensors: &[Tensor]) -> Result<(Vec<[SymInt; 2]>, DType), OpError> {
    let metas: Vec<TensorMeta> = tensors.iter().map(meta_of).collect::<Result<_, _>>()?;
    let blocks = metas
        .iter()
        .enumerate()
        .map(|(i, m)| match m.sizes.as_slice() {
            [] => Ok([SymInt::Int(1), SymInt::Int(1)]),
            [n] => Ok([SymInt::Int(1), n.clone()]),
            [r, c] => Ok([r.clone(), c.clone()]),
            _ => Err(OpError(format!(
                "torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {} dimensions",
                m.rank()
            ))),
        })
        .collect::<Result<_, _>>()?;
    let dtype = if metas.is_empty() {
        DType::DEFAULT_FLOAT
    } else {
        list_dtype(&metas)
    };
    Ok((blocks, dtype))
}

fn block_diag_meta(a: &TensorList) -> Result<Vec<TensorMeta>, OpError> {
    let (blocks, dtype) = block_diag_blocks(&a.tensors)?;
    if blocks.is_empty() {
        return Ok(vec![TensorMeta::new(
            dtype,
            vec![SymInt::Int(1), SymInt::Int(0)],
        )]);
    }
    let total = |i: usize| blocks.iter().fold(SymInt::Int(0), |acc, b| acc.add(&b[i]));
    Ok(vec![TensorMeta::new(dtype, vec![total(0), total(1)])])
}

/// Each block as a row band, zeros left and right of it (`cat` along dim 1), the bands
/// stacked (`cat` along dim 0): PyTorch's decomposition.
fn block_diag(a: &TensorList) -> Result<Vec<Tensor>, OpError> {
    let (blocks, dtype) = block_diag_blocks(&a.tensors)?;
    if blocks.is_empty() {
        return Ok(vec![Tensor::zeros_dtype([1, 0], dtype)]);
    }
    let cols = blocks.iter().fold(SymInt::Int(0), |acc, b| acc.add(&b[1]));
    let mut start = SymInt::Int(0);
    let mut bands = Vec::with_capacity(blocks.len());
    for (t, [r, c]) in a.tensors.iter().zip(&blocks) {
        let after = cols.sub(&start).sub(c);
        let block = t.reshape(vec![r.clone(), c.clone()]).to_dtype(dtype);
        bands.push(Tensor::cat(
            &[
                Tensor::zeros_dtype(vec![r.clone(), start.clone()], dtype),
                block,
                Tensor::zeros_dtype(vec![r.clone(), after], dtype),
            ],
            1,
        ));
        start = start.add(c);
    }
    Ok(vec![Tensor::cat(&bands, 0)])
}

/// The vectors' lengths and their common dtype (`meshgrid` and `stack` want one).
fn cartesian_sizes(tensors: &[Tensor]) -> Result<(Vec<SymInt>, DType), OpError> {
    let metas: Vec<TensorMeta> = tensors.iter().map(meta_of).collect::<Result<_, _>>()?;
    let Some(dtype) = metas.first().map(|m| m.dtype) else {
        op_bail!("cartesian_prod: expected a non-empty list of Tensors");
    };
    metas
        .iter()
        .map(|m| match m.sizes.as_slice() {
            [n] if m.dtype == dtype => Ok(n.clone()),
            [_] => op_bail!(
                "cartesian_prod: expected all tensors to have the same dtype, got {dtype} and {}",
                m.dtype
            ),
            s => op_bail!(
                "Expect a 1D vector, but got shape {}",
                crate::symbolic::format_sizes(s)
            ),
        })
        .collect::<Result<_, _>>()
        .map(|lengths| (lengths, dtype))
}

fn cartesian_prod_meta(a: &TensorList) -> Result<Vec<TensorMeta>, OpError> {
    let (lengths, dtype) = cartesian_sizes(&a.tensors)?;
    let sizes = match lengths.as_slice() {
        [n] => vec![n.clone()],
        _ => vec![product(&lengths), SymInt::Int(lengths.len() as i64)],
    };
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// ATen's composite: one vector as it is; else the `ij` meshgrid, each grid flattened,
/// stacked along dim 1.
fn cartesian_prod(a: &TensorList) -> Result<Vec<Tensor>, OpError> {
    let (lengths, _) = cartesian_sizes(&a.tensors)?;
    if let ([_], [t]) = (lengths.as_slice(), a.tensors.as_slice()) {
        return Ok(vec![t.reshape(lengths)]);
    }
    let grids = super::shape::MESHGRID_INDEXING.call_with(vec![
        Value::TensorList(a.tensors.clone()),
        Value::Str("ij".into()),
    ]);
    let flat: Vec<Tensor> = grids.iter().map(|g| g.flatten(0, -1)).collect();
    Ok(vec![Tensor::stack(&flat, 1)])
}

op_def! {
    pub static BLOCK_DIAG: TensorList = "aten::block_diag(Tensor[] tensors) -> Tensor" {
        meta: block_diag_meta,
        composite: block_diag,
    }
    pub static CARTESIAN_PROD: TensorList =
        "aten::cartesian_prod(Tensor[] tensors) -> Tensor" {
        meta: cartesian_prod_meta,
        composite: cartesian_prod,
    }
}

// ---------------------------------------------------------------------------------------
// cross, linalg_cross

/// `linalg_cross`'s checks: operands of one rank and dtype, size 3 along `dim`; the
/// broadcast result's meta and `dim` normalized.
fn cross_plan(x: &Tensor, y: &Tensor, dim: i64) -> Result<(TensorMeta, usize), OpError> {
    let (a, b) = (meta_of(x)?, meta_of(y)?);
    if a.rank() != b.rank() {
        op_bail!("linalg.cross: inputs must have the same number of dimensions.");
    }
    if a.dtype != b.dtype {
        op_bail!(
            "linalg.cross: expected both inputs to have the same dtype, got {} and {}",
            a.dtype,
            b.dtype
        );
    }
    let d = super::util::normalize_dim(dim, a.rank())?;
    let (Some(sa), Some(sb)) = (a.sizes.get(d), b.sizes.get(d)) else {
        op_bail!("linalg.cross: inputs must have at least 1 dimension");
    };
    if sa.as_int() != Some(3) || sb.as_int() != Some(3) {
        op_bail!("linalg.cross: inputs dimension {dim} must have length 3. Got {sa} and {sb}");
    }
    let sizes = broadcast_shapes(&a.sizes, &b.sizes)?;
    Ok((TensorMeta::new(a.dtype, sizes), d))
}

/// `x[(i+1)%3]·y[(i+2)%3] - x[(i+2)%3]·y[(i+1)%3]` along `dim`, the components picked
/// by `index_select` (PyTorch's decomposition).
fn linalg_cross(x: &Tensor, y: &Tensor, dim: i64) -> Result<Vec<Tensor>, OpError> {
    let (out, d) = cross_plan(x, y, dim)?;
    let (x, y) = (x.expand(&out.sizes), y.expand(&out.sizes));
    let idx = Tensor::arange(3);
    let shifted = |k: i64| -> Result<Tensor, OpError> {
        first_result(
            super::elementwise::REMAINDER_SCALAR
                .call_with(vec![Value::Tensor(idx.add(k)), Value::Int(SymInt::Int(3))]),
            "remainder",
        )
    };
    let (next, after) = (shifted(1)?, shifted(2)?);
    let d = d as i64;
    let pick = |t: &Tensor, i: &Tensor| t.index_select(d, i);
    Ok(vec![
        pick(&x, &next).mul(pick(&y, &after)) - pick(&x, &after).mul(pick(&y, &next)),
    ])
}

/// `torch.cross`'s dim: the one given, else (deprecated) the first of `self`'s dims of
/// size 3.
fn cross_dim(a: &Cross) -> Result<i64, OpError> {
    if let Some(d) = a.dim {
        return Ok(d);
    }
    let m = meta_of(&a.self_)?;
    match m.sizes.iter().position(|s| s.as_int() == Some(3)) {
        Some(d) => Ok(d as i64),
        None => op_bail!("no dimension of size 3 in input"),
    }
}

op_def! {
    pub static LINALG_CROSS: struct LinalgCross =
        "aten::linalg_cross(Tensor self, Tensor other, *, int dim=-1) -> Tensor" {
        meta: |a: &LinalgCross| Ok(vec![cross_plan(&a.self_, &a.other, a.dim)?.0]),
        composite: |a: &LinalgCross| linalg_cross(&a.self_, &a.other, a.dim),
    }
    /// `linalg_cross` along `dim` (by default the first dim of size 3).
    pub static CROSS: struct Cross = "aten::cross(Tensor self, Tensor other, int? dim=None) -> Tensor" {
        meta: |a: &Cross| Ok(vec![cross_plan(&a.self_, &a.other, cross_dim(a)?)?.0]),
        composite: |a: &Cross| Ok(LINALG_CROSS.call_with(vec![
            Value::Tensor(a.self_.clone()),
            Value::Tensor(a.other.clone()),
            Value::Int(SymInt::Int(cross_dim(a)?)),
        ])),
    }
}

// ---------------------------------------------------------------------------------------
// bilinear, _trilinear

/// `_trilinear`'s operands' sizes with their expanded dims inserted (as ones), and the
/// result's meta: the broadcast of the three without the summed dims.
struct TrilinearPlan {
    operands: [Vec<SymInt>; 3],
    sumdim: Vec<i64>,
    out: TensorMeta,
}

fn trilinear_plan(a: &Trilinear) -> Result<TrilinearPlan, OpError> {
    let metas = [meta_of(&a.i1)?, meta_of(&a.i2)?, meta_of(&a.i3)?];
    let expands = [&a.expand1, &a.expand2, &a.expand3];
    let total = metas[0].rank().saturating_add(a.expand1.len());
    if a.unroll_dim < 0 || a.unroll_dim as usize >= total {
        op_bail!("unroll_dim must be in [0,{}]", total as i64 - 1);
    }
    let mask = |dims: &[i64]| -> Result<Vec<bool>, OpError> {
        let dims = dims_of(dims, total)?;
        Ok((0..total).map(|d| dims.contains(&d)).collect())
    };
    let mut operands: [Vec<SymInt>; 3] = Default::default();
    for (k, (m, e)) in metas.iter().zip(expands).enumerate() {
        if m.rank() + e.len() != total {
            op_bail!(
                "_trilinear: input {} of {} dims with {} expanded dims does not make {total} dims",
                k + 1,
                m.rank(),
                e.len()
            );
        }
        let expanded = mask(e)?;
        let mut sizes = m.sizes.iter();
        operands[k] = expanded
            .iter()
            .map(|&x| {
                if x {
                    Some(SymInt::Int(1))
                } else {
                    sizes.next().cloned()
                }
            })
            .collect::<Option<_>>()
            .ok_or_else(|| OpError::new("_trilinear: too few dims"))?;
    }
    let dtype = metas[0].dtype;
    for m in &metas[1..] {
        same_dtype(&metas[0], m, "_trilinear")?;
    }
    let b = broadcast_shapes(&operands[0], &operands[1])?;
    let b = broadcast_shapes(&b, &operands[2])?;
    let summed = mask(&a.sumdim)?;
    let sizes = b
        .into_iter()
        .zip(&summed)
        .filter(|(_, &s)| !s)
        .map(|(s, _)| s)
        .collect();
    let sumdim = (0..total)
        .filter(|&d| summed[d])
        .map(|d| d as i64)
        .collect();
    Ok(TrilinearPlan {
        operands,
        sumdim,
        out: TensorMeta::new(dtype, sizes),
    })
}

/// `Σ_sumdim i1·i2·i3`, each operand with ones at its expanded dims: `i1·i2` summed over
/// the summed dims that `i3` does not have first (they are `i3`'s ones), then times
/// `i3`, summed over the rest.
fn trilinear(a: &Trilinear) -> Result<Vec<Tensor>, OpError> {
    let plan = trilinear_plan(a)?;
    let [s1, s2, s3] = &plan.operands;
    let (x1, x2, x3) = (a.i1.reshape(s1), a.i2.reshape(s2), a.i3.reshape(s3));
    let (early, late): (Vec<i64>, Vec<i64>) = plan
        .sumdim
        .iter()
        .partition(|&&d| s3.get(d as usize).and_then(SymInt::as_int) == Some(1));
    let mut p = x1.mul(&x2);
    if !early.is_empty() {
        p = p.sum_dim(&early, true);
    }
    let mut p = p.mul(&x3);
    if !late.is_empty() {
        p = p.sum_dim(&late, true);
    }
    Ok(vec![p.reshape(plan.out.sizes)])
}

fn bilinear_meta(a: &Bilinear) -> Result<Vec<TensorMeta>, OpError> {
    let (x1, x2, w) = (
        meta_of(&a.input1)?,
        meta_of(&a.input2)?,
        meta_of(&a.weight)?,
    );
    if x1.rank() != x2.rank() {
        op_bail!(
            "bilinear(): input dimensions do not match: got {} and {}",
            x1.rank(),
            x2.rank()
        );
    }
    if x1.rank() == 0 {
        op_bail!("bilinear(): expected inputs of at least 1 dim");
    }
    if w.rank() != 3 {
        op_bail!("bilinear(): expected a 3-D weight, got {}-D", w.rank());
    }
    let r = x1.rank() - 1;
    for (i, (p, q)) in x1.sizes[..r].iter().zip(&x2.sizes[..r]).enumerate() {
        if !p.sym_eq(q) {
            op_bail!("bilinear(): input batch dimensions do not match: got {p} and {q} in dim {i}");
        }
    }
    for (n, x, k) in [(1, &x1, 1), (2, &x2, 2)] {
        if !x.sizes[r].sym_eq(&w.sizes[k]) {
            op_bail!(
                "bilinear(): input{n} size does not match weight size: got {} but expected {}",
                x.sizes[r],
                w.sizes[k]
            );
        }
    }
    same_dtype(&x1, &x2, "bilinear")?;
    same_dtype(&x1, &w, "bilinear")?;
    if let Some(b) = &a.bias {
        let b = meta_of(b)?;
        same_dtype(&x1, &b, "bilinear")?;
        if b.rank() != 1 || !b.sizes[0].sym_eq(&w.sizes[0]) {
            op_bail!(
                "bilinear(): bias size does not match weight size: got {} but expected {}",
                crate::symbolic::format_sizes(&b.sizes),
                w.sizes[0]
            );
        }
    }
    let mut out = x1.sizes[..r].to_vec();
    out.push(w.sizes[0].clone());
    Ok(vec![TensorMeta::new(x1.dtype, out)])
}

/// ATen's composite: both inputs flattened to `[N, in]`, `_trilinear(x1, weight, x2,
/// [1, 3], [0], [1, 2], [2, 3])` (`y[n, o] = Σ_ij x1[n, i] w[o, i, j] x2[n, j]`), the
/// result viewed back, plus the bias.
fn bilinear(a: &Bilinear) -> Result<Vec<Tensor>, OpError> {
    let out = bilinear_meta(a)?.swap_remove(0);
    let flat = |t: &Tensor| -> Result<Tensor, OpError> {
        let last = meta_of(t)?.sizes.last().cloned().unwrap_or(SymInt::Int(1));
        Ok(t.reshape(vec![SymInt::Int(-1), last]))
    };
    let ints = |v: &[i64]| Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect());
    let y = first_result(
        TRILINEAR.call_with(vec![
            Value::Tensor(flat(&a.input1)?),
            Value::Tensor(a.weight.clone()),
            Value::Tensor(flat(&a.input2)?),
            ints(&[1, 3]),
            ints(&[0]),
            ints(&[1, 2]),
            ints(&[2, 3]),
        ]),
        "_trilinear",
    )?
    .reshape(out.sizes);
    Ok(vec![match &a.bias {
        Some(b) => y.add(b),
        None => y,
    }])
}

op_def! {
    /// The products of three operands, each with ones inserted at its `expand` dims,
    /// summed over `sumdim` (which leave the result); `unroll_dim` only chooses ATen's
    /// loop. PyTorch's core IR keeps it (`bilinear`'s form there).
    pub static TRILINEAR: struct Trilinear =
        "aten::_trilinear(Tensor i1, Tensor i2, Tensor i3, int[] expand1, int[] expand2, int[] expand3, int[] sumdim, int unroll_dim=1) -> Tensor" {
        meta: |a: &Trilinear| Ok(vec![trilinear_plan(a)?.out]),
        composite: trilinear,
        core_aten,
    }
    pub static BILINEAR: struct Bilinear =
        "aten::bilinear(Tensor input1, Tensor input2, Tensor weight, Tensor? bias=None) -> Tensor" {
        meta: bilinear_meta,
        composite: bilinear,
    }
}
