//! `nn.EmbeddingBag`: `embedding_bag` (with and without `padding_idx`), and the core
//! IR's `_embedding_bag`, which both decompose to. Each bag of a 1-D `indices` — from
//! its offset to the next (the last to the end, or to the last offset with
//! `include_last_offset`) — reduces its weight rows by sum (scaled by
//! `per_sample_weights`), mean or max. The results are ATen's four: the bags, and the
//! `offset2bag`, `bag_size` and `max_indices` its backward reads, with ATen's CPU sizes
//! (a program reads only the first; the others are computed as ATen does).

use std::ops::Range;

use super::op_def;
use super::util::{concrete, meta_of, with_float_dtype};
use super::Value;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// How a bag reduces its rows (ATen's `mode` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BagMode {
    Sum,
    Mean,
    Max,
}

/// A call of any of the three ops, its arguments read alike.
struct BagCall<'a> {
    weight: &'a Tensor,
    indices: &'a Tensor,
    offsets: &'a Tensor,
    mode: BagMode,
    per_sample_weights: Option<&'a Tensor>,
    include_last_offset: bool,
    /// A row left out of every bag (`None`: none).
    padding_idx: Option<i64>,
}

impl BagCall<'_> {
    fn mode(mode: i64) -> Result<BagMode, OpError> {
        Ok(match mode {
            0 => BagMode::Sum,
            1 => BagMode::Mean,
            2 => BagMode::Max,
            m => op_bail!(
                "embedding_bag: mode has to be one of sum (0), mean (1) or max (2), got {m}"
            ),
        })
    }

    /// The metas of the four results, checked as ATen checks the arguments.
    fn metas(&self) -> Result<Vec<TensorMeta>, OpError> {
        let w = meta_of(self.weight)?;
        let idx = meta_of(self.indices)?;
        let off = meta_of(self.offsets)?;
        if w.rank() != 2 {
            op_bail!(
                "embedding_bag: weight has to be a 2D Tensor, but got Tensor of dimension {}",
                w.rank()
            );
        }
        if !w.dtype.is_float() {
            op_bail!("\"embedding_bag\" not implemented for '{}'", w.dtype);
        }
        for (m, name) in [(&idx, "indices"), (&off, "offsets")] {
            if !matches!(m.dtype, DType::I32 | DType::I64) {
                op_bail!(
                    "embedding_bag: expected {name} to be int32 or int64, but got {}",
                    m.dtype
                );
            }
            if m.rank() != 1 {
                op_bail!(
                    "embedding_bag: {name} has to be a 1D Tensor, but got {}",
                    format_sizes(&m.sizes)
                );
            }
        }
        if idx.dtype != off.dtype {
            op_bail!(
                "embedding_bag: expected indices and offsets of one type, but got {} and {}",
                idx.dtype,
                off.dtype
            );
        }
        if let Some(psw) = self.per_sample_weights {
            let p = meta_of(psw)?;
            if self.mode != BagMode::Sum {
                op_bail!(
                    "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' (got mode='{}'). Please open a feature request on the Pytorch GitHub.",
                    if self.mode == BagMode::Mean { "mean" } else { "max" }
                );
            }
            if p.dtype != w.dtype || p.rank() != 1 || !p.sizes[0].same_as(&idx.sizes[0]) {
                op_bail!(
                    "embedding_bag: expected per_sample_weights to be a 1D tensor of {} with {} elements, but got {} {}",
                    w.dtype,
                    idx.sizes[0],
                    p.dtype,
                    format_sizes(&p.sizes)
                );
            }
        }
        let mut bags = off.sizes[0].clone();
        if self.include_last_offset {
            if bags.hint() < 1 {
                op_bail!(
                    "embedding_bag: include_last_offset: number of offsets should be at least 1"
                );
            }
            bags = bags.sub(&SymInt::Int(1));
        }
        // ATen's CPU fast path for sums skips `offset2bag`.
        let fast_sum = self.mode == BagMode::Sum
            && w.dtype == DType::F32
            && self.padding_idx.is_none_or(|p| p < 0);
        let offset2bag = match fast_sum {
            true => SymInt::Int(0),
            false => idx.sizes[0].clone(),
        };
        let max_indices = match self.mode {
            BagMode::Max => vec![bags.clone(), w.sizes[1].clone()],
            _ => vec![bags.clone()],
        };
        Ok(vec![
            TensorMeta::new(w.dtype, vec![bags.clone(), w.sizes[1].clone()]),
            TensorMeta::new(off.dtype, vec![offset2bag]),
            TensorMeta::new(off.dtype, vec![bags]),
            TensorMeta::new(off.dtype, max_indices),
        ])
    }

    /// The bags, and the auxiliary results as ATen's CPU kernel leaves them.
    fn kernel(&self, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
        let w = self.weight.storage_or_op_error()?;
        let (rows, dim) = (w.shape()[0], w.shape()[1]);
        let indices = self.indices.storage_or_op_error()?.to_vec::<i64>();
        let offsets = self.offsets.storage_or_op_error()?.to_vec::<i64>();
        let ranges = self.bag_ranges(&offsets, indices.len())?;
        let bags = ranges.len();
        let cells = bags
            .checked_mul(dim)
            .ok_or_else(|| OpError::new("embedding_bag: the output size overflows"))?;
        let pad = self.padding_idx.filter(|&p| p >= 0);
        for &i in &indices {
            if i < 0 || i >= rows as i64 {
                op_bail!(
                    "embedding_bag: index {i} is out of range in self (weight has {rows} rows)"
                );
            }
        }
        let psw = match self.per_sample_weights {
            Some(p) => Some(p.storage_or_op_error()?.to_vec::<f64>()),
            None => None,
        };
        let mut counts = vec![0i64; bags];
        let max_cells = if self.mode == BagMode::Max { cells } else { 0 };
        let mut argmax = ferrex_kernels::try_filled(max_cells, 0i64).map_err(|e| OpError(e.0))?;
        let out = with_float_dtype!(w.dtype(), "embedding_bag", T => {
            let table = w.typed::<T>();
            let table = table.as_standard_layout();
            let table = table.as_slice().ok_or_else(|| OpError::new("embedding_bag: weight layout"))?;
            let mut out = ferrex_kernels::try_filled(cells, 0f64).map_err(|e| OpError(e.0))?;
            for (b, range) in ranges.iter().enumerate() {
                let acc = &mut out[b * dim..(b + 1) * dim];
                for k in range.clone() {
                    let i = indices[k];
                    if Some(i) == pad {
                        continue;
                    }
                    let row = &table[i as usize * dim..(i as usize + 1) * dim];
                    let scale = psw.as_ref().map_or(1.0, |p| p[k]);
                    for (c, (a, v)) in acc.iter_mut().zip(row).enumerate() {
                        let v = v.to_f64();
                        match self.mode {
                            BagMode::Sum | BagMode::Mean => *a += v * scale,
                            // The first row, then a greater value (as ATen's `>`).
                            BagMode::Max if counts[b] == 0 || v > *a => {
                                *a = v;
                                argmax[b * dim + c] = i;
                            }
                            BagMode::Max => {}
                        }
                    }
                    counts[b] += 1;
                }
                if self.mode == BagMode::Mean && counts[b] > 0 {
                    acc.iter_mut().for_each(|a| *a /= counts[b] as f64);
                }
            }
            let data: Vec<T> = out.into_iter().map(T::from_f64).collect();
            Storage::from_vec(&[bags, dim], data).ok_or_else(|| OpError::new("embedding_bag: output shape"))?
        });
        let mut results = vec![out];
        results.extend(self.aux_results(metas, &ranges, indices.len(), counts, argmax, dim)?);
        Ok(results)
    }

    /// Each bag's range of `indices` (`n` of them), validated.
    fn bag_ranges(&self, offsets: &[i64], n: usize) -> Result<Vec<Range<usize>>, OpError> {
        let bags = offsets
            .len()
            .saturating_sub(usize::from(self.include_last_offset));
        let mut ranges = Vec::with_capacity(bags);
        for b in 0..bags {
            let start = offsets[b];
            let end = offsets.get(b + 1).copied().unwrap_or(n as i64);
            if start < 0 || end < start || end > n as i64 {
                op_bail!(
                    "embedding_bag: offsets must be non-decreasing and at most the number of indices ({n}), but got {offsets:?}"
                );
            }
            ranges.push(start as usize..end as usize);
        }
        Ok(ranges)
    }

    /// `offset2bag`, `bag_size` and `max_indices` as ATen's CPU kernel leaves them:
    /// `offset2bag` empty on the fast sum path (the meta's size says which), the bag
    /// sizes and (mean) their copy, or (max) the row of each maximum.
    fn aux_results(
        &self,
        metas: &[TensorMeta],
        ranges: &[Range<usize>],
        indices: usize,
        counts: Vec<i64>,
        argmax: Vec<i64>,
        dim: usize,
    ) -> Result<[Storage; 3], OpError> {
        let bags = ranges.len();
        let offset2bag: Vec<i64> = match metas.get(1).map(|m| concrete(&m.sizes)) {
            Some(s) if s == [0] => Vec::new(),
            _ => {
                let mut o = vec![0i64; indices];
                for (b, r) in ranges.iter().enumerate() {
                    o[r.clone()].iter_mut().for_each(|x| *x = b as i64);
                }
                o
            }
        };
        let (bag_size, max_indices) = match self.mode {
            BagMode::Sum => (vec![0; bags], vec![0; bags]),
            BagMode::Mean => (counts.clone(), counts),
            BagMode::Max => (counts, argmax),
        };
        let dtype = self.offsets.storage_or_op_error()?.dtype();
        let int = |v: Vec<i64>, shape: &[usize]| {
            Storage::from_vec(shape, v)
                .map(|s| s.into_dtype(dtype))
                .ok_or_else(|| OpError::new("embedding_bag: result shape"))
        };
        let max_shape: &[usize] = match self.mode {
            BagMode::Max => &[bags, dim],
            _ => &[bags],
        };
        let offsets_len = offset2bag.len();
        Ok([
            int(offset2bag, &[offsets_len])?,
            int(bag_size, &[bags])?,
            int(max_indices, max_shape)?,
        ])
    }
}

