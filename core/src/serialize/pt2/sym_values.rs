//! Sizes as PyTorch's schema holds them: in tensor metas as sympy expressions (`srepr`
//! spelling with the example value), and in node arguments as named SymInt values that
//! nodes compute — `sym_size.int` of an input dim, then `_operator` arithmetic. ferrex's
//! graphs carry sizes as inline expressions; on writing, each distinct expression becomes
//! one such value, computed from the graph's own placeholders.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::schema as s;
use crate::error::SaveError;
use crate::symbolic::{Atom, Expr, ShapeEnv, SymInt, Symbol};
use crate::tensor::{DType, TensorMeta};

pub(super) fn unsavable(message: impl Into<String>) -> SaveError {
    SaveError::Unsavable(message.into())
}

/// PyTorch's `ScalarType` code of a dtype.
pub(super) fn scalar_type(d: DType) -> s::ScalarType {
    match d {
        DType::Bool => s::ScalarType::BOOL,
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

/// A size in a tensor meta.
pub(super) fn sym_int(v: &SymInt) -> s::SymInt {
    match v {
        SymInt::Int(i) => s::SymInt::AsInt(*i),
        SymInt::Sym { expr, hint } => match expr.as_constant() {
            Some(c) => s::SymInt::AsInt(c),
            None => s::SymInt::AsExpr(s::SymExpr {
                expr_str: srepr(expr),
                hint: Some(s::SymExprHint::AsInt(*hint)),
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

/// The SymInt values of one graph being written: the nodes that compute them and their
/// expressions, keyed by expression so each is computed once.
pub(super) struct SymValues<'a> {
    /// `(placeholder, dim, size)` for every symbolic placeholder dim of the graph.
    dims: Vec<(String, usize, Expr)>,
    shape_env: &'a ShapeEnv,
    by_expr: HashMap<Expr, String>,
    pub(super) nodes: Vec<s::Node>,
    pub(super) values: BTreeMap<String, s::SymInt>,
}

impl<'a> SymValues<'a> {
    pub(super) fn new(dims: Vec<(String, usize, Expr)>, shape_env: &'a ShapeEnv) -> Self {
        SymValues {
            dims,
            shape_env,
            by_expr: HashMap::new(),
            nodes: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    /// A size argument: a plain int, or the name of the value that computes it.
    pub(super) fn argument(
        &mut self,
        v: &SymInt,
        names: &mut HashSet<String>,
    ) -> Result<s::SymIntArgument, SaveError> {
        match v {
            SymInt::Int(i) => Ok(s::SymIntArgument::AsInt(*i)),
            SymInt::Sym { expr, .. } => match expr.as_constant() {
                Some(c) => Ok(s::SymIntArgument::AsInt(c)),
                None => Ok(s::SymIntArgument::AsName(self.value(expr, names)?)),
            },
        }
    }

    fn hint(&self, e: &Expr) -> Result<i64, SaveError> {
        e.eval(&|sym: Symbol| self.shape_env.info(sym).map(|i| i.hint))
            .ok_or_else(|| unsavable(format!("the size `{e}` has no example value")))
    }

    /// The name of the value computing `e`, emitting the nodes it needs.
    fn value(&mut self, e: &Expr, names: &mut HashSet<String>) -> Result<String, SaveError> {
        if let Some(n) = self.by_expr.get(e) {
            return Ok(n.clone());
        }
        if let Some((input, dim)) = self.dim_equal_to(e) {
            let self_arg = s::Argument::AsTensor(s::TensorArgument { name: input });
            let dim_arg = s::Argument::AsInt(dim as i64);
            return self.emit(
                "torch.ops.aten.sym_size.int",
                "sym_size_int",
                [("self", self_arg), ("dim", dim_arg)],
                e,
                names,
            );
        }
        if let Some((sym, 1, 0)) = e.as_linear() {
            return self.symbol_from_scaled_dim(sym, e, names);
        }
        self.compound(e, names)
    }

    fn dim_equal_to(&self, e: &Expr) -> Option<(String, usize)> {
        self.dims
            .iter()
            .find(|(_, _, size)| size == e)
            .map(|(n, d, _)| (n.clone(), *d))
    }

    /// A symbol that only appears scaled in the inputs (`x` has `2*s0 + 1` rows):
    /// `(x.size(0) - 1) // 2`.
    fn symbol_from_scaled_dim(
        &mut self,
        sym: Symbol,
        e: &Expr,
        names: &mut HashSet<String>,
    ) -> Result<String, SaveError> {
        let found = self
            .dims
            .iter()
            .find_map(|(_, _, size)| match size.as_linear() {
                Some((s2, a, b)) if s2 == sym && a > 0 => Some((size.clone(), a, b)),
                _ => None,
            });
        let (size, a, b) = found.ok_or_else(|| {
            unsavable(format!(
                "the size `{e}` is not computable from the graph's inputs"
            ))
        })?;
        let mut value = s::SymIntArgument::AsName(self.value(&size, names)?);
        let mut current = size;
        if b != 0 {
            current = current.sub(&Expr::constant(b));
            value = self.binary("sub", value, s::SymIntArgument::AsInt(b), &current, names)?;
        }
        if a != 1 {
            current = current.floor_div(a);
            value = self.binary(
                "floordiv",
                value,
                s::SymIntArgument::AsInt(a),
                &current,
                names,
            )?;
        }
        match value {
            s::SymIntArgument::AsName(n) => Ok(n),
            s::SymIntArgument::AsInt(_) => Err(unsavable(format!("`{e}` became a constant"))),
        }
    }

    /// A sum of products, built with `_operator.mul` / `add` / `sub`.
    fn compound(&mut self, e: &Expr, names: &mut HashSet<String>) -> Result<String, SaveError> {
        let mut terms: Vec<(Vec<Atom>, i64)> = e.terms().map(|(m, c)| (m.clone(), c)).collect();
        // Positive terms first, the constant last, so the sum starts from a size.
        terms.sort_by_key(|(m, c)| (m.is_empty(), *c < 0));
        let mut acc: Option<(s::SymIntArgument, Expr)> = None;
        for (mono, c) in terms {
            let magnitude = c
                .checked_abs()
                .ok_or_else(|| unsavable("a size overflows"))?;
            let (term, term_expr) = if mono.is_empty() {
                (
                    s::SymIntArgument::AsInt(magnitude),
                    Expr::constant(magnitude),
                )
            } else {
                self.product(&mono, magnitude, names)?
            };
            acc = Some(match acc {
                None if c < 0 => {
                    let neg = term_expr.neg();
                    let v = self.binary("mul", term, s::SymIntArgument::AsInt(-1), &neg, names)?;
                    (v, neg)
                }
                None => (term, term_expr),
                Some((a, a_expr)) => {
                    let (op, sum) = if c < 0 {
                        ("sub", a_expr.sub(&term_expr))
                    } else {
                        ("add", a_expr.add(&term_expr))
                    };
                    (self.binary(op, a, term, &sum, names)?, sum)
                }
            });
        }
        match acc {
            Some((s::SymIntArgument::AsName(n), _)) => Ok(n),
            _ => Err(unsavable(format!("the size `{e}` has no symbolic term"))),
        }
    }

    /// `c * a0 * a1 * …` for the atoms of one monomial.
    fn product(
        &mut self,
        mono: &[Atom],
        coefficient: i64,
        names: &mut HashSet<String>,
    ) -> Result<(s::SymIntArgument, Expr), SaveError> {
        let mut acc: Option<(s::SymIntArgument, Expr)> = None;
        for atom in mono {
            let (v, e) = self.atom(atom, names)?;
            acc = Some(match acc {
                None => (v, e),
                Some((a, a_expr)) => {
                    let p = a_expr.mul(&e);
                    (self.binary("mul", a, v, &p, names)?, p)
                }
            });
        }
        let (v, e) = acc.ok_or_else(|| unsavable("an empty product"))?;
        if coefficient == 1 {
            return Ok((v, e));
        }
        let scaled = e.scale(coefficient);
        let k = s::SymIntArgument::AsInt(coefficient);
        Ok((self.binary("mul", v, k, &scaled, names)?, scaled))
    }

    fn atom(
        &mut self,
        atom: &Atom,
        names: &mut HashSet<String>,
    ) -> Result<(s::SymIntArgument, Expr), SaveError> {
        let (op, inner, d) = match atom {
            Atom::Sym(sym) => {
                let e = Expr::symbol(*sym);
                return Ok((s::SymIntArgument::AsName(self.value(&e, names)?), e));
            }
            Atom::FloorDiv(inner, d) => ("floordiv", inner, *d),
            Atom::Mod(inner, d) => ("mod", inner, *d),
            Atom::Min(..) | Atom::Max(..) => {
                return Err(unsavable(format!(
                    "the size `{atom}` (a min or max of sizes) cannot be written yet"
                )))
            }
        };
        let whole = atom_expr(atom);
        let inner_value = s::SymIntArgument::AsName(self.value(inner, names)?);
        let v = self.binary(op, inner_value, s::SymIntArgument::AsInt(d), &whole, names)?;
        Ok((v, whole))
    }

    /// `_operator.{op}(a, b)`, named after the op.
    fn binary(
        &mut self,
        op: &str,
        a: s::SymIntArgument,
        b: s::SymIntArgument,
        e: &Expr,
        names: &mut HashSet<String>,
    ) -> Result<s::SymIntArgument, SaveError> {
        if let Some(n) = self.by_expr.get(e) {
            return Ok(s::SymIntArgument::AsName(n.clone()));
        }
        let name = self.emit(
            &format!("_operator.{op}"),
            op,
            [
                ("a", s::Argument::AsSymInt(a)),
                ("b", s::Argument::AsSymInt(b)),
            ],
            e,
            names,
        )?;
        Ok(s::SymIntArgument::AsName(name))
    }

    fn emit<const N: usize>(
        &mut self,
        target: &str,
        base: &str,
        inputs: [(&str, s::Argument); N],
        e: &Expr,
        names: &mut HashSet<String>,
    ) -> Result<String, SaveError> {
        let hint = self.hint(e)?;
        let name = fresh_name(base, names);
        self.nodes.push(s::Node {
            target: target.to_string(),
            inputs: inputs
                .into_iter()
                .map(|(n, arg)| s::NamedArgument {
                    name: n.to_string(),
                    arg,
                    kind: Some(s::ArgumentKind::POSITIONAL),
                })
                .collect(),
            outputs: vec![s::Argument::AsSymInt(s::SymIntArgument::AsName(
                name.clone(),
            ))],
            metadata: BTreeMap::new(),
            is_hop_single_tensor_return: None,
            name: Some(name.clone()),
        });
        self.values.insert(
            name.clone(),
            s::SymInt::AsExpr(s::SymExpr {
                expr_str: srepr(e),
                hint: Some(s::SymExprHint::AsInt(hint)),
            }),
        );
        self.by_expr.insert(e.clone(), name.clone());
        Ok(name)
    }
}

fn atom_expr(atom: &Atom) -> Expr {
    match atom {
        Atom::Sym(sym) => Expr::symbol(*sym),
        Atom::FloorDiv(e, d) => e.floor_div(*d),
        Atom::Mod(e, d) => e.modulo(*d),
        Atom::Min(a, b) => Expr::min(a, b),
        Atom::Max(a, b) => Expr::max(a, b),
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
