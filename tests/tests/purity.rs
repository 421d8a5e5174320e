//! Strict mode's run-time safety net: `export` traces a strict `forward` twice and compares
//! the programs; state that syntax trusts without reading (here a counter behind the
//! `Clone` impl of configuration values cloned through `Iterator::cloned`: strict mode reads
//! or rejects a hand-written `clone` called by name, but not one a std adaptor runs) makes
//! them differ, which is an `ExportError::Impure` naming the first differing node.
//! Non-strict exports are traced once and specialise such values.

use std::sync::atomic::{AtomicUsize, Ordering};

use ferrex::prelude::*;
use ferrex::ExportError;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static NON_STRICT_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A counter strict mode does not read: `cloned()` runs `clone` inside std.
struct Tick(f64);
impl Clone for Tick {
    fn clone(&self) -> Tick {
        Tick(self.0 + CALLS.fetch_add(1, Ordering::Relaxed) as f64)
    }
}

fn next_non_strict_call() -> f64 {
    NON_STRICT_CALLS.fetch_add(1, Ordering::Relaxed) as f64
}

#[export_module]
struct Counting {
    #[config]
    ticks: Vec<Tick>,
}

#[export_module]
impl Counting {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.relu() * self.ticks.iter().cloned().map(|t| t.0).sum::<f64>()
    }
}

#[export_module]
struct CountingNonStrict {}

#[export_module(strict = false)]
impl CountingNonStrict {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.relu() * next_non_strict_call()
    }
}

#[export_module]
struct Pure {}

#[export_module]
impl Pure {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.relu() * 2.0
    }
}

#[test]
fn a_forward_that_reads_a_counter_is_not_pure() {
    let err = ferrex::export(
        &Counting {
            ticks: vec![Tick(0.0)],
        },
        (Tensor::randn([2, 3]),),
    )
    .expect_err("impure");
    let ExportError::Impure { location, what, .. } = &err else {
        panic!("expected ExportError::Impure, got {err}");
    };
    let at = location.expect("the differing node has a location");
    assert_eq!(at.file, "tests/tests/purity.rs");
    assert_eq!(at.line, 37);
    assert!(what.starts_with("node `mul` differs"), "{what}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "export failed: forward is not a pure function of its inputs and state: traced \
             twice, it gave two different programs (node `mul` differs: argument 1 of \
             `aten::mul.Tensor` is `Float(0.0)`, then `Float(1.0)`) at tests/tests/purity.rs:37"
        ),
        "{text}"
    );
    assert!(text.contains("at tests/tests/purity.rs:37"), "{text}");
}

#[test]
fn non_strict_exports_trace_once_and_specialise() {
    let ep = ferrex::export(&CountingNonStrict {}, (Tensor::randn([2, 3]),)).expect("exports");
    assert_eq!(ep.op_targets(), ["aten::relu.default", "aten::mul.Tensor"]);
}

#[test]
fn a_pure_forward_exports() {
    let ep = ferrex::export(&Pure {}, (Tensor::randn([2, 3]),)).expect("exports");
    assert_eq!(ep.op_targets(), ["aten::relu.default", "aten::mul.Tensor"]);
}
