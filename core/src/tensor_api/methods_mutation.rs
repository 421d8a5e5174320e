//! Writes into tensor elements, recorded as in-place ops: `x.set_item_(&[0, 0], 3.0)`
//! (Python's `x[0, 0] = 3`), `index_put_` / `index_put` (ATen's), and `data()` (PyTorch's
//! `.data`). While exporting, a write is an `aten::index_put_` node; functionalization
//! makes it `index_put`, and a written input becomes a USER_INPUT_MUTATION output, so the
//! exported program writes into the caller's tensor as the model did.

use crate::ops::{dispatch1, inplace, mutation, scatter, Value};
use crate::symbolic::SymInt;

use super::methods::here;
use super::Operand;
use crate::tensor::Tensor;

impl Tensor {
    /// PyTorch's `.data`: this tensor (an alias; ferrex has no autograd to detach from).
    /// Strict export rejects it as a graph break, as `torch.export` does; non-strict
    /// export records what is done through it.
    #[must_use]
    pub fn data(&self) -> Tensor {
        self.clone()
    }

    /// `self[indices] = values` in place (`aten::index_put_`): `indices` are integer
    /// tensors for the leading dimensions, broadcast together; `values` broadcast to the
    /// selected elements. With `accumulate`, values are added instead.
    #[track_caller]
    pub fn index_put_(&self, indices: &[Tensor], values: &Tensor, accumulate: bool) -> Tensor {
        let out = dispatch1(
            &mutation::INDEX_PUT_,
            put_args(self, indices, values, accumulate),
            here(),
        );
        self.take_inplace_result(out)
    }

    /// The functional form of [`Tensor::index_put_`]: a new tensor, `self` unchanged.
    #[track_caller]
    #[must_use]
    pub fn index_put(&self, indices: &[Tensor], values: &Tensor, accumulate: bool) -> Tensor {
        dispatch1(
            &mutation::INDEX_PUT,
            put_args(self, indices, values, accumulate),
            here(),
        )
    }

    /// `source`'s slices along `dim` replace this tensor's at `index` (`aten::index_copy`;
    /// `source` is this tensor's shape with `index.numel()` along `dim`).
    ///
    /// ```
    /// use ferrex::Tensor;
    /// let cache = Tensor::zeros([1, 4]);
    /// let step = Tensor::from_vec(vec![7.0f32, 8.0], [1, 2]);
    /// let pos = Tensor::from_slice(&[3i64, 0]);
    /// assert_eq!(cache.index_copy(1, &pos, &step).to_vec::<f32>()?, [8.0, 0.0, 0.0, 7.0]);
    /// cache.index_copy_(1, &pos, &step);
    /// assert_eq!(cache.to_vec::<f32>()?, [8.0, 0.0, 0.0, 7.0]);
    /// # Ok::<(), ferrex::TensorError>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn index_copy(&self, dim: i64, index: &Tensor, source: &Tensor) -> Tensor {
        let args = index_copy_args(self, dim, index, source);
        dispatch1(&scatter::INDEX_COPY, args, here())
    }

    /// [`Tensor::index_copy`] in place (a KV cache's `cache.index_copy_(1, pos, k)`).
    #[track_caller]
    pub fn index_copy_(&self, dim: i64, index: &Tensor, source: &Tensor) -> Tensor {
        let mut rest = index_copy_args(self, dim, index, source);
        rest.remove(0);
        self.inplace(&inplace::INDEX_COPY_, rest)
    }

    /// `self[i, j, …] = value` in place, like Python's `x[0, 0] = 3`: writes one element
    /// (or, with fewer indices than dimensions, the sub-tensor there). Negative indices
    /// count from the end. Recorded as `aten::index_put_`.
    ///
    /// ```
    /// use ferrex::Tensor;
    /// let x = Tensor::zeros([2, 2]);
    /// x.set_item_(&[0, 1], 3.0);
    /// assert_eq!(x.to_vec::<f32>()?, vec![0.0, 3.0, 0.0, 0.0]);
    /// # Ok::<(), ferrex::TensorError>(())
    /// ```
    #[track_caller]
    pub fn set_item_(&self, index: &[i64], value: impl Into<Operand>) -> Tensor {
        let at = here();
        let scalar = |v: Value| {
            dispatch1(
                &crate::ops::constructors::FULL,
                vec![Value::IntList(Vec::<SymInt>::new()), v],
                at,
            )
        };
        let indices: Vec<Tensor> = index
            .iter()
            .map(|&i| scalar(Value::Int(SymInt::Int(i))))
            .collect();
        let values = match value.into() {
            Operand::Tensor(t) => t,
            other => scalar(other.into()),
        };
        let out = dispatch1(
            &mutation::INDEX_PUT_,
            put_args(self, &indices, &values, false),
            at,
        );
        self.take_inplace_result(out)
    }
}

fn index_copy_args(x: &Tensor, dim: i64, index: &Tensor, source: &Tensor) -> Vec<Value> {
    vec![
        Value::Tensor(x.clone()),
        Value::Int(SymInt::Int(dim)),
        Value::Tensor(index.clone()),
        Value::Tensor(source.clone()),
    ]
}

fn put_args(x: &Tensor, indices: &[Tensor], values: &Tensor, accumulate: bool) -> Vec<Value> {
    let mut args = vec![
        Value::Tensor(x.clone()),
        Value::OptTensorList(indices.iter().cloned().map(Some).collect()),
        Value::Tensor(values.clone()),
    ];
    if accumulate {
        args.push(Value::Bool(true));
    }
    args
}
