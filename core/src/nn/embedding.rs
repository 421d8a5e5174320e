//! `nn::Embedding`.

use crate::nn::functional as F;
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// A lookup table: rows of `weight` (`[num_embeddings, embedding_dim]`, standard
/// normal at initialisation) picked by integer indices.
#[export_module]
pub struct Embedding {
    #[param]
    pub weight: Tensor,
}

impl Embedding {
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Embedding {
        Embedding {
            weight: Tensor::randn([num_embeddings, embedding_dim]),
        }
    }
}

#[export_module]
impl Embedding {
    pub fn forward(&self, indices: &Tensor) -> Tensor {
        F::embedding(indices, &self.weight)
    }
}
