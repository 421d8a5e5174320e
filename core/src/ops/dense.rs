//! Dense linear algebra of square matrices (and batches of them): `linalg.inv`, `det`,
//! `slogdet`, `solve`, `solve_triangular`, `cholesky` over `ferrex-kernels::dense`'s LU and Cholesky (in
//! f64, rounded to the input's dtype), and the composites `matrix_power` and the
//! Frobenius / 1 / ∞ matrix norms. PyTorch's core IR spells these with `_ex` ops whose
//! error checks are effect-token calls (`with_effects`), which ferrex does not read yet:
//! the default IR loads.

use ferrex_kernels::dense;

use super::op_def;
use super::util::{concrete, meta_of};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Scalar, Storage, Tensor, TensorMeta};

/// A float `[..., n, n]` input: its meta, or PyTorch's message.
fn square_meta(x: &Tensor, op: &str) -> Result<TensorMeta, OpError> {
    let m = meta_of(x)?;
    if !m.dtype.is_float() {
        op_bail!(
            "{op}: Expected a floating point or complex tensor as input. Got {}",
            m.dtype
        );
    }
    let r = m.rank();
    if r < 2 {
        op_bail!("{op}: The input tensor A must have at least 2 dimensions.");
    }
    if !m.sizes[r - 1].sym_eq(&m.sizes[r - 2]) {
        op_bail!(
            "{op}: A must be batches of square matrices, but they are {} by {} matrices",
            m.sizes[r - 2],
            m.sizes[r - 1]
        );
    }
    Ok(m)
}

/// The matrices of a `[..., n, n]` tensor, in f64, and `n`.
fn matrices(x: &Tensor) -> Result<(Vec<Vec<f64>>, usize), OpError> {
    let s = x.storage_or_op_error()?;
    let shape = s.shape().to_vec();
    let n = shape.last().copied().unwrap_or(0);
    let data = s.to_f64_vec();
    let per = n * n;
    let mats = match per {
        0 => vec![Vec::new(); shape[..shape.len().saturating_sub(2)].iter().product()],
        _ => data.chunks_exact(per).map(<[f64]>::to_vec).collect(),
    };
    Ok((mats, n))
}

/// Batch results `[..., *each]` in `dtype`.
fn stacked(values: Vec<f64>, meta: &TensorMeta) -> Result<Storage, OpError> {
    let shape = concrete(&meta.sizes);
    Storage::from_vec(&shape, values)
        .map(|s| s.into_dtype(meta.dtype))
        .ok_or_else(|| OpError::new("linalg: the output shape"))
}

fn batch_sizes(m: &TensorMeta) -> Vec<SymInt> {
    m.sizes[..m.rank() - 2].to_vec()
}

fn inv_kernel(a: &SquareArg, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (mats, n) = matrices(&a.A)?;
    let mut values = Vec::with_capacity(mats.len() * n * n);
    for m in mats {
        let f = dense::lu(m, n);
        if f.info > 0 {
            op_bail!(
                "linalg.inv: The diagonal element {} is zero, the inversion could not be completed because the input matrix is singular.",
                f.info
            );
        }
        values.extend(f.inverse());
    }
    Ok(vec![stacked(values, &out[0])?])
}

fn det_kernel(a: &SquareArg, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (mats, n) = matrices(&a.A)?;
    let values = mats.into_iter().map(|m| dense::lu(m, n).det()).collect();
    Ok(vec![stacked(values, &out[0])?])
}

fn slogdet_kernel(a: &SquareArg, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (mats, n) = matrices(&a.A)?;
    let (signs, logs): (Vec<f64>, Vec<f64>) =
        mats.into_iter().map(|m| dense::lu(m, n).slogdet()).unzip();
    Ok(vec![stacked(signs, &out[0])?, stacked(logs, &out[1])?])
}

