//! The reference interpreter: runs an exported graph with the eager kernels, after
//! checking the inputs against the program (count, dtype, rank, sizes, guards).

use std::collections::HashMap;

use super::batch_split::GraphSplit;
use super::split_policy::{BatchSplit, SplitPolicy};
use super::{ArgumentSpec, ConstantValue, ExportedProgram, InputKind, OutputKind};
use crate::error::{RunError, TensorError};
use crate::graph::{
    call_higher_order, interpret_scheduled, CallFacts, DropSchedule, Evaluator, Graph,
    HigherOrderOp, Node, NodeId, RunSubgraphOf,
};
use crate::module::{ForwardArgs, InputLeaf, LeafValue};
use crate::ops::{run_eager, run_eager_known, OpDef, Value};
use crate::symbolic::{Expr, SymInt, Symbol};
use crate::tensor::{Storage, Tensor, TensorMeta, TensorState};

/// An exported program as a callable (`ep.module().call((x, y))`).
pub struct ExportedModule<'p> {
    program: &'p ExportedProgram,
}

/// What the interpreter computes once per program and keeps between calls, shared by
/// every [`ExportedModule`] of the program (a clone of the program starts afresh).
#[derive(Default)]
pub(super) struct InterpreterCache {
    /// The graph's drop schedule, computed at the first call.
    schedule: std::sync::OnceLock<DropSchedule>,
    /// How calls split along the batch, or why they cannot: found at the first call
    /// that may split.
    split: std::sync::OnceLock<Result<GraphSplit, String>>,
    split_policy: SplitPolicy,
    /// The placeholders in graph order, and per input spec the program's own tensor it
    /// reads (parameters, buffers, constants; `None` for user inputs): found at the first
    /// call rather than by a scan of the graph and a lookup by name per call (a tenth of
    /// the tutorial module's interpreted call). The handles stay: a program's state
    /// changes through them, never by replacing them.
    inputs: std::sync::OnceLock<Result<InputSlots, String>>,
}

/// [`InterpreterCache::inputs`].
struct InputSlots {
    placeholders: Vec<NodeId>,
    state: Vec<Option<Tensor>>,
}

impl std::fmt::Debug for InterpreterCache {
    // A program's `{:?}` shows what it is, not what its interpreter keeps.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpreterCache").finish_non_exhaustive()
    }
}

impl Clone for InterpreterCache {
    fn clone(&self) -> Self {
        InterpreterCache::default()
    }
}

/// Symbol values bound from the inputs of one call, and the values read from tensor
/// data while it runs (unbacked symbols, bound by `bind_outputs`).
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    values: HashMap<Symbol, i64>,
    unbacked: std::sync::Arc<std::sync::RwLock<HashMap<Symbol, i64>>>,
}

impl Bindings {
    /// These bindings with `s` bound to `value` as well (a runner's own symbol, such as
    /// the half batch of a split call).
    pub fn with(&self, s: Symbol, value: i64) -> Bindings {
        let mut b = self.clone();
        b.values.insert(s, value);
        b
    }

    /// The bound (input) symbols' values, in symbol order: what, with a split call's
    /// half batch, fixes the sizes of the calls whose metas are known.
    pub(crate) fn values_key(&self) -> Vec<(Symbol, i64)> {
        let mut key: Vec<_> = self.values.iter().map(|(s, v)| (*s, *v)).collect();
        key.sort_unstable();
        key
    }

    /// The value of `e`, if every symbol in it is bound.
    pub fn eval(&self, e: &Expr) -> Option<i64> {
        e.eval(&|s| {
            self.values.get(&s).copied().or_else(|| {
                let unbacked = self.unbacked.read().unwrap_or_else(|p| p.into_inner());
                unbacked.get(&s).copied()
            })
        })
    }

