//! Tensor methods for layers: convolution, pooling, normalisation, attention,
//! embedding, upsampling.
