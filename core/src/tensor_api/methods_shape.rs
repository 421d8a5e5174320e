//! Tensor methods for shapes and indexing: expand, squeeze, flatten, select, narrow,
//! cat, stack, split, chunk, flip, roll, pad, gather, index_select, …, and the `*_like`
//! and `eye` constructors.

use std::borrow::Borrow;

use crate::ops::{constructors, dispatch, dispatch1, indexing, pixel_shuffle, shape, Value};
use crate::symbolic::SymInt;

use super::methods::{here, int, ints, t};
use super::views::slice_args;
use super::{IntoSizes, Operand};
use crate::tensor::{DType, Tensor};

fn list<T: Borrow<Tensor>>(tensors: &[T]) -> Value {
    Value::TensorList(tensors.iter().map(|x| x.borrow().clone()).collect())
}

/// The pieces of `split` / `chunk` along `dim`, each linked to `x` as the slice it is.
fn pieces_of(x: &Tensor, pieces: Vec<Tensor>, dim: i64) -> Vec<Tensor> {
    let mut start = SymInt::Int(0);
    pieces
        .into_iter()
        .map(|piece| {
            let end = start.add(&piece.size(dim));
            let args = slice_args(dim, std::mem::replace(&mut start, end.clone()), end);
            piece.view_result(x, &shape::SLICE, args)
        })
        .collect()
}

impl Tensor {
    // ----- views and reshapes --------------------------------------------------------

    /// Broadcasts size-1 dims (and new leading dims) to `size`; `-1` keeps a dim.
    #[track_caller]
    #[must_use]
    pub fn expand(&self, size: impl IntoSizes) -> Tensor {
        self.view_by(&shape::EXPAND, vec![Value::IntList(size.into_sizes())])
    }

    /// Removes `dim` if its size is 1 (`aten::squeeze.dim`).
    #[track_caller]
    #[must_use]
    pub fn squeeze_dim(&self, dim: i64) -> Tensor {
        self.view_by(&shape::SQUEEZE_DIM, vec![int(dim)])
    }

    /// Merges dims `start_dim..=end_dim` into one.
    #[track_caller]
    #[must_use]
    pub fn flatten(&self, start_dim: i64, end_dim: i64) -> Tensor {
        let args = vec![t(self), int(start_dim), int(end_dim)];
        dispatch1(&shape::FLATTEN, args, here())
    }

    /// `self[..., index, ...]` along `dim`, which disappears (negative counts from the end).
    #[track_caller]
    #[must_use]
    pub fn select(&self, dim: i64, index: impl Into<SymInt>) -> Tensor {
        self.view_by(&shape::SELECT_INT, vec![int(dim), Value::Int(index.into())])
    }

    /// `length` elements of `dim` from `start` (a view).
    #[track_caller]
    #[must_use]
    pub fn narrow(&self, dim: i64, start: impl Into<SymInt>, length: impl Into<SymInt>) -> Tensor {
        let (start, length) = (start.into(), length.into());
        let args = vec![
            t(self),
            int(dim),
            Value::Int(start.clone()),
            Value::Int(length.clone()),
        ];
        let out = dispatch1(&shape::NARROW, args, here());
        // The region from the wrapped start: a negative `start` counts from the end, and
        // `start + length` would then end the slice at 0 (the dim's start) or before.
        match shape::narrow_bounds(&self.size(dim), &start, &length) {
            Ok(start) => {
                let end = start.add(&length);
                out.view_result(self, &shape::SLICE, slice_args(dim, start, end))
            }
            // The narrow failed: its result carries the error, and no view.
            Err(_) => out,
        }
    }

    /// Tiles the tensor `repeats[i]` times along each dim (extra leading repeats add dims).
    #[track_caller]
    #[must_use]
    pub fn repeat(&self, repeats: impl IntoSizes) -> Tensor {
        let args = vec![t(self), Value::IntList(repeats.into_sizes())];
        dispatch1(&shape::REPEAT, args, here())
    }

    /// Sliding windows of `size` every `step` along `dim`, as a new last dim
    /// (`Tensor.unfold`; audio framing: `x.unfold(-1, 400, 160)`).
    #[track_caller]
    #[must_use]
    pub fn unfold(&self, dim: i64, size: i64, step: i64) -> Tensor {
        let args = vec![t(self), int(dim), int(size), int(step)];
        dispatch1(&shape::UNFOLD, args, here())
    }

