//! Reading PyTorch's own `.pt2` archives (schema 8.x, as `torch.export.save` of PyTorch
//! 2.15 writes them). `schema.rs` holds PyTorch's JSON types.

pub mod schema;

#[cfg(test)]
mod tests;
