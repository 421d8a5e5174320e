//! The assume-constant escape hatch, PyTorch's `torch._dynamo.assume_constant_result`:
//! a helper evaluated once while exporting, on the example inputs, whose result the
//! program keeps as a constant. The program records each such value with its source
//! line (`ExportedProgram::assumed_constants`), since it holds only for inputs like the
//! examples.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;

use super::{with_state, TraceState};
use crate::error::SourceLocation;
use crate::tensor::{Tensor, TensorState};

thread_local! {
    /// Set while an `assume_constant` helper runs: its ops compute eagerly.
    static EVALUATING: Cell<bool> = const { Cell::new(false) };
}

/// Whether an `assume_constant` helper is running (ops then run eagerly on the
/// example values instead of being recorded).
pub(crate) fn evaluating() -> bool {
    EVALUATING.with(Cell::get)
}

/// A value computed at export by [`assume_constant`] and kept as a constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumedConstant {
    /// The value, as Rust's `Debug` prints it (`4`).
    pub value: String,
    /// Where `assume_constant` was called.
    pub location: SourceLocation,
    /// The source line, when the model's macro recorded it.
    pub code: Option<String>,
}

impl fmt::Display for AssumedConstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} from {}:{}",
            self.value, self.location.file, self.location.line
        )?;
        if let Some(code) = &self.code {
            write!(f, ", code: {code}")?;
        }
        Ok(())
    }
}

impl TraceState {
    /// Puts the example values back into the inputs and model state, returning their
    /// traced states to restore afterwards.
    fn show_examples(&self) -> Vec<(Tensor, TensorState)> {
        self.examples
            .iter()
            .map(|(t, example)| {
                let traced = t.state();
                t.set_state(TensorState::Eager(example.clone()));
                (t.clone(), traced)
            })
            .collect()
    }
}

/// Runs `helper` once and returns its result, which the exported program keeps as a
/// constant: the escape hatch for a helper that reads tensor data
/// (`y.item::<i64>()`) when the model knows the value is fixed. While exporting, the
/// helper sees the example values of the inputs and model state, and its ops run
/// eagerly instead of being recorded; the program lists the value under
/// [`ExportedProgram::assumed_constants`](crate::ExportedProgram::assumed_constants).
/// Outside an export it simply calls `helper`.
///
/// The program is then only right for inputs that give the same value, and it does not
/// check that: as with PyTorch's `assume_constant_result`, that is the model author's
/// promise. A helper that reads a value computed inside `forward` (not an input or model
/// state) has no example to read, and the export fails at that read.
///
/// ```
/// use ferrex::prelude::*;
///
/// #[export_module]
/// struct FirstRows {}
///
/// #[export_module(strict = false)]
/// impl FirstRows {
///     fn forward(&self, x: &Tensor, n: &Tensor) -> Tensor {
///         let end = ferrex::assume_constant(|| n.item::<i64>().unwrap_or(0));
///         x.slice(0, None::<i64>, Some(end), 1)
///     }
/// }
///
/// let ep = ferrex::export(&FirstRows {}, (Tensor::randn([3, 2]), Tensor::scalar(2i64)))?;
/// assert_eq!(ep.assumed_constants()[0].value, "2");
/// let out = ep.module().call((Tensor::randn([3, 2]), Tensor::scalar(2i64)))?;
/// assert_eq!(out[0].shape(), [2, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn assume_constant<T: fmt::Debug>(helper: impl FnOnce() -> T) -> T {
    let at = SourceLocation::from_caller(Location::caller());
    let Some(traced) = with_state(|s| s.show_examples()) else {
        return helper();
    };
    let outer = EVALUATING.with(|e| e.replace(true));
    // Restores the traced states even if the helper panics (export reports the panic).
    struct Back(Vec<(Tensor, TensorState)>, bool);
    impl Drop for Back {
        fn drop(&mut self) {
            for (t, s) in self.0.drain(..) {
                t.set_state(s);
            }
            EVALUATING.with(|e| e.set(self.1));
        }
    }
    let back = Back(traced, outer);
    let value = helper();
    drop(back);
    with_state(|s| {
        s.assumed.push(AssumedConstant {
            value: format!("{value:?}"),
            location: at,
            code: None,
        })
    });
    value
}
