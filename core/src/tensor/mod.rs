//! [`Tensor`]: one type for eager and traced values.
//!
//! A `Tensor` is a shared handle, like a PyTorch tensor object: `Clone` aliases it, and
//! in-place ops (`relu_`, `add_`) update every alias. Its state is
//! - eager: a [`Storage`] (ndarray data);
//! - traced: a node of the active export's graph plus its [`TensorMeta`];
//! - failed: the first error of the computation that produced it. Ops on a failed tensor
//!   propagate the error, and every fallible accessor (`to_vec`, `item`, `try_storage`,
//!   `export`, `call`) returns it, so shape errors never panic.

mod closeness;
mod format;
pub mod hook;
mod random;
pub mod safetensors;
pub mod sizes;
mod storage;

pub use crate::dtype::{result_type, Category, DType, PromotionOperand, ScalarKind};
pub use random::{manual_seed, with_default_generator, Generator};
pub use storage::{convert, view_as_slice, view_to_vec, Element, Scalar, Storage};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{SourceLocation, TensorError};
use crate::symbolic::{format_sizes, SymInt, SymScalar};

/// Index of a node in its graph (a traced tensor names the node that computes it; the
/// graph IR is built on top of this layer and re-exports it as `graph::NodeId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// The dtype and (symbolic) sizes of a tensor: everything tracing knows about it.
#[derive(Clone, Debug)]
pub struct TensorMeta {
    pub dtype: DType,
    pub sizes: Vec<SymInt>,
    /// For a node whose value is a symbolic scalar rather than a tensor (`aten::item`,
    /// a comparison for `ferrex::check`): that value (`u0`, `u0 <= 5`), printed as
    /// PyTorch's `Sym(u0)`. At run time the node holds a 0-d tensor of it.
    pub sym: Option<SymScalar>,
}

impl TensorMeta {
    pub fn new(dtype: DType, sizes: Vec<SymInt>) -> TensorMeta {
        TensorMeta {
            dtype,
            sizes,
            sym: None,
        }
    }

    /// The meta of a node whose value is the symbolic scalar `sym` (a 0-d tensor at run
    /// time).
    pub fn symbolic_scalar(dtype: DType, sym: SymScalar) -> TensorMeta {
        TensorMeta {
            dtype,
            sizes: Vec::new(),
            sym: Some(sym),
        }
    }

    pub fn from_shape(dtype: DType, shape: &[usize]) -> TensorMeta {
        TensorMeta {
            dtype,
            sizes: shape.iter().map(|&s| SymInt::from(s)).collect(),
            sym: None,
        }
    }

    pub fn rank(&self) -> usize {
        self.sizes.len()
    }

    /// The number of elements, symbolic when a size is.
    pub fn numel(&self) -> SymInt {
        self.sizes.iter().fold(SymInt::Int(1), |acc, s| acc.mul(s))
    }

    /// The concrete shape, if no size is symbolic.
    pub fn static_shape(&self) -> Option<Vec<usize>> {
        self.sizes
            .iter()
            .map(|s| s.as_int().map(|v| v as usize))
            .collect()
    }

    /// Structural equality of dtype and sizes (no guards recorded).
    pub fn same_as(&self, other: &TensorMeta) -> bool {
        self.dtype == other.dtype
            && self.sizes.len() == other.sizes.len()
            && self
                .sizes
                .iter()
                .zip(&other.sizes)
                .all(|(a, b)| a.same_as(b))
    }
}

impl std::fmt::Display for TensorMeta {
    /// `f32[8, 100]`, `f32[s0, s1 - 2]`, `Sym(u0)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(sym) = &self.sym {
            return write!(f, "Sym({sym})");
        }
        write!(f, "{}{}", self.dtype, format_sizes(&self.sizes))
    }
}

/// A traced value: a node of the active trace.
#[derive(Clone, Debug)]
pub(crate) struct Traced {
    pub trace: u64,
    /// The (sub)graph the node belongs to: 0 for the top level, one id per `cond!` branch.
    pub scope: u32,
    pub node: NodeId,
    pub meta: TensorMeta,
}

