//! The tracing context: while `ferrex::export` runs `forward`, every op dispatched on
//! this thread records a node here instead of computing. Size comparisons record guards;
//! reads of tensor data record data-dependence errors with their source location.

mod constraints;
mod dynamic;
mod export;

pub use dynamic::{Dim, DynamicShapes};
pub use export::{export, Exporter};

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{OpError, SourceLocation, TensorError};
use crate::graph::{Arg, Graph, Node, NodeId, NodeKind};
use crate::ops::{OpArgs, OpDef, Value};
use crate::symbolic::{Guard, SymInt};
use crate::tensor::{Storage, Tensor, TensorMeta, TensorState, Traced};

/// Something that went wrong while tracing, reported when the export finishes.
#[derive(Clone, Debug)]
pub(crate) enum TraceIssue {
    Op(TensorError),
    DataAccess {
        access: &'static str,
        at: SourceLocation,
    },
}

/// An eager tensor that `forward` combined with traced ones: it becomes a constant input.
pub(crate) struct LiftedConstant {
    pub tensor: Tensor,
    pub storage: Storage,
    pub node: NodeId,
}

pub(crate) struct TraceState {
    pub id: u64,
    pub graph: Graph,
    pub lifted: Vec<LiftedConstant>,
    pub guards: Vec<Guard>,
    pub issues: Vec<TraceIssue>,
    /// While a decomposition runs at trace time, its nodes take the location of the
    /// call being decomposed.
    pub location_override: Option<SourceLocation>,
}

thread_local! {
    static ACTIVE: RefCell<Option<TraceState>> = const { RefCell::new(None) };
}

static NEXT_TRACE_ID: AtomicU64 = AtomicU64::new(1);

/// Whether an export is tracing on this thread.
pub fn is_tracing() -> bool {
    ACTIVE.with(|a| a.try_borrow().map(|s| s.is_some()).unwrap_or(true))
}

fn with_state<R>(f: impl FnOnce(&mut TraceState) -> R) -> Option<R> {
    ACTIVE.with(|a| a.try_borrow_mut().ok().and_then(|mut s| s.as_mut().map(f)))
}

/// Starts a trace on this thread; `None` if one is already running.
pub(crate) fn begin() -> Option<u64> {
    ACTIVE.with(|a| {
        let mut slot = a.try_borrow_mut().ok()?;
        if slot.is_some() {
            return None;
        }
        let id = NEXT_TRACE_ID.fetch_add(1, Ordering::Relaxed);
        *slot = Some(TraceState {
            id,
            graph: Graph::default(),
            lifted: Vec::new(),
            guards: Vec::new(),
            issues: Vec::new(),
            location_override: None,
        });
        Some(id)
    })
}

/// Ends the trace on this thread and returns its state.
pub(crate) fn end() -> Option<TraceState> {
    ACTIVE.with(|a| a.try_borrow_mut().ok().and_then(|mut s| s.take()))
}

/// Adds a placeholder for a tensor with `meta` and makes `tensor` trace to it.
pub(crate) fn add_placeholder(tensor: &Tensor, meta: TensorMeta) -> Option<NodeId> {
    with_state(|s| {
        let node = s.graph.push(Node {
            name: String::new(),
            kind: NodeKind::Placeholder,
            meta: vec![meta.clone()],
            source: None,
        });
        tensor.set_state(TensorState::Traced(Traced {
            trace: s.id,
            node,
            meta,
        }));
        node
    })
}

pub(crate) fn record_guard(guard: Guard) {
    with_state(|s| {
        if !s.guards.contains(&guard) {
            s.guards.push(guard);
        }
    });
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
        match t.state() {
            TensorState::Traced(tr) if tr.trace == s.id => Ok(tr.node),
            TensorState::Traced(_) => Err(TensorError::StaleTrace { at }),
            TensorState::Eager(storage) => {
                if let Some(l) = s.lifted.iter().find(|l| l.tensor.same_tensor(t)) {
                    return Ok(l.node);
                }
                let node = s.graph.push(Node {
                    name: String::new(),
                    kind: NodeKind::Placeholder,
                    meta: vec![TensorMeta::from_shape(storage.dtype(), storage.shape())],
                    source: None,
                });
                s.lifted.push(LiftedConstant {
                    tensor: t.clone(),
                    storage,
                    node,
                });
                Ok(node)
            }
            TensorState::Failed(e) => Err((*e).clone()),
        }
    };
    Ok(match v {
        Value::Tensor(t) => Arg::Node(node_of(s, t)?),
        Value::TensorList(ts) => {
            Arg::NodeList(ts.iter().map(|t| node_of(s, t)).collect::<Result<_, _>>()?)
        }
        Value::OptTensorList(ts) => Arg::OptNodeList(
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
    let metas = match (op.meta)(&OpArgs::new(op, &args)) {
        Ok(m) => m,
        Err(e) => return failed(op, op_err(e)),
    };
    let recorded = with_state(|s| -> Result<Vec<Tensor>, TensorError> {
        let graph_args = args
            .iter()
            .map(|v| to_arg(s, v, at))
            .collect::<Result<Vec<_>, _>>()?;
        let node = s.graph.push(Node {
            name: String::new(),
            kind: NodeKind::Call {
                op,
                args: graph_args,
            },
            meta: metas.clone(),
            source: Some(at),
        });
        let traced = |node, meta| {
            Tensor::from_state(TensorState::Traced(Traced {
                trace: s.id,
                node,
                meta,
            }))
        };
        let multi = metas.len() != 1 || op.parsed().map(|p| p.returns_list()).unwrap_or(false);
        if !multi {
            return Ok(vec![traced(node, metas[0].clone())]);
        }
        let mut out = Vec::with_capacity(metas.len());
        for (index, meta) in metas.iter().enumerate() {
            let item = s.graph.push(Node {
                name: String::new(),
                kind: NodeKind::GetItem {
                    source: node,
                    index,
                },
                meta: vec![meta.clone()],
                source: Some(at),
            });
            out.push(traced(item, meta.clone()));
        }
        Ok(out)
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