fn cholesky_kernel(a: &Cholesky, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (mats, n) = matrices(&a.self_)?;
    let mut values = Vec::with_capacity(mats.len() * n * n);
    for m in mats {
        let l = dense::cholesky(&m, n).map_err(|order| {
            OpError(format!(
                "linalg.cholesky: The factorization could not be completed because the input is not positive-definite (the leading minor of order {order} is not positive-definite)."
            ))
        })?;
        match a.upper {
            false => values.extend(l),
            // `U = Lᵀ`.
            true => values.extend((0..n * n).map(|k| l[(k % n) * n + k / n])),
        }
    }
    Ok(vec![stacked(values, &out[0])?])
}

/// Whether `B` is a (batch of) vector(s) for `A` `[..., n, n]`: 1-D, or `A`'s sizes
/// without the last (PyTorch's rule).
fn b_is_vector(a: &TensorMeta, b: &TensorMeta) -> bool {
    b.rank() == 1
        || (b.rank() + 1 == a.rank()
            && crate::ops::util::shapes_match(&b.sizes, &a.sizes[..a.rank() - 1]))
}

fn solve_meta(a: &Solve) -> Result<Vec<TensorMeta>, OpError> {
    let am = square_meta(&a.A, "linalg.solve")?;
    let bm = meta_of(&a.B)?;
    if !a.left {
        op_bail!("linalg.solve with left=False is not supported yet: solve the transposed system");
    }
    if bm.dtype != am.dtype {
        op_bail!("linalg.solve: Expected A and B to have the same dtype, but found A of type {} and B of type {} instead", am.dtype, bm.dtype);
    }
    let n = am.sizes[am.rank() - 1].clone();
    let vector = b_is_vector(&am, &bm);
    let (b_batch, b_mat) = match vector {
        true => (
            &bm.sizes[..bm.rank() - 1],
            vec![bm.sizes[bm.rank() - 1].clone()],
        ),
        false => {
            if bm.rank() < 2 {
                op_bail!("linalg.solve: The input tensor B must have at least 2 dimensions.");
            }
            (
                &bm.sizes[..bm.rank() - 2],
                bm.sizes[bm.rank() - 2..].to_vec(),
            )
        }
    };
    if !b_mat[0].sym_eq(&n) {
        op_bail!(
            "linalg.solve: Incompatible shapes of A and B for the equation AX = B ({} and {})",
            format_sizes(&am.sizes),
            format_sizes(&bm.sizes)
        );
    }
    let batch = crate::ops::util::broadcast_shapes(&batch_sizes(&am), b_batch)?;
    let mut sizes = batch;
    sizes.extend(b_mat);
    Ok(vec![TensorMeta::new(am.dtype, sizes)])
}

/// `A X = B` for each broadcast batch: `B` as `[..., n, k]` (a vector as `k = 1`).
fn solve_kernel(a: &Solve, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let am = meta_of(&a.A)?;
    let bm = meta_of(&a.B)?;
    let o = &out[0];
    let vector = b_is_vector(&am, &bm);
    let n = concrete(&am.sizes)[am.rank() - 1];
    let batch = &o.sizes[..o.rank() - if vector { 1 } else { 2 }];
    let k = if vector {
        1
    } else {
        concrete(&o.sizes)[o.rank() - 1]
    };
    let mut a_full = batch.to_vec();
    a_full.extend([SymInt::Int(n as i64), SymInt::Int(n as i64)]);
    let mut b_full = batch.to_vec();
    b_full.extend([SymInt::Int(n as i64), SymInt::Int(k as i64)]);
    let b = match vector {
        true => a.B.unsqueeze(-1),
        false => a.B.clone(),
    };
    let (mats, _) = matrices(&a.A.expand(&a_full))?;
    let rhs = b.expand(&b_full).storage_or_op_error()?.to_f64_vec();
    let mut values = Vec::with_capacity(rhs.len());
    // (An empty system never reaches the kernel: its result is empty.)
    for (m, r) in mats.into_iter().zip(rhs.chunks((n * k).max(1))) {
        let f = dense::lu(m, n);
        if f.info > 0 {
            op_bail!("torch.linalg.solve: The solver failed because the input matrix is singular.");
        }
        let mut x = r.to_vec();
        f.solve(&mut x, k);
        values.extend(x);
    }
    Ok(vec![stacked(values, o)?])
}

