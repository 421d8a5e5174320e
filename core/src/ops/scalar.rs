//! Data-dependent scalars: `aten::item` (a tensor's value as a symbolic int), comparisons
//! of symbolic ints (`aten::ge.int`, the nodes PyTorch prints as `item >= 0`), and
//! `aten::_assert_scalar`, the run-time check of a `ferrex::check` on such a value.
//!
//! While tracing, `Tensor::sym_item` and `ferrex::check` record these nodes themselves
//! (`trace/unbacked.rs`), giving their outputs a symbolic value (`Sym(u0)`); the meta
//! functions here serve the eager calls of the interpreter and the runtime.

use crate::error::OpError;
use crate::op_bail;
use crate::ops::{OpArgs, OpDef};
use crate::symbolic::CmpOp;
use crate::tensor::{DType, Storage, TensorMeta};

fn item_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
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

fn item_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    item_meta(args)?;
    let v = args.storage(0)?.to_vec::<i64>();
    let value = v.first().copied().unwrap_or_default();
    Ok(vec![scalar_storage(value)])
}

fn scalar_storage<T: crate::tensor::Element>(v: T) -> Storage {
    Storage::from_vec(&[], vec![v]).unwrap_or_else(|| Storage::full(&[], 0.0, DType::I64))
}

pub static ITEM: OpDef = OpDef::new("aten::item(Tensor self) -> Scalar", item_meta, item_kernel);

fn compare_meta(_: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![TensorMeta::new(DType::Bool, Vec::new())])
}

/// The `aten::<op>.int(int a, int b) -> bool` op for a comparison.
pub(crate) fn comparison(op: CmpOp) -> &'static OpDef {
    match op {
        CmpOp::Eq => &EQ_INT,
        CmpOp::Ne => &NE_INT,
        CmpOp::Lt => &LT_INT,
        CmpOp::Le => &LE_INT,
        CmpOp::Gt => &GT_INT,
        CmpOp::Ge => &GE_INT,
    }
}

macro_rules! int_comparisons {
    ($($name:ident $kernel:ident $schema:literal $op:expr;)*) => {$(
        fn $kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
            let (a, b) = (args.i64(0)?, args.i64(1)?);
            Ok(vec![scalar_storage($op.eval(a, b))])
        }
        pub static $name: OpDef = OpDef::new($schema, compare_meta, $kernel);
    )*};
}

int_comparisons! {
    EQ_INT eq_int_kernel "aten::eq.int(int a, int b) -> bool" CmpOp::Eq;
    NE_INT ne_int_kernel "aten::ne.int(int a, int b) -> bool" CmpOp::Ne;
    LT_INT lt_int_kernel "aten::lt.int(int a, int b) -> bool" CmpOp::Lt;
    LE_INT le_int_kernel "aten::le.int(int a, int b) -> bool" CmpOp::Le;
    GT_INT gt_int_kernel "aten::gt.int(int a, int b) -> bool" CmpOp::Gt;
    GE_INT ge_int_kernel "aten::ge.int(int a, int b) -> bool" CmpOp::Ge;
}

fn assert_scalar_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    args.meta(0)?;
    Ok(Vec::new())
}

/// Fails with the recorded message when the condition is false.
fn assert_scalar_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let holds = args.storage(0)?.to_vec::<bool>();
    if holds.first().copied().unwrap_or(false) {
        return Ok(Vec::new());
    }
    let message = args
        .opt_str(1)?
        .unwrap_or_else(|| "Runtime assertion failed".into());
    Err(OpError(message))
}

pub static ASSERT_SCALAR: OpDef = OpDef::new(
    "aten::_assert_scalar(Scalar self, str assert_msg) -> ()",
    assert_scalar_meta,
    assert_scalar_kernel,
);

pub static OPS: &[&OpDef] = &[
    &ITEM,
    &EQ_INT,
    &NE_INT,
    &LT_INT,
    &LE_INT,
    &GT_INT,
    &GE_INT,
    &ASSERT_SCALAR,
];

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
        let le = |a, b| {
            run_eager(
                comparison(CmpOp::Le),
                &[Value::Int(SymInt::Int(a)), Value::Int(SymInt::Int(b))],
            )
            .unwrap()[0]
                .to_vec::<bool>()
                .unwrap()
        };
        assert_eq!(le(3, 5), [true]);
        assert_eq!(le(6, 5), [false]);
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
    }
}
