//! [`Argument`]: the one argument type of the IR. An op call's arguments are
//! `Argument<Tensor>` ([`crate::ops::Value`]) when it runs or is traced, and
//! `Argument<NodeId>` ([`crate::graph::Arg`]) in a graph; [`Argument::try_map`] converts
//! between them, so no consumer writes the conversion again.
//!
//! Sizes appear in two forms. Inline (`Int(SymInt)`, `IntList`, `SymBool`): what a
//! call receives when it runs or is traced. As graph values (`Sym`, `SymInts`): in a
//! graph, a symbolic size argument names the SymInt / SymBool node computing it
//! (`aten::sym_size.int`, `_operator` arithmetic and comparisons — PyTorch's
//! `as_sym_int` / `as_sym_bool`); [`crate::graph::inline_sym_args`] turns them back
//! into the inline form from the nodes' metas before a call runs.

use crate::symbolic::{SymBool, SymInt};
use crate::tensor::{DType, Tensor};

/// One argument of an op call, with tensors as `T`.
#[derive(Clone, Debug, Default)]
pub enum Argument<T> {
    #[default]
    None,
    Bool(bool),
    Int(SymInt),
    Float(f64),
    Str(String),
    DType(DType),
    IntList(Vec<SymInt>),
    FloatList(Vec<f64>),
    Tensor(T),
    TensorList(Vec<T>),
    /// `Tensor?[]`, as `aten::index.Tensor` takes.
    OptTensorList(Vec<Option<T>>),
    /// A symbolic comparison of sizes, inline (a `cond` predicate while it is traced).
    SymBool(SymBool),
    /// In a graph: the SymInt or SymBool value of node `T` (PyTorch's `as_sym_int` /
    /// `as_sym_bool`); which one, the node's meta says.
    Sym(T),
    /// In a graph: a size list with SymInt values among its elements (`as_sym_ints`).
    SymInts(Vec<SymIntArg<T>>),
}

/// One element of [`Argument::SymInts`]: an int, or the SymInt value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum SymIntArg<T> {
    Int(SymInt),
    Sym(T),
}

