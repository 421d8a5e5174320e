//! The tracing context: while `ferrex::export` runs `forward`, every op dispatched on
//! this thread records a node here instead of computing. Size comparisons record guards;
//! reads of tensor data record data-dependence errors with their source location.

mod assume_constant;
mod issues;
pub(crate) mod log;
pub(crate) mod unbacked;

pub use assume_constant::{assume_constant, AssumedConstant};
pub(crate) use issues::{code_at, issue_error, report_issues};
pub use unbacked::{check, check_is_size};

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{OpError, SourceLocation, TensorError};
use crate::graph::{Arg, Graph, Node, NodeId, NodeKind};
use crate::ops::hook::{install_dispatch_mode, DispatchMode, DispatchModeInstalled};
use crate::ops::{OpArgs, OpDef, Value};
use crate::symbolic::{
    install_guard_sink, CmpOp, Guard, GuardSink, GuardSinkInstalled, ShapeEnv, SymInt, Symbol,
};
use crate::tensor::hook::{install_trace_observer, TraceObserver, TraceObserverInstalled};
use crate::tensor::{Storage, Tensor, TensorMeta, TensorState, Traced};

/// Something that went wrong while tracing, reported when the export finishes.
#[derive(Clone, Debug)]
pub(crate) enum TraceIssue {
    Op(TensorError),
    DataAccess {
        access: &'static str,
        at: SourceLocation,
    },
    /// A comparison on an unbacked value that its range does not decide.
    DataDependentGuard {
        expr: String,
        size_like: Vec<String>,
        detail: Vec<String>,
        at: SourceLocation,
    },
    /// An unbacked value forced to a concrete integer.
    DataDependentInt {
        expr: String,
        size_like: Vec<String>,
        detail: Vec<String>,
        at: SourceLocation,
    },
    /// The trace state was accessed while already in use (a bug in ferrex, reported
    /// instead of losing what the access recorded).
    Reentrant,
}

/// An eager tensor that `forward` combined with traced ones: it becomes a constant input.
pub(crate) struct LiftedConstant {
    pub tensor: Tensor,
    pub storage: Storage,
    pub node: NodeId,
}

/// A subgraph being traced (a `cond!` branch): its graph, its scope id, and the outer
/// values it captured, each with the placeholder standing for it inside.
pub(crate) struct Frame {
    pub graph: Graph,
    pub scope: u32,
    pub captures: Vec<Capture>,
}

/// An outer value used inside a subgraph.
#[derive(Clone, Debug)]
pub struct Capture {
    /// The tensor handle (identifies the value across branches).
    pub(crate) tensor: Tensor,
    /// Its node in the parent frame.
    pub(crate) outer: NodeId,
    /// The placeholder inside this frame.
    pub(crate) inner: NodeId,
}

pub(crate) struct TraceState {
    pub id: u64,
    /// The top-level graph (scope 0).
    pub graph: Graph,
    /// Subgraphs being traced, innermost last.
    pub frames: Vec<Frame>,
    next_scope: u32,
    pub lifted: Vec<LiftedConstant>,
    pub guards: Vec<Guard>,
    /// Where each guard of `guards` was first needed (same order): the user's line, or
    /// the call of the op whose meta function compared sizes.
    pub guard_sites: Vec<SourceLocation>,
    pub issues: Vec<TraceIssue>,
    /// While a decomposition runs at trace time, its nodes take the location of the
    /// call being decomposed.
    pub location_override: Option<SourceLocation>,
    /// The op call whose meta function is running: a guard its size comparisons record
    /// is attributed to the user's call, not to the meta function's line.
    current_call: Option<SourceLocation>,
    /// Values read from tensor data (`u0`, …), with their ranges.
    pub(crate) unbacked: Vec<unbacked::UnbackedInfo>,
    /// The input-size symbols' declared ranges, which decide `Min` / `Max` in sizes.
    symbol_ranges: Vec<(Symbol, (i64, i64))>,
    /// The example value of every input and model tensor, for `assume_constant`.
    pub(crate) examples: Vec<(Tensor, Storage)>,
    /// Values `assume_constant` computed.
    pub(crate) assumed: Vec<AssumedConstant>,
}

