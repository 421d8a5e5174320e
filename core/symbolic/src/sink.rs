//! Where comparisons report: the tracer installs a [`GuardSink`] on its thread for the
//! length of an export, so this crate records guards without knowing about tracing.
//! With no sink installed (eager code), comparisons answer from the hints and record
//! nothing.

use std::cell::Cell;
use std::panic::Location;

use crate::{CmpOp, Guard, SymInt};

/// The receiver of what symbolic comparisons learn while a program is traced.
pub trait GuardSink {
    /// A comparison of backed sizes decided from their hints: the program relies on it.
    fn record_guard(&self, guard: Guard, at: &'static Location<'static>);
    /// A comparison involving a value read from data (no hint): decided from the ranges
    /// the program declared, or recorded as an error and answered `false`.
    fn decide_unbacked(
        &self,
        lhs: &SymInt,
        op: CmpOp,
        rhs: &SymInt,
        at: &'static Location<'static>,
    ) -> bool;
    /// A value read from data was forced to a concrete integer: recorded as an error.
    fn cannot_specialize(&self, value: &SymInt, at: &'static Location<'static>);
}

thread_local! {
    static SINK: Cell<Option<&'static dyn GuardSink>> = const { Cell::new(None) };
}

/// Installs `sink` on this thread until the returned value is dropped (the previous one,
/// if any, is restored then).
pub fn install_guard_sink(sink: &'static dyn GuardSink) -> GuardSinkInstalled {
    GuardSinkInstalled {
        previous: SINK.with(|s| s.replace(Some(sink))),
    }
}

/// Keeps a [`GuardSink`] installed; dropping it restores the previous one.
#[must_use = "the sink is uninstalled when this is dropped"]
pub struct GuardSinkInstalled {
    previous: Option<&'static dyn GuardSink>,
}

impl Drop for GuardSinkInstalled {
    fn drop(&mut self) {
        SINK.with(|s| s.set(self.previous));
    }
}

fn current() -> Option<&'static dyn GuardSink> {
    SINK.with(Cell::get)
}

pub(crate) fn record_guard(guard: Guard, at: &'static Location<'static>) {
    if let Some(sink) = current() {
        sink.record_guard(guard, at);
    }
}

pub(crate) fn decide_unbacked(
    lhs: &SymInt,
    op: CmpOp,
    rhs: &SymInt,
    at: &'static Location<'static>,
) -> bool {
    match current() {
        Some(sink) => sink.decide_unbacked(lhs, op, rhs, at),
        None => op.eval(lhs.hint(), rhs.hint()),
    }
}

pub(crate) fn cannot_specialize(value: &SymInt, at: &'static Location<'static>) {
    if let Some(sink) = current() {
        sink.cannot_specialize(value, at);
    }
}
