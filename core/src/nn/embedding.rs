//! `nn::Embedding`, `nn::EmbeddingBag`.

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

/// Bags of embeddings reduced by `mode` (`"sum"`, `"mean"`, `"max"`), PyTorch's
/// `nn.EmbeddingBag`: `forward` takes a 2-D input (one bag per row), `forward_bags` a
/// 1-D input, its `offsets` and, for sums, per-sample weights. Rows equal to
/// `padding_idx` are left out of every bag.
///
/// ```
/// use ferrex::prelude::*;
///
/// let bag = ferrex::nn::EmbeddingBag::new(10, 4, "max");
/// let ids = Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], [2, 3]);
/// assert_eq!(bag.forward(&ids).shape(), [2, 4]);
/// ```
#[export_module]
pub struct EmbeddingBag {
    #[param]
    pub weight: Tensor,
    pub mode: &'static str,
    pub padding_idx: Option<i64>,
}

impl EmbeddingBag {
    /// A standard-normal table of `num_embeddings` rows of `embedding_dim`.
    pub fn new(num_embeddings: usize, embedding_dim: usize, mode: &'static str) -> EmbeddingBag {
        EmbeddingBag {
            weight: Tensor::randn([num_embeddings, embedding_dim]),
            mode,
            padding_idx: None,
        }
    }

    /// Leaves row `padding_idx` out of every bag (builder style); a negative index
    /// counts from the end, as in PyTorch.
    pub fn padding_idx(mut self, padding_idx: i64) -> EmbeddingBag {
        let rows = self.weight.shape().first().copied().unwrap_or(0) as i64;
        self.padding_idx = Some(if padding_idx < 0 {
            rows + padding_idx
        } else {
            padding_idx
        });
        self
    }
}

#[export_module]
impl EmbeddingBag {
    /// One bag per row of a 2-D `input`.
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let width = input.size(1);
        let offsets = Tensor::arange_step(0, input.numel(), width);
        let flat = input.reshape([-1]);
        Tensor::embedding_bag(
            &self.weight,
            &flat,
            &offsets,
            self.mode,
            None,
            false,
            self.padding_idx,
        )
    }

    /// Bags of a 1-D `input` starting at `offsets`.
    pub fn forward_bags(
        &self,
        input: &Tensor,
        offsets: &Tensor,
        per_sample_weights: Option<&Tensor>,
    ) -> Tensor {
        Tensor::embedding_bag(
            &self.weight,
            input,
            offsets,
            self.mode,
            per_sample_weights,
            false,
            self.padding_idx,
        )
    }
}