thread_local! {
    static ACTIVE: RefCell<Option<TraceState>> = const { RefCell::new(None) };
    /// Guards recorded while the trace state was borrowed (a comparison made inside a
    /// `with_state` closure): kept here and moved into the state at its next use, so a
    /// re-entrant guard is never dropped.
    static DEFERRED_GUARDS: RefCell<Vec<(Guard, SourceLocation)>> = const { RefCell::new(Vec::new()) };
    /// Set when any other trace access found the state borrowed: the trace then fails
    /// (`TraceIssue::Reentrant`) instead of silently losing what that access recorded.
    static REENTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The hooks of the running trace (see [`TraceHooks`]), uninstalled by [`end`].
    static HOOKS: RefCell<Option<InstalledHooks>> = const { RefCell::new(None) };
}

/// How the layers below reach the tracer without naming it: symbolic comparisons report
/// guards (and ask about values read from data), tensors report data accesses, and the
/// op registry hands calls over (PyTorch's dispatch mode). Installed on the tracing
/// thread from [`begin`] to [`end`].
struct TraceHooks;

static TRACE_HOOKS: TraceHooks = TraceHooks;

type InstalledHooks = (
    GuardSinkInstalled,
    TraceObserverInstalled,
    DispatchModeInstalled,
);

fn install_hooks() {
    let hooks = (
        install_guard_sink(&TRACE_HOOKS),
        install_trace_observer(&TRACE_HOOKS),
        install_dispatch_mode(&TRACE_HOOKS),
    );
    HOOKS.with(|h| *h.borrow_mut() = Some(hooks));
}

impl TraceObserver for TraceHooks {
    fn is_tracing(&self) -> bool {
        is_tracing()
    }

    fn record_data_access(&self, access: &'static str, at: SourceLocation) {
        record_data_access(access, at);
    }
}

impl DispatchMode for TraceHooks {
    fn record_call(&self, op: &'static OpDef, args: Vec<Value>, at: SourceLocation) -> Vec<Tensor> {
        record_call(op, args, at)
    }

    fn new_unbacked_size(&self, max: Option<i64>, origin: &str) -> Option<SymInt> {
        unbacked::new_size(max, origin)
    }
}

impl GuardSink for TraceHooks {
    fn record_guard(&self, guard: Guard, at: &'static std::panic::Location<'static>) {
        record_guard(guard, at);
    }

    fn decide_unbacked(
        &self,
        lhs: &SymInt,
        op: CmpOp,
        rhs: &SymInt,
        at: &'static std::panic::Location<'static>,
    ) -> bool {
        unbacked::decide(lhs, op, rhs, at)
    }

    fn cannot_specialize(&self, value: &SymInt, at: &'static std::panic::Location<'static>) {
        unbacked::cannot_specialize(value, at);
    }
}

static NEXT_TRACE_ID: AtomicU64 = AtomicU64::new(1);

/// Whether an export is tracing on this thread.
pub fn is_tracing() -> bool {
    // An `assume_constant` helper computes eagerly on the example values.
    !assume_constant::evaluating()
        && ACTIVE.with(|a| a.try_borrow().map(|s| s.is_some()).unwrap_or(true))
}

pub(crate) fn with_state<R>(f: impl FnOnce(&mut TraceState) -> R) -> Option<R> {
    ACTIVE.with(|a| match a.try_borrow_mut() {
        Ok(mut slot) => {
            let s = slot.as_mut()?;
            take_deferred_guards(s);
            Some(f(s))
        }
        Err(_) => {
            REENTERED.with(|r| r.set(true));
            None
        }
    })
}

/// Moves the guards recorded while the state was borrowed into it.
fn take_deferred_guards(s: &mut TraceState) {
    let deferred = DEFERRED_GUARDS.with(|d| std::mem::take(&mut *d.borrow_mut()));
    for (guard, at) in deferred {
        if !s.guards.contains(&guard) {
            s.guards.push(guard);
            s.guard_sites.push(at);
        }
    }
}

