//! Capabilities an op offers the compiled runtime, from its typed arguments: what it
//! computes, in terms the runtime's kernels implement. The runtime asks an op's
//! `lowering` hook instead of matching its name, so defaults and argument positions live
//! only in the op's schema, and ops that compute the same thing (`conv2d` and the core
//! IR's `convolution`, `max_pool2d` and `max_pool2d_with_indices`'s output 0) declare
//! the same capability. A multi-output op's lowering describes its output 0, which the
//! runtime plans when nothing else of it is read (but [`Lowering::Split`], which
//! describes them all).

pub use ferrex_kernels::pointwise::{Binary, Unary};
pub use ferrex_kernels::pool::Interpolation;
pub use ferrex_kernels::reduce::Reduction;

use super::{Argument, TensorOrNumber};
use crate::error::OpError;
use crate::symbolic::{CmpOp, SymInt};
use crate::tensor::DType;

/// What a tensor argument is in a lowering: a node index of the graph being compiled.
pub type ArgRef = usize;

/// An op's lowering hook: decodes the call's arguments (tensors as node indices) with the
/// op's argument struct and says what the op computes.
pub type LowerFn = fn(&[Argument<ArgRef>]) -> Result<Lowering<ArgRef>, OpError>;

/// What an op computes, for the runtime.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Lowering<T> {
    /// `f(input)` element by element (the eager kernel computes it with the same
    /// [`Unary::eval`]).
    Unary { input: T, f: Unary },
    /// `lhs op rhs`, broadcast; `alpha` scales `rhs` of an add or a subtraction.
    Binary {
        op: Binary,
        lhs: TensorOrNumber<T>,
        rhs: TensorOrNumber<T>,
        alpha: f64,
    },
    /// `alpha * a @ b + beta * bias` (`bias` broadcast; `beta` 0 ignores it). `weight`:
    /// `b` is `[n, k]` (a `linear` weight), else `[k, n]`; `any_rank`: `a` may have
    /// leading batch dims (`matmul`, `linear`), else it is 2-D (`mm`, `addmm`).
    Gemm {
        a: T,
        b: T,
        bias: Option<T>,
        beta: f64,
        alpha: f64,
        weight: bool,
        any_rank: bool,
    },
    /// A convolution (`conv1d`, `conv2d`, the core IR's `convolution`, the transposed
    /// ones): its spatial rank is the weight's rank minus 2; `stride`, `padding` and
    /// `dilation` hold one value or one per spatial dim, as the call gave them.
    Conv {
        input: T,
        weight: T,
        bias: Option<T>,
        stride: Vec<SymInt>,
        padding: Vec<SymInt>,
        dilation: Vec<SymInt>,
        groups: SymInt,
        transposed: bool,
    },
    /// A 2-D max pooling (`max_pool2d`; the core IR's `max_pool2d_with_indices`, whose
    /// output 0 it is): the call's window as given (`stride` empty: the kernel size).
    MaxPool {
        input: T,
        kernel_size: Vec<i64>,
        stride: Vec<i64>,
        padding: Vec<i64>,
        dilation: Vec<i64>,
        ceil_mode: bool,
    },
    /// A 2-D average pooling (`avg_pool2d`): the call's window as given.
    AvgPool {
        input: T,
        kernel_size: Vec<i64>,
        stride: Vec<i64>,
        padding: Vec<i64>,
        ceil_mode: bool,
        divisor: ferrex_kernels::AvgDivisor,
    },
    /// Nearest-neighbour or bilinear upsampling of `[N, C, H, W]` to the result's last
    /// two sizes (`upsample_nearest2d.vec`, `upsample_bilinear2d` and its `.vec`), with
    /// the call's scale factors where it gave them (they decide the source pixels, as
    /// in PyTorch).
    Upsample {
        input: T,
        scales: [Option<f64>; 2],
        mode: Interpolation,
    },
    /// A sum, mean, maximum or minimum (`op`) over `dims` (`None` or empty: every dim),
    /// into `dtype` when the call converts.
    Reduce {
        input: T,
        dims: Option<Vec<i64>>,
        dtype: Option<DType>,
        op: Reduction,
    },
    /// Softmax (`log`: log-softmax) of the lanes along `dim`, into `dtype` when the call
    /// converts (`softmax.int`; `_softmax` never does).
    Softmax {
        input: T,
        dim: i64,
        dtype: Option<DType>,
        log: bool,
    },
    /// The input's elements in the same order under the result's sizes (`view`,
    /// `reshape`, `flatten`, `unflatten`, `unsqueeze`, `squeeze`, `clone`, `contiguous`):
    /// an alias of a planned buffer, else a copy.
    Reshape { input: T },
    /// The input's dims permuted (`t`, `transpose`, `permute`).
    Permute { input: T, dims: PermuteDims },
    /// The input broadcast to the result's sizes (`expand`).
    Expand { input: T },
    /// The inputs side by side along dim `dim` of the result (`cat`; `stack`, whose
    /// inputs each fill one index of a new dim `dim`), negative dims not wrapped.
    Concat { inputs: Vec<T>, dim: i64 },
    /// The input cut along `dim` into the outputs, in order, each as long along it as
    /// its meta says (`split.Tensor`, `chunk`, `split_with_sizes`): a lowering of every
    /// output, each a slice of the input.
    Split { input: T, dim: i64 },
    /// `input[..., index, ...]` along `dim` (`select.int`).
    Select { input: T, dim: i64, index: SymInt },
    /// `input[..., start:end:step, ...]` along `dim` (`slice.Tensor`).
    Slice {
        input: T,
        dim: i64,
        start: Option<SymInt>,
        end: Option<SymInt>,
        step: SymInt,
    },
    /// The input padded with `value` by `(before, after)` pairs in `pad`, given from
    /// the last dim backwards (`constant_pad_nd`; a negative pad crops).
    Pad { input: T, pad: Vec<i64>, value: f64 },
    /// The input rolled by `shifts[i]` along `dims[i]`, in turn (`roll`; `dims` empty:
    /// the flattened tensor by its one shift).
    Roll {
        input: T,
        shifts: Vec<i64>,
        dims: Vec<i64>,
    },
    /// Layer norm over the last `normalized_rank` dims (`layer_norm`; the core IR's
    /// `native_layer_norm`, whose output 0 it is).
    LayerNorm {
        input: T,
        normalized_rank: usize,
        weight: Option<T>,
        bias: Option<T>,
        eps: f64,
    },
    /// Group norm of `[N, C, …]` in `groups` channel groups (`group_norm`;
    /// `native_group_norm`'s output 0).
    GroupNorm {
        input: T,
        groups: i64,
        weight: Option<T>,
        bias: Option<T>,
        eps: f64,
    },
    /// Each channel (dim 1) normalized by its own statistics — in each sample over the
    /// dims after it (`per_sample`: `instance_norm`), or over every other dim, the batch
    /// too (`_native_batch_norm_legit.no_stats`, a batch norm in training mode: output
    /// 0) — then scaled by `weight` and shifted by `bias`, per channel.
    ChannelNorm {
        input: T,
        weight: Option<T>,
        bias: Option<T>,
        eps: f64,
        per_sample: bool,
    },
    /// Inference batch norm with running statistics (`batch_norm` with
    /// `training=False`; `_native_batch_norm_legit_no_training`'s output 0).
    BatchNorm {
        input: T,
        weight: Option<T>,
        bias: Option<T>,
        running_mean: Option<T>,
        running_var: Option<T>,
        eps: f64,
    },
    /// `input op rhs` of a tensor and a number, into bool (`eq.Scalar`, `lt.Scalar`, …).
    Compare { input: T, op: CmpOp, rhs: f64 },
    /// `x` where `cond` holds, else `y`, element by element, broadcast (`where.self`
    /// and its `.ScalarSelf`, `.ScalarOther` and `.Scalar` overloads).
    Where {
        cond: T,
        x: TensorOrNumber<T>,
        y: TensorOrNumber<T>,
    },
    /// The result's sizes filled with `value` (`zeros_like`, `ones_like`, `full_like`,
    /// `fill.Scalar`, `zero`): the input gives only the sizes, its data is not read.
    Fill { value: f64 },
    /// The input's elements converted to the result's dtype (`to.dtype`, `_to_copy`).
    Cast { input: T },
    /// Some other function of each element of its broadcast tensor `inputs` alone (the
    /// logical and bitwise ops, comparisons of two tensors): the runtime has no kernel
    /// of its own for it but knows that it keeps samples apart.
    Elementwise { inputs: Vec<T> },
    /// Entries of `input` picked along dim `dim` and the dims after it, one index
    /// tensor per dim in `indices` (of one shape): the result has `input`'s dims before
    /// `dim`, then the indices' dims, then the dims after the indexed ones. `embedding`
    /// (its weight's rows), `index_select`, and `index.Tensor` with adjacent index
    /// tensors; with `negative`, an index in `-size..0` counts from the end (as
    /// `index.Tensor`'s do).
    Gather {
        input: T,
        dim: i64,
        indices: Vec<T>,
        negative: bool,
    },
    /// One matrix product per batch of two 3-D tensors (`bmm`).
    Bmm { a: T, b: T },
    /// Scaled dot-product attention (`scale` `None`: `1 / sqrt(head dim)`).
    Attention {
        query: T,
        key: T,
        value: T,
        attn_mask: Option<T>,
        dropout_p: f64,
        is_causal: bool,
        scale: Option<f64>,
    },
    /// Every layer of a recurrent op (`gru.input`, `lstm.input`): its states `hx` and
    /// parameters as the op takes them ([`super::rnn::recurrent_layers`] runs it).
    Recurrent {
        input: T,
        hx: Vec<T>,
        params: Vec<T>,
        spec: super::rnn::RecurrentSpec,
    },
    /// Each entry of the results computed from the entries of `inputs` (all of one
    /// rank) at the same position in every dim but `dims`, every output alike: lanes
    /// along one dim (`argmax`/`argmin` and `max`/`min` along a dim, `topk`, `sort`,
    /// `cumsum`, `cumprod`, `cummax`/`cummin`, `logcumsumexp`, `logsumexp` and `flip`
    /// along one dim; `gather` of an input by an index of its rank), each entry alone
    /// (`bucketize`: no dims), over a few dims (adaptive and 3-D poolings, `tril` /
    /// `triu`, `var` / `std` over given dims), or each sample alone (`grid_sampler_2d`:
    /// all dims but the first). The runtime runs the op's own kernel, and knows that the
    /// other dims stay apart.
    Lanes { inputs: Vec<T>, dims: Vec<i64> },
    /// Not for these arguments (`div` with a rounding mode): the eager kernel.
    Eager,
}

