//! SymInt and SymBool values as graph nodes, as PyTorch records them:
//! `aten::sym_size.int(x, 0)` (a dim of a tensor) and the `_operator` arithmetic and
//! comparisons on such values (`sym_size_int + 1`, `sym_size_int > 2`).
//!
//! A node of these ops has a symbolic meta (`Sym(s0 + 1)`); its value is a function of
//! the sizes only, so every runner reads it from that meta with the symbols bound by the
//! inputs (`graph::inline_sym_args`) and never runs the node. The meta functions build
//! that symbolic value; the kernels compute it eagerly (a 0-d tensor), for direct calls.

use crate::error::OpError;
use crate::op_bail;
use crate::ops::util::normalize_dim;
use crate::ops::{op_def, OpDef};
use crate::symbolic::{CmpOp, SymBool, SymInt, SymScalar};
use crate::tensor::{DType, Storage, TensorMeta};

fn sym_size_value(a: &SymSize) -> Result<SymInt, OpError> {
    let m = crate::ops::util::meta_of(&a.self_)?;
    let d = a.dim;
    let dim = normalize_dim(d, m.rank())?;
    // A 0-dim tensor wraps dim 0 / -1 but has no size to read.
    m.sizes.get(dim).cloned().ok_or_else(|| {
        OpError(format!(
            "sym_size.int: dimension specified as {d} but tensor has no dimensions"
        ))
    })
}

fn sym_size_meta(a: &SymSize) -> Result<Vec<TensorMeta>, OpError> {
    let v = sym_size_value(a)?;
    Ok(vec![TensorMeta::symbolic_scalar(
        DType::I64,
        SymScalar::Int(v),
    )])
}

/// The size read from the data (the meta's value with its symbols bound).
fn sym_size_kernel(a: &SymSize, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.self_.storage_or_op_error()?;
    let shape = x.shape();
    let dim = normalize_dim(a.dim, shape.len())?;
    let size = shape.get(dim).copied().ok_or_else(|| {
        OpError(format!(
            "sym_size.int: dimension specified as {} but tensor has no dimensions",
            a.dim
        ))
    })?;
    Ok(vec![int_storage(size as i64)])
}

fn int_storage(v: i64) -> Storage {
    Storage::from_vec(&[], vec![v]).unwrap_or_else(|| Storage::full(&[], 0.0, DType::I64))
}

fn bool_storage(v: bool) -> Storage {
    Storage::from_vec(&[], vec![v]).unwrap_or_else(|| Storage::full(&[], 0.0, DType::Bool))
}

op_def! {
    pub static SYM_SIZE: struct SymSize = "aten::sym_size.int(Tensor self, int dim) -> SymInt" {
        meta: sym_size_meta,
        kernel: sym_size_kernel,
    }
}

/// SymInt arithmetic, PyTorch's `_operator` functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    FloorDiv,
    Mod,
}

impl Arith {
    /// Python's operator (`+`, `//`), as PyTorch prints these nodes.
    pub fn symbol(self) -> &'static str {
        match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::FloorDiv => "//",
            Arith::Mod => "%",
        }
    }

    /// `a op b`; floor division and remainder need a positive constant divisor.
    pub fn apply(self, a: &SymInt, b: &SymInt) -> Result<SymInt, OpError> {
        let divisor = || match b.as_int() {
            Some(d) if d > 0 => Ok(d),
            _ => Err(OpError(format!(
                "`{a} {} {b}` needs a positive constant divisor",
                self.symbol()
            ))),
        };
        Ok(match self {
            Arith::Add => a.add(b),
            Arith::Sub => a.sub(b),
            Arith::Mul => a.mul(b),
            Arith::FloorDiv => a.floor_div(divisor()?),
            Arith::Mod => a.modulo(divisor()?),
        })
    }
}

/// What a SymInt / SymBool op computes from its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymOp {
    /// `aten::sym_size.int(x, d)`.
    Size,
    Arith(Arith),
    Compare(CmpOp),
}

/// The SymInt / SymBool op `op` is, if it is one.
pub fn sym_op(op: &OpDef) -> Option<SymOp> {
    if std::ptr::eq(op, &SYM_SIZE) {
        return Some(SymOp::Size);
    }
    ARITH
        .iter()
        .find(|(def, _)| std::ptr::eq(op, *def))
        .map(|(_, a)| SymOp::Arith(*a))
        .or_else(|| {
            COMPARE
                .iter()
                .find(|(def, _)| std::ptr::eq(op, *def))
                .map(|(_, c)| SymOp::Compare(*c))
        })
}

/// The `_operator` op for `a`.
pub fn arith_op(a: Arith) -> &'static OpDef {
    ARITH
        .iter()
        .find(|(_, k)| *k == a)
        .map_or(&ADD, |(def, _)| def)
}

/// The `_operator` comparison for `c`.
pub fn compare_op(c: CmpOp) -> &'static OpDef {
    COMPARE
        .iter()
        .find(|(_, k)| *k == c)
        .map_or(&GT, |(def, _)| def)
}

fn arith_meta(a: &SymPair, op: Arith) -> Result<Vec<TensorMeta>, OpError> {
    let v = op.apply(&a.a, &a.b)?;
    Ok(vec![TensorMeta::symbolic_scalar(
        DType::I64,
        SymScalar::Int(v),
    )])
}

/// The value of the meta's expression (its symbols bound by the call's sizes).
fn arith_kernel(metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    match metas.first().and_then(|m| m.sym.as_ref()) {
        Some(SymScalar::Int(v)) => Ok(vec![int_storage(v.hint())]),
        _ => op_bail!("SymInt arithmetic without a SymInt meta"),
    }
}

