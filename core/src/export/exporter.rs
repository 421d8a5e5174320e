//! `ferrex::export`: trace a model's forward once and build its [`ExportedProgram`].

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::constraints;
use super::dynamic::{Dim, DynamicShapes};
use crate::error::ExportError;
use crate::graph::{Arg, Graph, Node, NodeId, NodeKind};
use crate::module::{
    Collector, Forward, ForwardArgs, InputLeaf, LeafValue, OutputLeaf, Outputs, SourceLine,
    StateKind,
};
use crate::passes;
use crate::program::{
    ArgumentSpec, ConstantValue, ExportGraphSignature, ExportedProgram, InputKind, InputSpec,
    OutputKind, OutputSpec, RangeConstraints, TensorMap,
};
use crate::symbolic::{Expr, ShapeEnv, SymInt, Symbol, SymbolInfo, SymbolSource};
use crate::tensor::{Storage, Tensor, TensorMeta, TensorState};
use crate::trace::{self, code_at, report_issues, AssumedConstant, TraceState};

/// Exports `model` traced with the example `args`: one static, functional graph of
/// ATen-level ops, its signature, and the model's state.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[export_module]
/// struct Double {}
///
/// #[export_module]
/// impl Double {
///     fn forward(&self, x: &Tensor) -> Tensor {
///         x * 2.0
///     }
/// }
///
/// let ep = ferrex::export(&Double {}, (Tensor::ones([2, 3]),))?;
/// assert_eq!(ep.graph().nodes.len(), 3); // x, mul, output
/// let out = ep.module().call((Tensor::ones([2, 3]),))?;
/// assert_eq!(out[0].to_vec::<f32>()?, vec![2.0; 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export<M: Forward>(model: &M, args: M::Args) -> Result<ExportedProgram, ExportError> {
    Exporter::new(model, args).run()
}

/// An export with options:
/// `Exporter::new(&model, args).dynamic_shapes(shapes).run()`.
pub struct Exporter<'m, M: Forward> {
    model: &'m M,
    args: M::Args,
    dynamic_shapes: DynamicShapes,
}

/// The role of a placeholder, decided when it is created.
struct Role {
    kind: InputKind,
    /// State-dict / constants key, or the user input's name.
    name: String,
    persistent: Option<bool>,
    /// The handle whose value the placeholder stands for (mutations are read off it).
    tensor: Tensor,
    storage: Storage,
    node: NodeId,
}

/// Puts every tensor that tracing touched back to its eager value, whatever happens,
/// and ends the trace.
struct Restore {
    entries: Vec<(Tensor, TensorState)>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        for (t, s) in self.entries.drain(..) {
            t.set_state(s);
        }
        let _ = trace::end();
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without message".to_string()
    }
}

impl<'m, M: Forward> Exporter<'m, M> {
    pub fn new(model: &'m M, args: M::Args) -> Self {
        Exporter {
            model,
            args,
            dynamic_shapes: DynamicShapes::default(),
        }
    }

    /// Declares which input dims are dynamic; all others are static.
    pub fn dynamic_shapes(mut self, shapes: DynamicShapes) -> Self {
        self.dynamic_shapes = shapes;
        self
    }

    pub fn run(self) -> Result<ExportedProgram, ExportError> {
        // Strict models are traced twice and the programs compared (`purity.rs`).
        let again = self
            .model
            .__ferrex_retrace_args(&self.args)
            .map(|args| Exporter {
                model: self.model,
                args,
                dynamic_shapes: self.dynamic_shapes.clone(),
            });
        let ep = self.trace_once()?;
        if let Some(again) = again {
            super::purity::compare(&ep, &again.trace_once()?)?;
        }
        Ok(ep)
    }

