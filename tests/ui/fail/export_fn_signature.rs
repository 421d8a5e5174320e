// An `#[export_fn]` helper forward cannot call as a plain function: `async` (its body
// runs when the future is polled, not while forward is traced).
use ferrex::prelude::*;

#[ferrex::export_fn]
async fn twice(x: &Tensor) -> Tensor {
    x * 2.0
}

fn main() {}
