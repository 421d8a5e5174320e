// A built-in op's schema is checked when the crate compiles: a malformed schema, an
// unknown argument type and a default that does not fit its type are errors on the string.
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
    pub static NO_ARROW: struct NoArrow = "mylib::f(Tensor self) Tensor" {
        meta: meta,
        kernel: kernel,
    }
    pub static UNKNOWN_TYPE: struct UnknownType = "mylib::g(Tensr self) -> Tensor" {
        meta: meta,
        kernel: kernel,
    }
    pub static BAD_DEFAULT: struct BadDefault = "mylib::h(Tensor self, bool flag=0.5) -> Tensor" {
        meta: meta,
        kernel: kernel,
    }
}

fn main() {}
