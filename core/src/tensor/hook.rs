//! What the tensor layer tells the tracer without knowing it: whether an export is
//! tracing on this thread, and which data accesses of traced tensors it must fail on.
//! The tracer installs a [`TraceObserver`] for the length of a trace (`trace::begin`);
//! with none installed, nothing is traced.

use std::cell::Cell;

use crate::error::SourceLocation;

/// The tracer, as the tensor layer sees it.
pub trait TraceObserver {
    /// Whether ops are recorded rather than run on this thread right now.
    fn is_tracing(&self) -> bool;
    /// A traced tensor's data was asked for (`to_vec`, `item`, …): the export fails
    /// with this access, even if the caller ignores the error it got.
    fn record_data_access(&self, access: &'static str, at: SourceLocation);
}

thread_local! {
    static OBSERVER: Cell<Option<&'static dyn TraceObserver>> = const { Cell::new(None) };
}

/// Installs `observer` on this thread until the returned value is dropped.
pub fn install_trace_observer(observer: &'static dyn TraceObserver) -> TraceObserverInstalled {
    TraceObserverInstalled {
        previous: OBSERVER.with(|o| o.replace(Some(observer))),
    }
}

/// Keeps a [`TraceObserver`] installed; dropping it restores the previous one.
#[must_use = "the observer is uninstalled when this is dropped"]
pub struct TraceObserverInstalled {
    previous: Option<&'static dyn TraceObserver>,
}

impl Drop for TraceObserverInstalled {
    fn drop(&mut self) {
        OBSERVER.with(|o| o.set(self.previous));
    }
}

/// Whether an export is tracing on this thread.
pub fn is_tracing() -> bool {
    OBSERVER.with(Cell::get).is_some_and(|o| o.is_tracing())
}

pub(crate) fn record_data_access(access: &'static str, at: SourceLocation) {
    if let Some(o) = OBSERVER.with(Cell::get) {
        o.record_data_access(access, at);
    }
}
