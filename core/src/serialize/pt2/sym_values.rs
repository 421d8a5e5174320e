//! Sizes as PyTorch's schema holds them: sympy expressions in `srepr` spelling with
//! their example value, in tensor metas and in `sym_int_values` / `sym_bool_values` (the
//! values of the graph's SymInt / SymBool nodes, which `passes::name_sym_values` made).

use std::collections::HashSet;

use super::schema as s;
use crate::error::SaveError;
use crate::symbolic::{Atom, CmpOp, Expr, SymBool, SymInt};
use crate::tensor::{DType, TensorMeta};

pub(super) fn unsavable(message: impl Into<String>) -> SaveError {
    SaveError::Unsavable(message.into())
}

/// PyTorch's `ScalarType` code of a dtype.
pub(super) fn scalar_type(d: DType) -> s::ScalarType {
    match d {
        DType::Bool => s::ScalarType::BOOL,
        DType::U8 => s::ScalarType::BYTE,
        DType::I32 => s::ScalarType::INT,
        DType::I64 => s::ScalarType::LONG,
        DType::F32 => s::ScalarType::FLOAT,
        DType::F64 => s::ScalarType::DOUBLE,
    }
}

/// An expression in sympy's `srepr` spelling, as PyTorch writes `expr_str`:
/// `Add(Mul(Integer(2), Symbol('s0', positive=True, integer=True)), Integer(1))`.
pub fn srepr(e: &Expr) -> String {
    let terms: Vec<String> = e.terms().map(|(mono, c)| monomial_srepr(mono, c)).collect();
    match terms.len() {
        0 => "Integer(0)".into(),
        1 => terms.into_iter().next().unwrap_or_default(),
        _ => format!("Add({})", terms.join(", ")),
    }
}

fn monomial_srepr(mono: &[Atom], coefficient: i64) -> String {
    let mut factors = Vec::new();
    if coefficient != 1 || mono.is_empty() {
        factors.push(format!("Integer({coefficient})"));
    }
    // Atoms are sorted, so repeats are adjacent: `s0*s0` is `Pow(s0, 2)`.
    let mut i = 0;
    while i < mono.len() {
        let run = mono[i..].iter().take_while(|a| **a == mono[i]).count();
        let atom = atom_srepr(&mono[i]);
        factors.push(if run == 1 {
            atom
        } else {
            format!("Pow({atom}, Integer({run}))")
        });
        i += run;
    }
    if factors.len() == 1 {
        factors.pop().unwrap_or_default()
    } else {
        format!("Mul({})", factors.join(", "))
    }
}

fn atom_srepr(a: &Atom) -> String {
    match a {
        Atom::Sym(sym) if sym.is_unbacked() => format!("Symbol('{sym}', integer=True)"),
        Atom::Sym(sym) => format!("Symbol('{sym}', positive=True, integer=True)"),
        Atom::FloorDiv(e, d) => format!("FloorDiv({}, Integer({d}))", srepr(e)),
        Atom::Mod(e, d) => format!("Mod({}, Integer({d}))", srepr(e)),
        Atom::Min(a, b) => format!("Min({}, {})", srepr(a), srepr(b)),
        Atom::Max(a, b) => format!("Max({}, {})", srepr(a), srepr(b)),
    }
}

/// A comparison in sympy's `srepr` spelling, as PyTorch writes a SymBool value:
/// `StrictGreaterThan(Symbol('s0', positive=True, integer=True), Integer(2))`.
pub fn srepr_bool(b: &SymBool) -> String {
    let relation = match b.op {
        CmpOp::Eq => "Equality",
        CmpOp::Ne => "Unequality",
        CmpOp::Lt => "StrictLessThan",
        CmpOp::Le => "LessThan",
        CmpOp::Gt => "StrictGreaterThan",
        CmpOp::Ge => "GreaterThan",
    };
    format!(
        "{relation}({}, {})",
        srepr(&b.lhs.expr()),
        srepr(&b.rhs.expr())
    )
}

/// A size in a tensor meta, or a SymInt value.
pub(super) fn sym_int(v: &SymInt) -> s::SymInt {
    match v {
        SymInt::Int(i) => s::SymInt::AsInt(*i),
        SymInt::Sym { expr, hint } => match expr.as_constant() {
            Some(c) => s::SymInt::AsInt(c),
            // A value read from data has no example value: PyTorch writes no hint.
            None => s::SymInt::AsExpr(s::SymExpr {
                expr_str: srepr(expr),
                hint: (!v.is_unbacked()).then_some(s::SymExprHint::AsInt(*hint)),
            }),
        },
    }
}