impl TraceState {
    /// Sizes as PyTorch records them: `arange(0, s0)` is `s0` long, not `Max(0, s0)`,
    /// as `s0` is never negative (its declared range, or at least 0 for a size).
    fn simplify_sizes(&self, metas: &mut [TensorMeta]) {
        let range = |sym: Symbol| match self.symbol_ranges.iter().find(|(s, _)| *s == sym) {
            Some((_, range)) => *range,
            None if sym.is_unbacked() => (i64::MIN, i64::MAX),
            None => (0, i64::MAX),
        };
        for size in metas.iter_mut().flat_map(|m| &mut m.sizes) {
            if size.is_symbolic() {
                *size = size.simplify_in(&range);
            }
        }
    }
}

/// Declares the ranges of the input-size symbols of the running trace (the `Dim`s' or
/// the program's), by which it decides `Min` / `Max` in sizes.
pub(crate) fn declare_symbol_ranges(env: &ShapeEnv) {
    with_state(|s| {
        s.symbol_ranges = (env.symbols.iter())
            .filter(|i| !i.symbol.is_unbacked())
            .map(|i| (i.symbol, (i.min.max(0), i.max.unwrap_or(i64::MAX))))
            .collect();
    });
}

/// Starts a trace on this thread; `None` if one is already running.
pub(crate) fn begin() -> Option<u64> {
    ACTIVE.with(|a| {
        let mut slot = a.try_borrow_mut().ok()?;
        if slot.is_some() {
            return None;
        }
        let id = NEXT_TRACE_ID.fetch_add(1, Ordering::Relaxed);
        REENTERED.with(|r| r.set(false));
        DEFERRED_GUARDS.with(|d| d.borrow_mut().clear());
        install_hooks();
        *slot = Some(TraceState {
            id,
            graph: Graph::default(),
            frames: Vec::new(),
            next_scope: 1,
            lifted: Vec::new(),
            guards: Vec::new(),
            guard_sites: Vec::new(),
            issues: Vec::new(),
            location_override: None,
            current_call: None,
            unbacked: Vec::new(),
            symbol_ranges: Vec::new(),
            examples: Vec::new(),
            assumed: Vec::new(),
        });
        Some(id)
    })
}

/// Ends the trace on this thread and returns its state.
pub(crate) fn end() -> Option<TraceState> {
    let mut state = ACTIVE.with(|a| a.try_borrow_mut().ok().and_then(|mut s| s.take()))?;
    HOOKS.with(|h| h.borrow_mut().take());
    crate::tensor::end_private_states();
    take_deferred_guards(&mut state);
    if REENTERED.with(|r| r.replace(false)) {
        state.issues.push(TraceIssue::Reentrant);
    }
    Some(state)
}

/// Adds a placeholder for a tensor with `meta` and makes `tensor` trace to it.
pub(crate) fn add_placeholder(tensor: &Tensor, meta: TensorMeta) -> Option<NodeId> {
    with_state(|s| {
        let scope = s.scope();
        let node = s.current().push(placeholder_node(meta.clone()));
        tensor.trace_privately(TensorState::Traced(Traced {
            trace: s.id,
            scope,
            node,
            meta,
        }));
        node
    })
}

fn placeholder_node(meta: TensorMeta) -> Node {
    Node {
        name: String::new(),
        kind: NodeKind::Placeholder,
        meta: vec![meta],
        source: None,
    }
}

impl TraceState {
    /// The graph ops are recorded into now.
    pub fn current(&mut self) -> &mut Graph {
        match self.frames.last_mut() {
            Some(f) => &mut f.graph,
            None => &mut self.graph,
        }
    }

    /// The scope id of the current graph (0 at top level).
    pub fn scope(&self) -> u32 {
        self.frames.last().map(|f| f.scope).unwrap_or(0)
    }

    fn scope_of_frame(&self, depth: usize) -> u32 {
        if depth == 0 {
            0
        } else {
            self.frames[depth - 1].scope
        }
    }

    /// The node standing for `value` (a traced tensor of an enclosing scope, or the root
    /// graph's node of a lifted constant) inside frame `depth` (0 = root), capturing it
    /// through every frame in between.
    fn capture(
        &mut self,
        depth: usize,
        tensor: &Tensor,
        scope: u32,
        node: NodeId,
        meta: &TensorMeta,
    ) -> NodeId {
        if self.scope_of_frame(depth) == scope || depth == 0 {
            return node;
        }
        let frame = depth - 1;
        if let Some(c) = self.frames[frame]
            .captures
            .iter()
            .find(|c| c.tensor.same_tensor(tensor))
        {
            return c.inner;
        }
        let outer = self.capture(depth - 1, tensor, scope, node, meta);
        let inner = self.frames[frame]
            .graph
            .push(placeholder_node(meta.clone()));
        self.frames[frame].captures.push(Capture {
            tensor: tensor.clone(),
            outer,
            inner,
        });
        inner
    }
}

