//! A residual block over embedded tokens: `embedding (vocab → d) → group norm (groups over
//! d channels) → ReLU → linear (d → d)`, plus the embedding again, then the mean over the
//! sequence — the GroupNorm/Embedding residual block of the runtime's coverage.

use ferrex::prelude::*;

#[export_module]
pub struct GroupNormResidual {
    pub emb: nn::Embedding,
    pub norm: nn::GroupNorm,
    pub proj: nn::Linear,
}

impl GroupNormResidual {
    /// `vocab` tokens embedded in `d` channels, normalized in `groups` groups.
    pub fn new(vocab: usize, d: usize, groups: usize) -> GroupNormResidual {
        GroupNormResidual {
            emb: nn::Embedding::new(vocab, d),
            norm: nn::GroupNorm::new(groups, d),
            proj: nn::Linear::new(d, d),
        }
    }
}

#[export_module]
impl GroupNormResidual {
    /// `ids`: `[batch, seq]` token ids; the result is `[batch, d]`.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        let h = self.emb.forward(ids).transpose(1, 2);
        let r = self.norm.forward(&h).relu().transpose(1, 2);
        (self.proj.forward(&r) + self.emb.forward(ids)).mean_dim(&[1], false)
    }
}
