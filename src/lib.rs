//! The model zoo behind the examples in `examples/`: small, real architectures written
//! with `#[export_module]`, with PyTorch's parameter names so that PyTorch-trained weights
//! (safetensors) load directly.

pub mod zoo;
