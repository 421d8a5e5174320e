//! Shape and view ops: `t`, `transpose`, `permute`, `view`, `reshape`, `unsqueeze`,
//! `slice`, `clone`, `expand`, `squeeze`, `flatten`, `select`, `narrow`, `repeat`,
//! `flip`, `roll`, `tril`/`triu`, `cat`, `stack`, `split`, `chunk`, `constant_pad_nd`.
//! Views share the eager data (strided ndarray views) instead of copying.

use ndarray::{ArcArray, ArrayD, Axis, IxDyn, Slice};

use super::lowering::{Lowering, PermuteDims};
use super::op_def;
use super::util::{
    concrete, known_ints, meta_of, normalize_dim, normalize_dims, sizes_match, with_dtype,
};
use super::Value;
use crate::error::OpError;
use crate::symbolic::{format_sizes, CmpOp, SymInt};
use crate::tensor::{result_type, DType, Element, PromotionOperand, Storage, Tensor, TensorMeta};
use crate::{map_storage, op_bail};

/// Swaps two axes without copying.
pub(crate) fn transpose_storage(s: &Storage, a: usize, b: usize) -> Storage {
    map_storage!(s, x => {
        let mut v = x.clone();
        v.swap_axes(a, b);
        v
    })
}

/// Reshapes row-major, copying only when the layout is not contiguous.
pub(crate) fn reshape_storage(s: &Storage, shape: &[usize]) -> Result<Storage, OpError> {
    if s.shape() == shape {
        return Ok(s.clone());
    }
    let c = s.contiguous();
    Ok(map_storage!(&c, x => x
        .clone()
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| OpError(format!("cannot reshape {:?} to {:?}: {e}", c.shape(), shape)))?))
}

// ---------------------------------------------------------------------------------------
// t / transpose / permute

fn t_meta(a: &SelfView) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    match m.rank() {
        0 | 1 => {}
        2 => m.sizes.swap(0, 1),
        r => op_bail!("t() expects a tensor with <= 2 dimensions, but self is {r}D"),
    }
    Ok(vec![m])
}

fn t_kernel(a: &SelfView, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    Ok(vec![if s.shape().len() == 2 {
        transpose_storage(&s, 0, 1)
    } else {
        s
    }])
}

fn transpose_meta(t: &Transpose) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&t.self_)?;
    let a = normalize_dim(t.dim0, m.rank())?;
    let b = normalize_dim(t.dim1, m.rank())?;
    if m.rank() > 0 {
        m.sizes.swap(a, b);
    }
    Ok(vec![m])
}

fn transpose_kernel(t: &Transpose, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = t.self_.storage_or_op_error()?;
    let r = s.shape().len();
    if r == 0 {
        return Ok(vec![s]);
    }
    let a = normalize_dim(t.dim0, r)?;
    let b = normalize_dim(t.dim1, r)?;
    Ok(vec![transpose_storage(&s, a, b)])
}

fn permutation(dims: &[i64], rank: usize) -> Result<Vec<usize>, OpError> {
    if dims.len() != rank {
        op_bail!(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {rank} is not equal to len(dims) = {}",
            dims.len()
        );
    }
    normalize_dims(dims, rank)
}

fn permute_meta(a: &Permute) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let p = permutation(&a.dims, m.rank())?;
    Ok(vec![TensorMeta::new(
        m.dtype,
        p.iter().map(|&i| m.sizes[i].clone()).collect(),
    )])
}

fn permute_kernel(a: &Permute, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let p = permutation(&a.dims, s.shape().len())?;
    Ok(vec![
        map_storage!(&s, x => x.clone().permuted_axes(IxDyn(&p))),
    ])
}

/// `t` and `transpose` are `permute`s in the Core ATen opset.
fn transpose_as_permute(x: &Tensor, a: i64, b: i64) -> Result<Vec<Tensor>, OpError> {
    let rank = x.dim();
    if rank < 2 {
        return Ok(vec![x.copy()]);
    }
    let (a, b) = (normalize_dim(a, rank)?, normalize_dim(b, rank)?);
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(a, b);
    Ok(vec![x.permute(&perm)])
}

/// What a permutation of dims offers the runtime (`t`, `transpose`, `permute`): the
/// dims as the call gave them (`t`: swap 0 and 1 of a 2-D tensor).
fn permute_lowering<T: Clone>(input: &T, view: PermuteDims) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Permute {
        input: input.clone(),
        dims: view,
    })
}

op_def! {
    pub static T: struct SelfView = "aten::t(Tensor(a) self) -> Tensor(a)" {
        meta: t_meta,
        kernel: t_kernel,
        decomposition: |a: &SelfView| transpose_as_permute(&a.self_, 0, 1),
        lowering: |a: &SelfView<_>| permute_lowering(&a.self_, PermuteDims::T),
    }
    pub static TRANSPOSE: struct Transpose =
        "aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)" {
        meta: transpose_meta,
        kernel: transpose_kernel,
        decomposition: |a: &Transpose| transpose_as_permute(&a.self_, a.dim0, a.dim1),
        lowering: |a: &Transpose<_>| permute_lowering(&a.self_, PermuteDims::Swap(a.dim0, a.dim1)),
    }
    pub static PERMUTE: struct Permute = "aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)" {
        meta: permute_meta,
        kernel: permute_kernel,
        lowering: |a: &Permute<_>| permute_lowering(&a.self_, PermuteDims::All(a.dims.clone())),
    }
}

// ---------------------------------------------------------------------------------------
// view / reshape

/// Resolves a requested shape (with at most one `-1`) against the number of elements.
fn infer_shape(m: &TensorMeta, requested: &[SymInt]) -> Result<Vec<SymInt>, OpError> {
    let numel = m.numel();
    let mut infer = None;
    let mut known = SymInt::Int(1);
    for (i, s) in requested.iter().enumerate() {
        match s.as_int() {
            Some(-1) => {
                if infer.replace(i).is_some() {
                    op_bail!("only one dimension can be inferred");
                }
            }
            Some(v) if v < 0 => op_bail!("invalid shape dimension {v}"),
            _ => known = known.mul(s),
        }
    }
    let mut out = requested.to_vec();
    let invalid = || {
        OpError(format!(
            "shape '{}' is invalid for input of size {}",
            format_sizes(requested),
            numel
        ))
    };
    match infer {
        Some(i) => {
            // Where the sizes do not divide symbolically, specialise (with guards), as
            // PyTorch does when it cannot prove the division exact.
            let inferred = match numel.div_exact(&known) {
                Some(v) => v,
                None => {
                    let (n, k) = (numel.guard_int(), known.guard_int());
                    if k == 0 || n % k != 0 {
                        return Err(invalid());
                    }
                    SymInt::Int(n / k)
                }
            };
            out[i] = inferred;
        }
        None => {
            if !known.sym_eq(&numel) {
                return Err(invalid());
            }
        }
    }
    Ok(out)
}

fn view_meta(x: &Tensor, size: &[SymInt]) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    let sizes = infer_shape(&m, size)?;
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// `x`'s elements, row-major, in the result's shape.
fn reshape_kernel(x: &Tensor, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    Ok(vec![reshape_storage(
        &x.storage_or_op_error()?,
        &out_shape(metas)?,
    )?])
}

/// The concrete sizes of the one result meta computed.
fn out_shape(metas: &[TensorMeta]) -> Result<Vec<usize>, OpError> {
    metas
        .first()
        .map(|m| concrete(&m.sizes))
        .ok_or_else(|| OpError::new("shape op: no result meta"))
}

/// What an op whose result is its input's elements in order offers the runtime.
fn reshape_lowering<T: Clone>(input: &T) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Reshape {
        input: input.clone(),
    })
}

op_def! {
    pub static VIEW: struct View = "aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)" {
        meta: |a: &View| view_meta(&a.self_, &a.size),
        kernel: |a: &View, m: &[TensorMeta]| reshape_kernel(&a.self_, m),
        lowering: |a: &View<_>| reshape_lowering(&a.self_),
    }
    /// `reshape` → `view` with the same sizes: ATen's composite views whenever the layout
    /// allows, and ferrex's tensors are always contiguous.
    pub static RESHAPE: struct Reshape = "aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)" {
        meta: |a: &Reshape| view_meta(&a.self_, &a.shape),
        kernel: |a: &Reshape, m: &[TensorMeta]| reshape_kernel(&a.self_, m),
        decomposition: |a: &Reshape| Ok(vec![a.self_.view(a.shape.clone())]),
        lowering: |a: &Reshape<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// unsqueeze

fn unsqueeze_meta(a: &DimView) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank() + 1)?;
    m.sizes.insert(d, SymInt::Int(1));
    Ok(vec![m])
}

fn unsqueeze_kernel(a: &DimView, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let d = normalize_dim(a.dim, s.shape().len() + 1)?;
    Ok(vec![map_storage!(&s, x => x.clone().insert_axis(Axis(d)))])
}

op_def! {
    pub static UNSQUEEZE: struct DimView = "aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)" {
        meta: unsqueeze_meta,
        kernel: unsqueeze_kernel,
        lowering: |a: &DimView<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// slice

/// The start and length of `self[start:end:step]` along a dim of size `len`, symbolic
/// when `len` is; bounds are clamped as Python slicing does, recording guards (none for
/// concrete sizes, which is how the runtime uses it).
pub fn slice_bounds(
    len: &SymInt,
    start: Option<SymInt>,
    end: Option<SymInt>,
    step: i64,
) -> Result<(SymInt, SymInt), OpError> {
    if step <= 0 {
        op_bail!("slice step must be positive, got {step}");
    }
    let zero = SymInt::Int(0);
    let clamp = |v: SymInt| -> SymInt {
        let v = if v.hint() < 0 { v.add(len) } else { v };
        if v.compare(crate::symbolic::CmpOp::Lt, &zero) {
            zero.clone()
        } else if v.compare(crate::symbolic::CmpOp::Gt, len) {
            len.clone()
        } else {
            v
        }
    };
    let start = match start {
        Some(s) => clamp(s),
        None => zero.clone(),
    };
    let end = match end {
        // PyTorch spells "to the end" as INT64_MAX.
        Some(e) if e.as_int().is_some_and(|v| v >= i64::MAX / 2) => len.clone(),
        Some(e) => clamp(e),
        None => len.clone(),
    };
    let span = end.sub(&start);
    let span = if span.compare(crate::symbolic::CmpOp::Lt, &zero) {
        zero
    } else {
        span
    };
    let count = span.add(&SymInt::Int(step - 1)).floor_div(step);
    Ok((start, count))
}

fn slice_meta(a: &SliceTensor) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    if m.rank() == 0 {
        op_bail!("slice() cannot be applied to a 0-dim tensor");
    }
    let d = normalize_dim(a.dim, m.rank())?;
    let (_, count) = slice_bounds(&m.sizes[d], a.start.clone(), a.end.clone(), a.step.hint())?;
    m.sizes[d] = count;
    Ok(vec![m])
}

fn slice_kernel(a: &SliceTensor, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let d = normalize_dim(a.dim, s.shape().len())?;
    let step = a.step.hint();
    let len = SymInt::Int(s.shape()[d] as i64);
    let (start, count) = slice_bounds(&len, a.start.clone(), a.end.clone(), step)?;
    let (start, count) = (start.hint() as isize, count.hint() as isize);
    let end = start + (count - 1).max(0) * step as isize + if count > 0 { 1 } else { 0 };
    let slice = Slice::new(start, Some(end), step as isize);
    Ok(vec![map_storage!(&s, x => {
        let mut v = x.clone();
        v.slice_axis_inplace(Axis(d), slice);
        v
    })])
}

fn slice_lowering<T: Clone>(a: &SliceTensor<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Slice {
        input: a.self_.clone(),
        dim: a.dim,
        start: a.start.clone(),
        end: a.end.clone(),
        step: a.step.clone(),
    })
}