    /// One trace of `forward`: placeholders for the state and the inputs, the call,
    /// mutations and outputs read off the handles, constraints checked, program built.
    fn trace_once(self) -> Result<ExportedProgram, ExportError> {
        let Exporter {
            model,
            args,
            dynamic_shapes,
        } = self;
        trace::log::init_from_env();
        if trace::begin().is_none() {
            return Err(ExportError::Nested);
        }
        let mut restore = Restore {
            entries: Vec::new(),
        };
        let collected = Collector::collect(model);
        let roles = state_placeholders(&collected, &mut restore)?;
        let mut leaves = Vec::new();
        args.flatten_named(model.arg_names(), &mut leaves);
        let inputs = user_placeholders(&leaves, &dynamic_shapes, &roles, &mut restore)?;
        trace::declare_symbol_ranges(&inputs.env);
        let out_leaves = run_forward(model, args, &restore, &collected)?;
        let mutations = read_mutations(roles.iter().chain(inputs.roles.iter()))?;
        let user_outputs = out_leaves
            .iter()
            .map(output_arg)
            .collect::<Result<Vec<_>, _>>()?;

        let trace = trace::end().ok_or(ExportError::Nested)?;
        drop(restore);
        let UserInputs {
            roles: user_roles,
            mut env,
            input_sizes,
            constant_inputs,
        } = inputs;
        log_guards(&trace, &env, &collected.sources);
        report_issues(&trace, &collected.sources)?;
        add_unbacked_symbols(&trace, &mut env);
        let report = constraints::check(&env, &trace.guards, &input_sizes);
        if !report.violations.is_empty() {
            return Err(ExportError::ConstraintViolation {
                dims: report.dims,
                violations: report.violations,
                fixes: report.fixes,
            });
        }

        build_program(BuildInput {
            trace,
            roles,
            user_roles,
            constant_inputs,
            mutations,
            user_outputs,
            sources: collected.sources,
            shape_env: env,
            ranges: report.ranges,
            runtime_guards: report.runtime_guards,
            arg_names: model.arg_names().iter().map(|s| s.to_string()).collect(),
            model_name: model.type_name().to_string(),
        })
    }
}

/// Model state becomes placeholders: parameters, buffers, constants, in that order.
fn state_placeholders(
    collected: &Collector,
    restore: &mut Restore,
) -> Result<Vec<Role>, ExportError> {
    let rank = |k: StateKind| match k {
        StateKind::Parameter => 0,
        StateKind::Buffer { .. } => 1,
        StateKind::Constant => 2,
    };
    let mut state = collected.tensors.clone();
    state.sort_by_key(|e| rank(e.kind));
    let mut roles = Vec::new();
    for e in state {
        let storage = eager_storage(&e.tensor, &e.name)?;
        restore
            .entries
            .push((e.tensor.clone(), TensorState::Eager(storage.clone())));
        let (kind, persistent) = match e.kind {
            StateKind::Parameter => (InputKind::Parameter, None),
            StateKind::Buffer { persistent } => (InputKind::Buffer, Some(persistent)),
            StateKind::Constant => (InputKind::ConstantTensor, None),
        };
        let node = placeholder(&e.tensor, &storage)?;
        roles.push(Role {
            kind,
            name: e.name,
            persistent,
            tensor: e.tensor,
            storage,
            node,
        });
    }
    Ok(roles)
}

/// The user inputs as placeholders: tensors with their symbolic sizes, other values as
/// constant inputs.
struct UserInputs {
    roles: Vec<Role>,
    env: ShapeEnv,
    /// The symbolic input sizes, in input order (for the range constraints).
    input_sizes: Vec<Expr>,
    constant_inputs: Vec<(usize, String, ConstantValue)>,
}

