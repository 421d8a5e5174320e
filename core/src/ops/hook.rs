//! PyTorch's dispatch mode: while an export traces on this thread, [`dispatch`] hands
//! every op call to the installed [`DispatchMode`] (the tracer records a node) instead
//! of running its kernel. The registry knows nothing else of tracing.
//!
//! [`dispatch`]: super::dispatch

use std::cell::Cell;

use super::{OpDef, Value};
use crate::error::SourceLocation;
use crate::symbolic::SymInt;
use crate::tensor::Tensor;

/// What receives op calls while it is installed.
pub trait DispatchMode {
    /// Records the call; the results are traced tensors.
    fn record_call(&self, op: &'static OpDef, args: Vec<Value>, at: SourceLocation) -> Vec<Tensor>;
    /// A new size-like symbol in `[0, max]` for an output length only the data decides
    /// (`nonzero`), or `None` when ops are not being recorded.
    fn new_unbacked_size(&self, max: Option<i64>, origin: &str) -> Option<SymInt>;
}

thread_local! {
    static MODE: Cell<Option<&'static dyn DispatchMode>> = const { Cell::new(None) };
}

/// Installs `mode` on this thread until the returned value is dropped.
pub fn install_dispatch_mode(mode: &'static dyn DispatchMode) -> DispatchModeInstalled {
    DispatchModeInstalled {
        previous: MODE.with(|m| m.replace(Some(mode))),
    }
}

/// Keeps a [`DispatchMode`] installed; dropping it restores the previous one.
#[must_use = "the mode is uninstalled when this is dropped"]
pub struct DispatchModeInstalled {
    previous: Option<&'static dyn DispatchMode>,
}

impl Drop for DispatchModeInstalled {
    fn drop(&mut self) {
        MODE.with(|m| m.set(self.previous));
    }
}

/// The installed mode, when ops are being recorded (`tensor::hook::is_tracing`).
pub(crate) fn recording() -> Option<&'static dyn DispatchMode> {
    MODE.with(Cell::get)
        .filter(|_| crate::tensor::hook::is_tracing())
}
