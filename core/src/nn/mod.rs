//! Layers, defined with `#[export_module]` like user models, with PyTorch's parameter
//! and buffer names and default initialisation; `functional` (imported as `F`) holds the
//! functional forms.

mod attention;
mod container;
mod conv;
mod embedding;
pub mod functional;
mod init;
mod layers;
mod linear;
mod norm;
mod pooling;
mod recurrent;
mod transformer;

pub use attention::{AttentionOptions, MultiheadAttention};
pub use container::{Layer, Sequential};
pub use conv::{Conv1d, Conv2d, Conv3d};
pub use embedding::{Embedding, EmbeddingBag};
pub use layers::{Dropout, Identity, ReLU, SiLU, Sigmoid, Tanh, GELU};
pub use linear::Linear;
pub use norm::{BatchNorm2d, GroupNorm, LayerNorm};
pub use pooling::{
    AdaptiveAvgPool2d, AdaptiveAvgPool3d, AvgPool2d, AvgPool3d, Flatten, MaxPool2d, MaxPool3d,
};
pub use recurrent::{GRUCell, LSTMCell, Nonlinearity, RNNCell, GRU, LSTM, RNN};
pub use transformer::{Activation, TransformerEncoderLayer};