/// Starts tracing a subgraph whose inputs are `operands`: returns traced tensors for
/// them inside the subgraph.
pub(crate) fn begin_subgraph(operands: &[TensorMeta]) -> Option<Vec<Tensor>> {
    with_state(|s| {
        let scope = s.next_scope;
        s.next_scope += 1;
        let mut graph = Graph::default();
        let mut inputs = Vec::new();
        for meta in operands {
            let node = graph.push(placeholder_node(meta.clone()));
            inputs.push(Tensor::from_state(TensorState::Traced(Traced {
                trace: s.id,
                scope,
                node,
                meta: meta.clone(),
            })));
        }
        s.frames.push(Frame {
            graph,
            scope,
            captures: Vec::new(),
        });
        inputs
    })
}

/// Ends the innermost subgraph, whose outputs are `outputs`.
pub(crate) fn end_subgraph(outputs: Vec<Arg>) -> Option<Frame> {
    with_state(|s| {
        let mut frame = s.frames.pop()?;
        frame.graph.push(Node {
            name: "output".into(),
            kind: NodeKind::Output { args: outputs },
            meta: Vec::new(),
            source: None,
        });
        Some(frame)
    })
    .flatten()
}

/// Runs `f` with every node it records attributed to `at` (a decomposition's nodes take
/// the location of the call they replace).
pub(crate) fn with_location<R>(at: SourceLocation, f: impl FnOnce() -> R) -> R {
    let previous = with_state(|s| s.location_override.replace(at)).flatten();
    let out = f();
    with_state(|s| s.location_override = previous);
    out
}

/// Ends the top-level graph with an output node.
pub(crate) fn push_output(args: Vec<Arg>) -> Option<NodeId> {
    with_state(|s| {
        s.graph.push(Node {
            name: "output".into(),
            kind: NodeKind::Output { args },
            meta: Vec::new(),
            source: None,
        })
    })
}

/// Adds two subgraphs to the current graph; returns their indices.
pub(crate) fn add_subgraphs(
    a: crate::graph::Subgraph,
    b: crate::graph::Subgraph,
) -> Option<(usize, usize)> {
    with_state(|s| {
        let g = s.current();
        g.subgraphs.push(a);
        g.subgraphs.push(b);
        (g.subgraphs.len() - 2, g.subgraphs.len() - 1)
    })
}

/// Adds one subgraph to the current graph; returns its index.
pub(crate) fn add_subgraph(g: crate::graph::Subgraph) -> Option<usize> {
    with_state(|s| {
        let graph = s.current();
        graph.subgraphs.push(g);
        graph.subgraphs.len() - 1
    })
}

/// Records an op failure found outside `record_call` (higher-order ops).
pub(crate) fn record_op_error(e: TensorError) {
    record_issue(TraceIssue::Op(e));
}

/// A traced tensor as an argument of the current graph (capturing it if it belongs to
/// an enclosing one).
pub(crate) fn arg_of(t: &Tensor, at: SourceLocation) -> Result<Arg, TensorError> {
    with_state(|s| to_arg(s, &Value::Tensor(t.clone()), at))
        .unwrap_or(Err(TensorError::StaleTrace { at }))
}

/// Records a call of a higher-order op (`cond`) whose outputs have `metas`, returning
/// traced tensors for them (through `getitem` nodes).
pub(crate) fn record_node(
    kind: NodeKind,
    metas: Vec<TensorMeta>,
    at: SourceLocation,
) -> Option<Vec<Tensor>> {
    with_state(|s| s.push_node(kind, metas, at, true))
}