op_def! {
    pub static SLICE: struct SliceTensor =
        "aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor(a)" {
        meta: slice_meta,
        kernel: slice_kernel,
        lowering: slice_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// clone

/// A contiguous copy. Storages are values (an in-place op replaces a tensor's storage,
/// and shared arrays copy on write), so contiguous data is shared, not copied.
fn clone_kernel(x: &Tensor) -> Result<Vec<Storage>, OpError> {
    Ok(vec![x.storage_or_op_error()?.contiguous()])
}

/// `lift_fresh_copy`, `detach`, `alias`: the input's meta and (shared) data.
fn identity_meta(a: &LiftFreshCopy) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![meta_of(&a.self_)?])
}

fn identity_kernel(a: &LiftFreshCopy, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    clone_kernel(&a.self_)
}

op_def! {
    pub static CLONE: struct CloneTensor =
        "aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor" {
        meta: |a: &CloneTensor| Ok(vec![meta_of(&a.self_)?]),
        kernel: |a: &CloneTensor, _: &[TensorMeta]| clone_kernel(&a.self_),
        lowering: |a: &CloneTensor<_>| reshape_lowering(&a.self_),
    }
    /// A copy of a tensor constant made in `forward` (`torch.tensor(1.5)`), as the
    /// default IR records it: a clone (as `detach` and `alias` are).
    pub static LIFT_FRESH_COPY: struct LiftFreshCopy = "aten::lift_fresh_copy(Tensor self) -> Tensor" {
        meta: identity_meta,
        kernel: identity_kernel,
        lowering: |a: &LiftFreshCopy<_>| reshape_lowering(&a.self_),
    }
    /// The tensor itself (ferrex has no autograd graph to cut).
    pub static DETACH: LiftFreshCopy = "aten::detach(Tensor(a) self) -> Tensor(a)" {
        meta: identity_meta,
        kernel: identity_kernel,
        lowering: |a: &LiftFreshCopy<_>| reshape_lowering(&a.self_),
    }
    pub static DETACH_: LiftFreshCopy = "aten::detach_(Tensor(a!) self) -> Tensor(a!)" {
        meta: identity_meta,
        kernel: identity_kernel,
        inplace_of: DETACH,
    }
    pub static ALIAS: LiftFreshCopy = "aten::alias(Tensor(a) self) -> Tensor(a)" {
        meta: identity_meta,
        kernel: identity_kernel,
        lowering: |a: &LiftFreshCopy<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// expand

fn expand_meta(a: &Expand) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let size = &a.size;
    if size.len() < m.rank() {
        op_bail!(
            "expand({}{}, size={}): the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
            m.dtype,
            format_sizes(&m.sizes),
            format_sizes(size),
            size.len(),
            m.rank()
        );
    }
    let lead = size.len() - m.rank();
    let mut out = Vec::with_capacity(size.len());
    for (i, s) in size.iter().enumerate() {
        if i < lead {
            if s.hint() < 0 {
                op_bail!(
                    "The expanded size of the tensor ({s}) isn't allowed in a leading, non-existing dimension {i}"
                );
            }
            out.push(s.clone());
            continue;
        }
        let cur = &m.sizes[i - lead];
        let size = if s.as_int() == Some(-1) || cur.same_as(s) {
            cur.clone()
        } else if s.hint() < 0 {
            op_bail!("The expanded size of the tensor ({s}) is invalid at dimension {i}");
        } else if cur.as_int() == Some(1) || (cur.hint() == 1 && cur.sym_eq(&SymInt::Int(1))) {
            s.clone()
        } else if cur.sym_eq(s) {
            cur.clone()
        } else {
            op_bail!(
                "The expanded size of the tensor ({s}) must match the existing size ({cur}) at non-singleton dimension {i}.  Target sizes: {}.  Tensor sizes: {}",
                format_sizes(size),
                format_sizes(&m.sizes)
            );
        };
        out.push(size);
    }
    Ok(vec![TensorMeta::new(m.dtype, out)])
}

fn expand_kernel(a: &Expand, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let shape = out_shape(metas)?;
    let s = a.self_.storage_or_op_error()?;
    if s.shape() == shape.as_slice() {
        return Ok(vec![s]);
    }
    // ndarray has no owned broadcast (zero strides), so the expansion is materialised.
    Ok(vec![map_storage!(&s, x => {
        let view = x
            .broadcast(IxDyn(&shape))
            .ok_or_else(|| OpError(format!("cannot expand {:?} to {:?}", x.shape(), shape)))?;
        ndarray::ArrayD::from_shape_vec(IxDyn(&shape), crate::tensor::view_to_vec(&view))
            .map_err(|e| OpError(format!("an expansion to {shape:?}: {e}")))?
            .into_shared()
    })])
}

fn expand_lowering<T: Clone>(a: &Expand<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Expand {
        input: a.self_.clone(),
    })
}