fn user_placeholders(
    leaves: &[InputLeaf],
    dynamic_shapes: &DynamicShapes,
    state_roles: &[Role],
    restore: &mut Restore,
) -> Result<UserInputs, ExportError> {
    for (name, _) in &dynamic_shapes.inputs {
        if !leaves.iter().any(|l| &l.path == name) {
            let known: Vec<&str> = leaves.iter().map(|l| l.path.as_str()).collect();
            return Err(ExportError::DynamicShapes(format!(
                "dynamic_shapes names `{name}`, which is not an input (inputs: {})",
                known.join(", ")
            )));
        }
    }
    let mut inputs = UserInputs {
        roles: Vec::new(),
        env: ShapeEnv::default(),
        input_sizes: Vec::new(),
        constant_inputs: Vec::new(),
    };
    for (position, leaf) in leaves.iter().enumerate() {
        let LeafValue::Tensor(t) = &leaf.value else {
            let value = constant_of(&leaf.value);
            inputs
                .constant_inputs
                .push((position, leaf.path.clone(), value));
            continue;
        };
        if let Some((other, _)) = restore.entries.iter().find(|(o, _)| o.same_tensor(t)) {
            let other_name = state_roles
                .iter()
                .chain(inputs.roles.iter())
                .find(|r: &&Role| r.tensor.same_tensor(other))
                .map(|r| r.name.clone())
                .unwrap_or_default();
            return Err(ExportError::AliasedInputs(other_name, leaf.path.clone()));
        }
        let storage = eager_storage(t, &leaf.path)?;
        restore
            .entries
            .push((t.clone(), TensorState::Eager(storage.clone())));
        let dims = dynamic_shapes.dims_of(&leaf.path);
        let meta = symbolic_meta(&leaf.path, &storage, dims, &mut inputs.env)?;
        let symbolic = meta.sizes.iter().filter(|s| s.is_symbolic());
        inputs.input_sizes.extend(symbolic.map(SymInt::expr));
        let node = trace::add_placeholder(t, meta).ok_or(ExportError::Nested)?;
        inputs.roles.push(Role {
            kind: InputKind::UserInput,
            name: leaf.path.clone(),
            persistent: None,
            tensor: t.clone(),
            storage,
            node,
        });
    }
    Ok(inputs)
}

/// Calls `forward` in the active trace and returns its flattened outputs.
/// `assume_constant` helpers read the example values.
fn run_forward<M: Forward + ?Sized>(
    model: &M,
    args: M::Args,
    restore: &Restore,
    collected: &Collector,
) -> Result<Vec<OutputLeaf>, ExportError> {
    trace::with_state(|s| {
        s.examples = restore
            .entries
            .iter()
            .filter_map(|(t, state)| match state {
                TensorState::Eager(storage) => Some((t.clone(), storage.clone())),
                _ => None,
            })
            .collect();
    });
    let output = match catch_unwind(AssertUnwindSafe(|| model.forward_args(args))) {
        Ok(output) => output,
        Err(p) => {
            // A panic after a read of tensor data (`x.item::<f32>().unwrap()` in a
            // non-strict forward) is caused by the read: report the read, with its
            // file, line and code.
            if let Some(trace) = trace::end() {
                report_issues(&trace, &collected.sources)?;
            }
            return Err(ExportError::Panicked(panic_message(&*p)));
        }
    };
    let mut out_leaves = Vec::new();
    output.flatten_outputs(&mut out_leaves);
    Ok(out_leaves)
}

/// Mutations read off the handles before they are restored: a buffer or input whose
/// handle now points at another node was written by `forward`.
fn read_mutations<'r>(
    roles: impl Iterator<Item = &'r Role>,
) -> Result<Vec<(OutputKind, NodeId, String)>, ExportError> {
    let mut mutations = Vec::new();
    for r in roles {
        match r.tensor.state() {
            TensorState::Traced(t) if t.node != r.node => match r.kind {
                InputKind::Buffer => {
                    mutations.push((OutputKind::BufferMutation, t.node, r.name.clone()))
                }
                InputKind::UserInput => {
                    mutations.push((OutputKind::UserInputMutation, t.node, r.name.clone()))
                }
                _ => return Err(ExportError::ParameterMutated(r.name.clone())),
            },
            TensorState::Failed(e) => return Err(ExportError::Op((*e).clone())),
            _ => {}
        }
    }
    Ok(mutations)
}

/// Each guard with the line that needed it, for `FERREX_LOG="+dynamic"`.
fn log_guards(trace: &TraceState, env: &ShapeEnv, sources: &[SourceLine]) {
    for (guard, at) in trace.guards.iter().zip(&trace.guard_sites) {
        let text = format!(
            "{} {} {}",
            env.render(&guard.lhs),
            guard.op.symbol(),
            env.render(&guard.rhs)
        );
        trace::log::guard_added(&text, *at, &code_at(sources, *at));
    }
}