fn solve_triangular_meta(a: &SolveTriangular) -> Result<Vec<TensorMeta>, OpError> {
    let op = "linalg.solve_triangular";
    let am = square_meta(&a.self_, op)?;
    let bm = meta_of(&a.B)?;
    if bm.rank() < 2 {
        op_bail!("{op}: The input tensor B must have at least 2 dimensions.");
    }
    if bm.dtype != am.dtype {
        op_bail!("{op}: Expected A and B to have the same dtype, but found A of type {} and B of type {} instead", am.dtype, bm.dtype);
    }
    let n = &am.sizes[am.rank() - 1];
    let (rows, cols) = (&bm.sizes[bm.rank() - 2], &bm.sizes[bm.rank() - 1]);
    if !(if a.left { rows } else { cols }).sym_eq(n) {
        op_bail!(
            "{op}: Incompatible shapes of A and B for the equation {} ({} and {})",
            if a.left { "AX = B" } else { "XA = B" },
            format_sizes(&am.sizes),
            format_sizes(&bm.sizes)
        );
    }
    let mut sizes =
        crate::ops::util::broadcast_shapes(&batch_sizes(&am), &bm.sizes[..bm.rank() - 2])?;
    sizes.extend([rows.clone(), cols.clone()]);
    Ok(vec![TensorMeta::new(am.dtype, sizes)])
}

/// `A X = B` (or `X A = B`) for each broadcast batch, `A` triangular, by substitution
/// in f64 (a zero on the diagonal gives infinities, as LAPACK's `trtrs` does not check).
fn solve_triangular_kernel(
    a: &SolveTriangular,
    out: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let o = &out[0];
    let shape = concrete(&o.sizes);
    let (p, q) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let n = if a.left { p } else { q };
    let mut a_full = o.sizes[..o.rank() - 2].to_vec();
    a_full.extend([SymInt::Int(n as i64), SymInt::Int(n as i64)]);
    let (mats, _) = matrices(&a.self_.expand(&a_full))?;
    let rhs = a.B.expand(&o.sizes).storage_or_op_error()?.to_f64_vec();
    let mut values = Vec::with_capacity(rhs.len());
    for (m, b) in mats.into_iter().zip(rhs.chunks((p * q).max(1))) {
        // `X A = B` is `Aᵀ Xᵀ = Bᵀ`: the matrix read transposed, the system by rows.
        let at = |i: usize, j: usize| if a.left { m[i * n + j] } else { m[j * n + i] };
        let lower = a.left != a.upper;
        let (systems, step, stride) = if a.left { (q, q, 1) } else { (p, 1, q) };
        let mut x = b.to_vec();
        for s in 0..systems {
            let base = s * stride;
            let order: Box<dyn Iterator<Item = usize>> = match lower {
                true => Box::new(0..n),
                false => Box::new((0..n).rev()),
            };
            for i in order {
                let known = |j: usize| at(i, j) * x[base + j * step];
                let sum: f64 = match lower {
                    true => (0..i).map(known).sum(),
                    false => (i + 1..n).map(known).sum(),
                };
                let diagonal = if a.unitriangular { 1.0 } else { at(i, i) };
                x[base + i * step] = (x[base + i * step] - sum) / diagonal;
            }
        }
        values.extend(x);
    }
    Ok(vec![stacked(values, o)?])
}