    /// Binds the unbacked symbols a node defines from the values it computed: the value
    /// of an `aten::item` node (`Sym(u0)`), and data-dependent sizes (`f32[u0, 2]`). Every
    /// runner calls this after a node it ran eagerly.
    pub fn bind_outputs(&self, metas: &[TensorMeta], outputs: &[Storage]) {
        // Most nodes have static sizes: nothing to bind, and no lock to take.
        if !Bindings::may_bind(metas) {
            return;
        }
        let mut unbacked = self.unbacked.write().unwrap_or_else(|p| p.into_inner());
        let mut bind = |size: &SymInt, value: i64| {
            if let SymInt::Sym { expr, .. } = size {
                if let Some((s, 1, 0)) = expr.as_linear() {
                    if s.is_unbacked() {
                        unbacked.entry(s).or_insert(value);
                    }
                }
            }
        };
        for (meta, out) in metas.iter().zip(outputs) {
            if let Some(crate::symbolic::SymScalar::Int(v)) = &meta.sym {
                if let Some(value) = out.to_vec::<i64>().first() {
                    bind(v, *value);
                }
            }
            for (size, &got) in meta.sizes.iter().zip(out.shape()) {
                bind(size, got as i64);
            }
        }
    }

    /// Whether outputs of these metas can bind a symbol ([`Bindings::bind_outputs`]):
    /// a symbolic size or a SymInt value.
    pub fn may_bind(metas: &[TensorMeta]) -> bool {
        let symbolic = |s: &SymInt| matches!(s, SymInt::Sym { .. });
        (metas.iter()).any(|m| m.sym.is_some() || m.sizes.iter().any(symbolic))
    }

    /// The value of `s`, if it is an integer or every symbol in it is bound.
    pub fn eval_sym(&self, s: &SymInt) -> Option<i64> {
        match s {
            SymInt::Int(v) => Some(*v),
            SymInt::Sym { expr, .. } => self.eval(expr),
        }
    }

    /// The value the interpreter gives `s`: bound, or else its example value. A size
    /// whose symbols are all bound but whose value does not fit an `i64` (a hostile
    /// expression) is `i64::MAX`, which every allocation refuses — never the example.
    pub fn value(&self, s: &SymInt) -> i64 {
        self.eval_sym(s).unwrap_or_else(|| {
            let symbols = s.expr().symbols();
            let bound = |sym: &crate::symbolic::Symbol| {
                self.values.contains_key(sym)
                    || (self.unbacked.read().unwrap_or_else(|p| p.into_inner())).contains_key(sym)
            };
            if symbols.iter().all(bound) {
                i64::MAX
            } else {
                s.hint()
            }
        })
    }
}

/// The inputs of one call after they were checked against the program
/// ([`ExportedProgram::check_inputs`]): what a runner needs to run the graph.
#[derive(Debug)]
pub struct CheckedInputs<'p> {
    /// The value of every placeholder of the program's graph, in graph order (state
    /// read from the program, user inputs from the call). Empty when the interpreter
    /// checked the inputs: it runs on the handles.
    pub placeholders: Vec<Storage>,
    /// The symbol values bound by the input sizes.
    pub bindings: Bindings,
    /// Per placeholder, the tensor it is read from (the program's state, the caller's
    /// input): the interpreter passes the handle on rather than wrapping its data anew,
    /// and an output that is one of them goes out as a handle of its own.
    handles: Vec<Tensor>,
    /// The user input tensors by name, for writing back input mutations (empty when the
    /// program mutates no input).
    user_tensors: Vec<(String, Tensor)>,
    /// For a program that mutates buffers: its state lock, held from reading the state
    /// to writing it back ([`ExportedProgram::finish_call`]).
    _state_guard: Option<std::sync::MutexGuard<'p, ()>>,
}

/// What a runner reads of each placeholder's value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Its data too ([`CheckedInputs::placeholders`]): the compiled runtime's steps read
    /// storages.
    Storages,
    /// Only its tensor: the interpreter's kernels read the tensors they are given, so a
    /// copy of each storage's handle (a lock and two atomic counts) would be dropped
    /// unread.
    Handles,
}

/// Placeholder values and symbol bindings while the inputs of a call are matched.
struct MatchedInputs {
    /// The value of each placeholder, in graph order (empty when reading handles).
    placeholders: Vec<Storage>,
    /// Each placeholder's tensor (the program's state, the caller's input).
    handles: Vec<Tensor>,
    bindings: Bindings,
    /// Size checks that wait for every symbol to be bound: (input, dim, expected, got).
    deferred: Vec<(String, usize, SymInt, i64)>,
    user_tensors: Vec<(String, Tensor)>,
}

