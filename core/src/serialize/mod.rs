//! Reading and writing tensors and programs. `safetensors` is the weight format PyTorch
//! users already export with (`safetensors.torch.save_file`); `program` saves and loads
//! whole exported programs as `.pt2` archives (`ferrex::save`, `ferrex::load`).

pub mod program;
pub mod pt2;
pub mod safetensors;