/// `call()` of an op's argument struct, its padding row read by `$padding`.
macro_rules! bag_call {
    ($($ty:ident: |$a:ident| $padding:expr;)*) => {$(
        impl $ty {
            fn call(&self) -> Result<BagCall<'_>, OpError> {
                let $a = self;
                Ok(BagCall {
                    weight: &self.weight,
                    indices: &self.indices,
                    offsets: &self.offsets,
                    mode: BagCall::mode(self.mode)?,
                    per_sample_weights: self.per_sample_weights.as_ref(),
                    include_last_offset: self.include_last_offset,
                    padding_idx: $padding,
                })
            }
        }
    )*};
}

bag_call! {
    EmbeddingBagPadding: |a| a.padding_idx;
    EmbeddingBag: |_a| None;
    CoreEmbeddingBag: |a| Some(a.padding_idx).filter(|&p| p >= 0);
}

/// `embedding_bag` → `_embedding_bag` with the same arguments (`padding_idx` -1 for
/// none), as PyTorch's decomposition.
fn to_core(c: &BagCall) -> Vec<Tensor> {
    let tensor = |t: Option<&Tensor>| t.map_or(Value::None, |t| Value::Tensor(t.clone()));
    let mode = match c.mode {
        BagMode::Sum => 0,
        BagMode::Mean => 1,
        BagMode::Max => 2,
    };
    Tensor::call_op(
        &_EMBEDDING_BAG,
        vec![
            Value::Tensor(c.weight.clone()),
            Value::Tensor(c.indices.clone()),
            Value::Tensor(c.offsets.clone()),
            Value::Bool(false),
            Value::Int(SymInt::Int(mode)),
            Value::Bool(false),
            tensor(c.per_sample_weights),
            Value::Bool(c.include_last_offset),
            Value::Int(SymInt::Int(c.padding_idx.unwrap_or(-1))),
        ],
    )
}

