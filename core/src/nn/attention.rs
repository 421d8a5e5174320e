//! `nn::MultiheadAttention`.

use crate::nn::functional as F;
use crate::nn::init::xavier_uniform;
use crate::nn::Linear;
use crate::symbolic::SymInt;
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// Multi-head attention with PyTorch's parameter names (`in_proj_weight`,
/// `in_proj_bias`, `out_proj.weight`, `out_proj.bias`). Inputs are `[L, N, E]`, or
/// `[N, L, E]` with `batch_first`; returns the attention output (PyTorch's
/// `need_weights=False`).
#[export_module]
pub struct MultiheadAttention {
    #[param]
    pub in_proj_weight: Tensor,
    #[param]
    pub in_proj_bias: Tensor,
    pub out_proj: Linear,
    pub embed_dim: usize,
    pub num_heads: usize,
    pub batch_first: bool,
}

impl MultiheadAttention {
    /// `embed_dim` must be a multiple of `num_heads`; otherwise every forward fails with
    /// that message.
    pub fn new(embed_dim: usize, num_heads: usize) -> MultiheadAttention {
        let mut out_proj = Linear::new(embed_dim, embed_dim);
        out_proj.bias = Some(Tensor::zeros([embed_dim]));
        MultiheadAttention {
            in_proj_weight: xavier_uniform(&[3 * embed_dim, embed_dim], embed_dim, 3 * embed_dim),
            in_proj_bias: Tensor::zeros([3 * embed_dim]),
            out_proj,
            embed_dim,
            num_heads,
            batch_first: false,
        }
    }

    /// Inputs and output as `[N, L, E]` (builder style).
    pub fn batch_first(mut self, batch_first: bool) -> MultiheadAttention {
        self.batch_first = batch_first;
        self
    }

    /// PyTorch's `forward(query, key, value, key_padding_mask, need_weights, attn_mask,
    /// average_attn_weights, is_causal)`: the attention output, and with
    /// `need_weights` the attention weights (`[N, L, S]`, averaged over heads, or
    /// `[N, heads, L, S]`).
    ///
    /// Masks follow PyTorch: a bool mask is `true` where attending is *not* allowed, a
    /// float mask is added to the scores; `attn_mask` is `[L, S]` or
    /// `[N * heads, L, S]`, `key_padding_mask` `[N, S]`. `is_causal` without an
    /// `attn_mask` masks the keys after each query (PyTorch requires the mask itself
    /// and takes `is_causal` as a hint). Without weights the scores go
    /// through `scaled_dot_product_attention`, as PyTorch does; with weights they are
    /// computed explicitly (`matmul`, `softmax`, `matmul`, `mean` over heads).
    pub fn forward_with(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        options: &AttentionOptions,
    ) -> (Tensor, Option<Tensor>) {
        let (q, k, v) = self.project(query, key, value);
        let (batch, lq, lk) = (q.size(0), q.size(1), k.size(1));
        let q = self.split_heads(&q, &batch, &lq);
        let k = self.split_heads(&k, &batch, &lk);
        let v = self.split_heads(&v, &batch, &lk);
        let heads = SymInt::from(self.num_heads.max(1));
        let mask = additive_mask(options, &batch, &heads, &lq, &lk);
        let (attn, weights) = if options.need_weights {
            let head_dim = (self.embed_dim / self.num_heads.max(1)).max(1) as f64;
            let scores = q.matmul(&k.transpose(-2, -1)) * (1.0 / head_dim.sqrt());
            let scores = match &mask {
                Some(m) => scores + m,
                None => scores,
            };
            let weights = scores.softmax(-1);
            let attn = weights.matmul(&v);
            let weights = if options.average_attn_weights {
                weights.mean_dim(&[1], false)
            } else {
                weights
            };
            (attn, Some(weights))
        } else {
            let attn =
                F::scaled_dot_product_attention(&q, &k, &v, mask.as_ref(), 0.0, false, None, false);
            (attn, None)
        };
        let merged = attn
            .transpose(1, 2)
            .reshape([batch, lq, SymInt::from(self.embed_dim)]);
        let out = self.out_proj.forward(&merged);
        let out = if self.batch_first {
            out
        } else {
            out.transpose(0, 1)
        };
        (out, weights)
    }
}

/// The keyword arguments of PyTorch's `MultiheadAttention.forward`, with its defaults
/// (`need_weights` and `average_attn_weights` true).
#[derive(Clone, Debug)]
pub struct AttentionOptions {
    /// `[N, S]`: `true` (or `-inf`) for the keys to ignore.
    pub key_padding_mask: Option<Tensor>,
    pub need_weights: bool,
    /// `[L, S]` or `[N * heads, L, S]`: `true` where attending is not allowed, or a
    /// float added to the scores.
    pub attn_mask: Option<Tensor>,
    pub average_attn_weights: bool,
    pub is_causal: bool,
}

