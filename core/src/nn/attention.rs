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
}

#[export_module]
impl MultiheadAttention {
    /// `[B, L, E]` → `[B, heads, L, E / heads]`.
    fn split_heads(&self, x: &Tensor, batch: &SymInt, len: &SymInt) -> Tensor {
        let heads = self.num_heads.max(1);
        let head_dim = SymInt::from(self.embed_dim / heads);
        x.reshape([batch.clone(), len.clone(), SymInt::from(heads), head_dim])
            .transpose(1, 2)
    }

    pub fn forward(&self, query: &Tensor, key: &Tensor, value: &Tensor) -> Tensor {
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
        let q = F::linear(&q, &w.narrow(0, 0, e), Some(&b.narrow(0, 0, e)));
        let k = F::linear(&k, &w.narrow(0, e, e), Some(&b.narrow(0, e, e)));
        let v = F::linear(&v, &w.narrow(0, 2 * e, e), Some(&b.narrow(0, 2 * e, e)));
        let (batch, lq, lk) = (q.size(0), q.size(1), k.size(1));
        let q = self.split_heads(&q, &batch, &lq);
        let k = self.split_heads(&k, &batch, &lk);
        let v = self.split_heads(&v, &batch, &lk);
        let attn = F::scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, None, false);
        let merged = attn.transpose(1, 2).reshape([batch, lq, SymInt::from(e)]);
        let out = self.out_proj.forward(&merged);
        if self.batch_first {
            out
        } else {
            out.transpose(0, 1)
        }
    }
}
