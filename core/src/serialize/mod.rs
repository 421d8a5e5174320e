//! Reading and writing tensors and programs. `safetensors` is the weight format PyTorch
//! users already export with (`safetensors.torch.save_file`).

pub mod safetensors;