impl Default for AttentionOptions {
    fn default() -> Self {
        AttentionOptions {
            key_padding_mask: None,
            need_weights: true,
            attn_mask: None,
            average_attn_weights: true,
            is_causal: false,
        }
    }
}

#[ferrex_macros::export_fn]
impl AttentionOptions {
    pub fn key_padding_mask(mut self, mask: &Tensor) -> Self {
        self.key_padding_mask = Some(mask.clone());
        self
    }
    pub fn need_weights(mut self, need: bool) -> Self {
        self.need_weights = need;
        self
    }
    pub fn attn_mask(mut self, mask: &Tensor) -> Self {
        self.attn_mask = Some(mask.clone());
        self
    }
    pub fn average_attn_weights(mut self, average: bool) -> Self {
        self.average_attn_weights = average;
        self
    }
    pub fn is_causal(mut self, causal: bool) -> Self {
        self.is_causal = causal;
        self
    }
}

/// A mask as scores to add: `-inf` where a bool mask is `true`, a float mask as is.
fn as_additive(mask: &Tensor) -> Tensor {
    match mask.dtype() {
        crate::DType::Bool => {
            let zeros = Tensor::zeros_dtype(mask.sizes(), crate::DType::F32);
            Tensor::where_(mask, &(&zeros + f64::NEG_INFINITY), &zeros)
        }
        _ => mask.clone(),
    }
}

/// The masks of `options` combined into one additive mask broadcastable to
/// `[N, heads, L, S]`, or `None`.
fn additive_mask(
    options: &AttentionOptions,
    batch: &SymInt,
    heads: &SymInt,
    lq: &SymInt,
    lk: &SymInt,
) -> Option<Tensor> {
    let attn = match &options.attn_mask {
        Some(m) if m.dim() == 3 => {
            Some(as_additive(m).reshape([batch.clone(), heads.clone(), lq.clone(), lk.clone()]))
        }
        Some(m) => Some(as_additive(m)),
        None if options.is_causal => {
            // Key j is after query i.
            let later = Tensor::arange(lk.clone())
                .unsqueeze(0)
                .gt(Tensor::arange(lq.clone()).unsqueeze(1));
            Some(as_additive(&later))
        }
        None => None,
    };
    let padding = options.key_padding_mask.as_ref().map(|m| {
        as_additive(m).reshape([batch.clone(), SymInt::from(1), SymInt::from(1), lk.clone()])
    });
    match (attn, padding) {
        (Some(a), Some(p)) => Some(a + p),
        (a, p) => a.or(p),
    }
}

#[export_module]
impl MultiheadAttention {
    /// The input projections, batch first: `[N, L, E]` each.
    fn project(&self, query: &Tensor, key: &Tensor, value: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (q, k, v) = if self.batch_first {
            (query.clone(), key.clone(), value.clone())
        } else {
            (
                query.transpose(0, 1),
                key.transpose(0, 1),
                value.transpose(0, 1),
            )
        };
        let e = self.embed_dim as i64;
        let w = &self.in_proj_weight;
        let b = &self.in_proj_bias;
        (
            F::linear(&q, &w.narrow(0, 0, e), Some(&b.narrow(0, 0, e))),
            F::linear(&k, &w.narrow(0, e, e), Some(&b.narrow(0, e, e))),
            F::linear(&v, &w.narrow(0, 2 * e, e), Some(&b.narrow(0, 2 * e, e))),
        )
    }

    /// `[B, L, E]` → `[B, heads, L, E / heads]`.
    fn split_heads(&self, x: &Tensor, batch: &SymInt, len: &SymInt) -> Tensor {
        let heads = self.num_heads.max(1);
        let head_dim = SymInt::from(self.embed_dim / heads);
        x.reshape([batch.clone(), len.clone(), SymInt::from(heads), head_dim])
            .transpose(1, 2)
    }

    /// The attention output (PyTorch's `need_weights=False`, no masks); see
    /// [`MultiheadAttention::forward_with`] for masks and weights.
    pub fn forward(&self, query: &Tensor, key: &Tensor, value: &Tensor) -> Tensor {
        let (q, k, v) = self.project(query, key, value);
        let (batch, lq, lk) = (q.size(0), q.size(1), k.size(1));
        let q = self.split_heads(&q, &batch, &lq);
        let k = self.split_heads(&k, &batch, &lk);
        let v = self.split_heads(&v, &batch, &lk);
        let attn = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None, false);
        let merged = attn
            .transpose(1, 2)
            .reshape([batch, lq, SymInt::from(self.embed_dim)]);
        let out = self.out_proj.forward(&merged);
        if self.batch_first {
            out
        } else {
            out.transpose(0, 1)
        }
    }
}
