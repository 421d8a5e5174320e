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
use crate::ops::{OpArgs, OpDef};
use crate::symbolic::{CmpOp, SymBool, SymInt, SymScalar};
use crate::tensor::{DType, Storage, TensorMeta};

fn sym_size_value(args: &OpArgs) -> Result<SymInt, OpError> {
    let m = args.meta(0)?;
    let d = args.i64(1)?;
    let dim = normalize_dim(d, m.rank())?;
    // A 0-dim tensor wraps dim 0 / -1 but has no size to read.
    m.sizes.get(dim).cloned().ok_or_else(|| {
        OpError(format!(
            "sym_size.int: dimension specified as {d} but tensor has no dimensions"
        ))
    })
}

fn sym_size_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let v = sym_size_value(args)?;
    Ok(vec![TensorMeta::symbolic_scalar(
        DType::I64,
        SymScalar::Int(v),
    )])
}

fn sym_size_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let v = sym_size_value(args)?;
    Ok(vec![int_storage(v.hint())])
}

fn int_storage(v: i64) -> Storage {
    Storage::from_vec(&[], vec![v]).unwrap_or_else(|| Storage::full(&[], 0.0, DType::I64))
}

fn bool_storage(v: bool) -> Storage {
    Storage::from_vec(&[], vec![v]).unwrap_or_else(|| Storage::full(&[], 0.0, DType::Bool))
}

pub static SYM_SIZE: OpDef = OpDef::new(
    "aten::sym_size.int(Tensor self, int dim) -> SymInt",
    sym_size_meta,
    sym_size_kernel,
);

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

fn operands(args: &OpArgs) -> Result<(SymInt, SymInt), OpError> {
    Ok((args.int(0)?, args.int(1)?))
}

fn arith_of(args: &OpArgs) -> Result<Arith, OpError> {
    match sym_op(args.op) {
        Some(SymOp::Arith(a)) => Ok(a),
        _ => op_bail!("`{}` is not SymInt arithmetic", args.op.name()),
    }
}

fn compare_of(args: &OpArgs) -> Result<CmpOp, OpError> {
    match sym_op(args.op) {
        Some(SymOp::Compare(c)) => Ok(c),
        _ => op_bail!("`{}` is not a SymInt comparison", args.op.name()),
    }
}

fn arith_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (a, b) = operands(args)?;
    let v = arith_of(args)?.apply(&a, &b)?;
    Ok(vec![TensorMeta::symbolic_scalar(
        DType::I64,
        SymScalar::Int(v),
    )])
}

fn arith_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (a, b) = operands(args)?;
    let v = arith_of(args)?.apply(&a, &b)?;
    Ok(vec![int_storage(v.hint())])
}

fn compare_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (lhs, rhs) = operands(args)?;
    let op = compare_of(args)?;
    Ok(vec![TensorMeta::symbolic_scalar(
        DType::Bool,
        SymScalar::Bool(SymBool { lhs, op, rhs }),
    )])
}

fn compare_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (lhs, rhs) = operands(args)?;
    Ok(vec![bool_storage(
        compare_of(args)?.eval(lhs.hint(), rhs.hint()),
    )])
}

macro_rules! sym_ops {
    ($list:ident, $kind:ty, $meta:ident, $kernel:ident, $ret:literal: $($name:ident $op:literal $value:expr;)*) => {
        $(pub static $name: OpDef = OpDef::new(
            concat!("_operator::", $op, "(SymInt a, SymInt b) -> ", $ret),
            $meta,
            $kernel,
        );)*
        static $list: &[(&OpDef, $kind)] = &[$((&$name, $value)),*];
    };
}

sym_ops! { ARITH, Arith, arith_meta, arith_kernel, "SymInt":
    ADD "add" Arith::Add;
    SUB "sub" Arith::Sub;
    MUL "mul" Arith::Mul;
    FLOORDIV "floordiv" Arith::FloorDiv;
    MOD "mod" Arith::Mod;
}

sym_ops! { COMPARE, CmpOp, compare_meta, compare_kernel, "SymBool":
    EQ "eq" CmpOp::Eq;
    NE "ne" CmpOp::Ne;
    LT "lt" CmpOp::Lt;
    LE "le" CmpOp::Le;
    GT "gt" CmpOp::Gt;
    GE "ge" CmpOp::Ge;
}

pub static OPS: &[&OpDef] = &[
    &SYM_SIZE, &ADD, &SUB, &MUL, &FLOORDIV, &MOD, &EQ, &NE, &LT, &LE, &GT, &GE,
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