/// Unbacked symbols join the shape environment with the ranges the checks gave, so
/// they print in the range constraints (`u0: VR[0, 5]`).
fn add_unbacked_symbols(trace: &TraceState, env: &mut ShapeEnv) {
    for u in &trace.unbacked {
        env.symbols.push(SymbolInfo {
            symbol: u.symbol,
            dim_name: u.symbol.to_string(),
            min: u.min.unwrap_or(i64::MIN),
            max: u.max,
            hint: 0,
            sources: Vec::new(),
        });
    }
}

fn eager_storage(t: &Tensor, name: &str) -> Result<Storage, ExportError> {
    match t.state() {
        TensorState::Eager(s) => Ok(s),
        TensorState::Traced(_) => Err(ExportError::BadState {
            name: name.to_string(),
            reason: "it is a traced tensor of another export".into(),
        }),
        TensorState::Failed(e) => Err(ExportError::BadState {
            name: name.to_string(),
            reason: format!("it holds the error of an earlier computation: {e}"),
        }),
    }
}

/// The root dim of `dim`, its map `(scale, offset)`, and the root's value that gives
/// `size` to dim `d` of input `name`.
fn root_value<'d>(
    name: &str,
    d: usize,
    size: i64,
    dim: &'d Dim,
) -> Result<(&'d Dim, i64, i64, i64), ExportError> {
    let (root, scale, offset) = dim.root_and_map();
    if scale <= 0 {
        return Err(ExportError::DynamicShapes(format!(
            "`{dim}` (for {name}.size()[{d}]): a derived dim needs a positive scale"
        )));
    }
    let Some(shifted) = size.checked_sub(offset) else {
        return Err(ExportError::DynamicShapes(format!(
            "{name}.size()[{d}] = {size} cannot be {dim}: the offset overflows"
        )));
    };
    if shifted % scale != 0 {
        return Err(ExportError::DynamicShapes(format!(
            "{name}.size()[{d}] = {size} cannot be {dim} for any integer `{}`",
            root.name
        )));
    }
    Ok((root, scale, offset, shifted / scale))
}

/// The meta of an input, with a symbol for every dim `dynamic_shapes` marks dynamic.
fn symbolic_meta(
    name: &str,
    s: &Storage,
    dims: &[(usize, Dim)],
    env: &mut ShapeEnv,
) -> Result<TensorMeta, ExportError> {
    let mut meta = TensorMeta::from_shape(s.dtype(), s.shape());
    for (d, dim) in dims {
        let size = *s.shape().get(*d).ok_or_else(|| {
            ExportError::DynamicShapes(format!(
                "dynamic_shapes gives dim {d} of `{name}`, which has only {} dims",
                s.shape().len()
            ))
        })? as i64;
        let (root, scale, offset, value) = root_value(name, *d, size, dim)?;
        let symbol = match env.symbols.iter_mut().find(|i| i.dim_name == root.name) {
            Some(info) => {
                if info.hint != value {
                    return Err(ExportError::DynamicShapes(format!(
                        "{name}.size()[{d}] = {size} gives `{}` = {value}, but another input gives it {}",
                        root.name, info.hint
                    )));
                }
                info.sources.push(SymbolSource {
                    input: name.to_string(),
                    dim: *d,
                    scale,
                    offset,
                });
                info.symbol
            }
            None => {
                let (min, max) = (root.min.unwrap_or(0), root.max);
                if value < min || max.is_some_and(|m| value > m) {
                    let range = match max {
                        Some(m) => format!("[{min}, {m}]"),
                        None => format!("[{min}, int_oo]"),
                    };
                    return Err(ExportError::DynamicShapes(format!(
                        "{name}.size()[{d}] = {size}: `{}` = {value} is not in its range {range}",
                        root.name
                    )));
                }
                let symbol = Symbol(env.symbols.len() as u32);
                let range = match max {
                    Some(m) => format!("[{min}, {m}]"),
                    None => format!("[{min}, int_oo]"),
                };
                trace::log::symbol_created(
                    &symbol.to_string(),
                    value,
                    &format!("{name}.size()[{d}]"),
                    &range,
                );
                env.symbols.push(SymbolInfo {
                    symbol,
                    dim_name: root.name.clone(),
                    min,
                    max,
                    hint: value,
                    sources: vec![SymbolSource {
                        input: name.to_string(),
                        dim: *d,
                        scale,
                        offset,
                    }],
                });
                symbol
            }
        };
        let expr = Expr::symbol(symbol)
            .scale(scale)
            .add(&Expr::constant(offset));
        meta.sizes[*d] = SymInt::from_expr(expr, size);
    }
    Ok(meta)
}

