//! `run_decompositions`: re-traces a program, replacing every op that has a decomposition
//! (and is selected) by the ops it is made of, down to ops that have none — PyTorch's
//! Core ATen opset for the ops ferrex registers (`linear` → `permute` + `addmm`).

use super::{ArgumentSpec, ExportedProgram, InputKind, InputSpec, TensorMap};
use crate::error::{ExportError, SourceLocation, TensorError};
use crate::graph::{
    call_higher_order, interpret, Arg, Evaluator, Graph, HigherOrderOp, Node, NodeKind,
    RunSubgraphOf,
};
use crate::ops::{dispatch, OpArgs, OpDef, Value};
use crate::passes;
use crate::symbolic::SymInt;
use crate::tensor::{Tensor, TensorState};
use crate::trace::{self, LiftedConstant, TraceState};

/// Which ops to decompose.
#[derive(Clone, Default)]
pub enum DecompositionTable {
    /// PyTorch's default table (`torch.export.default_decompositions()`): every op that
    /// has a decomposition, except the Core ATen ops that carry one (`_softmax`,
    /// `_log_softmax`: [`OpDef::core_aten`]), which stay whole.
    #[default]
    Core,
    /// Every op that has a decomposition, Core ATen ones included (`_softmax` becomes
    /// `amax`, `sub`, `exp`, `sum`, `div`).
    All,
    /// Only these ops (`aten::linear.default`, …).
    Only(Vec<String>),
    /// The default table ([`DecompositionTable::Core`]) except these, which stay whole.
    Except(Vec<String>),
    /// Composite ops (their eager implementation is their decomposition) that have no
    /// lowering hook, or whose hook does not take the call (a recurrent layer of a
    /// hidden size or dtype its kernel does not run): what the compiled runtime
    /// decomposes before it plans a program, so that their parts are planned steps.
    UnloweredComposites,
}

impl DecompositionTable {
    /// Whether the table decomposes `op`.
    pub fn selects(&self, op: &OpDef) -> bool {
        if op.decomposition.is_none() {
            return false;
        }
        match self {
            DecompositionTable::Core => !op.core_aten,
            DecompositionTable::All => true,
            DecompositionTable::Only(names) => names.contains(&op.name()),
            DecompositionTable::Except(names) => !op.core_aten && !names.contains(&op.name()),
            DecompositionTable::UnloweredComposites => {
                op.implementation.is_some() && op.lowering.is_none()
            }
        }
    }

    /// Whether the table decomposes the call `node` of `op`: as
    /// [`DecompositionTable::selects`], and for [`DecompositionTable::UnloweredComposites`]
    /// also the calls of a lowered composite whose lowering does not run them
    /// ([`crate::ops::Lowering::runs`]).
    pub fn selects_call(&self, op: &'static OpDef, node: &Node) -> bool {
        match (self, &node.kind) {
            (DecompositionTable::UnloweredComposites, NodeKind::Call { args, .. })
                if op.implementation.is_some() =>
            {
                self.selects(op)
                    || crate::graph::lowering_of(op, args).is_some_and(|l| !l.runs(&node.meta))
            }
            _ => self.selects(op),
        }
    }
}

/// Ends the trace whatever happens.
struct EndTrace;

impl Drop for EndTrace {
    fn drop(&mut self) {
        let _ = trace::end();
    }
}

fn stale() -> ExportError {
    ExportError::Verify("the trace ended while decomposing".into())
}

/// Replays graphs in the active trace: values are traced tensors; an op the table
/// selects runs its decomposition, any other op (and every higher-order op) records
/// itself as it would in a user's `forward`.
struct Decomposer<'t> {
    table: &'t DecompositionTable,
}

