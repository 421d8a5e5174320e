//! Data-dependent scalars: `aten::item` (a tensor's value as a symbolic int, and its core
//! ATen spelling `aten::_local_scalar_dense`) and `aten::_assert_scalar`, the run-time
//! check of a `ferrex::check` on such a value. The comparison it checks is a SymBool
//! value (`ge = item >= 0`, `ops/sym.rs`).
//!
//! While tracing, `Tensor::sym_item` and `ferrex::check` record these nodes themselves
//! (`trace/unbacked.rs`), giving `item` a symbolic value (`Sym(u0)`); the meta
//! functions here serve the eager calls of the interpreter and the runtime.

use super::elementwise::Unary;
use super::op_def;
use super::util::meta_of;
use crate::error::OpError;
use crate::op_bail;
use crate::ops::TensorOrNumber;
use crate::tensor::{DType, Storage, TensorMeta};

fn item_meta(args: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    if let Some(n) = m.numel().as_int().filter(|&n| n != 1) {
        op_bail!("a Tensor with {n} elements cannot be converted to Scalar");
    }
    if !matches!(m.dtype, DType::I64 | DType::I32 | DType::Bool) {
        op_bail!(
            "item() as a symbolic int needs an integer or bool tensor, got {}",
            m.dtype
        );
    }
    Ok(vec![TensorMeta::new(DType::I64, Vec::new())])
}

fn item_kernel(args: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let v = args.self_.storage_or_op_error()?.to_vec::<i64>();
    let value = v.first().copied().unwrap_or_default();
    Ok(vec![scalar_storage(value)])
}

fn scalar_storage<T: crate::tensor::Element>(v: T) -> Storage {
    Storage::from_vec(&[], vec![v]).unwrap_or_else(|| Storage::full(&[], 0.0, DType::I64))
}

op_def! {
    pub static ITEM: Unary = "aten::item(Tensor self) -> Scalar" {
        meta: item_meta,
        kernel: item_kernel,
    }
    /// `item` as the core ATen IR spells it.
    pub static LOCAL_SCALAR_DENSE: Unary = "aten::_local_scalar_dense(Tensor self) -> Scalar" {
        meta: item_meta,
        kernel: item_kernel,
    }
}

fn assert_scalar_meta(args: &AssertScalar) -> Result<Vec<TensorMeta>, OpError> {
    if let TensorOrNumber::Tensor(t) = &args.self_ {
        meta_of(t)?;
    }
    Ok(Vec::new())
}

/// Fails with the recorded message when the condition is false. The condition is a
/// SymBool (`u0 <= 5`, its symbols bound by the time it runs) or a one-element tensor.
fn assert_scalar_kernel(args: &AssertScalar, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let holds = match &args.self_ {
        TensorOrNumber::Tensor(t) => t.storage_or_op_error()?.to_vec::<bool>().first().copied(),
        TensorOrNumber::Number(n) => Some(n.to::<i64>() != 0),
    };
    if holds.unwrap_or(false) {
        return Ok(Vec::new());
    }
    let message = args
        .assert_msg
        .clone()
        .unwrap_or_else(|| "Runtime assertion failed".into());
    Err(OpError(message))
}

op_def! {
    pub static ASSERT_SCALAR: struct AssertScalar =
        "aten::_assert_scalar(Scalar self, str assert_msg) -> ()" {
        meta: assert_scalar_meta,
        kernel: assert_scalar_kernel,
        wrapped_numbers: [self],
        accept_none: [assert_msg],
    }
}

/// `_assert_async(cond, msg)`: `cond`, one element, must be true (the core IR's check
/// of `F.one_hot`'s indices).
fn assert_async_kernel(a: &AssertAsync, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let holds = a.self_.storage_or_op_error()?.to_vec::<bool>();
    match holds[..] {
        [true] => Ok(Vec::new()),
        [false] => Err(OpError(a.assert_msg.clone())),
        _ => op_bail!(
            "_assert_async: expected a one-element condition, got {} elements",
            holds.len()
        ),
    }
}

op_def! {
    pub static ASSERT_ASYNC_MSG: struct AssertAsync =
        "aten::_assert_async.msg(Tensor self, str assert_msg) -> ()" {
        meta: |a: &AssertAsync| {
            meta_of(&a.self_)?;
            Ok(Vec::new())
        },
        kernel: assert_async_kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{run_eager, Value};
    use crate::symbolic::SymInt;
    use crate::Tensor;

    #[test]
    fn item_reads_the_value_and_comparisons_compute_bools() {
        let out = run_eager(&ITEM, &[Value::Tensor(Tensor::scalar(4i64))]).unwrap();
        assert_eq!(out[0].to_vec::<i64>().unwrap(), [4]);
        let err = run_eager(&ITEM, &[Value::Tensor(Tensor::zeros([2]))]).unwrap_err();
        assert_eq!(
            err.0,
            "a Tensor with 2 elements cannot be converted to Scalar"
        );
    }

    #[test]
    fn assert_scalar_fails_with_its_message() {
        let msg = Value::Str("Runtime assertion failed for expression u0 <= 5".into());
        let ok = run_eager(
            &ASSERT_SCALAR,
            &[Value::Tensor(Tensor::scalar(true)), msg.clone()],
        );
        assert!(ok.unwrap().is_empty());
        let err = run_eager(&ASSERT_SCALAR, &[Value::Tensor(Tensor::scalar(false)), msg]);
        assert_eq!(
            err.unwrap_err().0,
            "Runtime assertion failed for expression u0 <= 5"
        );
        // As a graph passes it: the SymBool with its symbols bound.
        let holds = |lhs: i64| {
            let cond = SymInt::Int(lhs).sym_le(5);
            run_eager(&ASSERT_SCALAR, &[Value::SymBool(cond), Value::None])
        };
        assert!(holds(5).unwrap().is_empty());
        assert_eq!(holds(6).unwrap_err().0, "Runtime assertion failed");
    }
}