/// `A^n` by repeated squaring (`n < 0`: of the inverse; `n = 0`: the identity).
fn matrix_power(a: &MatrixPower) -> Result<Vec<Tensor>, OpError> {
    let m = square_meta(&a.self_, "linalg.matrix_power")?;
    let base = match a.n < 0 {
        true => Tensor::call_op(&LINALG_INV, vec![Value::Tensor(a.self_.clone())]).swap_remove(0),
        false => a.self_.clone(),
    };
    let mut e = a.n.unsigned_abs();
    if e == 0 {
        let n = m.sizes[m.rank() - 1].clone();
        let eye = Tensor::call_op(
            &super::constructors::EYE,
            vec![Value::Int(n), Value::DType(m.dtype)],
        )
        .swap_remove(0);
        return Ok(vec![eye.expand(&m.sizes)]);
    }
    let (mut result, mut square) = (None::<Tensor>, base);
    loop {
        if e & 1 == 1 {
            result = Some(match result {
                None => square.clone(),
                Some(r) => r.matmul(&square),
            });
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        square = square.matmul(&square);
    }
    Ok(result.into_iter().collect())
}

/// The matrix norms that need no singular values: Frobenius (`'fro'`), the largest (or
/// smallest) absolute column sum (`±1`) or row sum (`±inf`), over `dim`'s two dims.
fn matrix_norm(
    x: &Tensor,
    ord: &str,
    dim: &[i64],
    keepdim: bool,
    dtype: Option<DType>,
) -> Result<Vec<Tensor>, OpError> {
    let [r0, r1] = matrix_norm_dims(&meta_of(x)?, dim)?.map(|d| d as i64);
    let x = match dtype {
        Some(d) => x.to_dtype(d),
        None => x.clone(),
    };
    let abs = x.abs();
    // Sum over one dim, then the extreme over the other (reduced dims shift left).
    let extreme = |sum_dim: i64, other: i64, max: bool| {
        let sums = abs.sum_dim(&[sum_dim], true);
        let e = match max {
            true => sums.amax(&[other], true),
            false => sums.amin(&[other], true),
        };
        match keepdim {
            true => e,
            false => e.squeeze_dim(r0.max(r1)).squeeze_dim(r0.min(r1)),
        }
    };
    Ok(vec![match ord {
        "fro" => x.mul(&x).sum_dim(&[r0, r1], keepdim).sqrt(),
        "1" => extreme(r0, r1, true),
        "-1" => extreme(r0, r1, false),
        "inf" => extreme(r1, r0, true),
        "-inf" => extreme(r1, r0, false),
        "nuc" | "2" | "-2" => op_bail!(
            "linalg.matrix_norm: ord={ord} needs singular values, which ferrex does not compute yet"
        ),
        other => op_bail!("linalg.matrix_norm: Order {other} not supported."),
    }])
}

fn matrix_norm_meta(
    x: &Tensor,
    ord: &str,
    dim: &[i64],
    keepdim: bool,
    dtype: Option<DType>,
) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    let dtype = dtype.unwrap_or(m.dtype);
    if !dtype.is_float() {
        op_bail!(
            "linalg.matrix_norm: Expected a floating point or complex tensor as input. Got {}",
            m.dtype
        );
    }
    if !["fro", "1", "-1", "inf", "-inf"].contains(&ord) {
        op_bail!("linalg.matrix_norm: ord={ord} needs singular values, which ferrex does not compute yet");
    }
    let dims = matrix_norm_dims(&m, dim)?;
    let sizes = (0..m.rank())
        .filter_map(|i| match (dims.contains(&i), keepdim) {
            (false, _) => Some(m.sizes[i].clone()),
            (true, true) => Some(SymInt::Int(1)),
            (true, false) => None,
        })
        .collect();
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// A matrix norm's two dims of `m`, normalized: two distinct dims.
fn matrix_norm_dims(m: &TensorMeta, dim: &[i64]) -> Result<[usize; 2], OpError> {
    let [d0, d1] = dim[..] else {
        op_bail!("linalg.matrix_norm: dim must be a 2-tuple. Got {dim:?}");
    };
    let dims = [
        super::util::normalize_dim(d0, m.rank())?,
        super::util::normalize_dim(d1, m.rank())?,
    ];
    if dims[0] == dims[1] {
        op_bail!("linalg.matrix_norm: dims must be different. Got ({d0}, {d1})");
    }
    Ok(dims)
}

/// A numeric matrix-norm order as its name (`1`, `-1`, `inf`, `-inf`, `2`, …).
fn ord_name(ord: Scalar) -> String {
    let v = ord.to::<f64>();
    match v {
        f64::INFINITY => "inf".into(),
        f64::NEG_INFINITY => "-inf".into(),
        v => format!("{v}"),
    }
}

fn norm_str_dims(a: &NormStr) -> Result<Vec<i64>, OpError> {
    match &a.dim {
        Some(d) => Ok(d.clone()),
        None if meta_of(&a.self_)?.rank() == 2 => Ok(vec![-2, -1]),
        None => op_bail!(
            "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {}D.",
            meta_of(&a.self_)?.rank()
        ),
    }
}

op_def! {
    pub static LINALG_INV: struct SquareArg = "aten::linalg_inv(Tensor A) -> Tensor" {
        meta: |a: &SquareArg| Ok(vec![square_meta(&a.A, "linalg.inv")?]),
        kernel: inv_kernel,
    }
    pub static LINALG_DET: SquareArg = "aten::linalg_det(Tensor A) -> Tensor" {
        meta: |a: &SquareArg| {
            let m = square_meta(&a.A, "linalg.det")?;
            Ok(vec![TensorMeta::new(m.dtype, batch_sizes(&m))])
        },
        kernel: det_kernel,
    }
    /// `(sign, log |det|)`.
    pub static LINALG_SLOGDET: SquareArg = "aten::linalg_slogdet(Tensor A) -> (Tensor sign, Tensor logabsdet)" {
        meta: |a: &SquareArg| {
            let m = square_meta(&a.A, "linalg.slogdet")?;
            let out = TensorMeta::new(m.dtype, batch_sizes(&m));
            Ok(vec![out.clone(), out])
        },
        kernel: slogdet_kernel,
    }
    pub static LINALG_SOLVE: struct Solve = "aten::linalg_solve(Tensor A, Tensor B, *, bool left=True) -> Tensor" {
        meta: solve_meta,
        kernel: solve_kernel,
    }
    /// `torch.linalg.solve_triangular(A, B, upper=…)`: `X` with `A X = B` (`left`) or
    /// `X A = B`, reading only `A`'s triangle.
    pub static LINALG_SOLVE_TRIANGULAR: struct SolveTriangular =
        "aten::linalg_solve_triangular(Tensor self, Tensor B, *, bool upper, bool left=True, bool unitriangular=False) -> Tensor" {
        meta: solve_triangular_meta,
        kernel: solve_triangular_kernel,
    }
    pub static LINALG_CHOLESKY: struct Cholesky = "aten::linalg_cholesky(Tensor self, *, bool upper=False) -> Tensor" {
        meta: |a: &Cholesky| Ok(vec![square_meta(&a.self_, "linalg.cholesky")?]),
        kernel: cholesky_kernel,
    }
    pub static LINALG_MATRIX_POWER: struct MatrixPower = "aten::linalg_matrix_power(Tensor self, int n) -> Tensor" {
        meta: |a: &MatrixPower| Ok(vec![square_meta(&a.self_, "linalg.matrix_power")?]),
        composite: matrix_power,
    }
    pub static LINALG_MATRIX_NORM_STR_ORD: struct MatrixNormStr =
        "aten::linalg_matrix_norm.str_ord(Tensor self, str ord='fro', int[] dim=[-2,-1], bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &MatrixNormStr| matrix_norm_meta(&a.self_, &a.ord, &a.dim, a.keepdim, a.dtype),
        composite: |a: &MatrixNormStr| matrix_norm(&a.self_, &a.ord, &a.dim, a.keepdim, a.dtype),
    }
    pub static LINALG_MATRIX_NORM: struct MatrixNorm =
        "aten::linalg_matrix_norm(Tensor self, Scalar ord, int[] dim=[-2,-1], bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &MatrixNorm| matrix_norm_meta(&a.self_, &ord_name(a.ord), &a.dim, a.keepdim, a.dtype),
        composite: |a: &MatrixNorm| matrix_norm(&a.self_, &ord_name(a.ord), &a.dim, a.keepdim, a.dtype),
    }
    /// `torch.linalg.norm(A, 'fro')`: a matrix norm by name.
    pub static LINALG_NORM_ORD_STR: struct NormStr =
        "aten::linalg_norm.ord_str(Tensor self, str ord, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &NormStr| matrix_norm_meta(&a.self_, &a.ord, &norm_str_dims(a)?, a.keepdim, a.dtype),
        composite: |a: &NormStr| matrix_norm(&a.self_, &a.ord, &norm_str_dims(a)?, a.keepdim, a.dtype),
    }
}