/// A tensor meta, with contiguous strides (ferrex's values are contiguous).
pub(super) fn tensor_meta(m: &TensorMeta, requires_grad: bool) -> Result<s::TensorMeta, SaveError> {
    let mut strides = vec![SymInt::Int(1); m.sizes.len()];
    for i in (0..m.sizes.len().saturating_sub(1)).rev() {
        strides[i] = mul_sym(&strides[i + 1], &m.sizes[i + 1])?;
    }
    Ok(s::TensorMeta {
        dtype: scalar_type(m.dtype),
        sizes: m.sizes.iter().map(sym_int).collect(),
        requires_grad,
        device: s::Device {
            type_: "cpu".into(),
            index: None,
        },
        strides: strides.iter().map(sym_int).collect(),
        storage_offset: s::SymInt::AsInt(0),
        layout: s::Layout::STRIDED,
    })
}

fn mul_sym(a: &SymInt, b: &SymInt) -> Result<SymInt, SaveError> {
    let overflow = || unsavable("a stride overflows i64");
    Ok(match (a, b) {
        (SymInt::Int(x), SymInt::Int(y)) => SymInt::Int(x.checked_mul(*y).ok_or_else(overflow)?),
        _ => {
            let (ea, ha) = expr_hint(a);
            let (eb, hb) = expr_hint(b);
            SymInt::Sym {
                expr: std::sync::Arc::new(ea.mul(&eb)),
                hint: ha.checked_mul(hb).ok_or_else(overflow)?,
            }
        }
    })
}

fn expr_hint(v: &SymInt) -> (Expr, i64) {
    match v {
        SymInt::Int(i) => (Expr::constant(*i), *i),
        SymInt::Sym { expr, hint } => ((**expr).clone(), *hint),
    }
}

/// `base`, or `base_1`, `base_2`, … : the first name not taken yet (and takes it).
pub(super) fn fresh_name(base: &str, names: &mut HashSet<String>) -> String {
    let mut name = base.to_string();
    let mut i = 1;
    while names.contains(&name) {
        name = format!("{base}_{i}");
        i += 1;
    }
    names.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::Symbol;

    fn sym(i: u32) -> Expr {
        Expr::symbol(Symbol(i))
    }

    #[test]
    fn srepr_spells_expressions_as_sympy_does() {
        let s0 = "Symbol('s0', positive=True, integer=True)";
        assert_eq!(srepr(&sym(0)), s0);
        assert_eq!(srepr(&Expr::constant(7)), "Integer(7)");
        assert_eq!(
            srepr(&sym(0).scale(2).add(&Expr::constant(1))),
            format!("Add(Integer(1), Mul(Integer(2), {s0}))")
        );
        assert_eq!(
            srepr(&sym(0).mul(&sym(0))),
            format!("Pow({s0}, Integer(2))")
        );
        assert_eq!(
            srepr(&sym(0).floor_div(4)),
            format!("FloorDiv({s0}, Integer(4))")
        );
        assert_eq!(
            srepr(&Expr::symbol(Symbol::unbacked(0))),
            "Symbol('u0', integer=True)"
        );
    }

    #[test]
    fn srepr_bool_spells_comparisons_as_sympy_relations() {
        let s0 = SymInt::from_expr(sym(0), 4);
        let gt = SymBool {
            lhs: s0.clone(),
            op: CmpOp::Gt,
            rhs: SymInt::Int(2),
        };
        // What PyTorch 2.15 writes for `x.shape[0] > 2` (tests/data/pt2/symcond.pt2).
        assert_eq!(
            srepr_bool(&gt),
            "StrictGreaterThan(Symbol('s0', positive=True, integer=True), Integer(2))"
        );
        let le = SymBool {
            lhs: s0.add(&SymInt::Int(1)),
            op: CmpOp::Le,
            rhs: SymInt::Int(8),
        };
        assert_eq!(
            srepr_bool(&le),
            "LessThan(Add(Integer(1), Symbol('s0', positive=True, integer=True)), Integer(8))"
        );
    }

    #[test]
    fn strides_are_contiguous_products_of_sizes() {
        let s0 = SymInt::Sym {
            expr: std::sync::Arc::new(sym(0)),
            hint: 5,
        };
        let m = TensorMeta::new(DType::F32, vec![SymInt::Int(2), s0, SymInt::Int(3)]);
        let t = tensor_meta(&m, false).unwrap();
        let s0_text = "Symbol('s0', positive=True, integer=True)";
        assert_eq!(
            t.strides,
            vec![
                s::SymInt::AsExpr(s::SymExpr {
                    expr_str: format!("Mul(Integer(3), {s0_text})"),
                    hint: Some(s::SymExprHint::AsInt(15)),
                }),
                s::SymInt::AsInt(3),
                s::SymInt::AsInt(1),
            ]
        );
        assert_eq!(t.dtype, s::ScalarType::FLOAT);
    }
}