fn placeholder(t: &Tensor, s: &Storage) -> Result<NodeId, ExportError> {
    trace::add_placeholder(t, TensorMeta::from_shape(s.dtype(), s.shape()))
        .ok_or(ExportError::Nested)
}

fn constant_of(v: &LeafValue) -> ConstantValue {
    match v {
        LeafValue::Int(i) => ConstantValue::Int(*i),
        LeafValue::Float(f) => ConstantValue::Float(*f),
        LeafValue::Bool(b) => ConstantValue::Bool(*b),
        LeafValue::Str(s) => ConstantValue::Str(s.clone()),
        LeafValue::None | LeafValue::Tensor(_) => ConstantValue::None,
    }
}

/// An output leaf as a graph argument (traced tensors only; eager ones become constants).
enum UserOutput {
    Arg(Arg),
    Lift(Tensor),
    Constant(ConstantValue),
}

fn output_arg(leaf: &OutputLeaf) -> Result<UserOutput, ExportError> {
    Ok(match leaf {
        OutputLeaf::Tensor(t) => match t.state() {
            TensorState::Traced(tr) => UserOutput::Arg(Arg::Tensor(tr.node)),
            TensorState::Eager(_) => UserOutput::Lift(t.clone()),
            TensorState::Failed(e) => return Err(ExportError::Op((*e).clone())),
        },
        OutputLeaf::Size(s) => UserOutput::Arg(trace::symint_arg(s)),
        OutputLeaf::Float(f) => UserOutput::Constant(ConstantValue::Float(*f)),
        OutputLeaf::Bool(b) => UserOutput::Constant(ConstantValue::Bool(*b)),
        OutputLeaf::None => UserOutput::Constant(ConstantValue::None),
    })
}

struct BuildInput {
    trace: TraceState,
    roles: Vec<Role>,
    user_roles: Vec<Role>,
    constant_inputs: Vec<(usize, String, ConstantValue)>,
    mutations: Vec<(OutputKind, NodeId, String)>,
    user_outputs: Vec<UserOutput>,
    sources: Vec<SourceLine>,
    shape_env: ShapeEnv,
    ranges: RangeConstraints,
    runtime_guards: Vec<crate::symbolic::Guard>,
    arg_names: Vec<String>,
    model_name: String,
}

/// (kind, graph argument, mutated target, value of a constant output)
type OutputEntry = (OutputKind, Arg, Option<String>, Option<ConstantValue>);

/// The placeholders' names and input specs, and the state split into the state dict
/// and the constants.
struct Inputs {
    placeholder_names: Vec<String>,
    input_specs: Vec<InputSpec>,
    state_dict: TensorMap,
    constants: TensorMap,
}