op_def! {
    pub static EXPAND: struct Expand =
        "aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)" {
        meta: expand_meta,
        kernel: expand_kernel,
        lowering: expand_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// squeeze.dim

/// Whether a size is 1; a symbolic size is taken as not 1 (size-oblivious) unless its
/// example is 1, in which case the equality is guarded.
fn is_one(s: &SymInt) -> bool {
    match s.as_int() {
        Some(v) => v == 1,
        None => s.hint() == 1 && s.sym_eq(&SymInt::Int(1)),
    }
}

fn squeeze_meta(a: &DimView) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    if m.rank() > 0 && is_one(&m.sizes[d]) {
        m.sizes.remove(d);
    }
    Ok(vec![m])
}

fn squeeze_kernel(a: &DimView, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let r = s.shape().len();
    let d = normalize_dim(a.dim, r)?;
    if r == 0 || s.shape()[d] != 1 {
        return Ok(vec![s]);
    }
    Ok(vec![
        map_storage!(&s, x => x.clone().index_axis_move(Axis(d), 0)),
    ])
}

/// The dims of a `squeeze.dims` call that are removed (size one), in increasing order.
fn squeezed_dims(sizes: &[SymInt], dims: &[i64]) -> Result<Vec<usize>, OpError> {
    let mut out = Vec::new();
    for &d in dims {
        let d = normalize_dim(d, sizes.len())?;
        if !sizes.is_empty() && is_one(&sizes[d]) && !out.contains(&d) {
            out.push(d);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn squeeze_dims_meta(a: &SqueezeDims) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    for d in squeezed_dims(&m.sizes, &a.dim)?.into_iter().rev() {
        m.sizes.remove(d);
    }
    Ok(vec![m])
}

fn squeeze_dims_kernel(a: &SqueezeDims, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let mut s = a.self_.storage_or_op_error()?;
    let sizes: Vec<SymInt> = s.shape().iter().map(|&n| SymInt::Int(n as i64)).collect();
    for d in squeezed_dims(&sizes, &a.dim)?.into_iter().rev() {
        s = map_storage!(&s, x => x.clone().index_axis_move(Axis(d), 0));
    }
    Ok(vec![s])
}

/// `squeeze.dim(x, d)` → `squeeze.dims(x, [d])`, as PyTorch's decomposition writes it.
fn squeeze_dim_decomposition(a: &DimView) -> Result<Vec<Tensor>, OpError> {
    Ok(Tensor::call_op(
        &SQUEEZE_DIMS,
        vec![
            Value::Tensor(a.self_.clone()),
            Value::IntList(vec![SymInt::Int(a.dim)]),
        ],
    ))
}

op_def! {
    pub static SQUEEZE_DIM: DimView = "aten::squeeze.dim(Tensor(a) self, int dim) -> Tensor(a)" {
        meta: squeeze_meta,
        kernel: squeeze_kernel,
        decomposition: squeeze_dim_decomposition,
        lowering: |a: &DimView<_>| reshape_lowering(&a.self_),
    }
    /// In PyTorch's Core ATen opset: removes each listed dim of size one.
    pub static SQUEEZE_DIMS: struct SqueezeDims =
        "aten::squeeze.dims(Tensor(a) self, int[] dim) -> Tensor(a)" {
        meta: squeeze_dims_meta,
        kernel: squeeze_dims_kernel,
        lowering: |a: &SqueezeDims<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// flatten.using_ints

fn flatten_meta(a: &Flatten) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.rank() == 0 {
        return Ok(vec![TensorMeta::new(m.dtype, vec![SymInt::Int(1)])]);
    }
    let start = normalize_dim(a.start_dim, m.rank())?;
    let end = normalize_dim(a.end_dim, m.rank())?;
    if start > end {
        op_bail!("flatten() has invalid args: start_dim cannot come after end_dim");
    }
    let merged = m.sizes[start..=end]
        .iter()
        .fold(SymInt::Int(1), |acc, s| acc.mul(s));
    let mut sizes = m.sizes[..start].to_vec();
    sizes.push(merged);
    sizes.extend_from_slice(&m.sizes[end + 1..]);
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// `flatten` → `view` to the flattened sizes (through `reshape`, as ATen's composite).
fn flatten_decomposition(a: &Flatten) -> Result<Vec<Tensor>, OpError> {
    let sizes = flatten_meta(a)?.swap_remove(0).sizes;
    Ok(vec![a.self_.view(sizes)])
}

op_def! {
    pub static FLATTEN: struct Flatten =
        "aten::flatten.using_ints(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)" {
        meta: flatten_meta,
        kernel: |a: &Flatten, m: &[TensorMeta]| reshape_kernel(&a.self_, m),
        decomposition: flatten_decomposition,
        lowering: |a: &Flatten<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// select.int / narrow

/// Checks `index` against a dim of size `len` and returns it made non-negative. Only
/// the bound that can fail is compared (and guarded, when symbolic).
pub(crate) fn check_index(
    len: &SymInt,
    index: &SymInt,
    dim: usize,
    what: &str,
) -> Result<SymInt, OpError> {
    let fits = if index.hint() >= 0 {
        index.compare(CmpOp::Lt, len)
    } else {
        index.add(len).compare(CmpOp::Ge, &SymInt::Int(0))
    };
    if !fits {
        op_bail!(
            "{what}(): index {index} out of range for tensor of size {len} at dimension {dim}"
        );
    }
    Ok(if index.hint() < 0 {
        index.add(len)
    } else {
        index.clone()
    })
}

fn select_meta(a: &Select) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    if m.rank() == 0 {
        op_bail!("select() cannot be applied to a 0-dim tensor.");
    }
    let d = normalize_dim(a.dim, m.rank())?;
    check_index(&m.sizes[d], &a.index, d, "select")?;
    m.sizes.remove(d);
    Ok(vec![m])
}

fn select_kernel(a: &Select, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let d = normalize_dim(a.dim, s.shape().len())?;
    let len = SymInt::Int(s.shape()[d] as i64);
    let i = check_index(&len, &a.index, d, "select")?.hint() as usize;
    Ok(vec![
        map_storage!(&s, x => x.clone().index_axis_move(Axis(d), i)),
    ])
}

fn select_lowering<T: Clone>(a: &Select<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Select {
        input: a.self_.clone(),
        dim: a.dim,
        index: a.index.clone(),
    })
}

op_def! {
    pub static SELECT_INT: struct Select =
        "aten::select.int(Tensor(a) self, int dim, SymInt index) -> Tensor(a)" {
        meta: select_meta,
        kernel: select_kernel,
        lowering: select_lowering,
    }
}

/// The non-negative start of `narrow` along a dim of size `len`.
pub(crate) fn narrow_bounds(
    len: &SymInt,
    start: &SymInt,
    length: &SymInt,
) -> Result<SymInt, OpError> {
    let start = if start.hint() < 0 {
        let wrapped = start.add(len);
        if wrapped.compare(CmpOp::Lt, &SymInt::Int(0)) {
            op_bail!(
                "start out of range (expected to be in range of [-{len}, {len}], but got {start})"
            );
        }
        wrapped
    } else {
        start.clone()
    };
    if length.hint() < 0 {
        op_bail!("narrow(): length must be non-negative.");
    }
    // `start + length <= len` also bounds `start` itself.
    if start.add(length).compare(CmpOp::Gt, len) {
        op_bail!("start ({start}) + length ({length}) exceeds dimension size ({len}).");
    }
    Ok(start)
}

fn narrow_meta(a: &Narrow) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    if m.rank() == 0 {
        op_bail!("narrow() cannot be applied to a 0-dim tensor.");
    }
    let d = normalize_dim(a.dim, m.rank())?;
    let length = a.length.clone();
    narrow_bounds(&m.sizes[d], &a.start, &length)?;
    m.sizes[d] = length;
    Ok(vec![m])
}

fn narrow_kernel(a: &Narrow, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let d = normalize_dim(a.dim, s.shape().len())?;
    let len = SymInt::Int(s.shape()[d] as i64);
    let length = a.length.hint();
    let start = narrow_bounds(&len, &a.start, &SymInt::Int(length))?.hint();
    let piece = s.narrow(d, start as usize, length as usize);
    Ok(vec![
        piece.ok_or_else(|| OpError::new("narrow: out of range"))?
    ])
}

/// `narrow(dim, start, length)` is `slice(dim, start, start + length)` when `start` is
/// not negative. A negative one wraps, and `start + length` may then be 0, which a slice
/// reads as the dim's start: those stay eager.
fn narrow_lowering<T: Clone>(a: &Narrow<T>) -> Result<Lowering<T>, OpError> {
    Ok(match a.start.as_int() {
        Some(s) if s >= 0 => Lowering::Slice {
            input: a.self_.clone(),
            dim: a.dim,
            start: Some(a.start.clone()),
            end: Some(a.start.add(&a.length)),
            step: SymInt::Int(1),
        },
        _ => Lowering::Eager,
    })
}

op_def! {
    pub static NARROW: struct Narrow =
        "aten::narrow(Tensor(a) self, int dim, SymInt start, SymInt length) -> Tensor(a)" {
        meta: narrow_meta,
        kernel: narrow_kernel,
        lowering: narrow_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// repeat

fn repeat_meta(a: &Repeat) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let reps = &a.repeats;
    if reps.len() < m.rank() {
        op_bail!(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        );
    }
    if let Some(r) = reps.iter().find(|r| r.hint() < 0) {
        op_bail!(
            "Trying to create tensor with negative dimension {r}: {}",
            format_sizes(reps)
        );
    }
    let lead = reps.len() - m.rank();
    let sizes = reps
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i < lead {
                r.clone()
            } else {
                m.sizes[i - lead].mul(r)
            }
        })
        .collect();
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn repeat_kernel(a: &Repeat, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let out = out_shape(metas)?;
    let s = a.self_.storage_or_op_error()?;
    let reps: Vec<usize> = a.repeats.iter().map(|r| r.hint() as usize).collect();
    let lead = reps.len() - s.shape().len();
    // View the input as [1, d0, 1, d1, …], broadcast to [r0, d0, r1, d1, …], then merge.
    let mut src = Vec::with_capacity(2 * reps.len());
    let mut dst = Vec::with_capacity(2 * reps.len());
    for (i, &r) in reps.iter().enumerate() {
        let d = if i < lead { 1 } else { s.shape()[i - lead] };
        src.extend([1, d]);
        dst.extend([r, d]);
    }
    let lifted = reshape_storage(&s, &src)?;
    let tiled = map_storage!(&lifted, x => x
        .broadcast(IxDyn(&dst))
        .ok_or_else(|| OpError::new("repeat: cannot broadcast"))?
        .to_owned()
        .into_shared());
    Ok(vec![reshape_storage(&tiled, &out)?])
}

op_def! {
    pub static REPEAT: struct Repeat = "aten::repeat(Tensor self, SymInt[] repeats) -> Tensor" {
        meta: repeat_meta,
        kernel: repeat_kernel,
    }
}

// ---------------------------------------------------------------------------------------
// flip / roll

fn flip_meta(a: &Flip) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    normalize_dims(&a.dims, m.rank())?;
    Ok(vec![m])
}

fn flip_kernel(a: &Flip, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dims = normalize_dims(&a.dims, s.shape().len())?;
    if s.shape().is_empty() {
        return Ok(vec![s]);
    }
    Ok(vec![map_storage!(&s, x => {
        let mut v = x.clone();
        for &d in &dims {
            v.invert_axis(Axis(d));
        }
        v
    })])
}

/// A flip along one dim moves entries only along it (a bidirectional RNN's reversed
/// sequence): the runtime runs the kernel as a planned step that keeps the other dims
/// apart. Several dims: the eager kernel.
fn flip_lowering<T: Clone>(a: &Flip<T>) -> Result<Lowering<T>, OpError> {
    match a.dims[..] {
        [dim] => Lowering::lanes(&a.self_, dim),
        _ => Ok(Lowering::Eager),
    }
}

op_def! {
    pub static FLIP: struct Flip = "aten::flip(Tensor self, int[] dims) -> Tensor" {
        meta: flip_meta,
        kernel: flip_kernel,
        lowering: flip_lowering,
    }
}

/// The (shift, dim) pairs of a roll; `None` for the dim means the flattened tensor.
fn roll_pairs(a: &Roll, rank: usize) -> Result<Vec<(i64, Option<usize>)>, OpError> {
    let shifts: Vec<i64> = a.shifts.iter().map(SymInt::hint).collect();
    let dims = &a.dims;
    if dims.is_empty() {
        if shifts.len() != 1 {
            op_bail!(
                "shifts and dimensions must align. shifts: {}, dims:0",
                shifts.len()
            );
        }
        return Ok(vec![(shifts[0], None)]);
    }
    if shifts.len() != dims.len() {
        op_bail!(
            "shifts and dimensions must align. shifts: {}, dims:{}",
            shifts.len(),
            dims.len()
        );
    }
    let pairs = shifts
        .iter()
        .zip(dims)
        .map(|(&s, &d)| Ok((s, Some(normalize_dim(d, rank)?))))
        .collect::<Result<Vec<_>, OpError>>()?;
    // A 0-dim tensor accepts dim 0 / -1 (PyTorch's wrap); rolling its one element is a no-op.
    Ok(if rank == 0 { Vec::new() } else { pairs })
}

fn roll_meta(a: &Roll) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    roll_pairs(a, m.rank())?;
    Ok(vec![m])
}

/// The runtime's roll ([`ferrex_kernels::layout::roll`]), into a new buffer.
fn roll_kernel(a: &Roll, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?.contiguous();
    let shape = s.shape().to_vec();
    let (dims, pairs): (Vec<usize>, Vec<(i64, usize)>) =
        match roll_pairs(a, shape.len())?.as_slice() {
            [(shift, None)] => (vec![s.len()], vec![(*shift, 0)]),
            pairs => (
                shape.clone(),
                (pairs.iter())
                    .filter_map(|&(shift, d)| Some((shift, d?)))
                    .collect(),
            ),
        };
    let failed = |e: ferrex_kernels::KernelError| OpError(format!("roll: {e}"));
    Ok(vec![map_storage!(&s, x => {
        let x = x.as_slice().ok_or_else(|| OpError::new("roll: input not contiguous"))?;
        let mut out = ferrex_kernels::alloc::try_filled(x.len(), x.first().copied().unwrap_or_default())
            .map_err(|e| OpError(e.to_string()))?;
        ferrex_kernels::layout::roll(x, &dims, &pairs, &mut out).map_err(failed)?;
        ArrayD::from_shape_vec(IxDyn(&shape), out)
            .map_err(|e| OpError(format!("roll: {e}")))?
            .into_shared()
    })])
}

/// A roll along dims (or of the flattened tensor: `dims` empty), by shifts known when
/// the program is planned.
fn roll_lowering<T: Clone>(a: &Roll<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(match known_ints(&a.shifts) {
        Some(shifts) => super::Lowering::Roll {
            input: a.self_.clone(),
            shifts,
            dims: a.dims.clone(),
        },
        None => super::Lowering::Eager,
    })
}

op_def! {
    pub static ROLL: struct Roll = "aten::roll(Tensor self, SymInt[1] shifts, int[1] dims=[]) -> Tensor" {
        meta: roll_meta,
        kernel: roll_kernel,
        lowering: roll_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// tril / triu

fn tri_meta(a: &Tri, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.rank() < 2 {
        op_bail!("{name}: input tensor must have at least 2 dimensions");
    }
    Ok(vec![m])
}

/// Zeroes the elements of each trailing matrix for which `drop(col - row)` holds.
fn tri_mask<T: Element>(x: &ArcArray<T, IxDyn>, drop: impl Fn(i64) -> bool) -> ArcArray<T, IxDyn> {
    let r = x.ndim();
    let (m, n) = (x.shape()[r - 2], x.shape()[r - 1]);
    let mut out = x.as_standard_layout().into_owned();
    if let Some(data) = out.as_slice_mut() {
        for (k, v) in data.iter_mut().enumerate() {
            let (i, j) = ((k / n) % m, k % n);
            if drop(j as i64 - i as i64) {
                *v = T::default();
            }
        }
    }
    out.into_shared()
}

fn tril_kernel(a: &Tri, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let k = a.diagonal;
    let s = a.self_.storage_or_op_error()?;
    Ok(vec![map_storage!(&s, x => tri_mask(x, |d| d > k))])
}

fn triu_kernel(a: &Tri, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let k = a.diagonal;
    let s = a.self_.storage_or_op_error()?;
    Ok(vec![map_storage!(&s, x => tri_mask(x, |d| d < k))])
}

/// `tril` / `triu` as PyTorch's reference decomposition writes them: the mask
/// `arange(n)[None, :] - arange(m)[:, None] <= diagonal` (`>=` for `triu`), then
/// `logical_and` with a bool input or `where(mask, x, 0)` otherwise.
fn tri_decomposition(a: &Tri, lower: bool) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let x = &a.self_;
    let r = m.rank();
    let (rows, cols) = (m.sizes[r - 2].clone(), m.sizes[r - 1].clone());
    let col = Tensor::arange_step(0, cols, 1).unsqueeze(-2);
    let row = Tensor::arange_step(0, rows, 1).unsqueeze(-1);
    let diff = &col - &row;
    let k = a.diagonal;
    let mask = if lower { diff.le(k) } else { diff.ge(k) };
    Ok(vec![if m.dtype == DType::Bool {
        mask.logical_and(x)
    } else {
        Tensor::where_(&mask, x, &Tensor::scalar_tensor(0, m.dtype))
    }])
}

op_def! {
    pub static TRIL: struct Tri = "aten::tril(Tensor self, int diagonal=0) -> Tensor" {
        meta: |a: &Tri| tri_meta(a, "tril"),
        kernel: tril_kernel,
        decomposition: |a: &Tri| tri_decomposition(a, true),
        lowering: |a: &Tri<_>| Lowering::lanes_along(&a.self_, &[-2, -1]),
    }
    pub static TRIU: Tri = "aten::triu(Tensor self, int diagonal=0) -> Tensor" {
        meta: |a: &Tri| tri_meta(a, "triu"),
        kernel: triu_kernel,
        decomposition: |a: &Tri| tri_decomposition(a, false),
        lowering: |a: &Tri<_>| Lowering::lanes_along(&a.self_, &[-2, -1]),
    }
}

// ---------------------------------------------------------------------------------------
// cat / stack

/// PyTorch still skips 1-D empty tensors in `cat` whatever the other shapes are.
fn legacy_empty(m: &TensorMeta) -> bool {
    m.rank() == 1 && m.sizes[0].as_int() == Some(0)
}

/// The promoted dtype of a list of tensors.
fn list_dtype(metas: &[TensorMeta]) -> DType {
    let ops: Vec<PromotionOperand> = metas
        .iter()
        .map(|m| PromotionOperand::Tensor {
            dtype: m.dtype,
            rank: m.rank(),
        })
        .collect();
    result_type(&ops)
}

fn list_metas(ts: &[Tensor], what: &str) -> Result<Vec<TensorMeta>, OpError> {
    if ts.is_empty() {
        op_bail!("{what}(): expected a non-empty list of Tensors");
    }
    ts.iter().map(meta_of).collect()
}

/// The output meta of `cat` and the dim it concatenates along (`None` when every input
/// is a legacy empty tensor).
fn cat_plan(a: &TensorsDim) -> Result<(TensorMeta, Option<usize>), OpError> {
    cat_of_metas(&list_metas(&a.tensors, "torch.cat")?, a.dim)
}

/// [`cat_plan`] of the inputs' metas.
fn cat_of_metas(metas: &[TensorMeta], dim: i64) -> Result<(TensorMeta, Option<usize>), OpError> {
    let dtype = list_dtype(metas);
    if let Some(i) = metas.iter().position(|m| m.rank() == 0) {
        op_bail!("zero-dimensional tensor (at position {i}) cannot be concatenated");
    }
    let Some(first) = metas.iter().position(|m| !legacy_empty(m)) else {
        return Ok((TensorMeta::new(dtype, vec![SymInt::Int(0)]), None));
    };
    let base = &metas[first];
    let d = normalize_dim(dim, base.rank())?;
    let mut sizes = base.sizes.clone();
    for (i, m) in metas.iter().enumerate().skip(first + 1) {
        if legacy_empty(m) {
            continue;
        }
        if m.rank() != base.rank() {
            op_bail!(
                "Tensors must have same number of dimensions: got {} and {}",
                base.rank(),
                m.rank()
            );
        }
        for (k, (a, b)) in base.sizes.iter().zip(&m.sizes).enumerate() {
            if k != d && !sizes_match(a, b) {
                op_bail!(
                    "Sizes of tensors must match except in dimension {d}. Expected size {a} but got size {b} for tensor number {i} in the list."
                );
            }
        }
        sizes[d] = sizes[d].add(&m.sizes[d]);
    }
    Ok((TensorMeta::new(dtype, sizes), Some(d)))
}

/// Concatenates storages (already of one rank) along `d` in `dtype`.
fn concat_storages(parts: &[Storage], d: usize, dtype: DType) -> Result<Storage, OpError> {
    let parts: Vec<Storage> = parts.iter().map(|p| p.cast(dtype)).collect();
    Storage::concat(&parts, d).map_err(|e| OpError(format!("cat: {e}")))
}

fn cat_kernel(a: &TensorsDim, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = metas
        .first()
        .map(|m| m.dtype)
        .ok_or_else(|| OpError::new("cat: no result meta"))?;
    let parts: Vec<Storage> = a
        .tensors
        .iter()
        .map(|t| t.storage_or_op_error())
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|s| !(s.shape().len() == 1 && s.shape()[0] == 0))
        .collect();
    // Every input a legacy empty tensor: the result is one too.
    let Some(first) = parts.first() else {
        return Ok(vec![Storage::full(&[0], 0.0, dtype)]);
    };
    let d = normalize_dim(a.dim, first.shape().len())?;
    Ok(vec![concat_storages(&parts, d, dtype)?])
}

fn concat_lowering<T: Clone>(inputs: &[T], dim: i64) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Concat {
        inputs: inputs.to_vec(),
        dim,
    })
}

