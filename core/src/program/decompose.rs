//! `run_decompositions`: re-traces a program, replacing every op that has a decomposition
//! (and is selected) by the ops it is made of, down to ops that have none — PyTorch's
//! Core ATen opset for the ops ferrex registers (`linear` → `permute` + `addmm`).

use super::{ArgumentSpec, ExportedProgram, InputKind, InputSpec};
use crate::error::{ExportError, TensorError};
use crate::graph::{Arg, Graph, NodeKind, Subgraph};
use crate::ops::{dispatch, OpArgs, OpDef, Value};
use crate::passes;
use crate::tensor::{Tensor, TensorState};
use crate::trace;

/// Which ops to decompose.
#[derive(Clone, Default)]
pub enum DecompositionTable {
    /// Every op that has a decomposition (the default, like PyTorch's Core ATen table).
    #[default]
    All,
    /// Only these ops (`aten::linear.default`, …).
    Only(Vec<String>),
    /// Every op with a decomposition except these, which stay whole.
    Except(Vec<String>),
}

impl DecompositionTable {
    fn selects(&self, op: &OpDef) -> bool {
        if op.decomposition.is_none() {
            return false;
        }
        match self {
            DecompositionTable::All => true,
            DecompositionTable::Only(names) => names.contains(&op.name()),
            DecompositionTable::Except(names) => !names.contains(&op.name()),
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

fn value_of(env: &[Option<Vec<Tensor>>], a: &Arg) -> Result<Value, ExportError> {
    let mut get = |id: crate::graph::NodeId| -> Result<Tensor, ExportError> {
        env.get(id.0)
            .and_then(|v| v.as_ref())
            .and_then(|v| v.first().cloned())
            .ok_or_else(|| {
                ExportError::Verify(format!("node {} is read before it is computed", id.0))
            })
    };
    a.to_value(&mut get, &|i| i.clone())
}

/// Replays `graph`'s nodes in the active trace (its placeholders bound to `inputs`) and
/// returns the values of its outputs.
fn replay(
    graph: &Graph,
    inputs: Vec<Tensor>,
    table: &DecompositionTable,
) -> Result<Vec<Arg>, ExportError> {
    let mut env: Vec<Option<Vec<Tensor>>> = vec![None; graph.nodes.len()];
    let mut inputs = inputs.into_iter();
    for (id, _) in graph.placeholders() {
        env[id.0] = Some(vec![inputs.next().ok_or_else(stale)?]);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let at = node.source.unwrap_or(crate::error::SourceLocation {
            file: "<graph>",
            line: 0,
            column: 0,
        });
        match &node.kind {
            NodeKind::Placeholder => {}
            NodeKind::Call { op, args } => {
                let values = args
                    .iter()
                    .map(|a| value_of(&env, a))
                    .collect::<Result<Vec<_>, _>>()?;
                let out = if table.selects(op) {
                    let decompose = op.decomposition.ok_or_else(stale)?;
                    trace::with_location(at, || decompose(&OpArgs::new(op, &values))).map_err(
                        |e| {
                            ExportError::Op(TensorError::Op {
                                op: op.name(),
                                message: format!("decomposition failed: {e}"),
                                at,
                            })
                        },
                    )?
                } else {
                    dispatch(op, values, at)
                };
                // Decompositions of decompositions: the ops recorded above were
                // dispatched normally; a second pass picks up what they still contain.
                env[i] = Some(out);
            }
            NodeKind::GetItem { source, index } => {
                let v = env[source.0]
                    .as_ref()
                    .and_then(|v| v.get(*index).cloned())
                    .ok_or_else(stale)?;
                env[i] = Some(vec![v]);
            }
            NodeKind::Cond {
                pred,
                true_graph,
                false_graph,
                operands,
            } => {
                let pred = value_of(&env, pred)?;
                let pred = match pred {
                    Value::Tensor(t) => trace::arg_of(&t, at).map_err(ExportError::Op)?,
                    _ => return Err(stale()),
                };
                let mut operand_tensors = Vec::new();
                let mut operand_args = Vec::new();
                for a in operands {
                    match value_of(&env, a)? {
                        Value::Tensor(t) => {
                            operand_args.push(trace::arg_of(&t, at).map_err(ExportError::Op)?);
                            operand_tensors.push(t);
                        }
                        _ => return Err(stale()),
                    }
                }
                let metas = operand_tensors
                    .iter()
                    .map(|t| t.meta().map_err(ExportError::Op))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut branches = Vec::new();
                for index in [true_graph, false_graph] {
                    let sub = graph.subgraphs.get(*index).ok_or_else(stale)?;
                    let inputs = trace::begin_subgraph(&metas).ok_or_else(stale)?;
                    let outs = replay(&sub.graph, inputs, table)?;
                    let frame = trace::end_subgraph(outs).ok_or_else(stale)?;
                    branches.push(Subgraph {
                        name: String::new(),
                        graph: frame.graph,
                    });
                }
                let (f, t) = (
                    branches.pop().ok_or_else(stale)?,
                    branches.pop().ok_or_else(stale)?,
                );
                let (ti, fi) = trace::add_subgraphs(t, f).ok_or_else(stale)?;
                let kind = NodeKind::Cond {
                    pred,
                    true_graph: ti,
                    false_graph: fi,
                    operands: operand_args,
                };
                env[i] = Some(trace::record_node(kind, node.meta.clone(), at).ok_or_else(stale)?);
            }
            NodeKind::Map {
                body,
                mapped,
                operands,
            } => {
                let mut metas = Vec::new();
                let mut mapped_args = Vec::new();
                let mut operand_args = Vec::new();
                for (k, a) in mapped.iter().chain(operands).enumerate() {
                    let t = match value_of(&env, a)? {
                        Value::Tensor(t) => t,
                        _ => return Err(stale()),
                    };
                    let mut meta = t.meta().map_err(ExportError::Op)?;
                    let arg = trace::arg_of(&t, at).map_err(ExportError::Op)?;
                    if k < mapped.len() {
                        meta.sizes.remove(0);
                        mapped_args.push(arg);
                    } else {
                        operand_args.push(arg);
                    }
                    metas.push(meta);
                }
                let sub = graph.subgraphs.get(*body).ok_or_else(stale)?;
                let inputs = trace::begin_subgraph(&metas).ok_or_else(stale)?;
                let outs = replay(&sub.graph, inputs, table)?;
                let frame = trace::end_subgraph(outs).ok_or_else(stale)?;
                let index = trace::add_subgraph(Subgraph {
                    name: String::new(),
                    graph: frame.graph,
                })
                .ok_or_else(stale)?;
                let kind = NodeKind::Map {
                    body: index,
                    mapped: mapped_args,
                    operands: operand_args,
                };
                env[i] = Some(trace::record_node(kind, node.meta.clone(), at).ok_or_else(stale)?);
            }
            NodeKind::Output { args } => {
                let mut outs = Vec::new();
                for a in args {
                    outs.push(match a {
                        Arg::Node(_) => match value_of(&env, a)? {
                            Value::Tensor(t) => {
                                if let TensorState::Failed(e) = t.state() {
                                    return Err(ExportError::Op((*e).clone()));
                                }
                                trace::arg_of(&t, at).map_err(ExportError::Op)?
                            }
                            _ => return Err(stale()),
                        },
                        other => other.clone(),
                    });
                }
                return Ok(outs);
            }
        }
    }
    Err(ExportError::Verify("the graph has no output node".into()))
}

fn has_selected(graph: &Graph, table: &DecompositionTable) -> bool {
    graph
        .nodes
        .iter()
        .any(|n| n.op().is_some_and(|op| table.selects(op)))
        || graph
            .subgraphs
            .iter()
            .any(|s| has_selected(&s.graph, table))
}

impl ExportedProgram {
    /// Decomposes every op that has a decomposition (PyTorch's `run_decompositions()`
    /// with the default Core ATen table), repeatedly, until none is left.
    pub fn run_decompositions(&self) -> Result<ExportedProgram, ExportError> {
        self.run_decompositions_with(&DecompositionTable::All)
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
        if trace::begin().is_none() {
            return Err(ExportError::Nested);
        }
        let _end = EndTrace;
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
        let mut graph = state.graph;

        // Constants a decomposition created become constant inputs, before the user inputs.
        let mut constants = self.constants.clone();
        let mut input_specs: Vec<InputSpec> = Vec::new();
        let first_user = self
            .signature
            .input_specs
            .iter()
            .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
            .position(|s| s.kind == InputKind::UserInput)
            .unwrap_or(n_placeholders);
        let placeholder_ids: Vec<_> = graph.placeholders().map(|(id, _)| id).collect();
        let (original, lifted) =
            placeholder_ids.split_at(n_placeholders.min(placeholder_ids.len()));
        let mut order: Vec<crate::graph::NodeId> =
            original[..first_user.min(original.len())].to_vec();
        order.extend_from_slice(lifted);
        order.extend_from_slice(&original[first_user.min(original.len())..]);
        let existing = self.constants.len();
        let mut names: Vec<String> = self
            .graph
            .placeholders()
            .map(|(_, n)| n.name.clone())
            .collect();
        let mut lifted_specs = Vec::new();
        for (k, l) in state.lifted.iter().enumerate() {
            let target = format!("lifted_tensor_{}", existing + k);
            constants.insert(target.clone(), Tensor::from_storage(l.storage.clone()));
            lifted_specs.push(InputSpec {
                kind: InputKind::ConstantTensor,
                arg: ArgumentSpec::Tensor {
                    name: format!("c_{target}"),
                },
                target: Some(target),
                persistent: None,
            });
        }
        let lifted_names: Vec<String> = lifted_specs
            .iter()
            .map(|s| s.arg.name().to_string())
            .collect();
        let split = first_user.min(names.len());
        let tail = names.split_off(split);
        names.extend(lifted_names);
        names.extend(tail);
        let mut spec_iter = self.signature.input_specs.iter();
        let mut seen_tensors = 0;
        for s in spec_iter.by_ref() {
            let is_tensor = !matches!(s.arg, ArgumentSpec::Constant { .. });
            if is_tensor && seen_tensors == first_user {
                input_specs.append(&mut lifted_specs);
                input_specs.push(s.clone());
                seen_tensors += 1;
                continue;
            }
            if is_tensor {
                seen_tensors += 1;
            }
            input_specs.push(s.clone());
        }
        input_specs.extend(lifted_specs);
        let rest: Vec<_> = (0..graph.nodes.len())
            .map(crate::graph::NodeId)
            .filter(|id| !graph.node(*id).is_placeholder())
            .collect();
        order.extend(rest);
        graph.reorder(&order);

        passes::functionalize(&mut graph);
        passes::eliminate_dead_code(&mut graph);
        passes::assign_names(&mut graph, &names);
        passes::verify(&graph).map_err(ExportError::Verify)?;

        let mut signature = self.signature.clone();
        signature.input_specs = input_specs;
        for (spec, arg) in signature.output_specs.iter_mut().zip(graph.outputs()) {
            if let (ArgumentSpec::Tensor { name }, Arg::Node(n)) = (&mut spec.arg, arg) {
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
        })
    }
}
