//! `cond` and `map_impl` as [`HigherOrderOp`]s: what the IR, the printer, the serializer
//! and the interpreter need to know of them. Running one goes through the same
//! [`super::cond`] / [`super::map`] a user's `forward` calls, so an interpreted node
//! picks its branch eagerly and records itself while tracing (`run_decompositions`).

use super::cond::{cond_at, failed_like, CondPred};
use super::map::map_at;
use crate::error::{SourceLocation, TensorError};
use crate::graph::{list_nodes, Arg, HigherOrderOp, HopParam, NodeId, RunSubgraph};
use crate::ops::Value;
use crate::tensor::{Tensor, TensorMeta};
use crate::trace;

/// Every higher-order op ferrex knows, for lookups by serialized target.
pub fn higher_order_ops() -> &'static [&'static dyn HigherOrderOp] {
    static ALL: [&dyn HigherOrderOp; 2] = [&COND, &MAP];
    &ALL
}

/// The higher-order op serialized as `target` (`higher_order::cond`).
pub fn lookup_higher_order(target: &str) -> Option<&'static dyn HigherOrderOp> {
    higher_order_ops()
        .iter()
        .copied()
        .find(|op| op.target() == target)
}

/// The node id a traced tensor stands for, as a higher-order node's operand.
pub(super) fn node_of_operand(t: &Tensor, at: SourceLocation) -> Result<NodeId, TensorError> {
    match trace::arg_of(t, at)? {
        Arg::Tensor(n) => Ok(n),
        other => Err(TensorError::Op {
            op: "higher-order op".into(),
            message: format!("an operand must be a tensor, got {}", other.kind()),
            at,
        }),
    }
}

fn tensor_list(args: &[Value], index: usize) -> Vec<Tensor> {
    match args.get(index) {
        Some(Value::TensorList(ts)) => ts.clone(),
        Some(Value::Tensor(t)) => vec![t.clone()],
        _ => Vec::new(),
    }
}

fn same_metas(a: &[TensorMeta], b: &[TensorMeta]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
}