#[derive(Clone, Debug)]
pub(crate) enum TensorState {
    Eager(Storage),
    Traced(Traced),
    Failed(Arc<TensorError>),
}

thread_local! {
    /// Whether this thread holds private states (a fast check before the map).
    static TRACING_PRIVATELY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The states this thread's trace gave to tensors that existed before it (the
    /// model's parameters, buffers and constants, the inputs), by handle address.
    static PRIVATE_STATES: std::cell::RefCell<std::collections::HashMap<usize, (Tensor, TensorState)>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Drops this thread's private states: the traced tensors are their shared selves again.
pub(crate) fn end_private_states() {
    TRACING_PRIVATELY.set(false);
    let states = PRIVATE_STATES.with(|p| std::mem::take(&mut *p.borrow_mut()));
    drop(states);
}

/// A tensor: eager data, a traced value during export, or a propagated error.
#[derive(Clone)]
pub struct Tensor {
    cell: Arc<Cell>,
    /// For a view (`slice`, `select`, `transpose`, `view`, …): the tensor it was taken
    /// from, which an in-place write into the view reaches, and whose writes the view
    /// sees (`tensor_api/views.rs`).
    view_of: Option<Arc<ViewOf>>,
}

/// What the aliases of a tensor share: its state, and a count of the times it was
/// replaced (which tells a view whether its tensor changed since it was taken).
struct Cell {
    state: RwLock<TensorState>,
    version: AtomicU64,
}

/// How a view was taken from its tensor, which the view reads again after the tensor
/// changed and writes back into when written (implemented above this layer, by the
/// tensor API's view ops: `tensor_api/views.rs`).
pub(crate) trait ViewOp: Send + Sync {
    /// The view taken from `base` as it is now (by a read at `at`).
    fn take(&self, base: &Tensor, at: SourceLocation) -> Tensor;
    /// `base`'s new contents after the view `view` was written (at `at`), or why they
    /// cannot be written: the error of the write.
    fn written_back(&self, base: &Tensor, view: &Tensor, at: SourceLocation) -> Tensor;
}

/// A view's link to the tensor it was taken from.
pub(crate) struct ViewOf {
    pub(crate) base: Tensor,
    pub(crate) how: Box<dyn ViewOp>,
    /// The version of `base` the view's contents are those of.
    synced: AtomicU64,
}

impl Tensor {
    pub(crate) fn from_state(state: TensorState) -> Tensor {
        Tensor {
            cell: Arc::new(Cell {
                state: RwLock::new(state),
                version: AtomicU64::new(0),
            }),
            view_of: None,
        }
    }

    /// Wraps eager storage.
    #[must_use]
    pub fn from_storage(storage: Storage) -> Tensor {
        Tensor::from_state(TensorState::Eager(storage))
    }

    pub(crate) fn failed(err: TensorError) -> Tensor {
        Tensor::from_state(TensorState::Failed(Arc::new(err)))
    }

    /// A tensor carrying `err`, returned by every later op and accessor: how a `forward`
    /// passes on the error of a fallible call (`x.sym_item()`), since it returns tensors.
    #[must_use]
    pub fn from_error(err: TensorError) -> Tensor {
        Tensor::failed(err)
    }

    /// Reads the state: this thread's private one while it traces the tensor (see
    /// [`trace_privately`]), the shared one otherwise.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&TensorState) -> R) -> R {
        if let Some(view) = &self.view_of {
            self.refresh_view(view, SourceLocation::GRAPH);
        }
        if TRACING_PRIVATELY.get() {
            let key = self.id();
            let found = PRIVATE_STATES.with(|p| p.borrow().get(&key).map(|(_, s)| s.clone()));
            if let Some(state) = found {
                return f(&state);
            }
        }
        f(&self.cell.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn state(&self) -> TensorState {
        self.with_state(TensorState::clone)
    }

    /// Replaces the state in every alias — only on this thread while it traces the
    /// tensor privately.
    pub(crate) fn set_state(&self, state: TensorState) {
        self.cell.version.fetch_add(1, Ordering::AcqRel);
        if TRACING_PRIVATELY.get() {
            let key = self.id();
            let stored = PRIVATE_STATES.with(|p| match p.borrow_mut().get_mut(&key) {
                Some(slot) => {
                    slot.1 = state.clone();
                    true
                }
                None => false,
            });
            if stored {
                return;
            }
        }
        *self.cell.state.write().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// Replaces the state of a view taken again from its tensor: privately while this
    /// thread traces privately, so that a view kept in a model (of a traced parameter)
    /// is not left holding a value of the finished trace.
    pub(crate) fn set_view_state(&self, state: TensorState) {
        if TRACING_PRIVATELY.get() {
            self.cell.version.fetch_add(1, Ordering::AcqRel);
            self.trace_privately(state);
        } else {
            self.set_state(state);
        }
    }

    /// How many times the state was replaced.
    pub(crate) fn version(&self) -> u64 {
        self.cell.version.load(Ordering::Acquire)
    }

    /// Gives this tensor `state` on this thread only, until [`end_private_states`]: how
    /// an export traces the model's state and the inputs without changing what other
    /// threads (or a concurrent export) see through the same handles.
    pub(crate) fn trace_privately(&self, state: TensorState) {
        TRACING_PRIVATELY.set(true);
        // The map keeps a handle, so the address stays this tensor's while it is a key.
        PRIVATE_STATES.with(|p| p.borrow_mut().insert(self.id(), (self.clone(), state)));
    }

    /// Whether two handles are the same tensor (aliases).
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }

    /// This tensor as a view of `base` taken by `how` (a failed view stays unlinked).
    pub(crate) fn viewing(mut self, base: &Tensor, how: Box<dyn ViewOp>) -> Tensor {
        if !self.with_state(|s| matches!(s, TensorState::Failed(_))) {
            self.view_of = Some(Arc::new(ViewOf {
                base: base.clone(),
                how,
                synced: AtomicU64::new(base.version()),
            }));
        }
        self
    }

    /// The tensor this one is a view of, and how it was taken.
    pub(crate) fn view_of(&self) -> Option<&ViewOf> {
        self.view_of.as_deref()
    }

    /// Takes this view again from its tensor if the tensor changed since it was taken:
    /// what an op called at `at` does first with its arguments (reading the view
    /// otherwise does it too, with no source line).
    pub(crate) fn refresh(&self, at: SourceLocation) {
        if let Some(view) = &self.view_of {
            self.refresh_view(view, at);
        }
    }

    fn refresh_view(&self, view: &ViewOf, at: SourceLocation) {
        // The tensor is taken again first if it is itself a stale view.
        view.base.refresh(at);
        let base_version = view.base.version();
        if base_version == view.synced.load(Ordering::Acquire) {
            return;
        }
        let again = view.how.take(&view.base, at);
        self.set_view_state(again.state());
        view.synced.store(base_version, Ordering::Release);
    }

    /// Stores an in-place op's result in this tensor (every alias sees it) and returns
    /// the tensor. A failed eager op leaves the tensor as it was, as PyTorch's raising op
    /// does, and returns the failure; while tracing the failure is stored, so that the
    /// export reports it instead of silently dropping the mutation. A view writes its
    /// new contents back into its tensor, as PyTorch's views share memory (traced: the
    /// `slice_scatter`, `select_scatter` or inverse view functionalization records).
    #[track_caller]
    pub(crate) fn take_inplace_result(&self, out: Tensor) -> Tensor {
        let state = out.state();
        if matches!(state, TensorState::Failed(_)) && !hook::is_tracing() {
            return out;
        }
        let previous = self.view_of().map(|_| self.state());
        self.set_state(state);
        if let Some(v) = self.view_of() {
            let at = SourceLocation::from_caller(std::panic::Location::caller());
            let written = v
                .base
                .take_inplace_result(v.how.written_back(&v.base, self, at));
            if written.with_state(|s| matches!(s, TensorState::Failed(_))) {
                // Eagerly, a write that cannot reach the tensor leaves the view as it was.
                if let (Some(previous), false) = (previous, hook::is_tracing()) {
                    self.set_state(previous);
                }
                return written;
            }
            v.synced.store(v.base.version(), Ordering::Release);
        }
        self.clone()
    }

    /// An address identifying this tensor handle (Rust's counterpart of Python's `id(x)`).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.cell) as *const u8 as usize
    }

    /// Whether this tensor is a traced value of an export in progress. Not public API: a
    /// forward that asks would make the exported program differ from the model, and
    /// strict mode rejects the call.
    #[doc(hidden)]
    pub fn is_traced(&self) -> bool {
        self.with_state(|s| matches!(s, TensorState::Traced(_)))
    }

    /// The error this tensor carries, if a computation producing it failed.
    #[must_use]
    pub fn error(&self) -> Option<TensorError> {
        self.with_state(|s| match s {
            TensorState::Failed(e) => Some((**e).clone()),
            _ => None,
        })
    }

    /// Ok when the tensor holds a value (eager or traced), the error otherwise.
    pub fn check(&self) -> Result<&Tensor, TensorError> {
        match self.error() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    /// Dtype and sizes.
    pub fn meta(&self) -> Result<TensorMeta, TensorError> {
        self.with_state(|s| match s {
            TensorState::Eager(s) => Ok(TensorMeta::from_shape(s.dtype(), s.shape())),
            TensorState::Traced(t) => Ok(t.meta.clone()),
            TensorState::Failed(e) => Err((**e).clone()),
        })
    }

    /// The element type (`F32` for a failed tensor, whose value is an error).
    pub fn dtype(&self) -> DType {
        // Read in place: building the meta allocates its sizes, on every eager op.
        self.with_state(|s| match s {
            TensorState::Eager(s) => s.dtype(),
            TensorState::Traced(t) => t.meta.dtype,
            TensorState::Failed(_) => DType::F32,
        })
    }

    /// The number of dimensions (0 for a failed tensor).
    pub fn dim(&self) -> usize {
        self.with_state(|s| match s {
            TensorState::Eager(s) => s.shape().len(),
            TensorState::Traced(t) => t.meta.rank(),
            TensorState::Failed(_) => 0,
        })
    }

    /// The sizes, symbolic while tracing with dynamic shapes.
    #[must_use]
    pub fn sizes(&self) -> Vec<SymInt> {
        self.meta().map(|m| m.sizes).unwrap_or_default()
    }

    /// The size of dimension `d` (negative counts from the end); 0 when out of range.
    #[track_caller]
    #[must_use]
    pub fn size(&self, d: i64) -> SymInt {
        let sizes = self.sizes();
        // A 0-dim tensor accepts dim 0 / -1 (PyTorch's wrap) but has no size to read.
        match sizes::normalize_dim(d, sizes.len()) {
            Ok(d) => sizes.get(d).cloned().unwrap_or(SymInt::Int(0)),
            Err(_) => SymInt::Int(0),
        }
    }

    /// The concrete shape. For a symbolic size this specialises the export to the
    /// example value (recording a guard), as `int(x.shape[0])` does in PyTorch.
    pub fn shape(&self) -> Vec<usize> {
        self.sizes()
            .iter()
            .map(|s| s.guard_int().max(0) as usize)
            .collect()
    }

    /// The number of elements.
    #[must_use]
    pub fn numel(&self) -> SymInt {
        self.meta().map(|m| m.numel()).unwrap_or(SymInt::Int(0))
    }

    /// The eager data, or why there is none (traced: data-dependent; failed: its error).
    #[track_caller]
    pub fn try_storage(&self) -> Result<Storage, TensorError> {
        self.storage_for(
            "try_storage",
            SourceLocation::from_caller(std::panic::Location::caller()),
        )
    }

    pub(crate) fn storage_for(
        &self,
        access: &'static str,
        at: SourceLocation,
    ) -> Result<Storage, TensorError> {
        match self.state() {
            TensorState::Eager(s) => Ok(s),
            TensorState::Traced(_) => {
                let err = TensorError::DataDependent { access, at };
                hook::record_data_access(access, at);
                Err(err)
            }
            TensorState::Failed(e) => Err((*e).clone()),
        }
    }

    /// The elements in row-major order as `T` (converted when the dtype differs).
    #[track_caller]
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, TensorError> {
        let at = SourceLocation::from_caller(std::panic::Location::caller());
        Ok(self.storage_for("to_vec", at)?.to_vec())
    }

    /// The single element of a one-element tensor.
    #[track_caller]
    pub fn item<T: Element>(&self) -> Result<T, TensorError> {
        let at = SourceLocation::from_caller(std::panic::Location::caller());
        let s = self.storage_for("item", at)?;
        if s.len() != 1 {
            return Err(TensorError::Op {
                op: "item".into(),
                message: format!(
                    "a tensor with {} elements cannot be converted to a scalar",
                    s.len()
                ),
                at,
            });
        }
        Ok(s.to_vec::<T>().into_iter().next().unwrap_or_default())
    }

    /// The data as an ndarray of `T` (the tensor's own dtype).
    #[track_caller]
    pub fn to_ndarray<T: Element>(&self) -> Result<ndarray::ArrayD<T>, TensorError> {
        let at = SourceLocation::from_caller(std::panic::Location::caller());
        let s = self.storage_for("to_ndarray", at)?;
        if s.dtype() != T::DTYPE {
            return Err(TensorError::DTypeMismatch {
                requested: T::DTYPE,
                actual: s.dtype(),
                at,
            });
        }
        let data = s.to_vec::<T>();
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(s.shape()), data).map_err(|e| {
            TensorError::Construct {
                what: "to_ndarray",
                message: e.to_string(),
            }
        })
    }

    /// A tensor from row-major data and a shape. Like the other constructors it returns
    /// a tensor: when the data does not fill the shape (or the shape's element count
    /// overflows), the tensor carries a [`TensorError::Construct`] that every later op
    /// and accessor returns (`Tensor::from_vec(v, [2, 3]).check()?` stops at once).
    ///
    /// ```
    /// use ferrex::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
    /// assert_eq!(t.shape(), [2, 3]);
    /// let bad = Tensor::from_vec(vec![1.0f32, 2.0], [2, 3]);
    /// assert_eq!(
    ///     bad.error().map(|e| e.to_string()).as_deref(),
    ///     Some("Tensor::from_vec: 2 elements do not fill shape [2, 3] (6 elements)")
    /// );
    /// ```
    #[must_use]
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl AsRef<[usize]>) -> Tensor {
        let shape = shape.as_ref();
        let construct_error = |message: String| {
            Tensor::failed(TensorError::Construct {
                what: "Tensor::from_vec",
                message,
            })
        };
        let Some(n) = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
            return construct_error(format!(
                "the element count of shape {shape:?} overflows usize"
            ));
        };
        if n != data.len() {
            return construct_error(format!(
                "{} elements do not fill shape {shape:?} ({n} elements)",
                data.len()
            ));
        }
        match Storage::from_vec(shape, data) {
            Some(storage) => Tensor::from_storage(storage),
            None => construct_error(format!("invalid shape {shape:?}")),
        }
    }

    /// A one-dimensional tensor holding a copy of `data`.
    #[must_use]
    pub fn from_slice<T: Element>(data: &[T]) -> Tensor {
        Tensor::from_storage(T::wrap(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[data.len()]), data.to_vec())
                .map(|a| a.into_shared())
                .unwrap_or_else(|_| {
                    ndarray::ArcArray::from_elem(ndarray::IxDyn(&[0]), T::default())
                }),
        ))
    }

    /// A tensor from an ndarray (no copy).
    #[must_use]
    pub fn from_ndarray<T: Element>(a: ndarray::ArrayD<T>) -> Tensor {
        Tensor::from_storage(T::wrap(a.into_shared()))
    }

    /// A zero-dimensional tensor.
    #[must_use]
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor::from_storage(T::wrap(ndarray::ArcArray::from_elem(
            ndarray::IxDyn(&[]),
            v,
        )))
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn size_of_a_0_dim_or_failed_tensor_is_0_not_a_panic() {
        assert_eq!(Tensor::scalar(3.0f32).size(0).as_int(), Some(0));
        assert_eq!(Tensor::scalar(3.0f32).size(-1).as_int(), Some(0));
        let failed = Tensor::ones([2, 3]) + Tensor::ones([4]);
        assert_eq!(failed.size(0).as_int(), Some(0));
        assert_eq!(Tensor::ones([2, 3]).size(1).as_int(), Some(3));
    }
}