/// Builds the program from a finished trace: outputs, placeholder order, signature,
/// passes, output specs, source lines.
fn build_program(b: BuildInput) -> Result<ExportedProgram, ExportError> {
    let BuildInput {
        trace,
        roles,
        user_roles,
        constant_inputs,
        mutations,
        user_outputs,
        sources,
        shape_env,
        ranges,
        runtime_guards,
        arg_names,
        model_name,
    } = b;
    let assumed: Vec<AssumedConstant> = trace
        .assumed
        .iter()
        .map(|a| AssumedConstant {
            code: code_at(&sources, a.location).0,
            ..a.clone()
        })
        .collect();
    let mut graph = trace.graph;
    let mut lifted: Vec<(NodeId, Storage)> = trace
        .lifted
        .iter()
        .map(|l| (l.node, l.storage.clone()))
        .collect();
    let outputs = push_outputs(&mut graph, mutations, user_outputs, &mut lifted)?;
    order_placeholders(&mut graph, &roles, &lifted, &user_roles);
    let inputs = input_specs(&roles, &lifted, &user_roles, constant_inputs);

    passes::functionalize(&mut graph);
    passes::eliminate_dead_code(&mut graph);
    passes::name_sym_values(&mut graph);
    passes::assign_names(&mut graph, &inputs.placeholder_names);
    passes::verify(&graph).map_err(ExportError::Verify)?;

    let output_specs = output_specs(&graph, &outputs);
    let used_sources = used_sources(&graph, &sources);
    Ok(ExportedProgram::new(
        graph,
        ExportGraphSignature {
            input_specs: inputs.input_specs,
            output_specs,
        },
        inputs.state_dict,
        inputs.constants,
        ranges,
        runtime_guards,
        shape_env,
        used_sources,
        arg_names,
        model_name,
    )
    .with_assumed_constants(assumed))
}

/// The output node: mutations first, then the user outputs. Eager tensors returned
/// directly become lifted constants too.
fn push_outputs(
    graph: &mut Graph,
    mutations: Vec<(OutputKind, NodeId, String)>,
    user_outputs: Vec<UserOutput>,
    lifted: &mut Vec<(NodeId, Storage)>,
) -> Result<Vec<OutputEntry>, ExportError> {
    let mut outputs: Vec<OutputEntry> = mutations
        .into_iter()
        .map(|(k, node, target)| (k, Arg::Tensor(node), Some(target), None))
        .collect();
    for o in user_outputs {
        match o {
            UserOutput::Arg(a) => outputs.push((OutputKind::UserOutput, a, None, None)),
            UserOutput::Lift(t) => {
                let storage = t.try_storage().map_err(ExportError::Op)?;
                let node = graph.push(Node {
                    name: String::new(),
                    kind: NodeKind::Placeholder,
                    meta: vec![TensorMeta::from_shape(storage.dtype(), storage.shape())],
                    source: None,
                });
                lifted.push((node, storage));
                outputs.push((OutputKind::UserOutput, Arg::Tensor(node), None, None));
            }
            UserOutput::Constant(c) => {
                outputs.push((OutputKind::UserOutput, Arg::None, None, Some(c)))
            }
        }
    }
    graph.push(Node {
        name: "output".into(),
        kind: NodeKind::Output {
            args: outputs.iter().map(|(_, a, _, _)| a.clone()).collect(),
        },
        meta: Vec::new(),
        source: None,
    });
    Ok(outputs)
}

/// Placeholders first — state, lifted constants, user inputs — then the calls, then
/// the output node (last).
fn order_placeholders(
    graph: &mut Graph,
    roles: &[Role],
    lifted: &[(NodeId, Storage)],
    user_roles: &[Role],
) {
    let output_node = NodeId(graph.nodes.len() - 1);
    let mut order: Vec<NodeId> = roles.iter().map(|r| r.node).collect();
    order.extend(lifted.iter().map(|(n, _)| *n));
    order.extend(user_roles.iter().map(|r| r.node));
    for (i, n) in graph.nodes.iter().enumerate() {
        if !n.is_placeholder() && NodeId(i) != output_node {
            order.push(NodeId(i));
        }
    }
    order.push(output_node);
    graph.reorder(&order);
}