impl Evaluator for Decomposer<'_> {
    type Value = Tensor;
    type Error = ExportError;

    fn call(
        &self,
        node: &Node,
        op: &'static OpDef,
        values: &[Value],
    ) -> Result<Vec<Tensor>, ExportError> {
        let at = node.location();
        if !self.table.selects_call(op, node) {
            return Ok(dispatch(op, values.to_vec(), at));
        }
        // The ops a decomposition records are dispatched normally; a later pass picks up
        // what they still contain.
        let decompose = op.decomposition.ok_or_else(stale)?;
        trace::with_location(at, || decompose(&OpArgs::new(op, values))).map_err(|e| {
            ExportError::Op(TensorError::Op {
                op: op.name(),
                message: format!("decomposition failed: {e}"),
                at,
            })
        })
    }

    fn higher_order(
        &self,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: Vec<Value>,
        run: RunSubgraphOf<'_, Tensor, ExportError>,
    ) -> Result<Vec<Tensor>, ExportError> {
        call_higher_order(op, &args, run, &node.meta, node.location())
    }

    fn size(&self, s: &SymInt) -> SymInt {
        s.clone()
    }

    fn malformed(&self, message: String) -> ExportError {
        ExportError::Verify(message)
    }
}

/// Replays `graph`'s nodes in the active trace (its placeholders bound to `inputs`) and
/// returns its outputs as arguments of the new graph.
fn replay(
    graph: &Graph,
    inputs: Vec<Tensor>,
    table: &DecompositionTable,
) -> Result<Vec<Arg>, ExportError> {
    let at = graph
        .nodes
        .last()
        .map_or(SourceLocation::GRAPH, Node::location);
    let outputs = interpret(graph, inputs, &Decomposer { table })?;
    outputs
        .iter()
        .map(|a| {
            a.try_map(|t| {
                if let TensorState::Failed(e) = t.state() {
                    return Err(ExportError::Op((*e).clone()));
                }
                match trace::arg_of(t, at).map_err(ExportError::Op)? {
                    Arg::Tensor(n) => Ok(n),
                    _ => Err(stale()),
                }
            })
        })
        .collect()
}

fn has_selected(graph: &Graph, table: &DecompositionTable) -> bool {
    graph
        .nodes
        .iter()
        .any(|n| n.op().is_some_and(|op| table.selects_call(op, n)))
        || graph
            .subgraphs
            .iter()
            .any(|s| has_selected(&s.graph, table))
}

impl ExportedProgram {
    /// Lowers the program from the export IR to the Core ATen IR, as PyTorch's
    /// `ep.run_decompositions()` with its default table does.
    ///
    /// **Two IRs.** `ferrex::export` gives the *export IR*: functional ATen ops at the
    /// level the model called them, with PyTorch 2.15's composite ops kept whole —
    /// `linear`, `conv1d`/`conv2d`, `batch_norm`, `layer_norm`, `group_norm`,
    /// `scaled_dot_product_attention`, `softmax.int`, `log_softmax.int`, `matmul`,
    /// `flatten.using_ints`, `reshape`, `max_pool2d`, `transpose.int`, `squeeze.dim`,
    /// `sum.default`, `chunk`, `silu`. The *Core ATen IR* is what this returns: each of those replaced,
    /// repeatedly, by what PyTorch's default table makes of it:
    ///
    /// | export IR | Core ATen IR |
    /// |---|---|
    /// | `linear` (2-D input) | `permute` + `addmm` |
    /// | `linear` (other ranks, bias) | `view` + `permute` + `addmm` + `view` |
    /// | `matmul` | `mm`, or `expand` + `view` + `bmm` + `view` |
    /// | `conv1d`, `conv2d` | `convolution` |
    /// | `batch_norm` (inference) | `_native_batch_norm_legit_no_training` + `getitem` |
    /// | `layer_norm`, `group_norm` | `native_layer_norm`, `native_group_norm` + `getitem` |
    /// | `max_pool2d` | `max_pool2d_with_indices` + `getitem` |
    /// | `softmax.int`, `log_softmax.int` | `_softmax`, `_log_softmax` (kept whole) |
    /// | `scaled_dot_product_attention` | `mul.Scalar`, `bmm`, `_softmax`, and the safe-softmax mask (`eq.Scalar`, `logical_not`, `any.dim`, `full_like`, `where.self`) |
    /// | `reshape`, `flatten` | `view` |
    /// | `t`, `transpose.int` | `permute` |
    /// | `squeeze.dim` | `squeeze.dims` |
    /// | `sum.default` | `sum.dim_IntList(x, [])` |
    /// | `chunk`, `split.Tensor` | `split_with_sizes` + `getitem` |
    /// | `silu` | `sigmoid` + `mul.Tensor` |
    /// | `zeros`, `ones`, `arange` | `full`, `arange.start_step` |
    /// | `tril`, `triu` | `arange.start_step` + `unsqueeze` + `sub` + `le`/`ge` + `logical_and`/`where` |
    ///
    /// Ops of the Core ATen opset that have a decomposition (`_softmax`, marked with
    /// [`OpDef::core_aten`]) stay whole; [`DecompositionTable::All`] decomposes them too.
    /// The program computes the same values (within float rounding) either way.
    ///
    /// ```
    /// use ferrex::prelude::*;
    ///
    /// #[export_module]
    /// struct M { lin: nn::Linear }
    ///
    /// #[export_module]
    /// impl M {
    ///     fn forward(&self, x: &Tensor) -> Tensor { self.lin.forward(x).softmax(-1) }
    /// }
    ///
    /// let ep = ferrex::export(&M { lin: nn::Linear::new(4, 3) }, (Tensor::randn([2, 4]),))?;
    /// assert_eq!(ep.op_targets(), ["aten::linear.default", "aten::softmax.int"]);
    /// let core = ep.run_decompositions()?;
    /// assert_eq!(
    ///     core.op_targets(),
    ///     ["aten::permute.default", "aten::addmm.default", "aten::_softmax.default"]
    /// );
    /// # Ok::<(), ferrex::ExportError>(())
    /// ```
    pub fn run_decompositions(&self) -> Result<ExportedProgram, ExportError> {
        self.run_decompositions_with(&DecompositionTable::Core)
    }