impl<T> Argument<T> {
    /// The same argument with every tensor converted by `f` (the first error stops).
    pub fn try_map<U, E>(&self, mut f: impl FnMut(&T) -> Result<U, E>) -> Result<Argument<U>, E> {
        Ok(match self {
            Argument::Tensor(t) => Argument::Tensor(f(t)?),
            Argument::TensorList(ts) => {
                Argument::TensorList(ts.iter().map(&mut f).collect::<Result<_, _>>()?)
            }
            Argument::OptTensorList(ts) => Argument::OptTensorList(
                ts.iter()
                    .map(|t| t.as_ref().map(&mut f).transpose())
                    .collect::<Result<_, _>>()?,
            ),
            Argument::None => Argument::None,
            Argument::Bool(b) => Argument::Bool(*b),
            Argument::Int(i) => Argument::Int(i.clone()),
            Argument::Float(x) => Argument::Float(*x),
            Argument::Str(s) => Argument::Str(s.clone()),
            Argument::DType(d) => Argument::DType(*d),
            Argument::IntList(l) => Argument::IntList(l.clone()),
            Argument::FloatList(l) => Argument::FloatList(l.clone()),
            Argument::SymBool(b) => Argument::SymBool(b.clone()),
            Argument::Sym(t) => Argument::Sym(f(t)?),
            Argument::SymInts(l) => Argument::SymInts(
                l.iter()
                    .map(|e| match e {
                        SymIntArg::Int(i) => Ok(SymIntArg::Int(i.clone())),
                        SymIntArg::Sym(t) => f(t).map(SymIntArg::Sym),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// The same argument with every symbolic size replaced by `f` (bound symbols, when
    /// running); concrete sizes are kept.
    pub fn map_sizes(self, f: impl Fn(&SymInt) -> SymInt) -> Argument<T> {
        // Concrete sizes are kept as they are, without a new list (the interpreter maps
        // every argument of every call).
        match self {
            Argument::Int(i) if i.is_symbolic() => Argument::Int(f(&i)),
            Argument::IntList(l) if l.iter().any(SymInt::is_symbolic) => {
                Argument::IntList(l.iter().map(f).collect())
            }
            Argument::SymBool(b) => Argument::SymBool(SymBool {
                lhs: f(&b.lhs),
                op: b.op,
                rhs: f(&b.rhs),
            }),
            Argument::SymInts(l) => Argument::SymInts(
                l.into_iter()
                    .map(|e| match e {
                        SymIntArg::Int(i) => SymIntArg::Int(f(&i)),
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Calls `f` on every tensor inside.
    pub fn for_each_tensor(&self, mut f: impl FnMut(&T)) {
        match self {
            Argument::Tensor(t) => f(t),
            Argument::TensorList(ts) => ts.iter().for_each(f),
            Argument::OptTensorList(ts) => ts.iter().flatten().for_each(f),
            _ => {}
        }
    }

    /// Calls `f` on every tensor inside, mutably.
    pub fn for_each_tensor_mut(&mut self, mut f: impl FnMut(&mut T)) {
        match self {
            Argument::Tensor(t) => f(t),
            Argument::TensorList(ts) => ts.iter_mut().for_each(f),
            Argument::OptTensorList(ts) => ts.iter_mut().flatten().for_each(f),
            _ => {}
        }
    }

    /// The nodes whose SymInt / SymBool values this argument names (graphs only).
    pub fn sym_refs(&self) -> Vec<&T> {
        match self {
            Argument::Sym(t) => vec![t],
            Argument::SymInts(l) => l
                .iter()
                .filter_map(|e| match e {
                    SymIntArg::Sym(t) => Some(t),
                    SymIntArg::Int(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Calls `f` on every node reference of [`Argument::sym_refs`], mutably.
    pub fn for_each_sym_mut(&mut self, mut f: impl FnMut(&mut T)) {
        match self {
            Argument::Sym(t) => f(t),
            Argument::SymInts(l) => l.iter_mut().for_each(|e| {
                if let SymIntArg::Sym(t) = e {
                    f(t)
                }
            }),
            _ => {}
        }
    }

    /// The tensors inside, in order.
    pub fn tensors(&self) -> Vec<&T> {
        match self {
            Argument::Tensor(t) => vec![t],
            Argument::TensorList(ts) => ts.iter().collect(),
            Argument::OptTensorList(ts) => ts.iter().flatten().collect(),
            _ => Vec::new(),
        }
    }

    /// The single tensor, for an argument that is one.
    pub fn as_tensor(&self) -> Option<&T> {
        match self {
            Argument::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// What kind of argument this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Argument::None => "None",
            Argument::Bool(_) => "a bool",
            Argument::Int(_) => "an int",
            Argument::Float(_) => "a float",
            Argument::Str(_) => "a string",
            Argument::DType(_) => "a dtype",
            Argument::IntList(_) => "an int list",
            Argument::FloatList(_) => "a float list",
            Argument::Tensor(_) => "a tensor",
            Argument::TensorList(_) => "a tensor list",
            Argument::OptTensorList(_) => "an optional-tensor list",
            Argument::SymBool(_) => "a symbolic bool",
            Argument::Sym(_) => "a symbolic value",
            Argument::SymInts(_) => "a symbolic int list",
        }
    }
}

/// Values compare sizes symbolically (`same_as`) and tensors by identity.
impl PartialEq for Argument<Tensor> {
    fn eq(&self, other: &Argument<Tensor>) -> bool {
        use Argument::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a.same_as(b),
            (Float(a), Float(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (DType(a), DType(b)) => a == b,
            (IntList(a), IntList(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (FloatList(a), FloatList(b)) => a == b,
            (Tensor(a), Tensor(b)) => a.same_tensor(b),
            (SymBool(a), SymBool(b)) => {
                a.op == b.op && a.lhs.same_as(&b.lhs) && a.rhs.same_as(&b.rhs)
            }
            (Sym(a), Sym(b)) => a.same_tensor(b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_map_converts_every_tensor_and_keeps_the_rest() {
        let a: Argument<usize> = Argument::OptTensorList(vec![Some(1), None, Some(3)]);
        let b = a.try_map(|n| Ok::<_, ()>(n * 10)).unwrap();
        assert!(
            matches!(b, Argument::OptTensorList(ref v) if *v == vec![Some(10), None, Some(30)])
        );
        let c: Argument<usize> = Argument::IntList(vec![SymInt::Int(2)]);
        let d = c
            .try_map(|_| Err::<usize, _>("no tensor expected"))
            .unwrap();
        assert!(matches!(d, Argument::IntList(ref l) if l[0].as_int() == Some(2)));
        let e: Argument<usize> = Argument::TensorList(vec![1, 2]);
        assert_eq!(
            e.try_map(|n| if *n == 2 { Err(*n) } else { Ok(*n) })
                .unwrap_err(),
            2
        );
    }
}
