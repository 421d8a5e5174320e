//! The model zoo behind the examples in `examples/`: small, real architectures written
//! with `#[export_module]`, with PyTorch's parameter names so that PyTorch-trained weights
//! (safetensors) load directly.

pub mod pt2_check;
pub mod zoo;

use ferrex::{Forward, Tensor};

/// Exports `model` on `input`, prints the program, runs it, and prints how far its output
/// is from the eager model's (the zoo examples' shared body).
pub fn export_and_compare<M>(model: &M, input: Tensor) -> Result<f32, Box<dyn std::error::Error>>
where
    M: Forward<Args = (Tensor,), Output = Tensor>,
{
    let ep = ferrex::export(model, (input.copy(),))?;
    println!("{ep}");
    let exported = ep.module().call((input.copy(),))?;
    let eager = model.forward_args((input,));
    let (a, b) = (exported[0].to_vec::<f32>()?, eager.to_vec::<f32>()?);
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    println!(
        "output {:?}; max |exported - eager| = {max_diff:e}",
        exported[0].shape()
    );
    Ok(max_diff)
}