fn compare_meta(a: &SymPair, op: CmpOp) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![TensorMeta::symbolic_scalar(
        DType::Bool,
        SymScalar::Bool(SymBool {
            lhs: a.a.clone(),
            op,
            rhs: a.b.clone(),
        }),
    )])
}

fn compare_kernel(a: &SymPair, op: CmpOp) -> Result<Vec<Storage>, OpError> {
    Ok(vec![bool_storage(op.eval(a.a.hint(), a.b.hint()))])
}

op_def! {
    pub static ADD: struct SymPair = "_operator::add(SymInt a, SymInt b) -> SymInt" {
        meta: |a: &SymPair| arith_meta(a, Arith::Add),
        kernel: |_: &SymPair, m: &[TensorMeta]| arith_kernel(m),
    }
    pub static SUB: SymPair = "_operator::sub(SymInt a, SymInt b) -> SymInt" {
        meta: |a: &SymPair| arith_meta(a, Arith::Sub),
        kernel: |_: &SymPair, m: &[TensorMeta]| arith_kernel(m),
    }
    pub static MUL: SymPair = "_operator::mul(SymInt a, SymInt b) -> SymInt" {
        meta: |a: &SymPair| arith_meta(a, Arith::Mul),
        kernel: |_: &SymPair, m: &[TensorMeta]| arith_kernel(m),
    }
    pub static FLOORDIV: SymPair = "_operator::floordiv(SymInt a, SymInt b) -> SymInt" {
        meta: |a: &SymPair| arith_meta(a, Arith::FloorDiv),
        kernel: |_: &SymPair, m: &[TensorMeta]| arith_kernel(m),
    }
    pub static MOD: SymPair = "_operator::mod(SymInt a, SymInt b) -> SymInt" {
        meta: |a: &SymPair| arith_meta(a, Arith::Mod),
        kernel: |_: &SymPair, m: &[TensorMeta]| arith_kernel(m),
    }
    pub static EQ: SymPair = "_operator::eq(SymInt a, SymInt b) -> SymBool" {
        meta: |a: &SymPair| compare_meta(a, CmpOp::Eq),
        kernel: |a: &SymPair, _: &[TensorMeta]| compare_kernel(a, CmpOp::Eq),
    }
    pub static NE: SymPair = "_operator::ne(SymInt a, SymInt b) -> SymBool" {
        meta: |a: &SymPair| compare_meta(a, CmpOp::Ne),
        kernel: |a: &SymPair, _: &[TensorMeta]| compare_kernel(a, CmpOp::Ne),
    }
    pub static LT: SymPair = "_operator::lt(SymInt a, SymInt b) -> SymBool" {
        meta: |a: &SymPair| compare_meta(a, CmpOp::Lt),
        kernel: |a: &SymPair, _: &[TensorMeta]| compare_kernel(a, CmpOp::Lt),
    }
    pub static LE: SymPair = "_operator::le(SymInt a, SymInt b) -> SymBool" {
        meta: |a: &SymPair| compare_meta(a, CmpOp::Le),
        kernel: |a: &SymPair, _: &[TensorMeta]| compare_kernel(a, CmpOp::Le),
    }
    pub static GT: SymPair = "_operator::gt(SymInt a, SymInt b) -> SymBool" {
        meta: |a: &SymPair| compare_meta(a, CmpOp::Gt),
        kernel: |a: &SymPair, _: &[TensorMeta]| compare_kernel(a, CmpOp::Gt),
    }
    pub static GE: SymPair = "_operator::ge(SymInt a, SymInt b) -> SymBool" {
        meta: |a: &SymPair| compare_meta(a, CmpOp::Ge),
        kernel: |a: &SymPair, _: &[TensorMeta]| compare_kernel(a, CmpOp::Ge),
    }
}

/// Which `_operator` op computes which arithmetic (for [`sym_op`] and [`arith_op`]).
static ARITH: &[(&OpDef, Arith)] = &[
    (&ADD, Arith::Add),
    (&SUB, Arith::Sub),
    (&MUL, Arith::Mul),
    (&FLOORDIV, Arith::FloorDiv),
    (&MOD, Arith::Mod),
];

/// Which `_operator` op computes which comparison.
static COMPARE: &[(&OpDef, CmpOp)] = &[
    (&EQ, CmpOp::Eq),
    (&NE, CmpOp::Ne),
    (&LT, CmpOp::Lt),
    (&LE, CmpOp::Le),
    (&GT, CmpOp::Gt),
    (&GE, CmpOp::Ge),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{lookup, run_eager, Value};
    use crate::Tensor;

    #[test]
    fn sym_ops_are_registered_under_pytorch_names_and_compute_eagerly() {
        let add = lookup("_operator::add").unwrap();
        assert_eq!(sym_op(add), Some(SymOp::Arith(Arith::Add)));
        let size = lookup("aten::sym_size.int").unwrap();
        let x = Value::Tensor(Tensor::zeros([3, 5]));
        let out = run_eager(size, &[x, Value::Int(SymInt::Int(-1))]).unwrap();
        assert_eq!(out[0].to_vec::<i64>().unwrap(), [5]);
        let int = |v| Value::Int(SymInt::Int(v));
        let fd = run_eager(&FLOORDIV, &[int(-7), int(2)]).unwrap();
        assert_eq!(fd[0].to_vec::<i64>().unwrap(), [-4]);
        let gt = run_eager(&GT, &[int(3), int(2)]).unwrap();
        assert_eq!(gt[0].to_vec::<bool>().unwrap(), [true]);
        let err = run_eager(&MOD, &[int(3), int(0)]).unwrap_err();
        assert_eq!(err.0, "`3 % 0` needs a positive constant divisor");
    }
}