    /// A tensor with one more dim whose `dim1` × `dim2` planes hold the last dim on
    /// their diagonal shifted by `offset` (above it when positive), zeros elsewhere
    /// (`torch.diag_embed`).
    #[track_caller]
    #[must_use]
    pub fn diag_embed(&self, offset: i64, dim1: i64, dim2: i64) -> Tensor {
        let args = vec![t(self), int(offset), int(dim1), int(dim2)];
        dispatch1(&shape::DIAG_EMBED, args, here())
    }

    /// Reverses the order of elements along `dims`.
    #[track_caller]
    #[must_use]
    pub fn flip(&self, dims: &[i64]) -> Tensor {
        dispatch1(&shape::FLIP, vec![t(self), ints(dims)], here())
    }

    /// Rotates elements along `dims` by `shifts`; with no dims, the flattened tensor.
    #[track_caller]
    #[must_use]
    pub fn roll(&self, shifts: &[i64], dims: &[i64]) -> Tensor {
        let args = vec![t(self), ints(shifts), ints(dims)];
        dispatch1(&shape::ROLL, args, here())
    }

    /// The lower triangle of the last two dims (`col - row <= diagonal`), zeros elsewhere.
    #[track_caller]
    #[must_use]
    pub fn tril(&self, diagonal: i64) -> Tensor {
        dispatch1(&shape::TRIL, vec![t(self), int(diagonal)], here())
    }

    /// The upper triangle of the last two dims (`col - row >= diagonal`), zeros elsewhere.
    #[track_caller]
    #[must_use]
    pub fn triu(&self, diagonal: i64) -> Tensor {
        dispatch1(&shape::TRIU, vec![t(self), int(diagonal)], here())
    }

    /// `[*, C·r², H, W]` → `[*, C, H·r, W·r]` (`F.pixel_shuffle(x, r)`).
    #[track_caller]
    #[must_use]
    pub fn pixel_shuffle(&self, upscale_factor: i64) -> Tensor {
        let args = vec![t(self), int(upscale_factor)];
        dispatch1(&pixel_shuffle::PIXEL_SHUFFLE, args, here())
    }

    /// `[*, C, H·r, W·r]` → `[*, C·r², H, W]` (`F.pixel_unshuffle(x, r)`).
    #[track_caller]
    #[must_use]
    pub fn pixel_unshuffle(&self, downscale_factor: i64) -> Tensor {
        let args = vec![t(self), int(downscale_factor)];
        dispatch1(&pixel_shuffle::PIXEL_UNSHUFFLE, args, here())
    }

    // ----- joining and splitting -----------------------------------------------------

    /// Concatenates along `dim` (`torch.cat`): `Tensor::cat(&[&a, &b], 0)`.
    #[track_caller]
    #[must_use]
    pub fn cat<T: Borrow<Tensor>>(tensors: &[T], dim: i64) -> Tensor {
        dispatch1(&shape::CAT, vec![list(tensors), int(dim)], here())
    }

    /// Stacks equal-shaped tensors along a new dim `dim` (`torch.stack`).
    #[track_caller]
    #[must_use]
    pub fn stack<T: Borrow<Tensor>>(tensors: &[T], dim: i64) -> Tensor {
        dispatch1(&shape::STACK, vec![list(tensors), int(dim)], here())
    }

    /// Pieces of `split_size` along `dim` (the last may be smaller).
    #[track_caller]
    #[must_use]
    pub fn split(&self, split_size: impl Into<SymInt>, dim: i64) -> Vec<Tensor> {
        let args = vec![t(self), int(split_size), int(dim)];
        pieces_of(self, dispatch(&shape::SPLIT_TENSOR, args, here()), dim)
    }

    /// `chunks` pieces (or fewer) of equal size along `dim` (the last may be smaller).
    #[track_caller]
    #[must_use]
    pub fn chunk(&self, chunks: i64, dim: i64) -> Vec<Tensor> {
        let args = vec![t(self), int(chunks), int(dim)];
        pieces_of(self, dispatch(&shape::CHUNK, args, here()), dim)
    }

    /// Pads with `value` (`aten::constant_pad_nd`): `pad` lists `(left, right)` pairs from
    /// the last dim backwards; negative pads crop.
    #[track_caller]
    #[must_use]
    pub fn pad(&self, pad: impl IntoSizes, value: f64) -> Tensor {
        let args = vec![
            t(self),
            Value::IntList(pad.into_sizes()),
            Value::Float(value),
        ];
        dispatch1(&shape::CONSTANT_PAD_ND, args, here())
    }