impl TraceState {
    /// Adds a node to the current graph and returns traced tensors for its outputs:
    /// the node itself, or with `project` one `getitem` node per output (PyTorch's form
    /// for multi-output ops and higher-order ops).
    fn push_node(
        &mut self,
        kind: NodeKind,
        metas: Vec<TensorMeta>,
        at: SourceLocation,
        project: bool,
    ) -> Vec<Tensor> {
        let (id, scope) = (self.id, self.scope());
        let g = self.current();
        let node = g.push(Node {
            name: String::new(),
            kind,
            meta: metas.clone(),
            source: Some(at),
        });
        let traced = |node, meta| {
            Tensor::from_state(TensorState::Traced(Traced {
                trace: id,
                scope,
                node,
                meta,
            }))
        };
        if !project {
            return metas.into_iter().take(1).map(|m| traced(node, m)).collect();
        }
        metas
            .into_iter()
            .enumerate()
            .map(|(index, meta)| {
                let item = g.push(Node {
                    name: String::new(),
                    kind: NodeKind::GetItem {
                        source: node,
                        index,
                    },
                    meta: vec![meta.clone()],
                    source: Some(at),
                });
                traced(item, meta)
            })
            .collect()
    }
}

/// Records a guard the trace relies on. `caller` is where the comparison was made; a
/// comparison inside ferrex (an op's meta function) is attributed to the op's call.
pub(crate) fn record_guard(guard: Guard, caller: &'static std::panic::Location<'static>) {
    let busy = ACTIVE.with(|a| match a.try_borrow_mut() {
        Ok(mut slot) => {
            if let Some(s) = slot.as_mut() {
                if !s.guards.contains(&guard) {
                    let at = match s.current_call {
                        Some(call) if log::is_inside_ferrex(caller.file()) => call,
                        _ => SourceLocation::from_caller(caller),
                    };
                    s.guards.push(guard.clone());
                    s.guard_sites.push(at);
                }
            }
            false
        }
        Err(_) => true,
    });
    if busy {
        let at = SourceLocation::from_caller(caller);
        DEFERRED_GUARDS.with(|d| d.borrow_mut().push((guard, at)));
    }
}

pub(crate) fn record_data_access(access: &'static str, at: SourceLocation) {
    with_state(|s| s.issues.push(TraceIssue::DataAccess { access, at }));
}

fn record_issue(issue: TraceIssue) {
    with_state(|s| s.issues.push(issue));
}

/// Converts a call argument into a graph argument: traced tensors become their nodes,
/// eager tensors are lifted to constant placeholders.
fn to_arg(s: &mut TraceState, v: &Value, at: SourceLocation) -> Result<Arg, TensorError> {
    let node_of = |s: &mut TraceState, t: &Tensor| -> Result<NodeId, TensorError> {
        let depth = s.frames.len();
        match t.state() {
            TensorState::Traced(tr) if tr.trace == s.id => {
                let active = tr.scope == 0 || s.frames.iter().any(|f| f.scope == tr.scope);
                if !active {
                    return Err(TensorError::Op {
                        op: "cond".into(),
                        message: "a tensor computed inside a cond! branch is used outside it; return it from the branch instead".into(),
                        at,
                    });
                }
                if tr.scope == s.scope() {
                    Ok(tr.node)
                } else {
                    Ok(s.capture(depth, t, tr.scope, tr.node, &tr.meta))
                }
            }
            TensorState::Traced(_) => Err(TensorError::StaleTrace { at }),
            TensorState::Eager(storage) => {
                let meta = TensorMeta::from_shape(storage.dtype(), storage.shape());
                let root = match s.lifted.iter().find(|l| l.tensor.same_tensor(t)) {
                    Some(l) => l.node,
                    None => {
                        let node = s.graph.push(placeholder_node(meta.clone()));
                        s.lifted.push(LiftedConstant {
                            tensor: t.clone(),
                            storage,
                            node,
                        });
                        node
                    }
                };
                Ok(s.capture(depth, t, 0, root, &meta))
            }
            TensorState::Failed(e) => Err((*e).clone()),
        }
    };
    Ok(match v {
        Value::Tensor(t) => Arg::Tensor(node_of(s, t)?),
        Value::TensorList(ts) => {
            Arg::TensorList(ts.iter().map(|t| node_of(s, t)).collect::<Result<_, _>>()?)
        }
        Value::OptTensorList(ts) => Arg::OptTensorList(
            ts.iter()
                .map(|t| t.as_ref().map(|t| node_of(s, t)).transpose())
                .collect::<Result<_, _>>()?,
        ),
        Value::None => Arg::None,
        Value::Bool(b) => Arg::Bool(*b),
        Value::Int(i) => Arg::Int(i.clone()),
        Value::Float(f) => Arg::Float(*f),
        Value::Str(x) => Arg::Str(x.clone()),
        Value::DType(d) => Arg::DType(*d),
        Value::IntList(l) => Arg::IntList(l.clone()),
        Value::FloatList(l) => Arg::FloatList(l.clone()),
        Value::SymBool(b) => Arg::SymBool(b.clone()),
        // A call receives sizes inline; graph values are named only inside graphs.
        Value::Sym(_) | Value::SymInts(_) => {
            return Err(TensorError::Op {
                op: "trace".into(),
                message: format!("an op received {}, which only a graph holds", v.kind()),
                at,
            })
        }
    })
}

