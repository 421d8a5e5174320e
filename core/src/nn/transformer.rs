//! `nn::TransformerEncoderLayer`, as PyTorch's: self-attention and a feed-forward block,
//! each with dropout (the identity in exported inference graphs), a residual connection
//! and layer norm — after each block (`norm_first = false`, the default) or before.

use crate::nn::functional as F;
use crate::nn::{AttentionOptions, Dropout, LayerNorm, Linear, MultiheadAttention};
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// The feed-forward activation of a [`TransformerEncoderLayer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// PyTorch's default.
    #[default]
    Relu,
    Gelu,
}

/// PyTorch's `TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
/// activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False)`, with
/// its parameter names (`self_attn.in_proj_weight`, `linear1.weight`, `norm1.weight`, …),
/// so a state dict saved from PyTorch loads into it.
#[export_module]
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    #[config]
    pub activation: Activation,
    #[config]
    pub norm_first: bool,
}

impl TransformerEncoderLayer {
    /// PyTorch's defaults: `dim_feedforward = 2048`, ReLU, post-norm, sequence first.
    pub fn new(d_model: usize, nhead: usize) -> TransformerEncoderLayer {
        TransformerEncoderLayer {
            self_attn: MultiheadAttention::new(d_model, nhead),
            linear1: Linear::new(d_model, 2048),
            dropout: Dropout::new(0.1),
            linear2: Linear::new(2048, d_model),
            norm1: LayerNorm::new(&[d_model]),
            norm2: LayerNorm::new(&[d_model]),
            dropout1: Dropout::new(0.1),
            dropout2: Dropout::new(0.1),
            activation: Activation::Relu,
            norm_first: false,
        }
    }

    /// The width of the feed-forward block (builder style); its linears are initialised
    /// anew.
    pub fn dim_feedforward(mut self, dim: usize) -> TransformerEncoderLayer {
        let d_model = self.self_attn.embed_dim;
        self.linear1 = Linear::new(d_model, dim);
        self.linear2 = Linear::new(dim, d_model);
        self
    }

    /// The feed-forward activation (builder style).
    pub fn activation(mut self, activation: Activation) -> TransformerEncoderLayer {
        self.activation = activation;
        self
    }

    /// Inputs and output as `[N, S, E]` (builder style).
    pub fn batch_first(mut self, batch_first: bool) -> TransformerEncoderLayer {
        self.self_attn = self.self_attn.batch_first(batch_first);
        self
    }

    /// Layer norm before each block rather than after it (builder style).
    pub fn norm_first(mut self, norm_first: bool) -> TransformerEncoderLayer {
        self.norm_first = norm_first;
        self
    }

    /// The epsilon of both layer norms (builder style).
    pub fn layer_norm_eps(mut self, eps: f64) -> TransformerEncoderLayer {
        self.norm1.eps = eps;
        self.norm2.eps = eps;
        self
    }

    /// PyTorch's `forward(src, src_mask, src_key_padding_mask, is_causal)`; masks as in
    /// [`MultiheadAttention::forward_with`].
    pub fn forward_with(
        &self,
        src: &Tensor,
        src_mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Tensor {
        let mut options = AttentionOptions::default()
            .need_weights(false)
            .is_causal(is_causal);
        options.attn_mask = src_mask.cloned();
        options.key_padding_mask = src_key_padding_mask.cloned();
        let attend = |x: &Tensor| {
            let (out, _) = self.self_attn.forward_with(x, x, x, &options);
            self.dropout1.forward(&out)
        };
        if self.norm_first {
            let x = src + attend(&self.norm1.forward(src));
            let ff = self.feed_forward(&self.norm2.forward(&x));
            &x + &ff
        } else {
            let x = self.norm1.forward(&(src + attend(src)));
            let ff = self.feed_forward(&x);
            self.norm2.forward(&(&x + &ff))
        }
    }
}

#[export_module]
impl TransformerEncoderLayer {
    /// `linear2(dropout(activation(linear1(x))))`, then dropout.
    fn feed_forward(&self, x: &Tensor) -> Tensor {
        let h = self.linear1.forward(x);
        let h = match self.activation {
            Activation::Relu => F::relu(&h),
            Activation::Gelu => F::gelu(&h, "none"),
        };
        self.dropout2
            .forward(&self.linear2.forward(&self.dropout.forward(&h)))
    }

    /// Without masks: `forward_with(src, None, None, false)`.
    pub fn forward(&self, src: &Tensor) -> Tensor {
        if self.norm_first {
            let normed = self.norm1.forward(src);
            let attn = self.self_attn.forward(&normed, &normed, &normed);
            let x = src + self.dropout1.forward(&attn);
            let ff = self.feed_forward(&self.norm2.forward(&x));
            &x + &ff
        } else {
            let attn = self.self_attn.forward(src, src, src);
            let x = self.norm1.forward(&(src + self.dropout1.forward(&attn)));
            let ff = self.feed_forward(&x);
            self.norm2.forward(&(&x + &ff))
        }
    }
}