op_def! {
    pub static CAT: struct TensorsDim = "aten::cat(Tensor[] tensors, int dim=0) -> Tensor" {
        meta: |a: &TensorsDim| Ok(vec![cat_plan(a)?.0]),
        kernel: cat_kernel,
        lowering: |a: &TensorsDim<_>| concat_lowering(&a.tensors, a.dim),
    }
}

fn stack_plan(a: &TensorsDim) -> Result<(TensorMeta, usize), OpError> {
    if a.tensors.is_empty() {
        op_bail!("stack expects a non-empty TensorList");
    }
    let metas = list_metas(&a.tensors, "stack")?;
    let base = &metas[0];
    for (i, m) in metas.iter().enumerate().skip(1) {
        let same = m.rank() == base.rank()
            && base
                .sizes
                .iter()
                .zip(&m.sizes)
                .all(|(a, b)| sizes_match(a, b));
        if !same {
            op_bail!(
                "stack expects each tensor to be equal size, but got {} at entry 0 and {} at entry {i}",
                format_sizes(&base.sizes),
                format_sizes(&m.sizes)
            );
        }
    }
    let d = normalize_dim(a.dim, base.rank() + 1)?;
    let mut sizes = base.sizes.clone();
    sizes.insert(d, SymInt::Int(metas.len() as i64));
    Ok((TensorMeta::new(list_dtype(&metas), sizes), d))
}

fn stack_kernel(a: &TensorsDim, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let out = metas
        .first()
        .ok_or_else(|| OpError::new("stack: no result meta"))?;
    let d = normalize_dim(a.dim, out.rank())?;
    let parts: Vec<Storage> = a
        .tensors
        .iter()
        .map(|t| {
            let s = t.storage_or_op_error()?;
            Ok(map_storage!(&s, x => x.clone().insert_axis(Axis(d))))
        })
        .collect::<Result<_, OpError>>()?;
    Ok(vec![concat_storages(&parts, d, out.dtype)?])
}

op_def! {
    pub static STACK: TensorsDim = "aten::stack(Tensor[] tensors, int dim=0) -> Tensor" {
        meta: |a: &TensorsDim| Ok(vec![stack_plan(a)?.0]),
        kernel: stack_kernel,
        lowering: |a: &TensorsDim<_>| concat_lowering(&a.tensors, a.dim),
    }
}

// ---------------------------------------------------------------------------------------
// split / chunk

/// The lengths of the pieces of a dim of size `len` cut every `size` elements (the last
/// one may be shorter). The number of pieces follows the example sizes; when they are
/// symbolic, guards pin it.
fn split_lengths(len: &SymInt, size: &SymInt) -> Result<Vec<SymInt>, OpError> {
    let (l, s) = (len.hint(), size.hint());
    if s < 0 {
        op_bail!("split expects split_size be non-negative, but got split_size={s}");
    }
    if s == 0 {
        if l != 0 {
            op_bail!(
                "split_size can only be 0 if dimension size is 0, but got dimension size of {l}"
            );
        }
        return Ok(vec![len.clone()]);
    }
    // ceil(l / s), at least one piece, without overflow for a huge split size.
    let n = if l <= 0 { 1 } else { (l - 1) / s + 1 };
    let before_last = size.mul(&SymInt::Int(n - 1));
    if len.is_symbolic() || size.is_symbolic() {
        // The number of pieces is fixed by the example: record why.
        len.compare(CmpOp::Gt, &before_last);
        len.compare(CmpOp::Le, &size.mul(&SymInt::Int(n)));
    }
    let mut out = vec![size.clone(); (n - 1) as usize];
    out.push(len.sub(&before_last));
    Ok(out)
}

/// How a split op gives its pieces: one size (`split.Tensor`), a number of chunks
/// (`chunk`), or every length (`split_with_sizes`).
#[derive(Clone, PartialEq)]
enum SplitBy<'a> {
    Size(&'a SymInt),
    Chunks(i64),
    Sizes(&'a [SymInt]),
}

/// A split call: the tensor, how it is cut, along which dim, and the op's name.
struct SplitCall<'a> {
    self_: &'a Tensor,
    by: SplitBy<'a>,
    dim: i64,
    name: &'static str,
}

