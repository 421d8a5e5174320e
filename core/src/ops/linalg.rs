//! Matrix products: `mm`, `bmm`, `addmm`, `matmul` (with batch broadcasting) and `linear`.
//! Floating-point products go through matrixmultiply directly on the strided data.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Ix2, IxDyn};

use ferrex_kernels::{gemm, Float, Mat};

use super::lowering::Lowering;
use super::util::{broadcast_shapes, concrete, meta_of};
use super::{op_def, Value};
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

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
    let y = linear_storage(&x, &w, bias.as_ref(), &concrete(&out.sizes), out.dtype)?;
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
    if let Some(y) = linear_prepacked(x, w, bias)? {
        return Ok(y);
    }
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
/// last two dims (its copy to row-major was a third of a GroupNorm block's linear).
/// `None` for the rest.
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
    let mut shape = xa.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = n;
    }
    // Written by the products alone (no zero fill), the bias added where they store.
    let multiply = |parts: &[Mat<f32>]| {
        ferrex_kernels::gemm_packed_new(1.0, parts, &packed, epilogue).map_err(|e| OpError(e.0))
    };
    // Row-major data is one matrix as it is; a strided view (a transpose before the
    // projection) one per matrix of its last two dims; other views (a broadcast) are
    // copied row-major first.
    let y = if let Some(rows) = xa.as_slice() {
        multiply(&[Mat::row_major(rows, m, k)])?
    } else if let Some(matrices) = strided_matrices(xa) {
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
    Ok(Storage::from_vec(&shape, y))
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
    let m = meta_of(&a.self_)?;
    let b = broadcast_shapes(&m.sizes, &out.sizes)?;
    if b.len() != out.rank() || b.iter().zip(&out.sizes).any(|(b, o)| b.hint() != o.hint()) {
        return Err(OpError(format!(
            "baddbmm: self of shape {} does not broadcast to the product's shape {}",
            crate::symbolic::format_sizes(&m.sizes),
            crate::symbolic::format_sizes(&out.sizes)
        )));
    }
    Ok(vec![out])
}

/// `beta * self + alpha * bmm(batch1, batch2)`; `beta = 0` ignores `self` (NaN too).
fn baddbmm_decomposition(a: &Baddbmm) -> Result<Vec<Tensor>, OpError> {
    let (alpha, beta) = (a.alpha.to::<f64>(), a.beta.to::<f64>());
    let mut p = a.batch1.bmm(&a.batch2);
    if alpha != 1.0 {
        p = p.mul(alpha);
    }
    Ok(vec![match beta {
        0.0 => p,
        1.0 => a.self_.add(&p),
        b => a.self_.mul(b).add(&p),
    }])
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
        composite: baddbmm_decomposition,
    }
    /// `x[:, None] * y[None, :]`.
    pub static OUTER: struct Outer = "aten::outer(Tensor self, Tensor vec2) -> Tensor" {
        meta: outer_meta,
        composite: |a: &Outer| Ok(vec![a.self_.unsqueeze(1).mul(a.vec2.unsqueeze(0))]),
    }
}
