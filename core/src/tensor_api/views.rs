//! Views share their tensor's values, as PyTorch's do: an in-place write into a view
//! reaches the tensor it was taken from, and a view reads the writes made into its
//! tensor since it was taken.
//!
//! ferrex's values are functional (an in-place op replaces a tensor's state), so a view
//! keeps how it was taken (`op(base, args…)`). A write into it is written
//! back by the view op's inverse — `slice_scatter` / `select_scatter` into the tensor, or
//! the inverse reshaping (`transpose`, `permute`, `squeeze`, `view`) — and a view whose
//! tensor changed since is taken again before it is read. Traced, these are the ops
//! PyTorch's functionalization records. `reshape` and `flatten` (which copy a
//! non-contiguous input in PyTorch) and `unfold` do not link.

use crate::error::{SourceLocation, TensorError};
use crate::ops::view_inverse::{write_back, WriteArg};
use crate::ops::{dispatch1, OpDef, Value};
use crate::symbolic::SymInt;
use crate::tensor::{Tensor, ViewOp};

use super::methods::{here, int, t, with_self};

/// A view taken by `op(base, args…)`.
struct ViewCall {
    op: &'static OpDef,
    /// The view op's arguments after `self` (numbers and lists of numbers).
    args: Vec<Value>,
}

impl Tensor {
    /// The view op `op(self, args…)`, its result linked to `self`.
    #[track_caller]
    pub(super) fn view_by(&self, op: &'static OpDef, args: Vec<Value>) -> Tensor {
        let out = dispatch1(op, with_self(self, &args), here());
        out.view_result(self, op, args)
    }

    /// Links the result of the view op `op(base, args…)` to `base` (a `narrow` or a
    /// piece of `split` as the `slice` it is).
    pub(super) fn view_result(self, base: &Tensor, op: &'static OpDef, args: Vec<Value>) -> Tensor {
        self.viewing(base, Box::new(ViewCall { op, args }))
    }
}

impl ViewOp for ViewCall {
    fn take(&self, base: &Tensor, at: SourceLocation) -> Tensor {
        dispatch1(self.op, with_self(base, &self.args), at)
    }

    fn written_back(&self, base: &Tensor, view: &Tensor, at: SourceLocation) -> Tensor {
        // (Only the view ops that write through are linked: `None` is not expected.)
        let call = write_back(self.op, &self.args, &base.sizes(), &view.sizes())
            .unwrap_or_else(|| Err("a write through this view cannot reach its tensor".into()));
        let (op, args) = match call {
            Ok(call) => call,
            Err(message) => {
                let op = self.op.name();
                return Tensor::failed(TensorError::Op { op, message, at });
            }
        };
        let args = (args.into_iter())
            .map(|a| match a {
                WriteArg::Base => t(base),
                WriteArg::Value => t(view),
                WriteArg::Arg(v) => v,
            })
            .collect();
        dispatch1(op, args, at)
    }
}

/// The arguments of a `slice` along `dim` from `start` to `end` (a piece of `split` /
/// `chunk`, or a `narrow`), as a view records them.
pub(super) fn slice_args(dim: i64, start: SymInt, end: SymInt) -> Vec<Value> {
    vec![int(dim), Value::Int(start), Value::Int(end)]
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    fn grid(rows: i64, cols: i64) -> Tensor {
        Tensor::arange(rows * cols)
            .reshape([rows, cols])
            .to_dtype(DType::F32)
    }

    /// Writes into reshaping views (`t`, `transpose`, `permute`, `view`, `unsqueeze`,
    /// `squeeze`) reach the tensor they were taken from, at the elements PyTorch's
    /// shared memory would change.
    #[test]
    fn writes_into_reshaping_views_reach_their_tensor() {
        let x = grid(2, 3);
        // x.t()[2, 0] is x[0, 2]; x.transpose(0, 1)[1, 1] is x[1, 1].
        x.t().select(0, 2).select(0, 0).add_(100.0);
        x.transpose(0, 1).select(0, 1).select(0, 1).mul_(-1.0);
        // x.view([3, 2])[2] is x's elements 4 and 5; x.unsqueeze(0)[0, 0] is x[0].
        x.view([3, 2]).select(0, 2).copy_(&Tensor::full([2], 9.0));
        x.unsqueeze(0).select(0, 0).select(0, 0).sub_(1.0);
        assert_eq!(
            x.to_vec::<f32>().unwrap(),
            [-1.0, 0.0, 101.0, 3.0, 9.0, 9.0]
        );
        let y = grid(2, 3).reshape([2, 1, 3]);
        // y.permute([2, 0, 1])[k, i, 0] is y[i, 0, k]; y.squeeze_dim(1)[1] is y[1, 0].
        y.permute(&[2, 0, 1])
            .select(0, 1)
            .copy_(&Tensor::full([2, 1], 7.0));
        y.squeeze_dim(1).select(0, 1).add_(10.0);
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            [0.0, 7.0, 2.0, 13.0, 17.0, 15.0]
        );
    }

    /// A view reads the writes made into its tensor after it was taken (and into a
    /// sibling view), as PyTorch's do; a view of a view too.
    #[test]
    fn views_read_writes_made_after_they_were_taken() {
        let x = grid(2, 3);
        let row = x.select(0, 1);
        let col = x.t().select(0, 0);
        let corner = row.slice(0, Some(1), None::<i64>, 1);
        x.add_(1.0);
        assert_eq!(row.to_vec::<f32>().unwrap(), [4.0, 5.0, 6.0]);
        assert_eq!(col.to_vec::<f32>().unwrap(), [1.0, 4.0]);
        col.mul_(10.0);
        assert_eq!(row.to_vec::<f32>().unwrap(), [40.0, 5.0, 6.0]);
        assert_eq!(corner.to_vec::<f32>().unwrap(), [5.0, 6.0]);
        assert_eq!(x.to_vec::<f32>().unwrap(), [10.0, 2.0, 3.0, 40.0, 5.0, 6.0]);
    }

    /// The pieces of `chunk` and `split` are views: writes reach the tensor.
    #[test]
    fn chunk_and_split_pieces_write_into_their_tensor() {
        let x = grid(4, 2);
        let halves = x.chunk(2, 0);
        halves[1].mul_(0.0);
        let cols = x.split(1, 1);
        cols[0].add_(0.5);
        assert_eq!(
            x.to_vec::<f32>().unwrap(),
            [0.5, 1.0, 2.5, 3.0, 0.5, 0.0, 0.5, 0.0]
        );
    }

    /// A write into an `expand` that repeats elements is refused with PyTorch's error
    /// and changes nothing; an `expand` that repeats nothing writes through.
    #[test]
    fn writes_into_a_repeating_expand_are_refused() {
        let x = Tensor::from_slice(&[1.0f32, 2.0]).reshape([2, 1]);
        let wide = x.expand([2, 3]);
        let err = wide.add_(1.0).to_vec::<f32>().unwrap_err().to_string();
        assert!(
            err.ends_with(
                "unsupported operation: more than one element of the written-to tensor refers \
                 to a single memory location. Please clone() the tensor before performing the \
                 operation."
            ),
            "{err}"
        );
        assert_eq!(x.to_vec::<f32>().unwrap(), [1.0, 2.0]);
        assert_eq!(
            wide.to_vec::<f32>().unwrap(),
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        x.expand([1, 2, 1]).mul_(3.0);
        assert_eq!(x.to_vec::<f32>().unwrap(), [3.0, 6.0]);
    }
}