impl SplitTensor {
    fn call(&self) -> SplitCall<'_> {
        SplitCall {
            self_: &self.self_,
            by: SplitBy::Size(&self.split_size),
            dim: self.dim,
            name: "split",
        }
    }
}

impl Chunk {
    fn call(&self) -> SplitCall<'_> {
        SplitCall {
            self_: &self.self_,
            by: SplitBy::Chunks(self.chunks),
            dim: self.dim,
            name: "chunk",
        }
    }
}

impl SplitWithSizes {
    fn call(&self) -> SplitCall<'_> {
        SplitCall {
            self_: &self.self_,
            by: SplitBy::Sizes(&self.split_sizes),
            dim: self.dim,
            name: "split_with_sizes",
        }
    }
}

/// The lengths of a `chunk` of a dim of size `len` into `chunks` pieces.
fn chunk_lengths(len: &SymInt, chunks: i64) -> Result<Vec<SymInt>, OpError> {
    if chunks <= 0 {
        op_bail!("chunk expects `chunks` to be greater than 0, got: {chunks}");
    }
    if len.hint() == 0 {
        // Zero-sized pieces: as many as asked for, as far as memory allows.
        let n = usize::try_from(chunks).map_err(|_| OpError::new("too many chunks"))?;
        ferrex_kernels::check_buffer(n as u64, std::mem::size_of::<TensorMeta>() as u64)
            .map_err(|e| OpError(format!("chunk({chunks}): {e}")))?;
        Ok(vec![len.clone(); n])
    } else {
        let size = len.add(&SymInt::Int(chunks - 1)).floor_div(chunks);
        split_lengths(len, &size)
    }
}

fn split_plan(c: &SplitCall) -> Result<(TensorMeta, usize, Vec<SymInt>), OpError> {
    let m = meta_of(c.self_)?;
    if m.rank() == 0 {
        op_bail!("{}() cannot be applied to a 0-dim tensor.", c.name);
    }
    let d = normalize_dim(c.dim, m.rank())?;
    let len = &m.sizes[d];
    let lengths = match c.by {
        SplitBy::Sizes(lengths) => {
            let total = (lengths.iter()).try_fold(0i64, |acc, l| acc.checked_add(l.hint()));
            if lengths.iter().any(|l| l.hint() < 0) || total != Some(len.hint()) {
                op_bail!(
                    "split_with_sizes expects split_sizes to sum exactly to {len} (input tensor's size at dimension {d}), but got split_sizes={}",
                    format_sizes(lengths)
                );
            }
            lengths.to_vec()
        }
        SplitBy::Chunks(chunks) => chunk_lengths(len, chunks)?,
        SplitBy::Size(size) => split_lengths(len, size)?,
    };
    Ok((m, d, lengths))
}

fn split_metas(c: &SplitCall) -> Result<Vec<TensorMeta>, OpError> {
    let (m, d, lengths) = split_plan(c)?;
    Ok(lengths
        .into_iter()
        .map(|l| {
            let mut sizes = m.sizes.clone();
            sizes[d] = l;
            TensorMeta::new(m.dtype, sizes)
        })
        .collect())
}

/// The pieces, one per result meta (their lengths along the split dim).
fn split_storages(c: &SplitCall, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = c.self_.storage_or_op_error()?;
    let d = normalize_dim(c.dim, s.shape().len())?;
    let mut start = 0;
    metas
        .iter()
        .map(|m| {
            let l = m
                .sizes
                .get(d)
                .map(|l| l.hint().max(0) as usize)
                .ok_or_else(|| OpError::new("split: a piece without the split dim"))?;
            let piece = (s.narrow(d, start, l))
                .ok_or_else(|| OpError::new("split: a piece out of range"))?;
            start += l;
            Ok(piece)
        })
        .collect()
}

/// `split.Tensor` and `chunk` → `split_with_sizes` with every piece's length (what
/// PyTorch's table makes of both: `chunk` becomes `split.Tensor`, which becomes this).
fn split_decomposition(c: &SplitCall) -> Result<Vec<Tensor>, OpError> {
    let (_, _, lengths) = split_plan(c)?;
    Ok(Tensor::call_op(
        &SPLIT_WITH_SIZES,
        vec![
            Value::Tensor(c.self_.clone()),
            Value::IntList(lengths),
            Value::Int(SymInt::Int(c.dim)),
        ],
    ))
}

fn split_lowering<T: Clone>(input: &T, dim: i64) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Split {
        input: input.clone(),
        dim,
    })
}

op_def! {
    pub static SPLIT_TENSOR: struct SplitTensor =
        "aten::split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> Tensor(a)[]" {
        meta: |a: &SplitTensor| split_metas(&a.call()),
        kernel: |a: &SplitTensor, m: &[TensorMeta]| split_storages(&a.call(), m),
        decomposition: |a: &SplitTensor| split_decomposition(&a.call()),
        lowering: |a: &SplitTensor<_>| split_lowering(&a.self_, a.dim),
    }
    pub static CHUNK: struct Chunk = "aten::chunk(Tensor(a -> *) self, int chunks, int dim=0) -> Tensor(a)[]" {
        meta: |a: &Chunk| split_metas(&a.call()),
        kernel: |a: &Chunk, m: &[TensorMeta]| split_storages(&a.call(), m),
        decomposition: |a: &Chunk| split_decomposition(&a.call()),
        lowering: |a: &Chunk<_>| split_lowering(&a.self_, a.dim),
    }
    /// In PyTorch's Core ATen opset: pieces of the given lengths along `dim`.
    pub static SPLIT_WITH_SIZES: struct SplitWithSizes =
        "aten::split_with_sizes(Tensor(a -> *) self, SymInt[] split_sizes, int dim=0) -> Tensor(a)[]" {
        meta: |a: &SplitWithSizes| split_metas(&a.call()),
        kernel: |a: &SplitWithSizes, m: &[TensorMeta]| split_storages(&a.call(), m),
        lowering: |a: &SplitWithSizes<_>| split_lowering(&a.self_, a.dim),
    }
}

// ---------------------------------------------------------------------------------------
// constant_pad_nd

fn pad_meta(a: &ConstantPadNd) -> Result<Vec<TensorMeta>, OpError> {
    padded_meta(&a.self_, &a.pad)
}

/// An even number of pads, at most two per dim of `m`.
fn check_pads(m: &TensorMeta, pad: &[SymInt]) -> Result<(), OpError> {
    if !pad.len().is_multiple_of(2) {
        op_bail!(
            "Length of pad must be even but instead it equals {}",
            pad.len()
        );
    }
    if pad.len() / 2 > m.rank() {
        op_bail!(
            "Length of pad should be no more than twice the number of dimensions of the input. Pad length is {} while the input has {} dimensions.",
            pad.len(),
            m.rank()
        );
    }
    Ok(())
}

/// The meta of `x` padded by `(left, right)` pairs from the last dim backwards.
fn padded_meta(x: &Tensor, pad: &[SymInt]) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    check_pads(&m, pad)?;
    let mut sizes = m.sizes.clone();
    for i in 0..pad.len() / 2 {
        let d = m.rank() - 1 - i;
        let (l, r) = (&pad[2 * i], &pad[2 * i + 1]);
        // Known sizes in i128: `n + l + r` may fit where `n + l` does not (a pad of
        // `i64::MAX` then a crop), which saturating `SymInt` sums would get wrong.
        let out = match (m.sizes[d].as_int(), l.as_int(), r.as_int()) {
            (Some(n), Some(a), Some(b)) => {
                let sum = i128::from(n) + i128::from(a) + i128::from(b);
                let sum = i64::try_from(sum).map_err(|_| {
                    OpError::new(format!(
                        "The input size {n}, plus padding {a} and {b} overflows. Check dimension {d} of your input."
                    ))
                })?;
                SymInt::Int(sum)
            }
            _ => m.sizes[d].add(l).add(r),
        };
        if out.hint() < 0 {
            op_bail!(
                "The input size {}, plus negative padding {l} and {r} resulted in a negative output size, which is invalid. Check dimension {d} of your input.",
                m.sizes[d]
            );
        }
        sizes[d] = out;
    }
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// The runtime's constant pad ([`ferrex_kernels::layout::pad_constant`]), into a new
/// buffer.
fn pad_kernel(a: &ConstantPadNd, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let shape = out_shape(metas)?;
    let s = a.self_.storage_or_op_error()?.contiguous();
    let pad: Vec<i64> = a.pad.iter().map(SymInt::hint).collect();
    let pads = ferrex_kernels::layout::dim_pads(&pad, s.shape().len())
        .ok_or_else(|| OpError::new("constant_pad_nd: more pads than dims"))?;
    let value = a.value.to::<f64>();
    let numel = shape.iter().product();
    let failed = |e: ferrex_kernels::KernelError| OpError(format!("constant_pad_nd: {e}"));
    Ok(vec![with_dtype!(s.dtype(), T => {
        let fill = T::from_f64(value);
        let x = s.typed::<T>();
        let x = x.as_slice().ok_or_else(|| OpError::new("constant_pad_nd: input not contiguous"))?;
        let mut out = ferrex_kernels::alloc::try_filled(numel, fill).map_err(failed)?;
        ferrex_kernels::layout::pad_constant(x, s.shape(), &pads, fill, &mut out).map_err(failed)?;
        T::wrap(ArrayD::from_shape_vec(IxDyn(&shape), out)
            .map_err(|e| OpError(format!("constant_pad_nd: {e}")))?
            .into_shared())
    })])
}

/// A constant pad by sizes known when the program is planned.
fn pad_lowering<T: Clone>(a: &ConstantPadNd<T>) -> Result<Lowering<T>, OpError> {
    Ok(match known_ints(&a.pad) {
        Some(pad) => Lowering::Pad {
            input: a.self_.clone(),
            pad,
            value: a.value.to::<f64>(),
        },
        None => Lowering::Eager,
    })
}

