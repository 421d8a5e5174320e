// Reusing an argument struct for an op whose arguments differ is a compile error.
use ferrex::error::OpError;
use ferrex::ops::op_def;
use ferrex::tensor::{Storage, TensorMeta};

fn meta<A>(_: &A) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![])
}

fn kernel<A>(_: &A, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    Ok(vec![])
}

op_def! {
    pub static SCALE: struct Scale = "mylib::scale(Tensor self, float factor=2.0) -> Tensor" {
        meta: meta,
        kernel: kernel,
    }
    pub static SHIFT: Scale = "mylib::shift(Tensor self, float offset=0.0) -> Tensor" {
        meta: meta,
        kernel: kernel,
    }
}

fn main() {}
