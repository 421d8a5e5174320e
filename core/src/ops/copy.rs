//! `aten::copy_` (write another tensor's values into a tensor, broadcasting and casting
//! them) and its functional form `aten::copy`, which functionalization records in its
//! place: how a `forward` replaces the value of a buffer (`self.state.copy_(&fresh)`).

use super::op_def;
use super::util::broadcast_shapes;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::tensor::{Storage, Tensor, TensorMeta};

fn copy_meta(a: &Copy) -> Result<Vec<TensorMeta>, OpError> {
    let (dst, src) = (meta_of(&a.self_)?, meta_of(&a.src)?);
    let shape = broadcast_shapes(&dst.sizes, &src.sizes)?;
    let same =
        shape.len() == dst.sizes.len() && shape.iter().zip(&dst.sizes).all(|(a, b)| a.same_as(b));
    if !same {
        op_bail!(
            "the source of shape {} cannot be broadcast to the destination's shape {}",
            crate::symbolic::format_sizes(&src.sizes),
            crate::symbolic::format_sizes(&dst.sizes)
        );
    }
    Ok(vec![dst])
}

fn copy_kernel(a: &Copy, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dst = out
        .first()
        .ok_or_else(|| OpError::new("copy has one result"))?;
    let shape: Vec<i64> = dst.sizes.iter().map(|s| s.hint()).collect();
    let src = a.src.to_dtype(dst.dtype).expand(shape).copy();
    Ok(vec![src
        .try_storage()
        .map_err(|e| OpError(e.to_string()))?])
}

/// `src` broadcast to the result (`self`'s sizes): a planned expand, or the value itself
/// when the sizes are `src`'s (the runtime plans it only where both are f32: a cast is
/// the kernel's).
fn copy_lowering<T: Clone>(a: &Copy<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Expand {
        input: a.src.clone(),
    })
}

op_def! {
    pub static COPY: struct Copy =
        "aten::copy(Tensor self, Tensor src, bool non_blocking=False) -> Tensor" {
        meta: copy_meta,
        kernel: copy_kernel,
        lowering: copy_lowering,
    }
    pub static COPY_: Copy =
        "aten::copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)" {
        meta: copy_meta,
        kernel: copy_kernel,
        inplace_of: COPY,
    }
}

impl Tensor {
    /// Writes `src`'s values into this tensor (broadcast to its shape, cast to its
    /// dtype), PyTorch's `copy_`. In `forward`, how a buffer's value is replaced: exported
    /// as `aten::copy` and a `BUFFER_MUTATION` output.
    #[track_caller]
    pub fn copy_(&self, src: &Tensor) -> Tensor {
        self.inplace(&COPY_, vec![crate::ops::Value::Tensor(src.clone())])
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    /// In-place writes into `slice`, `narrow` and `select` views reach the tensor they
    /// were taken from (views of views too), as PyTorch's shared memory does; a failed
    /// write leaves both as they were.
    #[test]
    fn writes_into_views_reach_their_tensor() {
        let x = Tensor::arange(12).reshape([3, 4]).to_dtype(DType::F32);
        x.slice(1, Some(1), Some(3), 1)
            .copy_(&Tensor::zeros([3, 2]));
        x.select(0, 2).copy_(&Tensor::full([4], 7.0));
        x.narrow(0, 0, 2).select(1, 3).mul_(10.0);
        x.slice(1, Some(0), None::<i64>, 2).select(0, 1).add_(0.5);
        let want = [0.0, 0.0, 0.0, 30.0, 4.5, 0.0, 0.5, 70.0, 7.0, 7.0, 7.0, 7.0];
        assert_eq!(x.to_vec::<f32>().unwrap(), want);
        let failed = x.select(0, 0).copy_(&Tensor::zeros([5]));
        assert!(failed.to_vec::<f32>().is_err());
        assert_eq!(x.to_vec::<f32>().unwrap(), want);
    }

    /// A `narrow` view from a negative start (counted from the end) writes back into
    /// the same region.
    #[test]
    fn a_narrow_view_from_the_end_writes_its_own_region() {
        let x = Tensor::arange(6).reshape([2, 3]).to_dtype(DType::F32);
        x.narrow(1, -2, 2).copy_(&Tensor::zeros([2, 2]));
        x.narrow(0, -1, 1).add_(10.0);
        assert_eq!(
            x.to_vec::<f32>().unwrap(),
            [0.0, 0.0, 0.0, 13.0, 10.0, 10.0]
        );
    }

    #[test]
    fn copy_broadcasts_and_casts_into_the_destination() {
        let dst = Tensor::zeros([2, 3]);
        dst.copy_(&Tensor::from_slice(&[1i64, 2, 3]));
        assert_eq!(dst.dtype(), DType::F32);
        assert_eq!(dst.to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let bad = Tensor::zeros([2]).copy_(&Tensor::zeros([3]));
        let err = bad.to_vec::<f32>().unwrap_err().to_string();
        assert!(
            err.starts_with("aten::copy_.default at core/src/ops/copy.rs:"),
            "{err}"
        );
        assert!(err.ends_with(
            "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"
        ));
    }
}
