//! Functional forms of the layers (`torch.nn.functional`), usually imported as `F`.

use crate::tensor::Tensor;

/// `max(x, 0)`.
#[track_caller]
pub fn relu(x: &Tensor) -> Tensor {
    x.relu()
}

/// In-place relu: `x` itself is updated and returned (PyTorch's `relu(x, inplace=True)`).
/// Takes the tensor by value so it can wrap an expression, `F::relu_(lin.forward(&x))`.
#[track_caller]
pub fn relu_(x: Tensor) -> Tensor {
    x.relu_()
}

/// `x @ weight.T + bias`.
#[track_caller]
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
    crate::tensor::linear(x, weight, bias)
}