    /// Decomposes the ops `table` selects.
    pub fn run_decompositions_with(
        &self,
        table: &DecompositionTable,
    ) -> Result<ExportedProgram, ExportError> {
        let mut ep = self.decompose_once(table)?;
        // A decomposition may produce ops that themselves decompose (linear → t → permute).
        for _ in 0..16 {
            if !has_selected(&ep.graph, table) {
                break;
            }
            ep = ep.decompose_once(table)?;
        }
        Ok(ep)
    }

    fn decompose_once(&self, table: &DecompositionTable) -> Result<ExportedProgram, ExportError> {
        let (state, n_placeholders) = self.retrace(table)?;
        let mut graph = state.graph;
        let first_user = self.first_user_input(n_placeholders);
        // Constants a decomposition created become constant inputs, before the user inputs.
        order_placeholders(&mut graph, n_placeholders, first_user);
        let mut constants = self.constants.clone();
        let lifted = lift_constants(&state.lifted, &mut constants);
        let names = self.placeholder_names(&lifted, first_user);
        let input_specs = self.merged_input_specs(lifted, first_user);

        passes::functionalize(&mut graph);
        passes::eliminate_dead_code(&mut graph);
        passes::name_sym_values(&mut graph);
        passes::assign_names(&mut graph, &names);
        passes::keep_sym_names(&mut graph, &self.graph);
        passes::verify(&graph).map_err(ExportError::Verify)?;

        let mut signature = self.signature.clone();
        signature.input_specs = input_specs;
        for (spec, arg) in signature.output_specs.iter_mut().zip(graph.outputs()) {
            if let (ArgumentSpec::Tensor { name }, Arg::Tensor(n)) = (&mut spec.arg, arg) {
                *name = graph.node(*n).name.clone();
            }
        }
        Ok(ExportedProgram {
            graph,
            signature,
            state_dict: self.state_dict.clone(),
            constants,
            range_constraints: self.range_constraints.clone(),
            guards: self.guards.clone(),
            shape_env: self.shape_env.clone(),
            sources: self.sources.clone(),
            arg_names: self.arg_names.clone(),
            model_name: self.model_name.clone(),
            assumed_constants: self.assumed_constants.clone(),
            state_lock: self.state_lock.clone(),
            interpreter: Default::default(),
        })
    }