op_def! {
    pub static CONSTANT_PAD_ND: struct ConstantPadNd =
        "aten::constant_pad_nd(Tensor self, SymInt[] pad, Scalar value=0) -> Tensor" {
        meta: pad_meta,
        kernel: pad_kernel,
        lowering: pad_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// pad (`F.pad`, every mode) and the reflection / replication pads of the Core ATen IR

/// How a padded position reads the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PadMode {
    Reflect,
    Replicate,
    Circular,
}

/// `x` padded along its last `pad.len() / 2` dims by reading, at each padded index of
/// a dim of size `n`, the input index `i` in `-left .. n + right` maps to: reflected at
/// the edges (`(n-1) - |(n-1) - |i||`), clamped, or wrapped. Each dim is one
/// `index_select` of an index built from `arange`, so the decomposition is sizes only
/// (computed once per input size by the compiled runtime).
fn pad_by_index(x: &Tensor, pad: &[SymInt], mode: PadMode) -> Result<Tensor, OpError> {
    let m = meta_of(x)?;
    check_pads(&m, pad)?;
    let mut out = x.clone();
    for (i, pair) in pad.chunks(2).enumerate() {
        let d = m.rank() - 1 - i;
        let ([left, right], n) = ([&pair[0], &pair[1]], &m.sizes[d]);
        if left.hint() < 0 || right.hint() < 0 {
            op_bail!("{mode:?} padding needs non-negative pads, got {left} and {right}");
        }
        let limit = match mode {
            PadMode::Reflect => n.hint() - 1,
            PadMode::Circular => n.hint(),
            PadMode::Replicate => i64::MAX,
        };
        if n.hint() == 0 || left.hint() > limit || right.hint() > limit {
            op_bail!(
                "{mode:?} padding of {left} and {right} does not fit dimension {d} of size {n}"
            );
        }
        let ar = |from: SymInt, to: SymInt, step: i64| Tensor::arange_step(from, to, step);
        let (zero, one) = (SymInt::Int(0), SymInt::Int(1));
        let last = n.sub(&one);
        let (lo, hi) = match mode {
            // -left..0 reads left..1; n..n+right reads n-2 down.
            PadMode::Reflect => (
                ar(left.clone(), zero.clone(), -1),
                ar(last.sub(&one), last.sub(&one).sub(right), -1),
            ),
            PadMode::Replicate => (
                ar(zero.clone(), one.clone(), 1).expand(vec![left.clone()]),
                ar(last.clone(), n.clone(), 1).expand(vec![right.clone()]),
            ),
            PadMode::Circular => (
                ar(n.sub(left), n.clone(), 1),
                ar(zero.clone(), right.clone(), 1),
            ),
        };
        let index = Tensor::cat(&[lo, ar(zero, n.clone(), 1), hi], 0);
        out = out.index_select(d as i64, &index);
    }
    Ok(out)
}

/// `F.pad`: `constant_pad_nd` (`value`, default 0), or a reflection, replication or
/// circular pad.
fn pad_decomposition(a: &Pad) -> Result<Vec<Tensor>, OpError> {
    let mode = match a.mode.as_str() {
        "constant" => return Ok(vec![a.self_.pad(a.pad.clone(), a.value.unwrap_or(0.0))]),
        "reflect" => PadMode::Reflect,
        "replicate" => PadMode::Replicate,
        "circular" => PadMode::Circular,
        other => op_bail!(
            "Unrecognised padding mode {other}; expected constant, reflect, replicate or circular"
        ),
    };
    if a.value.is_some_and(|v| v != 0.0) {
        op_bail!("Padding mode \"{}\" doesn't take in value argument", a.mode);
    }
    Ok(vec![pad_by_index(&a.self_, &a.pad, mode)?])
}

op_def! {
    pub static PAD: struct Pad =
        "aten::pad(Tensor self, SymInt[] pad, str mode='constant', float? value=None) -> Tensor" {
        meta: |a: &Pad| padded_meta(&a.self_, &a.pad),
        composite: pad_decomposition,
    }
    pub static REFLECTION_PAD1D: struct EdgePad =
        "aten::reflection_pad1d(Tensor self, SymInt[2] padding) -> Tensor" {
        meta: |a: &EdgePad| padded_meta(&a.self_, &a.padding),
        composite: |a: &EdgePad| Ok(vec![pad_by_index(&a.self_, &a.padding, PadMode::Reflect)?]),
    }
    pub static REFLECTION_PAD2D: struct EdgePad2d =
        "aten::reflection_pad2d(Tensor self, SymInt[4] padding) -> Tensor" {
        meta: |a: &EdgePad2d| padded_meta(&a.self_, &a.padding),
        composite: |a: &EdgePad2d| Ok(vec![pad_by_index(&a.self_, &a.padding, PadMode::Reflect)?]),
    }
    pub static REPLICATION_PAD1D: EdgePad =
        "aten::replication_pad1d(Tensor self, SymInt[2] padding) -> Tensor" {
        meta: |a: &EdgePad| padded_meta(&a.self_, &a.padding),
        composite: |a: &EdgePad| Ok(vec![pad_by_index(&a.self_, &a.padding, PadMode::Replicate)?]),
    }
    pub static REPLICATION_PAD2D: EdgePad2d =
        "aten::replication_pad2d(Tensor self, SymInt[4] padding) -> Tensor" {
        meta: |a: &EdgePad2d| padded_meta(&a.self_, &a.padding),
        composite: |a: &EdgePad2d| Ok(vec![pad_by_index(&a.self_, &a.padding, PadMode::Replicate)?]),
    }
}

// ---------------------------------------------------------------------------------------
// contiguous (every ferrex tensor is already laid out row-major: the value itself)

op_def! {
    pub static CONTIGUOUS: struct Contiguous =
        "aten::contiguous(Tensor(a) self, *, MemoryFormat memory_format=contiguous_format) -> Tensor(a)" {
        meta: |a: &Contiguous| Ok(vec![meta_of(&a.self_)?]),
        kernel: |a: &Contiguous, _: &[TensorMeta]| Ok(vec![a.self_.storage_or_op_error()?.contiguous()]),
        lowering: |a: &Contiguous<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// unflatten.int

fn unflatten_meta(a: &Unflatten) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    let sizes = &a.sizes;
    if sizes.is_empty() {
        op_bail!("unflatten: sizes must be non-empty");
    }
    let Some(len) = m.sizes.get(d) else {
        op_bail!(
            "unflatten: dimension {d} out of range for a tensor of rank {}",
            m.rank()
        );
    };
    let part = TensorMeta::new(m.dtype, vec![len.clone()]);
    let inner = infer_shape(&part, sizes).map_err(|_| {
        OpError::new(format!(
            "unflatten: Provided sizes {} don't multiply up to the size of dim {d} ({len}) in the input tensor",
            format_sizes(sizes)
        ))
    })?;
    let mut out = m.sizes[..d].to_vec();
    out.extend(inner);
    out.extend_from_slice(&m.sizes[d + 1..]);
    Ok(vec![TensorMeta::new(m.dtype, out)])
}

op_def! {
    pub static UNFLATTEN: struct Unflatten =
        "aten::unflatten.int(Tensor(a) self, int dim, SymInt[] sizes) -> Tensor(a)" {
        meta: unflatten_meta,
        kernel: |a: &Unflatten, m: &[TensorMeta]| reshape_kernel(&a.self_, m),
        lowering: |a: &Unflatten<_>| reshape_lowering(&a.self_),
    }
}

// ---------------------------------------------------------------------------------------
// unbind, movedim, expand_as, repeat_interleave: composites of views and copies

/// The length along `dim` of `m`, which must be a static size (one result per index).
fn static_len(m: &TensorMeta, dim: usize, op: &str) -> Result<usize, OpError> {
    m.sizes[dim]
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            OpError(format!(
                "{op}: the length of dim {dim} is the dynamic size {}; the number of results must be static",
                m.sizes[dim]
            ))
        })
}

fn unbind_meta(a: &Unbind) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    let n = static_len(&m, d, "unbind")?;
    let mut sizes = m.sizes.clone();
    sizes.remove(d);
    Ok(vec![TensorMeta::new(m.dtype, sizes); n])
}

/// One `select` per index (as PyTorch's decomposition).
fn unbind_decomposition(a: &Unbind) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    let n = static_len(&m, d, "unbind")?;
    Ok((0..n as i64).map(|i| a.self_.select(d as i64, i)).collect())
}

/// The permutation that moves dim `source` to position `destination`.
fn movedim_perm(a: &Movedim) -> Result<(TensorMeta, Vec<i64>), OpError> {
    let m = meta_of(&a.self_)?;
    let r = m.rank();
    let (src, dst) = (
        normalize_dim(a.source, r)?,
        normalize_dim(a.destination, r)?,
    );
    let mut perm: Vec<i64> = (0..r as i64).filter(|&d| d != src as i64).collect();
    perm.insert(dst, src as i64);
    Ok((m, perm))
}

