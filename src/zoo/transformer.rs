//! A transformer encoder block (post-norm, as PyTorch's `TransformerEncoderLayer` with
//! `batch_first=True, activation="gelu"`): self-attention and a GELU MLP, each with a
//! residual connection and layer norm. Parameter names follow PyTorch's.

use ferrex::prelude::*;

#[export_module]
pub struct TransformerBlock {
    pub self_attn: nn::MultiheadAttention,
    pub linear1: nn::Linear,
    pub dropout: nn::Dropout,
    pub linear2: nn::Linear,
    pub norm1: nn::LayerNorm,
    pub norm2: nn::LayerNorm,
    pub dropout1: nn::Dropout,
    pub dropout2: nn::Dropout,
    pub activation: nn::GELU,
}

impl TransformerBlock {
    pub fn new(d_model: usize, nhead: usize, dim_feedforward: usize) -> TransformerBlock {
        TransformerBlock {
            self_attn: nn::MultiheadAttention::new(d_model, nhead).batch_first(true),
            linear1: nn::Linear::new(d_model, dim_feedforward),
            dropout: nn::Dropout::new(0.1),
            linear2: nn::Linear::new(dim_feedforward, d_model),
            norm1: nn::LayerNorm::new(&[d_model]),
            norm2: nn::LayerNorm::new(&[d_model]),
            dropout1: nn::Dropout::new(0.1),
            dropout2: nn::Dropout::new(0.1),
            activation: nn::GELU::default(),
        }
    }
}

#[export_module]
impl TransformerBlock {
    /// `src`: `[batch, seq, d_model]`.
    pub fn forward(&self, src: &Tensor) -> Tensor {
        let attn = self.self_attn.forward(src, src, src);
        let x = self.norm1.forward(&(src + self.dropout1.forward(&attn)));
        let ff = self.linear2.forward(
            &self
                .dropout
                .forward(&self.activation.forward(&self.linear1.forward(&x))),
        );
        self.norm2.forward(&(x + self.dropout2.forward(&ff)))
    }
}