/// A constant input must be passed with the value the program was exported with.
fn check_constant_leaf(
    name: &str,
    value: &ConstantValue,
    leaf: Option<&InputLeaf>,
) -> Result<(), RunError> {
    let leaf = leaf.ok_or_else(|| RunError::Malformed("missing user input".into()))?;
    if !constant_matches(value, &leaf.value) {
        return Err(RunError::InputValue {
            name: name.to_string(),
            expected: format!("{value} (the value the program was exported with)"),
            got: leaf.value.describe(),
        });
    }
    Ok(())
}

impl ExportedProgram {
    /// Flattens call arguments (a tuple, as for `export`) into named leaves, as
    /// `ep.module().call` does.
    pub fn flatten_inputs<A: ForwardArgs>(&self, args: A) -> Vec<InputLeaf> {
        let names: Vec<&str> = self.arg_names.iter().map(String::as_str).collect();
        let mut leaves = Vec::new();
        args.flatten_named(&names, &mut leaves);
        leaves
    }

    /// Checks one call's inputs against the program — count, constants, dtype, rank,
    /// static sizes, symbol bindings, range constraints and guards — and gathers the
    /// value of every placeholder. Every runner of the program (the interpreter,
    /// `ferrex-runtime`) checks through this, so their errors are the same.
    pub fn check_inputs(&self, leaves: &[InputLeaf]) -> Result<CheckedInputs<'_>, RunError> {
        ExportedModule::new(self).check_inputs(leaves, Read::Storages)
    }

    /// The state lock, taken when a call of this program writes buffers back.
    fn lock_state_if_mutated(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        let mutates =
            (self.signature.output_specs.iter()).any(|s| s.kind == OutputKind::BufferMutation);
        mutates.then(|| self.state_lock.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Ends a call: writes mutated buffers back into the program's state and mutated
    /// inputs into the caller's tensors, and returns the user outputs. `outputs` are the
    /// graph's outputs, in the order of the output specs.
    pub fn finish_call(&self, inputs: CheckedInputs, outputs: Vec<Tensor>) -> Vec<Tensor> {
        let mut user_outputs = Vec::new();
        for (spec, value) in self.signature.output_specs.iter().zip(outputs) {
            match spec.kind {
                OutputKind::UserOutput => user_outputs.push(value),
                OutputKind::BufferMutation => {
                    let target = spec.target.as_deref().unwrap_or_default();
                    if let Some(buf) = self
                        .state_dict
                        .get(target)
                        .or_else(|| self.constants.get(target))
                    {
                        buf.set_state(value.state());
                    }
                }
                OutputKind::UserInputMutation => {
                    let target = spec.target.as_deref().unwrap_or_default();
                    if let Some((_, t)) = inputs.user_tensors.iter().find(|(n, _)| n == target) {
                        t.set_state(value.state());
                    }
                }
            }
        }
        user_outputs
    }
}

/// The tensor a user leaf passes, with its data checked by `check` in place (no copy of
/// the storage's handle when the caller does not keep it).
fn leaf_tensor<R>(
    leaf: &InputLeaf,
    check: impl FnOnce(&Storage) -> Result<R, RunError>,
) -> Result<(Tensor, R), RunError> {
    let LeafValue::Tensor(t) = &leaf.value else {
        return Err(RunError::NotATensor {
            name: leaf.path.clone(),
            got: leaf.value.describe(),
        });
    };
    let checked = t.with_state(|state| match state {
        TensorState::Eager(s) => check(s),
        TensorState::Traced(_) => Err(RunError::NotATensor {
            name: leaf.path.clone(),
            got: "a traced tensor".into(),
        }),
        TensorState::Failed(e) => Err(RunError::NotATensor {
            name: leaf.path.clone(),
            got: format!("a failed tensor ({e})"),
        }),
    })?;
    Ok((t.clone(), checked))
}

fn constant_matches(c: &ConstantValue, v: &LeafValue) -> bool {
    match (c, v) {
        (ConstantValue::Int(a), LeafValue::Int(b)) => a == b,
        (ConstantValue::Float(a), LeafValue::Float(b)) => a == b,
        (ConstantValue::Bool(a), LeafValue::Bool(b)) => a == b,
        (ConstantValue::Str(a), LeafValue::Str(b)) => a == b,
        (ConstantValue::None, LeafValue::None) => true,
        _ => false,
    }
}

impl<'p> ExportedModule<'p> {
    pub(crate) fn new(program: &'p ExportedProgram) -> Self {
        ExportedModule { program }
    }

    /// Runs the program on `args` (a tuple, as for `export`) and returns the user
    /// outputs, flattened. Mutated buffers are updated in the program's state; mutated
    /// inputs in the caller's tensors.
    pub fn call<A: ForwardArgs>(&self, args: A) -> Result<Vec<Tensor>, RunError> {
        self.call_flat(&self.program.flatten_inputs(args))
    }

    /// Runs the program on already-flattened inputs.
    pub fn call_flat(&self, leaves: &[InputLeaf]) -> Result<Vec<Tensor>, RunError> {
        let checked = self.check_inputs(leaves, Read::Handles)?;
        let graph = &self.program.graph;
        let cache = &self.program.interpreter;
        let schedule = cache.schedule.get_or_init(|| DropSchedule::of(graph));
        let bindings = &checked.bindings;
        let split = (cache.split_policy.may_split())
            .then(|| self.split().as_ref().ok())
            .flatten()
            .and_then(|s| Some((s, s.halves(bindings)?)));
        let Some((split, halves)) = split else {
            let outputs = run_graph(graph, schedule, &checked.handles, bindings)?;
            return Ok(self.program.finish_call(checked, outputs));
        };
        let outputs = cache
            .split_policy
            .run(halves[0] + halves[1], |splits| match splits {
                true => {
                    let inputs = storages_of(&checked.handles)?;
                    split.run(graph, schedule, &inputs, bindings, halves)
                }
                false => run_graph(graph, schedule, &checked.handles, bindings),
            })?;
        Ok(self.program.finish_call(checked, outputs))
    }

    fn split(&self) -> &Result<GraphSplit, String> {
        (self.program.interpreter.split).get_or_init(|| GraphSplit::of(self.program))
    }

    /// Sets whether calls run as two halves of their batch, one on each of two threads
    /// (default [`BatchSplit::Auto`]), as the compiled runtime's calls do, for every
    /// module of this program. A program splits when none of its nodes mixes samples
    /// (see [`ExportedModule::batch_split`]); a split call gives the same bits as a whole
    /// one. `Auto` times the first calls of each batch size both ways and keeps the
    /// faster (on one kernel thread, `FERREX_NUM_THREADS=1`, calls stay whole).
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// use ferrex::program::BatchSplit;
    ///
    /// #[export_module]
    /// struct Head {
    ///     fc: nn::Linear,
    /// }
    ///
    /// #[export_module]
    /// impl Head {
    ///     fn forward(&self, x: &Tensor) -> Tensor {
    ///         self.fc.forward(x).softmax(1)
    ///     }
    /// }
    ///
    /// let x = Tensor::randn([8, 16]);
    /// let ep = ferrex::export(&Head { fc: nn::Linear::new(16, 4) }, (x.copy(),))?;
    /// let module = ep.module();
    /// assert_eq!(module.batch_split(), Ok(()));
    /// module.set_batch_split(BatchSplit::Always);
    /// let split = module.call((x.clone(),))?[0].to_vec::<f32>()?;
    /// module.set_batch_split(BatchSplit::Never);
    /// let whole = module.call((x.clone(),))?[0].to_vec::<f32>()?;
    /// assert_eq!(split, whole); // bit for bit
    ///
    /// // A softmax over the batch mixes samples: such a program's calls stay whole.
    /// #[export_module]
    /// struct OverBatch {
    ///     fc: nn::Linear,
    /// }
    ///
    /// #[export_module]
    /// impl OverBatch {
    ///     fn forward(&self, x: &Tensor) -> Tensor {
    ///         self.fc.forward(x).softmax(0)
    ///     }
    /// }
    ///
    /// let ep = ferrex::export(&OverBatch { fc: nn::Linear::new(16, 4) }, (x.copy(),))?;
    /// assert_eq!(ep.module().batch_split(), Err("`softmax` normalizes over the batch"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_batch_split(&self, mode: BatchSplit) {
        self.program.interpreter.split_policy.set_mode(mode);
    }

    /// Whether the program's calls can run as two halves of their batch, or why not
    /// (the first node that mixes samples, say).
    pub fn batch_split(&self) -> Result<(), &str> {
        self.split().as_ref().map(|_| ()).map_err(String::as_str)
    }

    fn check_inputs(
        &self,
        leaves: &[InputLeaf],
        read: Read,
    ) -> Result<CheckedInputs<'p>, RunError> {
        self.check_input_count(leaves)?;
        let state_guard = self.program.lock_state_if_mutated();
        let matched = self.match_leaves(leaves, read)?;
        self.check_deferred(&matched.bindings, &matched.deferred)?;
        self.check_guards(&matched.bindings)?;
        Ok(CheckedInputs {
            placeholders: matched.placeholders,
            handles: matched.handles,
            bindings: matched.bindings,
            user_tensors: matched.user_tensors,
            _state_guard: state_guard,
        })
    }

    /// As many leaves as the program has user inputs.
    fn check_input_count(&self, leaves: &[InputLeaf]) -> Result<(), RunError> {
        let expected = (self.program.signature.input_specs.iter())
            .filter(|s| s.kind == InputKind::UserInput)
            .count();
        if leaves.len() != expected {
            return Err(RunError::InputCount {
                expected,
                got: leaves.len(),
            });
        }
        Ok(())
    }

    /// The program's placeholders and state tensors, found at its first call
    /// ([`InterpreterCache::inputs`]).
    fn input_slots(&self) -> Result<&InputSlots, RunError> {
        let p = self.program;
        let slots = p.interpreter.inputs.get_or_init(|| {
            let placeholders: Vec<NodeId> = p.graph.placeholders().map(|(id, _)| id).collect();
            let state = (p.signature.input_specs.iter())
                .map(|spec| match (spec.kind, &spec.arg) {
                    (InputKind::UserInput, _) | (_, ArgumentSpec::Constant { .. }) => Ok(None),
                    _ => {
                        let target = spec.target.as_deref().unwrap_or_default();
                        let t = p.state_dict.get(target).or_else(|| p.constants.get(target));
                        t.cloned()
                            .map(Some)
                            .ok_or_else(|| format!("no tensor for `{target}`"))
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(InputSlots {
                placeholders,
                state,
            })
        });
        slots.as_ref().map_err(|e| RunError::Malformed(e.clone()))
    }

    /// Matches placeholders (in graph order) to values: user leaves, checked against
    /// their placeholder's meta, and the program's state; constant inputs are compared
    /// with the exported value.
    fn match_leaves(&self, leaves: &[InputLeaf], read: Read) -> Result<MatchedInputs, RunError> {
        let p = self.program;
        let slots = self.input_slots()?;
        let mut matched = MatchedInputs {
            placeholders: match read {
                Read::Storages => Vec::with_capacity(p.signature.input_specs.len()),
                Read::Handles => Vec::new(),
            },
            handles: Vec::with_capacity(p.signature.input_specs.len()),
            bindings: Bindings::default(),
            deferred: Vec::new(),
            user_tensors: Vec::new(),
        };
        let mutates_inputs =
            (p.signature.output_specs.iter()).any(|s| s.kind == OutputKind::UserInputMutation);
        let mut next_placeholder = slots.placeholders.iter().copied();
        let mut user_leaves = leaves.iter();
        for (spec, state) in p.signature.input_specs.iter().zip(&slots.state) {
            let leaf = if spec.kind == InputKind::UserInput {
                user_leaves.next()
            } else {
                None
            };
            if let ArgumentSpec::Constant { name, value } = &spec.arg {
                check_constant_leaf(name, value, leaf)?;
                continue;
            }
            let id = next_placeholder
                .next()
                .ok_or_else(|| RunError::Malformed("fewer placeholders than input specs".into()))?;
            let handle = match spec.kind {
                InputKind::UserInput => {
                    let leaf =
                        leaf.ok_or_else(|| RunError::Malformed("missing user input".into()))?;
                    let name = spec.arg.name();
                    let meta = &p.graph.node(id).meta[0];
                    let (tensor, storage) = leaf_tensor(leaf, |s| {
                        self.check_input(name, meta, s, &mut matched)?;
                        Ok((read == Read::Storages).then(|| s.clone()))
                    })?;
                    matched.placeholders.extend(storage);
                    if mutates_inputs {
                        (matched.user_tensors).push((name.to_string(), tensor.clone()));
                    }
                    tensor
                }
                _ => {
                    let t = state.as_ref().ok_or_else(|| {
                        RunError::Malformed("a state input without its tensor".into())
                    })?;
                    // A state tensor without data is a malformed program, whatever reads it.
                    let storage =
                        || (t.try_storage()).map_err(|e| RunError::Malformed(e.to_string()));
                    if read == Read::Storages {
                        matched.placeholders.push(storage()?);
                    } else if !t.with_state(|s| matches!(s, TensorState::Eager(_))) {
                        storage()?;
                    }
                    t.clone()
                }
            };
            matched.handles.push(handle);
        }
        if next_placeholder.next().is_some() {
            return Err(RunError::Malformed(
                "more placeholders than input specs".into(),
            ));
        }
        Ok(matched)
    }

    /// A user tensor input's data, checked against its placeholder's meta (binding
    /// symbols, deferring the checks of sizes that need symbols bound later).
    fn check_input(
        &self,
        name: &str,
        expected: &TensorMeta,
        s: &Storage,
        matched: &mut MatchedInputs,
    ) -> Result<(), RunError> {
        let (bindings, deferred) = (&mut matched.bindings, &mut matched.deferred);
        if s.dtype() != expected.dtype {
            return Err(RunError::InputDType {
                name: name.into(),
                expected: expected.dtype,
                got: s.dtype(),
            });
        }
        if s.shape().len() != expected.rank() {
            return Err(RunError::InputRank {
                name: name.into(),
                expected: expected.rank(),
                got: s.shape().len(),
            });
        }
        for (dim, (want, &got)) in expected.sizes.iter().zip(s.shape()).enumerate() {
            let got = got as i64;
            match want {
                SymInt::Int(v) if *v != got => {
                    return Err(RunError::InputSize {
                        name: name.into(),
                        dim,
                        expected: v.to_string(),
                        got,
                    })
                }
                SymInt::Int(_) => {}
                SymInt::Sym { expr, .. } => match expr.as_linear() {
                    // The first input dim that is `a*s + b` binds `s`.
                    Some((sym, a, b)) if !bindings.values.contains_key(&sym) => {
                        if a == 0 || (got - b) % a != 0 {
                            return Err(RunError::Guard {
                                guard: format!(
                                    "{name}.size()[{dim}] == {}",
                                    self.program.shape_env.render(expr)
                                ),
                                detail: format!("but got {got}, which is not of that form"),
                            });
                        }
                        bindings.values.insert(sym, (got - b) / a);
                    }
                    _ => deferred.push((name.into(), dim, want.clone(), got)),
                },
            }
        }
        Ok(())
    }

    fn check_deferred(
        &self,
        bindings: &Bindings,
        deferred: &[(String, usize, SymInt, i64)],
    ) -> Result<(), RunError> {
        for (name, dim, want, got) in deferred {
            if let Some(v) = bindings.eval_sym(want) {
                if v != *got {
                    return Err(RunError::Guard {
                        guard: format!(
                            "{name}.size()[{dim}] == {}",
                            self.program.shape_env.render(&want.expr())
                        ),
                        detail: format!("but got {got} and {v}"),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_guards(&self, bindings: &Bindings) -> Result<(), RunError> {
        let env = &self.program.shape_env;
        for (expr, range) in &self.program.range_constraints.entries {
            if let Some(v) = bindings.eval(expr) {
                // Rendered only for the error: every call checks every range.
                if v < range.lower {
                    return Err(RunError::Guard {
                        guard: format!("{} >= {}", env.render(expr), range.lower),
                        detail: format!("but got {v}"),
                    });
                }
                if let Some(u) = range.upper.filter(|u| v > *u) {
                    return Err(RunError::Guard {
                        guard: format!("{} <= {u}", env.render(expr)),
                        detail: format!("but got {v}"),
                    });
                }
            }
        }
        for g in &self.program.guards {
            if let (Some(l), Some(r)) = (bindings.eval(&g.lhs), bindings.eval(&g.rhs)) {
                if !g.op.eval(l, r) {
                    return Err(RunError::Guard {
                        guard: format!(
                            "{} {} {}",
                            env.render(&g.lhs),
                            g.op.symbol(),
                            env.render(&g.rhs)
                        ),
                        detail: format!("but got {l} and {r}"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Runs graphs eagerly: values are eager tensors, sizes the bound symbols.
pub(super) struct EagerEvaluator<'b> {
    pub(super) bindings: &'b Bindings,
}

pub(super) fn kernel_error(node: &Node, op: String, message: String) -> RunError {
    RunError::Kernel {
        node: node.name.clone(),
        source: TensorError::Op {
            op,
            message,
            at: node.location(),
        },
    }
}

/// `bmm(a, w)` of `a` (`[b, m, k]`) and a `[k, n]` matrix `w` broadcast over the batch
/// ([`CallFacts::BroadcastMat2`]): one product of the batch's `b * m` rows, `[b, m, n]`.
fn broadcast_bmm(args: &[Value]) -> Result<Tensor, crate::error::OpError> {
    use crate::ops::{linalg::MM, shape::RESHAPE};
    let [Value::Tensor(a), Value::Tensor(w)] = args else {
        return Err(crate::error::OpError::new("bmm: expected two tensors"));
    };
    let (sa, sw) = (a.shape(), w.shape());
    let (&[b, m, k], &[kw, n]) = (&sa[..], &sw[..]) else {
        return Err(crate::error::OpError(format!(
            "bmm of a broadcast matrix: expected [b, m, k] and [k, n], got {sa:?} and {sw:?}"
        )));
    };
    let reshape = |t: &Tensor, sizes: [usize; 2]| {
        let sizes = sizes.iter().map(|&d| SymInt::Int(d as i64)).collect();
        run_eager(&RESHAPE, &[Value::Tensor(t.clone()), Value::IntList(sizes)])
    };
    let rows = b
        .checked_mul(m)
        .ok_or_else(|| crate::error::OpError::new("bmm: the batch's rows overflow"))?;
    if k != kw {
        return Err(crate::error::OpError(format!(
            "Expected size for first two dimensions of batch2 tensor to be: [{b}, {k}] but got: [{b}, {kw}]."
        )));
    }
    let a2 = reshape(a, [rows, k])?.remove(0);
    let y = run_eager(&MM, &[Value::Tensor(a2), Value::Tensor(w.clone())])?.remove(0);
    let sizes = [b, m, n].iter().map(|&d| SymInt::Int(d as i64)).collect();
    Ok(run_eager(&RESHAPE, &[Value::Tensor(y), Value::IntList(sizes)])?.remove(0))
}

impl EagerEvaluator<'_> {
    /// `metas` at the bound symbol values; `None` if a size names an unbound symbol.
    fn bound_metas(&self, metas: &[TensorMeta]) -> Option<Vec<TensorMeta>> {
        (metas.iter())
            .map(|m| {
                let sizes = (m.sizes.iter())
                    .map(|s| self.bindings.eval_sym(s).map(SymInt::Int))
                    .collect::<Option<_>>()?;
                Some(TensorMeta::new(m.dtype, sizes))
            })
            .collect()
    }
}

impl Evaluator for EagerEvaluator<'_> {
    type Value = Tensor;
    type Error = RunError;

    fn call(
        &self,
        node: &Node,
        op: &'static OpDef,
        args: &[Value],
    ) -> Result<Vec<Tensor>, RunError> {
        let out = run_eager(op, args).map_err(|e| kernel_error(node, op.name(), e.0))?;
        if !Bindings::may_bind(&node.meta) {
            // Nothing to bind: only check, in place, that every output holds data.
            for t in &out {
                if !t.with_state(|s| matches!(s, TensorState::Eager(_))) {
                    t.try_storage()
                        .map_err(|e| RunError::Malformed(e.to_string()))?;
                }
            }
            return Ok(out);
        }
        self.bindings.bind_outputs(&node.meta, &storages_of(&out)?);
        Ok(out)
    }

    fn call_scheduled(
        &self,
        _: NodeId,
        node: &Node,
        op: &'static OpDef,
        args: &[Value],
        facts: CallFacts,
    ) -> Result<Vec<Tensor>, RunError> {
        match facts {
            CallFacts::Output0Only => self.call(node, op.output0.unwrap_or(op), args),
            // Results of bound sizes bind no symbol.
            CallFacts::KnownMetas => {
                let bound;
                let metas = if (node.meta.iter()).all(|m| !m.sizes.iter().any(SymInt::is_symbolic))
                {
                    &node.meta[..]
                } else {
                    match self.bound_metas(&node.meta) {
                        Some(m) => {
                            bound = m;
                            &bound[..]
                        }
                        // A symbol the inputs left unbound: the meta function decides.
                        None => return self.call(node, op, args),
                    }
                };
                run_eager_known(op, args, metas).map_err(|e| kernel_error(node, op.name(), e.0))
            }
            CallFacts::BroadcastMat2 => broadcast_bmm(args)
                .map(|y| vec![y])
                .map_err(|e| kernel_error(node, op.name(), e.0)),
        }
    }

    fn defers_broadcasts(&self) -> bool {
        true
    }

    fn higher_order(
        &self,
        node: &Node,
        op: &'static dyn HigherOrderOp,
        args: Vec<Value>,
        run: RunSubgraphOf<'_, Tensor, RunError>,
    ) -> Result<Vec<Tensor>, RunError> {
        let metas: Vec<TensorMeta> = node
            .meta
            .iter()
            .map(|m| {
                let sizes = m.sizes.iter().map(|s| self.size(s)).collect();
                TensorMeta::new(m.dtype, sizes)
            })
            .collect();
        let out = call_higher_order(op, &args, run, &metas, node.location())?;
        for t in &out {
            if let TensorState::Failed(e) = t.state() {
                return Err(kernel_error(node, op.name().into(), e.to_string()));
            }
        }
        Ok(out)
    }

    fn size(&self, s: &SymInt) -> SymInt {
        SymInt::Int(self.bindings.value(s))
    }

    fn malformed(&self, message: String) -> RunError {
        RunError::Malformed(message)
    }
}

/// The data of a runner's tensors (results, subgraph inputs): one without data is a
/// malformed program.
pub fn storages_of(tensors: &[Tensor]) -> Result<Vec<Storage>, RunError> {
    tensors
        .iter()
        .map(|t| {
            t.try_storage()
                .map_err(|e| RunError::Malformed(e.to_string()))
        })
        .collect()
}

/// Runs one graph (the program's, or a subgraph) on its placeholders' values and
/// returns its outputs (a size output as a 0-dim tensor of its bound value).
fn run_graph(
    graph: &Graph,
    schedule: &DropSchedule,
    handles: &[Tensor],
    bindings: &Bindings,
) -> Result<Vec<Tensor>, RunError> {
    let mut outputs = outputs_of(interpret_scheduled(
        graph,
        schedule,
        handles.to_vec(),
        &EagerEvaluator { bindings },
    )?)?;
    // An output that is an input's handle (a constant or an input returned as it is)
    // goes out as a handle of its own: the caller's in-place ops on it must change
    // neither the program nor the input.
    for out in &mut outputs {
        if handles.iter().any(|t| t.id() == out.id()) {
            let data = out
                .try_storage()
                .map_err(|e| RunError::Malformed(e.to_string()))?;
            *out = Tensor::from_storage(data);
        }
    }
    Ok(outputs)
}

/// A graph's outputs as tensors (a size output as a 0-dim tensor of its bound value).
pub(super) fn outputs_of(outputs: Vec<Value>) -> Result<Vec<Tensor>, RunError> {
    Ok(outputs
        .into_iter()
        .map(|a| match a {
            Value::Tensor(t) => t,
            Value::Int(s) => Tensor::scalar(s.hint()),
            _ => Tensor::scalar(0i64),
        })
        .collect())
}