fn movedim_meta(a: &Movedim) -> Result<Vec<TensorMeta>, OpError> {
    let (m, perm) = movedim_perm(a)?;
    let sizes = perm.iter().map(|&d| m.sizes[d as usize].clone()).collect();
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn expand_as_meta(a: &ExpandAs) -> Result<Vec<TensorMeta>, OpError> {
    let sizes = meta_of(&a.other)?.sizes;
    expand_meta(&Expand {
        self_: a.self_.clone(),
        size: sizes,
        implicit: false,
    })
}

/// `repeats` copies of each slice along `dim` (the flattened input when `dim` is
/// `None`), next to each other: `x.unsqueeze(d + 1).expand(.., repeats, ..)` reshaped.
fn repeat_interleave_plan(a: &RepeatInterleave) -> Result<(Tensor, usize, Vec<SymInt>), OpError> {
    let (x, d) = match a.dim {
        Some(dim) => {
            let r = meta_of(&a.self_)?.rank().max(1);
            (a.self_.clone(), normalize_dim(dim, r)?)
        }
        None => (a.self_.reshape(vec![SymInt::Int(-1)]), 0),
    };
    if a.repeats.hint() < 0 {
        op_bail!("repeat_interleave: repeats can not be negative");
    }
    let m = meta_of(&x)?;
    if m.rank() == 0 {
        op_bail!("repeat_interleave: a 0-d input needs dim=None");
    }
    let mut sizes = m.sizes.clone();
    sizes[d] = sizes[d].mul(&a.repeats);
    Ok((x, d, sizes))
}

fn repeat_interleave_meta(a: &RepeatInterleave) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = meta_of(&a.self_)?.dtype;
    let (_, _, sizes) = repeat_interleave_plan(a)?;
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

fn repeat_interleave_decomposition(a: &RepeatInterleave) -> Result<Vec<Tensor>, OpError> {
    let (x, d, sizes) = repeat_interleave_plan(a)?;
    let mut expanded = meta_of(&x)?.sizes;
    expanded.insert(d + 1, a.repeats.clone());
    let y = x.unsqueeze(d as i64 + 1).expand(&expanded);
    Ok(vec![y.reshape(&sizes)])
}

op_def! {
    /// The slices along `dim`, each without it: one `select` per index.
    pub static UNBIND_INT: struct Unbind = "aten::unbind.int(Tensor(a -> *) self, int dim=0) -> Tensor(a)[]" {
        meta: unbind_meta,
        composite: unbind_decomposition,
    }
    pub static MOVEDIM_INT: struct Movedim =
        "aten::movedim.int(Tensor(a) self, int source, int destination) -> Tensor(a)" {
        meta: movedim_meta,
        composite: |a: &Movedim| Ok(vec![a.self_.permute(&movedim_perm(a)?.1)]),
    }
    pub static EXPAND_AS: struct ExpandAs = "aten::expand_as(Tensor(a) self, Tensor other) -> Tensor(a)" {
        meta: expand_as_meta,
        composite: |a: &ExpandAs| Ok(vec![a.self_.expand(&meta_of(&a.other)?.sizes)]),
    }
    pub static REPEAT_INTERLEAVE_SELF_INT: struct RepeatInterleave =
        "aten::repeat_interleave.self_int(Tensor self, SymInt repeats, int? dim=None, *, SymInt? output_size=None) -> Tensor" {
        meta: repeat_interleave_meta,
        composite: repeat_interleave_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// hstack, vstack, broadcast_tensors, meshgrid, diagonal, diff: composites of views, cat
// and index_select

/// `x` with leading 1s up to `rank` dims (`atleast_1d`, `atleast_2d`).
fn at_least(m: &TensorMeta, rank: usize) -> Vec<SymInt> {
    let one = || SymInt::Int(1);
    match (m.rank(), rank) {
        // atleast_2d of a vector is a row; atleast_3d puts a vector between ones and a
        // matrix before one.
        (1, 2) => vec![one(), m.sizes[0].clone()],
        (1, 3) => vec![one(), m.sizes[0].clone(), one()],
        (2, 3) => vec![m.sizes[0].clone(), m.sizes[1].clone(), one()],
        _ => {
            let mut sizes = vec![one(); rank.saturating_sub(m.rank())];
            sizes.extend(m.sizes.iter().cloned());
            sizes
        }
    }
}

/// Which of `hstack`, `vstack` and `dstack`.
#[derive(Clone, Copy)]
enum Stacking {
    Horizontal,
    Vertical,
    Depth,
}

/// `hstack`: `cat` along dim 1 (dim 0 when the inputs are vectors); `vstack`: rows of
/// the inputs made at least 2-D, along dim 0; `dstack`: the inputs made at least 3-D,
/// along dim 2.
fn hv_plan(tensors: &[Tensor], how: Stacking) -> Result<(Vec<TensorMeta>, i64), OpError> {
    let (what, rank) = match how {
        Stacking::Horizontal => ("hstack", 1),
        Stacking::Vertical => ("vstack", 2),
        Stacking::Depth => ("dstack", 3),
    };
    let metas = list_metas(tensors, what)?;
    let lifted: Vec<TensorMeta> = metas
        .iter()
        .map(|m| TensorMeta::new(m.dtype, at_least(m, rank)))
        .collect();
    let dim = match (how, lifted[0].rank()) {
        (Stacking::Vertical, _) | (Stacking::Horizontal, 1) => 0,
        (Stacking::Horizontal, _) => 1,
        (Stacking::Depth, _) => 2,
    };
    Ok((lifted, dim))
}

fn hvstack_meta(tensors: &[Tensor], how: Stacking) -> Result<Vec<TensorMeta>, OpError> {
    let (lifted, dim) = hv_plan(tensors, how)?;
    Ok(vec![cat_of_metas(&lifted, dim)?.0])
}

fn hvstack(tensors: &[Tensor], how: Stacking) -> Result<Vec<Tensor>, OpError> {
    let (lifted, dim) = hv_plan(tensors, how)?;
    let parts: Vec<Tensor> = tensors
        .iter()
        .zip(&lifted)
        .map(|(t, m)| t.reshape(&m.sizes))
        .collect();
    Ok(vec![Tensor::cat(&parts, dim)])
}

fn matrix_t_meta(a: &MatrixT) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = meta_of(&a.self_)?;
    let r = m.rank();
    if r < 2 {
        op_bail!(
            "tensor.mT is only supported on matrices or batches of matrices. Got {r}-D tensor."
        );
    }
    m.sizes.swap(r - 2, r - 1);
    Ok(vec![m])
}

/// `rot90`'s two dims, normalized and checked as ATen checks them.
fn rot90_dims(a: &Rot90) -> Result<(usize, usize), OpError> {
    let rank = meta_of(&a.self_)?.rank();
    let [d0, d1] = a.dims[..] else {
        op_bail!(
            "expected total rotation dims == 2, but got dims = {}",
            a.dims.len()
        );
    };
    if rank < 2 {
        op_bail!("expected total dims >= 2, but got total dims = {rank}");
    }
    let (d0, d1) = (normalize_dim(d0, rank)?, normalize_dim(d1, rank)?);
    if d0 == d1 {
        op_bail!("expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}");
    }
    Ok((d0, d1))
}

fn broadcast_sizes(tensors: &[Tensor]) -> Result<Vec<SymInt>, OpError> {
    let metas = list_metas(tensors, "broadcast_tensors")?;
    metas
        .iter()
        .skip(1)
        .try_fold(metas[0].sizes.clone(), |acc, m| {
            super::util::broadcast_shapes(&acc, &m.sizes)
        })
}

fn broadcast_tensors_meta(a: &TensorList) -> Result<Vec<TensorMeta>, OpError> {
    let sizes = broadcast_sizes(&a.tensors)?;
    a.tensors
        .iter()
        .map(|t| Ok(TensorMeta::new(meta_of(t)?.dtype, sizes.clone())))
        .collect()
}

/// The grid's sizes, one per input (`ij`), the first two swapped for `xy`.
fn meshgrid_sizes(a: &Meshgrid) -> Result<(Vec<SymInt>, bool), OpError> {
    let metas = list_metas(&a.tensors, "torch.meshgrid")?;
    if let Some(m) = metas.iter().find(|m| m.rank() > 1) {
        op_bail!(
            "torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {}",
            format_sizes(&m.sizes)
        );
    }
    let xy = match a.indexing.as_str() {
        "ij" => false,
        "xy" => true,
        other => op_bail!(
            "torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {other}"
        ),
    };
    let mut sizes: Vec<SymInt> = metas
        .iter()
        .map(|m| m.sizes.first().cloned().unwrap_or(SymInt::Int(1)))
        .collect();
    if xy && sizes.len() >= 2 {
        sizes.swap(0, 1);
    }
    Ok((sizes, xy))
}

fn meshgrid_meta(a: &Meshgrid) -> Result<Vec<TensorMeta>, OpError> {
    let (sizes, _) = meshgrid_sizes(a)?;
    a.tensors
        .iter()
        .map(|t| Ok(TensorMeta::new(meta_of(t)?.dtype, sizes.clone())))
        .collect()
}

/// Input `i` viewed along grid dim `i` (dims 0 and 1 swapped for `xy`), expanded.
fn meshgrid_decomposition(a: &Meshgrid) -> Result<Vec<Tensor>, OpError> {
    let (sizes, xy) = meshgrid_sizes(a)?;
    let n = sizes.len();
    Ok(a.tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let axis = match (xy && n >= 2, i) {
                (true, 0) => 1,
                (true, 1) => 0,
                _ => i,
            };
            let mut view = vec![SymInt::Int(1); n];
            view[axis] = sizes[axis].clone();
            t.reshape(&view).expand(&sizes)
        })
        .collect())
}

/// `diagonal(x, offset, dim1, dim2)`: the other dims, then the diagonal's length.
fn diagonal_plan(a: &Diagonal) -> Result<(TensorMeta, usize, usize, i64), OpError> {
    let m = meta_of(&a.self_)?;
    let (d1, d2) = (
        normalize_dim(a.dim1, m.rank())?,
        normalize_dim(a.dim2, m.rank())?,
    );
    if d1 == d2 {
        op_bail!(
            "diagonal dimensions cannot be identical {} and {}",
            a.dim1,
            a.dim2
        );
    }
    let (n1, n2) = (m.sizes[d1].hint(), m.sizes[d2].hint());
    let len = if a.offset >= 0 {
        n1.min(n2 - a.offset)
    } else {
        (n1 + a.offset).min(n2)
    };
    Ok((m, d1, d2, len.max(0)))
}

fn diagonal_meta(a: &Diagonal) -> Result<Vec<TensorMeta>, OpError> {
    let (m, d1, d2, len) = diagonal_plan(a)?;
    let mut sizes: Vec<SymInt> = (0..m.rank())
        .filter(|&d| d != d1 && d != d2)
        .map(|d| m.sizes[d].clone())
        .collect();
    sizes.push(SymInt::Int(len));
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// The two dims moved last and flattened; the diagonal's flat positions selected.
fn diagonal_decomposition(a: &Diagonal) -> Result<Vec<Tensor>, OpError> {
    let (m, d1, d2, len) = diagonal_plan(a)?;
    let mut perm: Vec<i64> = (0..m.rank() as i64)
        .filter(|&d| d != d1 as i64 && d != d2 as i64)
        .collect();
    perm.extend([d1 as i64, d2 as i64]);
    let n2 = m.sizes[d2].hint();
    let mut flat: Vec<SymInt> = perm[..perm.len() - 2]
        .iter()
        .map(|&d| m.sizes[d as usize].clone())
        .collect();
    flat.push(SymInt::Int(-1));
    let moved = a.self_.permute(&perm).reshape(&flat);
    let start = if a.offset >= 0 {
        a.offset
    } else {
        -a.offset * n2
    };
    let index = Tensor::arange(len).mul(n2 + 1).add(start);
    Ok(vec![moved.index_select(-1, &index)])
}

/// `diag_embed(x, offset, dim1, dim2)`: the input, its two new dims in increasing
/// order, and the offset as seen from the first (negated when they were swapped).
fn diag_embed_plan(a: &DiagEmbed) -> Result<(TensorMeta, usize, usize, i64), OpError> {
    let m = meta_of(&a.self_)?;
    if m.rank() == 0 {
        op_bail!("diag_embed: expected a tensor of at least 1 dimension, got 0");
    }
    let rank = m.rank() + 1;
    let (d1, d2) = (normalize_dim(a.dim1, rank)?, normalize_dim(a.dim2, rank)?);
    if d1 == d2 {
        op_bail!(
            "diagonal dimensions cannot be identical {} and {}",
            a.dim1,
            a.dim2
        );
    }
    Ok(match d1 < d2 {
        true => (m, d1, d2, a.offset),
        false => (m, d2, d1, a.offset.saturating_neg()),
    })
}

/// The length of `diag_embed`'s two new dims: the last dim of `m` plus `|offset|`.
fn diag_embed_len(m: &TensorMeta, offset: i64) -> Result<SymInt, OpError> {
    let abs = i64::try_from(offset.unsigned_abs())
        .map_err(|_| OpError::new(format!("diag_embed: offset {offset} is out of range")))?;
    let last = m.sizes.last().cloned().unwrap_or(SymInt::Int(1));
    Ok(last.add(&SymInt::Int(abs)))
}

fn diag_embed_meta(a: &DiagEmbed) -> Result<Vec<TensorMeta>, OpError> {
    let (m, d1, d2, offset) = diag_embed_plan(a)?;
    let len = diag_embed_len(&m, offset)?;
    let mut sizes = m.sizes[..m.rank() - 1].to_vec();
    sizes.insert(d1, len.clone());
    sizes.insert(d2, len);
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// PyTorch's reference: `x` padded with `|offset|` zeros on the side the diagonal moves
/// away from, its last dim moved to `dim2` beside a new `dim1`, and kept where the row
/// index plus the offset is the column index (`where`, zeros elsewhere).
fn diag_embed_decomposition(a: &DiagEmbed) -> Result<Vec<Tensor>, OpError> {
    let (m, d1, d2, offset) = diag_embed_plan(a)?;
    let len = diag_embed_len(&m, offset)?;
    let mut x = a.self_.clone();
    if offset != 0 {
        let mut pad = m.sizes.clone();
        if let Some(last) = pad.last_mut() {
            *last = SymInt::Int(offset.saturating_abs());
        }
        let zeros = Tensor::zeros_dtype(pad, m.dtype);
        x = match offset > 0 {
            true => Tensor::cat(&[zeros, x], -1),
            false => Tensor::cat(&[x, zeros], -1),
        };
    }
    let rank = m.rank() + 1;
    let mut perm: Vec<i64> = (0..rank as i64 - 1).collect();
    perm.insert(d2, rank as i64 - 1);
    let x = x.unsqueeze(d1 as i64).permute(&perm);
    let rows = Tensor::arange(len.clone());
    let end = len.add(&SymInt::Int(offset));
    let cols = Tensor::arange_step(offset, end, 1).unsqueeze(-1);
    let mut cond_sizes = vec![SymInt::Int(1); rank];
    cond_sizes[d1] = len.clone();
    cond_sizes[d2] = len;
    let cond = rows.eq(&cols).reshape(&cond_sizes);
    let zero = Tensor::scalar_tensor(0, m.dtype);
    Ok(vec![Tensor::where_(&cond, &x, &zero)])
}

/// `x.unfold(dimension, size, step)`: the input, the dim, and the window count.
fn unfold_plan(a: &UnfoldWindows) -> Result<(TensorMeta, usize, SymInt), OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dimension, m.rank())?;
    let n = m.sizes.get(d).cloned().unwrap_or(SymInt::Int(1));
    if a.size < 0 || a.size > n.hint() {
        op_bail!(
            "maximum size for tensor at dimension {d} is {n} but size is {}",
            a.size
        );
    }
    if a.step <= 0 {
        op_bail!("step is {} but must be > 0", a.step);
    }
    let count = n
        .sub(&SymInt::Int(a.size))
        .floor_div(a.step)
        .add(&SymInt::Int(1));
    Ok((m, d, count))
}