    /// Replays the graph under a fresh trace, decomposing the ops `table` selects; the
    /// trace and the number of the program's own placeholders.
    fn retrace(&self, table: &DecompositionTable) -> Result<(TraceState, usize), ExportError> {
        if trace::begin().is_none() {
            return Err(ExportError::Nested);
        }
        let _end = EndTrace;
        trace::declare_symbol_ranges(self.shape_env());
        let mut inputs = Vec::new();
        for (_, node) in self.graph.placeholders() {
            let meta = node.meta.first().cloned().ok_or_else(stale)?;
            let t = Tensor::from_storage(crate::tensor::Storage::full(&[], 0.0, meta.dtype));
            trace::add_placeholder(&t, meta).ok_or_else(stale)?;
            inputs.push(t);
        }
        let n_placeholders = inputs.len();
        let outputs = replay(&self.graph, inputs, table)?;
        trace::push_output(outputs).ok_or_else(stale)?;
        let state = trace::end().ok_or_else(stale)?;
        if let Some(issue) = state.issues.first() {
            return Err(trace::issue_error(issue, &[]));
        }
        Ok((state, n_placeholders))
    }

    /// The position of the first user input among the tensor inputs.
    fn first_user_input(&self, n_placeholders: usize) -> usize {
        self.signature
            .input_specs
            .iter()
            .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
            .position(|s| s.kind == InputKind::UserInput)
            .unwrap_or(n_placeholders)
    }

    /// The names of the placeholders: the program's, with the lifted constants' before
    /// the first user input.
    fn placeholder_names(&self, lifted: &[InputSpec], first_user: usize) -> Vec<String> {
        let mut names: Vec<String> = self
            .graph
            .placeholders()
            .map(|(_, n)| n.name.clone())
            .collect();
        let split = first_user.min(names.len());
        let tail = names.split_off(split);
        names.extend(lifted.iter().map(|s| s.arg.name().to_string()));
        names.extend(tail);
        names
    }

    /// The program's input specs with `lifted` inserted before the first user input
    /// (appended when there is none).
    fn merged_input_specs(&self, mut lifted: Vec<InputSpec>, first_user: usize) -> Vec<InputSpec> {
        let mut input_specs: Vec<InputSpec> = Vec::new();
        let mut seen_tensors = 0;
        for s in &self.signature.input_specs {
            let is_tensor = !matches!(s.arg, ArgumentSpec::Constant { .. });
            if is_tensor && seen_tensors == first_user {
                input_specs.append(&mut lifted);
            }
            if is_tensor {
                seen_tensors += 1;
            }
            input_specs.push(s.clone());
        }
        input_specs.extend(lifted);
        input_specs
    }
}

/// Orders the placeholders of a re-traced graph as the signature lists them: the
/// program's state, then the lifted constants (traced last), then the user inputs;
/// every other node follows.
fn order_placeholders(graph: &mut Graph, n_placeholders: usize, first_user: usize) {
    let placeholder_ids: Vec<_> = graph.placeholders().map(|(id, _)| id).collect();
    let (original, lifted) = placeholder_ids.split_at(n_placeholders.min(placeholder_ids.len()));
    let mut order: Vec<crate::graph::NodeId> = original[..first_user.min(original.len())].to_vec();
    order.extend_from_slice(lifted);
    order.extend_from_slice(&original[first_user.min(original.len())..]);
    let rest: Vec<_> = (0..graph.nodes.len())
        .map(crate::graph::NodeId)
        .filter(|id| !graph.node(*id).is_placeholder())
        .collect();
    order.extend(rest);
    graph.reorder(&order);
}

/// Adds the constants a decomposition created to `constants` (numbered after the
/// existing ones); their input specs.
fn lift_constants(lifted: &[LiftedConstant], constants: &mut TensorMap) -> Vec<InputSpec> {
    let existing = constants.len();
    let mut specs = Vec::new();
    for (k, l) in lifted.iter().enumerate() {
        let target = format!("lifted_tensor_{}", existing + k);
        constants.insert(target.clone(), Tensor::from_storage(l.storage.clone()));
        specs.push(InputSpec {
            kind: InputKind::ConstantTensor,
            arg: ArgumentSpec::Tensor {
                name: format!("c_{target}"),
            },
            target: Some(target),
            persistent: None,
        });
    }
    specs
}