/// Placeholder names and the input signature, in graph order.
fn input_specs(
    roles: &[Role],
    lifted: &[(NodeId, Storage)],
    user_roles: &[Role],
    constant_inputs: Vec<(usize, String, ConstantValue)>,
) -> Inputs {
    let mut placeholder_names = Vec::new();
    let mut input_specs = Vec::new();
    let mut state_dict = TensorMap::default();
    let mut constants = TensorMap::default();
    let spec_name = |prefix: &str, target: &str| format!("{prefix}{}", target.replace('.', "_"));
    for r in roles {
        let (prefix, name) = match r.kind {
            InputKind::Parameter => ("p_", r.name.clone()),
            InputKind::Buffer => ("b_", r.name.clone()),
            _ => ("c_", r.name.clone()),
        };
        let node_name = spec_name(prefix, &name);
        placeholder_names.push(node_name.clone());
        input_specs.push(InputSpec {
            kind: r.kind,
            arg: ArgumentSpec::Tensor { name: node_name },
            target: Some(r.name.clone()),
            persistent: r.persistent,
        });
        let copy = Tensor::from_storage(r.storage.clone());
        match (r.kind, r.persistent) {
            (InputKind::Parameter, _) | (InputKind::Buffer, Some(true)) => {
                state_dict.insert(r.name.clone(), copy)
            }
            _ => constants.insert(r.name.clone(), copy),
        }
    }
    for (i, (_, storage)) in lifted.iter().enumerate() {
        let target = format!("lifted_tensor_{i}");
        let node_name = spec_name("c_", &target);
        placeholder_names.push(node_name.clone());
        input_specs.push(InputSpec {
            kind: InputKind::ConstantTensor,
            arg: ArgumentSpec::Tensor { name: node_name },
            target: Some(target.clone()),
            persistent: None,
        });
        constants.insert(target, Tensor::from_storage(storage.clone()));
    }
    let mut user_specs = Vec::new();
    for r in user_roles {
        placeholder_names.push(r.name.clone());
        user_specs.push((
            r.name.clone(),
            InputSpec {
                kind: InputKind::UserInput,
                arg: ArgumentSpec::Tensor {
                    name: r.name.clone(),
                },
                target: None,
                persistent: None,
            },
        ));
    }
    // Non-tensor inputs keep their place among the user inputs.
    for (position, name, value) in constant_inputs {
        let spec = InputSpec {
            kind: InputKind::UserInput,
            arg: ArgumentSpec::Constant {
                name: name.clone(),
                value,
            },
            target: None,
            persistent: None,
        };
        user_specs.insert(position.min(user_specs.len()), (name, spec));
    }
    input_specs.extend(user_specs.into_iter().map(|(_, s)| s));
    Inputs {
        placeholder_names,
        input_specs,
        state_dict,
        constants,
    }
}

/// The output specs, after naming.
fn output_specs(graph: &Graph, outputs: &[OutputEntry]) -> Vec<OutputSpec> {
    let out_args = graph.outputs().to_vec();
    let mut output_specs = Vec::new();
    for (i, ((kind, _, target, constant), arg)) in outputs.iter().zip(out_args.iter()).enumerate() {
        let spec_arg = match arg {
            Arg::Tensor(n) => ArgumentSpec::Tensor {
                name: graph.node(*n).name.clone(),
            },
            // A size returned: the SymInt node computing it.
            Arg::Sym(n) => ArgumentSpec::SymInt {
                name: graph.node(*n).name.clone(),
            },
            Arg::Int(s) => match s.as_int() {
                Some(v) => ArgumentSpec::Constant {
                    name: format!("output_{i}"),
                    value: ConstantValue::Int(v),
                },
                None => ArgumentSpec::SymInt {
                    name: s.to_string(),
                },
            },
            _ => ArgumentSpec::Constant {
                name: format!("output_{i}"),
                value: constant.clone().unwrap_or(ConstantValue::None),
            },
        };
        output_specs.push(OutputSpec {
            kind: *kind,
            arg: spec_arg,
            target: target.clone(),
        });
    }
    output_specs
}

/// The source lines the graph refers to.
fn used_sources(graph: &Graph, sources: &[SourceLine]) -> Vec<SourceLine> {
    let mut used_sources = BTreeMap::new();
    for n in &graph.nodes {
        if let Some(at) = n.source {
            if let Some(l) = sources
                .iter()
                .find(|l| l.file == at.file && l.line == at.line)
            {
                used_sources.insert((l.file.to_string(), l.line), *l);
            }
        }
    }
    used_sources.into_values().collect()
}