fn show_metas(ms: &[TensorMeta]) -> String {
    ms.iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cond(pred, true_fn, false_fn, operands)`; arguments `[pred, operands]`, subgraphs
/// `[true, false]`.
pub struct Cond;

/// The one `cond`.
pub static COND: Cond = Cond;

impl HigherOrderOp for Cond {
    fn name(&self) -> &'static str {
        "cond"
    }

    fn target(&self) -> &'static str {
        "higher_order::cond"
    }

    fn params(&self) -> &'static [HopParam] {
        &[
            HopParam::Value {
                name: "pred",
                index: 0,
            },
            HopParam::Graph {
                name: "true_fn",
                index: 0,
            },
            HopParam::Graph {
                name: "false_fn",
                index: 1,
            },
            HopParam::Value {
                name: "operands",
                index: 1,
            },
        ]
    }

    fn subgraph_roles(&self) -> &'static [&'static str] {
        &["true_graph", "false_graph"]
    }

    fn subgraph_inputs(&self, args: &[Arg]) -> Vec<NodeId> {
        list_nodes(args.get(1))
    }

    fn meta(
        &self,
        _inputs: &[TensorMeta],
        outs: &[Vec<TensorMeta>],
    ) -> Result<Vec<TensorMeta>, String> {
        match outs {
            [t, f] if same_metas(t, f) => Ok(t.clone()),
            [t, f] => Err(format!(
                "both branches must return tensors with the same metadata, but the true branch returns ({}) and the false branch returns ({})",
                show_metas(t),
                show_metas(f)
            )),
            _ => Err(format!("cond takes 2 subgraphs, got {}", outs.len())),
        }
    }

    fn call(
        &self,
        args: &[Value],
        run: RunSubgraph<'_>,
        _metas: &[TensorMeta],
        at: SourceLocation,
    ) -> Vec<Tensor> {
        // A SymBool predicate arrives as its comparison, sized by the caller: concrete
        // when running (the branch is picked), symbolic when re-traced.
        let pred = match args.first() {
            Some(Value::Tensor(t)) => CondPred::Tensor(t.clone()),
            Some(Value::SymBool(b)) => CondPred::Sym(b.clone()),
            Some(Value::Bool(b)) => CondPred::Bool(*b),
            _ => {
                let e = TensorError::Op {
                    op: "cond".into(),
                    message: "the predicate is not a tensor or a SymBool".into(),
                    at,
                };
                return failed_like(e, 1);
            }
        };
        let operands = tensor_list(args, 1);
        cond_at(
            pred,
            |ops: &[Tensor]| run(0, ops),
            |ops: &[Tensor]| run(1, ops),
            &operands,
            at,
        )
    }

    fn display(&self, arg: &dyn Fn(&Arg) -> String, args: &[Arg], subgraphs: &[String]) -> String {
        let ops: Vec<String> = list_nodes(args.get(1))
            .into_iter()
            .map(|n| arg(&Arg::Tensor(n)))
            .collect();
        let ops = if ops.len() == 1 {
            format!("({},)", ops[0])
        } else {
            format!("({})", ops.join(", "))
        };
        let sub = |i: usize| subgraphs.get(i).cloned().unwrap_or_default();
        let pred = args.first().map(arg).unwrap_or_default();
        format!("cond({pred}, {}, {}, {ops})", sub(0), sub(1))
    }
}

/// `map_impl(body, mapped, operands)`: the body runs once per slice along dim 0 of the
/// `mapped` tensors (the operands passed whole); arguments `[mapped, operands]`,
/// subgraphs `[body]`.
pub struct Map;

/// The one `map_impl`.
pub static MAP: Map = Map;

impl HigherOrderOp for Map {
    fn name(&self) -> &'static str {
        "map_impl"
    }

    fn target(&self) -> &'static str {
        "higher_order::map_impl"
    }

    fn params(&self) -> &'static [HopParam] {
        &[
            HopParam::Graph {
                name: "body",
                index: 0,
            },
            HopParam::Value {
                name: "mapped",
                index: 0,
            },
            HopParam::Value {
                name: "operands",
                index: 1,
            },
        ]
    }

    fn subgraph_roles(&self) -> &'static [&'static str] {
        &["body_graph"]
    }

    fn subgraph_inputs(&self, args: &[Arg]) -> Vec<NodeId> {
        let mut ids = list_nodes(args.first());
        ids.extend(list_nodes(args.get(1)));
        ids
    }

    fn passes_whole(&self, args: &[Arg]) -> Vec<bool> {
        let mapped = list_nodes(args.first()).len();
        let operands = list_nodes(args.get(1)).len();
        [vec![false; mapped], vec![true; operands]].concat()
    }

    fn meta(
        &self,
        inputs: &[TensorMeta],
        outs: &[Vec<TensorMeta>],
    ) -> Result<Vec<TensorMeta>, String> {
        let [body] = outs else {
            return Err(format!("map_impl takes 1 subgraph, got {}", outs.len()));
        };
        let n = inputs
            .first()
            .and_then(|m| m.sizes.first())
            .cloned()
            .ok_or("map_impl needs a mapped tensor with at least one dimension")?;
        Ok(body
            .iter()
            .map(|m| {
                let mut sizes = vec![n.clone()];
                sizes.extend(m.sizes.iter().cloned());
                TensorMeta::new(m.dtype, sizes)
            })
            .collect())
    }

    fn call(
        &self,
        args: &[Value],
        run: RunSubgraph<'_>,
        metas: &[TensorMeta],
        at: SourceLocation,
    ) -> Vec<Tensor> {
        let mapped = tensor_list(args, 0);
        let operands = tensor_list(args, 1);
        map_at(
            &|ops: &[Tensor]| run(0, ops),
            &mapped,
            &operands,
            Some(metas),
            at,
        )
    }

    fn display(&self, arg: &dyn Fn(&Arg) -> String, args: &[Arg], subgraphs: &[String]) -> String {
        let list = |i: usize| {
            let items: Vec<String> = list_nodes(args.get(i))
                .into_iter()
                .map(|n| arg(&Arg::Tensor(n)))
                .collect();
            format!("[{}]", items.join(", "))
        };
        let body = subgraphs.first().cloned().unwrap_or_default();
        format!("map_impl({body}, {}, {})", list(0), list(1))
    }
}
