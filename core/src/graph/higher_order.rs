//! Higher-order ops: ops that take subgraphs (`cond`, `map_impl`). Every consumer of the
//! IR — printing, naming, verification, serialization, the interpreter, the runtime —
//! goes through [`HigherOrderOp`], so a new one (`while_loop`) is one implementation of
//! the trait plus its entry in [`crate::control_flow::higher_order_ops`].

use super::{Arg, NodeId, RunSubgraphOf};
use crate::error::SourceLocation;
use crate::tensor::{Tensor, TensorMeta};

/// One parameter of a higher-order op, in its serialized (PyTorch) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HopParam {
    /// The node's subgraph with this index (`true_fn`: 0).
    Graph { name: &'static str, index: usize },
    /// The node's argument with this index (`pred`: 0, `operands`: 1).
    Value { name: &'static str, index: usize },
}

/// Runs one of the node's subgraphs on inputs: the interpreter, eager or tracing.
pub type RunSubgraph<'a> = &'a dyn Fn(usize, &[Tensor]) -> Vec<Tensor>;

/// What ferrex knows about one higher-order op.
pub trait HigherOrderOp: Sync + 'static {
    /// The node's base name and printed target: `cond`, `map_impl`.
    fn name(&self) -> &'static str;

    /// The serialized target: `higher_order::cond`.
    fn target(&self) -> &'static str;

    /// The parameters in serialized order.
    fn params(&self) -> &'static [HopParam];

    /// What each subgraph is called in the printed program (`true_graph`), numbered
    /// per op in graph order (`true_graph_0`).
    fn subgraph_roles(&self) -> &'static [&'static str];

    /// The values passed to the placeholders of every subgraph, in order.
    fn subgraph_inputs(&self, args: &[Arg]) -> Vec<NodeId>;

    /// For each subgraph input, whether it receives the argument's value unchanged (a
    /// constant stays a constant inside) rather than a slice of it (`map`'s mapped).
    fn passes_whole(&self, args: &[Arg]) -> Vec<bool> {
        vec![true; self.subgraph_inputs(args).len()]
    }

    /// The node's output metas, from the metas of its subgraph inputs and of each
    /// subgraph's outputs; an error says what does not fit.
    fn meta(
        &self,
        inputs: &[TensorMeta],
        subgraph_outputs: &[Vec<TensorMeta>],
    ) -> Result<Vec<TensorMeta>, String>;

    /// Runs the op on values — eagerly, or while tracing, where it records itself — with
    /// `run` interpreting a subgraph. `metas` are the node's recorded output metas (sizes
    /// bound, when running), for results no subgraph run produces (`map` over no
    /// slices). Failures are failed tensors, as for every op.
    fn call(
        &self,
        args: &[crate::ops::Value],
        run: RunSubgraph<'_>,
        metas: &[TensorMeta],
        at: SourceLocation,
    ) -> Vec<Tensor>;

    /// The call as printed: `cond(gt, true_graph_0, false_graph_0, (x,))`. `arg` renders
    /// one value; `subgraphs` are the subgraphs' names.
    fn display(&self, arg: &dyn Fn(&Arg) -> String, args: &[Arg], subgraphs: &[String]) -> String;
}

impl std::fmt::Debug for dyn HigherOrderOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HigherOrderOp({})", self.name())
    }
}

/// The tensors of a list argument (operands), as node ids.
pub fn list_nodes(arg: Option<&Arg>) -> Vec<NodeId> {
    arg.map(Arg::nodes).unwrap_or_default()
}

/// Calls `op` with `run` as its subgraph runner, from any evaluator (the interpreter,
/// decomposition, the compiled runtime): the first error a subgraph run returns is
/// returned as such, not as the failed tensors the op sees.
pub fn call_higher_order<E>(
    op: &'static dyn HigherOrderOp,
    args: &[crate::ops::Value],
    run: RunSubgraphOf<'_, Tensor, E>,
    metas: &[TensorMeta],
    at: SourceLocation,
) -> Result<Vec<Tensor>, E> {
    let first_error = std::cell::RefCell::new(None);
    let run_subgraph = |k: usize, inputs: &[Tensor]| match run(k, inputs.to_vec()) {
        Ok(out) => out,
        Err(e) => {
            first_error.borrow_mut().get_or_insert(e);
            let failed = crate::error::TensorError::Op {
                op: op.name().into(),
                message: "a subgraph failed".into(),
                at,
            };
            vec![Tensor::failed(failed); metas.len().max(1)]
        }
    };
    let out = op.call(args, &run_subgraph, metas, at);
    match first_error.into_inner() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