    /// Pads in `mode` (`"constant"`, `"reflect"`, `"replicate"` or `"circular"`;
    /// `aten::pad`): see [`crate::nn::functional::pad`].
    #[track_caller]
    #[must_use]
    pub fn pad_mode(&self, pad: impl IntoSizes, mode: &str, value: Option<f64>) -> Tensor {
        let args = vec![
            t(self),
            Value::IntList(pad.into_sizes()),
            Value::Str(mode.to_string()),
            value.map_or(Value::None, Value::Float),
        ];
        dispatch1(&shape::PAD, args, here())
    }

    // ----- indexing ------------------------------------------------------------------

    /// The entries of `dim` listed in the 1-D integer tensor `index`.
    #[track_caller]
    #[must_use]
    pub fn index_select(&self, dim: i64, index: &Tensor) -> Tensor {
        let args = vec![t(self), int(dim), t(index)];
        dispatch1(&indexing::INDEX_SELECT, args, here())
    }

    /// `out[i][j] = self[index[i][j]][j]` (for `dim = 0`), `index` an i64 tensor.
    #[track_caller]
    #[must_use]
    pub fn gather(&self, dim: i64, index: &Tensor) -> Tensor {
        let args = vec![t(self), int(dim), t(index)];
        dispatch1(&indexing::GATHER, args, here())
    }

    /// Advanced indexing, `self[i, :, j]` as `x.index(&[Some(&i), None, Some(&j)])`:
    /// integer or bool index tensors broadcast together; `None` keeps a dim. A bool mask
    /// selects where it is true; while exporting, its selection has a data-dependent
    /// length, so the mask becomes its `nonzero` positions (one index per mask dim, of
    /// unbacked length `u0`), as PyTorch expands it.
    #[track_caller]
    #[must_use]
    pub fn index(&self, indices: &[Option<&Tensor>]) -> Tensor {
        let at = here();
        let mut expanded: Vec<Option<Tensor>> = Vec::with_capacity(indices.len());
        for index in indices {
            match index {
                Some(mask) if crate::tensor::hook::is_tracing() && is_traced_mask(mask) => {
                    let positions = mask.nonzero();
                    for d in 0..mask.dim() {
                        expanded.push(Some(positions.select(1, d as i64)));
                    }
                }
                other => expanded.push(other.cloned()),
            }
        }
        let list = Value::OptTensorList(expanded);
        dispatch1(&indexing::INDEX_TENSOR, vec![t(self), list], at)
    }

    // ----- constructors --------------------------------------------------------------

    /// A tensor of this one's shape and dtype filled with `fill_value`.
    #[track_caller]
    #[must_use]
    pub fn full_like(&self, fill_value: impl Into<Operand>) -> Tensor {
        let args = vec![t(self), fill_value.into().into()];
        dispatch1(&constructors::FULL_LIKE, args, here())
    }

    /// Zeros of this tensor's shape and dtype.
    #[track_caller]
    #[must_use]
    pub fn zeros_like(&self) -> Tensor {
        dispatch1(&constructors::ZEROS_LIKE, vec![t(self)], here())
    }

    /// Ones of this tensor's shape and dtype.
    #[track_caller]
    #[must_use]
    pub fn ones_like(&self) -> Tensor {
        dispatch1(&constructors::ONES_LIKE, vec![t(self)], here())
    }

    /// The `n × n` identity matrix (f32).
    #[track_caller]
    #[must_use]
    pub fn eye(n: impl Into<SymInt>) -> Tensor {
        dispatch1(&constructors::EYE, vec![int(n)], here())
    }

    /// The `n × n` identity matrix of `dtype`.
    #[track_caller]
    #[must_use]
    pub fn eye_dtype(n: impl Into<SymInt>, dtype: DType) -> Tensor {
        dispatch1(
            &constructors::EYE,
            vec![int(n), Value::DType(dtype)],
            here(),
        )
    }
}

/// A bool tensor being traced: its true positions are known only at run time.
fn is_traced_mask(mask: &Tensor) -> bool {
    matches!(mask.state(), crate::tensor::TensorState::Traced(ref t) if t.meta.dtype == DType::Bool)
}
