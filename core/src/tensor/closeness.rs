//! Comparing tensors by value: `max_abs_diff` and PyTorch's `allclose`, for checking an
//! exported program against the eager model or a reference.

use super::Tensor;
use crate::error::{SourceLocation, TensorError};

impl Tensor {
    /// The largest `|self - other|` over the elements (after broadcasting), in f64;
    /// NaN where either side is NaN. An error when the shapes do not broadcast or the
    /// data cannot be read (a traced tensor).
    #[track_caller]
    pub fn max_abs_diff(&self, other: &Tensor) -> Result<f64, TensorError> {
        let at = SourceLocation::from_caller(std::panic::Location::caller());
        let (a, b) = self.broadcast_pair(other, at)?;
        Ok(a.iter().zip(&b).fold(0.0, |worst, (x, y)| {
            let d = (x - y).abs();
            if d.is_nan() || worst.is_nan() {
                f64::NAN
            } else {
                worst.max(d)
            }
        }))
    }

    /// Whether every element satisfies `|self - other| <= atol + rtol * |other|`, as
    /// PyTorch's `allclose` (NaNs are never close; equal infinities are). False when
    /// the shapes do not broadcast or the data cannot be read.
    #[track_caller]
    pub fn allclose(&self, other: &Tensor, rtol: f64, atol: f64) -> bool {
        let at = SourceLocation::from_caller(std::panic::Location::caller());
        let Ok((a, b)) = self.broadcast_pair(other, at) else {
            return false;
        };
        a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || (x - y).abs() <= atol + rtol * y.abs())
    }

    /// Both tensors' elements as f64, broadcast to one shape.
    fn broadcast_pair(
        &self,
        other: &Tensor,
        at: SourceLocation,
    ) -> Result<(Vec<f64>, Vec<f64>), TensorError> {
        let (a, b) = (
            self.storage_for("allclose", at)?,
            other.storage_for("allclose", at)?,
        );
        let shape = super::sizes::broadcast_shapes(
            &super::TensorMeta::from_shape(a.dtype(), a.shape()).sizes,
            &super::TensorMeta::from_shape(b.dtype(), b.shape()).sizes,
        )
        .map_err(|e| TensorError::Op {
            op: "allclose".into(),
            message: e.0,
            at,
        })?;
        let shape: Vec<i64> = shape.iter().map(|s| s.hint()).collect();
        let expand = |s: super::Storage| -> Result<Vec<f64>, TensorError> {
            Tensor::from_storage(s)
                .expand(shape.clone())
                .to_dtype(crate::DType::F64)
                .to_vec::<f64>()
        };
        Ok((expand(a)?, expand(b)?))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn closeness_follows_pytorch() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let b = Tensor::from_slice(&[1.0f32, 2.0001, 3.0]);
        assert!((a.max_abs_diff(&b).unwrap() - 1e-4).abs() < 1e-6);
        assert!(!a.allclose(&b, 1e-5, 1e-8));
        assert!(a.allclose(&b, 1e-4, 1e-8));
        // Broadcasting, as PyTorch's allclose.
        assert!(Tensor::ones([2, 3]).allclose(&Tensor::ones([3]), 0.0, 0.0));
        assert!(!Tensor::ones([2]).allclose(&Tensor::ones([3]), 0.0, 0.0));
        let err = Tensor::ones([2])
            .max_abs_diff(&Tensor::ones([3]))
            .unwrap_err();
        assert!(err.to_string().starts_with("allclose at "), "{err}");
        let nan = Tensor::from_slice(&[f32::NAN]);
        assert!(!nan.allclose(&nan, 1.0, 1.0));
        assert!(a.max_abs_diff(&nan).unwrap().is_nan());
    }
}