impl<T> Lowering<T> {
    /// [`Lowering::Lanes`] of `input` along `dim`.
    pub fn lanes(input: &T, dim: i64) -> Result<Lowering<T>, OpError>
    where
        T: Clone,
    {
        Lowering::lanes_along(input, &[dim])
    }

    /// [`Lowering::Lanes`] of `input` along several dims (a pooling's spatial dims).
    pub fn lanes_along(input: &T, dims: &[i64]) -> Result<Lowering<T>, OpError>
    where
        T: Clone,
    {
        Ok(Lowering::Lanes {
            inputs: vec![input.clone()],
            dims: dims.to_vec(),
        })
    }

    /// [`Lowering::Elementwise`] of an op's operands, the numbers among them dropped.
    pub fn elementwise(
        operands: impl IntoIterator<Item = TensorOrNumber<T>>,
    ) -> Result<Lowering<T>, OpError> {
        let inputs = operands.into_iter().filter_map(|o| match o {
            TensorOrNumber::Tensor(t) => Some(t),
            TensorOrNumber::Number(_) => None,
        });
        Ok(Lowering::Elementwise {
            inputs: inputs.collect(),
        })
    }

    /// Whether the runtime's step for this capability runs a call whose results are
    /// `results`. Only a recurrent layer refuses some (a dtype or hidden size its kernel
    /// does not run, [`super::rnn::RecurrentSpec::runs`]); the compiled runtime plans
    /// such a call as its per-step ops instead (`DecompositionTable::selects_call`).
    pub fn runs(&self, results: &[crate::tensor::TensorMeta]) -> bool {
        match self {
            Lowering::Recurrent { spec, .. } => spec.runs(results),
            _ => true,
        }
    }
}

/// Which dims a permutation swaps, as the call gave them (negative dims not wrapped).
#[derive(Clone, Debug, PartialEq)]
pub enum PermuteDims {
    /// `t`: dims 0 and 1 of a 2-D tensor swapped; a 0-D or 1-D tensor unchanged.
    T,
    /// `transpose(d0, d1)`.
    Swap(i64, i64),
    /// `permute(dims)`: result dim `i` is input dim `dims[i]`.
    All(Vec<i64>),
}