fn unfold_meta(a: &UnfoldWindows) -> Result<Vec<TensorMeta>, OpError> {
    let (m, d, count) = unfold_plan(a)?;
    if m.rank() == 0 {
        return Ok(vec![TensorMeta::new(m.dtype, vec![SymInt::Int(a.size)])]);
    }
    let mut sizes = m.sizes.clone();
    match sizes.get_mut(d) {
        Some(s) => *s = count,
        None => sizes.push(count),
    }
    sizes.push(SymInt::Int(a.size));
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// The windows' positions (`arange(count) * step + arange(size)`) read by one
/// `index_select`, the window dim moved last.
fn unfold_decomposition(a: &UnfoldWindows) -> Result<Vec<Tensor>, OpError> {
    let (m, d, count) = unfold_plan(a)?;
    if m.rank() == 0 {
        return Ok(vec![a.self_.reshape([1]).narrow(0, 0, a.size)]);
    }
    let starts = Tensor::arange(count.clone()).mul(a.step).unsqueeze(-1);
    let index = starts.add(Tensor::arange(a.size)).reshape([-1]);
    let mut sizes = m.sizes[..d].to_vec();
    sizes.extend([count, SymInt::Int(a.size)]);
    sizes.extend(m.sizes[d + 1..].iter().cloned());
    let windows = a.self_.index_select(d as i64, &index).reshape(&sizes);
    let mut perm: Vec<i64> = (0..sizes.len() as i64)
        .filter(|&k| k != d as i64 + 1)
        .collect();
    perm.push(d as i64 + 1);
    Ok(vec![windows.permute(&perm)])
}

/// `n` times `x[1:] - x[:-1]` along `dim`, after `prepend` and `append` are joined.
fn diff_decomposition(a: &Diff) -> Result<Vec<Tensor>, OpError> {
    let mut parts = Vec::new();
    parts.extend(a.prepend.iter().cloned());
    parts.push(a.self_.clone());
    parts.extend(a.append.iter().cloned());
    let mut x = if parts.len() == 1 {
        a.self_.clone()
    } else {
        Tensor::cat(&parts, a.dim)
    };
    for _ in 0..a.n {
        let len = meta_of(&x)?.sizes[normalize_dim(a.dim, meta_of(&x)?.rank())?].hint();
        if len == 0 {
            break;
        }
        x = x.narrow(a.dim, 1, len - 1).sub(x.narrow(a.dim, 0, len - 1));
    }
    Ok(vec![x])
}

fn diff_meta(a: &Diff) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.rank() == 0 {
        op_bail!("diff expects input to be at least one-dimensional");
    }
    if a.n < 0 {
        op_bail!("order must be non-negative but got {}", a.n);
    }
    let d = normalize_dim(a.dim, m.rank())?;
    let mut sizes = m.sizes.clone();
    for extra in [&a.prepend, &a.append].into_iter().flatten() {
        sizes[d] = sizes[d].add(
            &meta_of(extra)?
                .sizes
                .get(d)
                .cloned()
                .unwrap_or(SymInt::Int(1)),
        );
    }
    let len = (sizes[d].hint() - a.n).max(0);
    sizes[d] = SymInt::Int(len);
    let dtype = if m.dtype == DType::Bool {
        DType::Bool
    } else {
        m.dtype
    };
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

op_def! {
    pub static HSTACK: struct TensorList = "aten::hstack(Tensor[] tensors) -> Tensor" {
        meta: |a: &TensorList| hvstack_meta(&a.tensors, Stacking::Horizontal),
        composite: |a: &TensorList| hvstack(&a.tensors, Stacking::Horizontal),
    }
    pub static VSTACK: TensorList = "aten::vstack(Tensor[] tensors) -> Tensor" {
        meta: |a: &TensorList| hvstack_meta(&a.tensors, Stacking::Vertical),
        composite: |a: &TensorList| hvstack(&a.tensors, Stacking::Vertical),
    }
    /// `x.mT`: the last two dims swapped (`x.mH` is the same for real tensors).
    pub static MT: struct MatrixT = "aten::mT(Tensor(a) self) -> Tensor(a)" {
        meta: matrix_t_meta,
        composite: |a: &MatrixT| Ok(vec![a.self_.transpose(-2, -1)]),
    }
    pub static MH: MatrixT = "aten::mH(Tensor(a) self) -> Tensor(a)" {
        meta: matrix_t_meta,
        composite: |a: &MatrixT| Ok(vec![a.self_.transpose(-2, -1)]),
    }
    /// `x.T`: every dim reversed (of a matrix, its transpose).
    pub static NUMPY_T: MatrixT = "aten::numpy_T(Tensor(a) self) -> Tensor(a)" {
        meta: |a: &MatrixT| {
            let mut m = meta_of(&a.self_)?;
            m.sizes.reverse();
            Ok(vec![m])
        },
        composite: |a: &MatrixT| {
            let rank = i64::try_from(meta_of(&a.self_)?.rank())
                .map_err(|_| OpError::new("numpy_T: too many dims"))?;
            Ok(vec![a.self_.permute(&(0..rank).rev().collect::<Vec<_>>())])
        },
    }
    pub static DSTACK: TensorList = "aten::dstack(Tensor[] tensors) -> Tensor" {
        meta: |a: &TensorList| hvstack_meta(&a.tensors, Stacking::Depth),
        composite: |a: &TensorList| hvstack(&a.tensors, Stacking::Depth),
    }
    /// A quarter turn `k` times from `dims[0]` towards `dims[1]`.
    pub static ROT90: struct Rot90 = "aten::rot90(Tensor self, int k=1, int[] dims=[0,1]) -> Tensor" {
        meta: |a: &Rot90| {
            rot90_dims(a)?;
            let mut m = meta_of(&a.self_)?;
            if a.k.rem_euclid(2) == 1 {
                let (d0, d1) = rot90_dims(a)?;
                m.sizes.swap(d0, d1);
            }
            Ok(vec![m])
        },
        composite: |a: &Rot90| {
            let (d0, d1) = rot90_dims(a)?;
            let (d0, d1) = (d0 as i64, d1 as i64);
            Ok(vec![match a.k.rem_euclid(4) {
                1 => a.self_.flip(&[d1]).transpose(d0, d1),
                2 => a.self_.flip(&[d0, d1]),
                3 => a.self_.flip(&[d0]).transpose(d0, d1),
                _ => a.self_.clone(),
            }])
        },
    }
    pub static BROADCAST_TENSORS: TensorList = "aten::broadcast_tensors(Tensor[] tensors) -> Tensor[]" {
        meta: broadcast_tensors_meta,
        composite: |a: &TensorList| {
            let sizes = broadcast_sizes(&a.tensors)?;
            Ok(a.tensors.iter().map(|t| t.expand(&sizes)).collect())
        },
    }
    pub static MESHGRID_INDEXING: struct Meshgrid =
        "aten::meshgrid.indexing(Tensor[] tensors, *, str indexing) -> Tensor[]" {
        meta: meshgrid_meta,
        composite: meshgrid_decomposition,
    }
    pub static DIAGONAL: struct Diagonal =
        "aten::diagonal(Tensor(a) self, int offset=0, int dim1=0, int dim2=1) -> Tensor(a)" {
        meta: diagonal_meta,
        composite: diagonal_decomposition,
    }
    /// `Tensor.unfold`: sliding windows of `size` every `step` along `dimension`, as a
    /// new last dim (PyTorch's core IR keeps it; a view there, a copy here).
    pub static UNFOLD: struct UnfoldWindows =
        "aten::unfold(Tensor(a) self, int dimension, int size, int step) -> Tensor(a)" {
        meta: unfold_meta,
        composite: unfold_decomposition,
        core_aten,
    }
    pub static DIAG_EMBED: struct DiagEmbed =
        "aten::diag_embed(Tensor self, int offset=0, int dim1=-2, int dim2=-1) -> Tensor" {
        meta: diag_embed_meta,
        composite: diag_embed_decomposition,
    }
    pub static DIFF: struct Diff =
        "aten::diff(Tensor self, int n=1, int dim=-1, Tensor? prepend=None, Tensor? append=None) -> Tensor" {
        meta: diff_meta,
        composite: diff_decomposition,
    }
}
