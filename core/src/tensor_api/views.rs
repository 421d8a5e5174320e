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
use crate::ops::scatter::{SELECT_SCATTER, SLICE_SCATTER};
use crate::ops::shape::{
    EXPAND, PERMUTE, SELECT_INT, SLICE, SQUEEZE_DIM, T, TRANSPOSE, UNSQUEEZE, VIEW,
};
use crate::ops::{dispatch1, OpDef, Value};
use crate::symbolic::SymInt;
use crate::tensor::{Tensor, ViewOp};

use super::methods::{int, t};

fn is(op: &'static OpDef, which: &'static OpDef) -> bool {
    std::ptr::eq(op, which)
}

/// A view taken by `op(base, args…)`.
struct ViewCall {
    op: &'static OpDef,
    /// The view op's arguments after `self` (numbers and lists of numbers).
    args: Vec<Value>,
}

impl Tensor {
    /// Links the result of the view op `op(base, args…)` to `base`.
    pub(crate) fn view_result(self, base: &Tensor, op: &'static OpDef, args: &[Value]) -> Tensor {
        let how = ViewCall {
            op,
            args: args.to_vec(),
        };
        self.viewing(base, Box::new(how))
    }
}

impl ViewOp for ViewCall {
    fn take(&self, base: &Tensor, at: SourceLocation) -> Tensor {
        let mut args = vec![t(base)];
        args.extend(self.args.iter().cloned());
        dispatch1(self.op, args, at)
    }

    fn written_back(&self, base: &Tensor, view: &Tensor, at: SourceLocation) -> Tensor {
        if let Err(message) = self.check_writable(base, view) {
            let op = self.op.name();
            return Tensor::failed(TensorError::Op { op, message, at });
        }
        let (op, args) = self.write_back_call(base, view);
        dispatch1(op, args, at)
    }
}

impl ViewCall {
    /// Why a write into this view cannot reach its tensor: an `expand` that repeats
    /// elements (PyTorch's error), or nothing.
    fn check_writable(&self, base: &Tensor, view: &Tensor) -> Result<(), String> {
        if !is(self.op, &EXPAND) {
            return Ok(());
        }
        let (base, sizes) = (base.sizes(), view.sizes());
        let lead = sizes.len().saturating_sub(base.len());
        let repeats = sizes.iter().enumerate().any(|(i, s)| {
            s.hint() > 1 && (i < lead || base.get(i - lead).is_some_and(|b| b.hint() == 1))
        });
        if repeats {
            return Err(
                "unsupported operation: more than one element of the written-to tensor refers \
                 to a single memory location. Please clone() the tensor before performing the \
                 operation."
                    .into(),
            );
        }
        Ok(())
    }

    /// The call computing the tensor's new contents from the view's: the view op's
    /// inverse.
    fn write_back_call(&self, base: &Tensor, value: &Tensor) -> (&'static OpDef, Vec<Value>) {
        let op = self.op;
        let with = |first: Vec<Value>| {
            let mut args = first;
            args.extend(self.args.iter().cloned());
            args
        };
        if is(op, &SLICE) {
            (&SLICE_SCATTER, with(vec![t(base), t(value)]))
        } else if is(op, &SELECT_INT) {
            (&SELECT_SCATTER, with(vec![t(base), t(value)]))
        } else if is(op, &T) {
            (&T, vec![t(value)])
        } else if is(op, &TRANSPOSE) {
            (&TRANSPOSE, with(vec![t(value)]))
        } else if is(op, &PERMUTE) {
            (&PERMUTE, vec![t(value), inverse_permutation(&self.args)])
        } else if is(op, &UNSQUEEZE) {
            (&SQUEEZE_DIM, with(vec![t(value)]))
        } else {
            // `view`, `squeeze.dim` and an `expand` that repeats nothing: back to the
            // tensor's sizes.
            (&VIEW, vec![t(value), Value::IntList(base.sizes())])
        }
    }
}

/// `permute`'s inverse dims: `inverse[dims[i]] = i` (dims counted from the end wrap).
fn inverse_permutation(args: &[Value]) -> Value {
    let dims: Vec<i64> = match args.first() {
        Some(Value::IntList(d)) => d.iter().map(SymInt::hint).collect(),
        _ => Vec::new(),
    };
    let rank = dims.len() as i64;
    let mut inverse = vec![SymInt::Int(0); dims.len()];
    for (i, &d) in dims.iter().enumerate() {
        let d = if d < 0 { d + rank } else { d };
        if let Some(slot) = usize::try_from(d).ok().and_then(|d| inverse.get_mut(d)) {
            *slot = SymInt::Int(i as i64);
        }
    }
    Value::IntList(inverse)
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