fn failed(op: &'static OpDef, err: TensorError) -> Vec<Tensor> {
    record_issue(TraceIssue::Op(err.clone()));
    vec![Tensor::failed(err); op.num_returns().max(1)]
}

/// Records a call of `op` in the active trace and returns traced tensors for its outputs.
pub(crate) fn record_call(op: &'static OpDef, args: Vec<Value>, at: SourceLocation) -> Vec<Tensor> {
    let at = with_state(|s| s.location_override).flatten().unwrap_or(at);
    let op_err = |e: OpError| TensorError::Op {
        op: op.name(),
        message: e.0,
        at,
    };
    // Ops PyTorch decomposes while tracing (CompositeImplicitAutograd) are traced
    // through their decomposition.
    if let (true, Some(decompose)) = (op.decompose_when_tracing, op.decomposition) {
        let previous = with_state(|s| s.location_override.replace(at)).flatten();
        let out = decompose(&OpArgs::new(op, &args));
        with_state(|s| s.location_override = previous);
        return match out {
            Ok(ts) => ts,
            Err(e) => failed(op, op_err(e)),
        };
    }
    // The meta function may record guards, so it runs outside the state borrow.
    let outer_call = with_state(|s| s.current_call.replace(at)).flatten();
    let metas = (op.meta)(&OpArgs::new(op, &args));
    with_state(|s| s.current_call = outer_call);
    let mut metas = match metas {
        Ok(m) => m,
        Err(e) => return failed(op, op_err(e)),
    };
    let recorded = with_state(|s| -> Result<Vec<Tensor>, TensorError> {
        s.simplify_sizes(&mut metas);
        let graph_args = args
            .iter()
            .map(|v| to_arg(s, v, at))
            .collect::<Result<Vec<_>, _>>()?;
        let multi = metas.len() != 1 || op.parsed().map(|p| p.returns_list()).unwrap_or(false);
        let kind = NodeKind::Call {
            op,
            args: graph_args,
        };
        Ok(s.push_node(kind, metas, at, multi))
    });
    match recorded {
        Some(Ok(ts)) => ts,
        Some(Err(e)) => failed(op, e),
        None => failed(op, TensorError::StaleTrace { at }),
    }
}

/// A size as a graph argument (for scalar outputs).
pub(crate) fn symint_arg(v: &SymInt) -> Arg {
    Arg::Int(v.clone())
}

#[cfg(test)]
mod reentry_tests {
    use super::*;
    use crate::symbolic::{CmpOp, Expr};

    #[test]
    fn a_guard_recorded_while_the_state_is_borrowed_is_kept() {
        assert!(begin().is_some());
        let guard = Guard {
            lhs: Expr::constant(2),
            op: CmpOp::Le,
            rhs: Expr::constant(3),
        };
        with_state(|_| record_guard(guard.clone(), std::panic::Location::caller()));
        let state = end().expect("the trace ends");
        assert_eq!(state.guards, [guard]);
        assert!(state.issues.is_empty());
    }

    #[test]
    fn any_other_reentrant_access_fails_the_trace() {
        assert!(begin().is_some());
        let inner = with_state(|_| with_state(|_| ()));
        assert_eq!(inner, Some(None));
        let state = end().expect("the trace ends");
        assert!(matches!(state.issues[..], [TraceIssue::Reentrant]));
    }
}