op_def! {
    pub static EMBEDDING_BAG_PADDING_IDX: struct EmbeddingBagPadding =
        "aten::embedding_bag.padding_idx(Tensor weight, Tensor indices, Tensor offsets, bool scale_grad_by_freq, int mode, bool sparse, Tensor? per_sample_weights, bool include_last_offset, int? padding_idx) -> (Tensor, Tensor, Tensor, Tensor)" {
        meta: |a: &EmbeddingBagPadding| a.call()?.metas(),
        kernel: |a: &EmbeddingBagPadding, m: &[TensorMeta]| a.call()?.kernel(m),
        decomposition: |a: &EmbeddingBagPadding| Ok(to_core(&a.call()?)),
    }
    pub static EMBEDDING_BAG: struct EmbeddingBag =
        "aten::embedding_bag(Tensor weight, Tensor indices, Tensor offsets, bool scale_grad_by_freq=False, int mode=0, bool sparse=False, Tensor? per_sample_weights=None, bool include_last_offset=False) -> (Tensor, Tensor, Tensor, Tensor)" {
        meta: |a: &EmbeddingBag| a.call()?.metas(),
        kernel: |a: &EmbeddingBag, m: &[TensorMeta]| a.call()?.kernel(m),
        decomposition: |a: &EmbeddingBag| Ok(to_core(&a.call()?)),
    }
    /// What PyTorch's core IR keeps.
    pub static _EMBEDDING_BAG: struct CoreEmbeddingBag =
        "aten::_embedding_bag(Tensor weight, Tensor indices, Tensor offsets, bool scale_grad_by_freq=False, int mode=0, bool sparse=False, Tensor? per_sample_weights=None, bool include_last_offset=False, int padding_idx=-1) -> (Tensor, Tensor, Tensor, Tensor)" {
        meta: |a: &CoreEmbeddingBag| a.call()?.metas(),
        kernel: |a: &CoreEmbeddingBag, m: &[TensorMeta]| a.call()?.kernel(m),
    }
}
