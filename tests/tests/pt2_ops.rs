//! PyTorch 2.15 programs of the ops PyTorch models record beyond the reference corpus
//! (`tests/data/pt2_ops/`, written by `gen_ops.py`: pooling and upsampling over lengths,
//! `unbind`, `masked_fill`, the `Scalar` overloads, activations, `rms_norm`, norms,
//! reductions, trigonometry, bitwise ops, sorting, scatters, stacking, `one_hot`, …):
//! both IRs load with `ferrex::load` and `ferrex_runtime::load`, and both runners give
//! PyTorch's values within 1e-5. ferrex's own `run_decompositions()` of the default IR
//! gives them too.

mod common;

use common::pt2_corpus::{series, Corpus, Runner, ATOL};
use common::pt2_io::{leaves, max_diff};
use ferrex::Tensor;

const PROGRAMS: usize = 35;

fn corpus() -> Corpus {
    Corpus::new("pt2_ops")
}

#[test]
fn default_ir_runs_in_the_interpreter() {
    assert_eq!(
        corpus().check_all(Runner::Interpreter, false).len(),
        PROGRAMS
    );
}

#[test]
fn default_ir_runs_compiled() {
    assert_eq!(corpus().check_all(Runner::Compiled, false).len(), PROGRAMS);
}

#[test]
fn core_ir_runs_in_the_interpreter() {
    assert_eq!(
        corpus().check_all(Runner::Interpreter, true).len(),
        PROGRAMS
    );
}

#[test]
fn core_ir_runs_compiled() {
    assert_eq!(corpus().check_all(Runner::Compiled, true).len(), PROGRAMS);
}

/// The composites decompose (ferrex's `run_decompositions()` of the default IR) into
/// ops that give PyTorch's values, and none of them is left in the result.
#[test]
fn decomposed_default_ir_gives_pytorch_values() {
    let corpus = corpus();
    for name in corpus.names() {
        let ep = ferrex::load(corpus.file(&name, false)).unwrap();
        let ours = ep
            .run_decompositions()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for op in ours.op_targets() {
            let def = ferrex::ops::lookup(&op).unwrap();
            assert!(
                def.decomposition.is_none() || def.core_aten,
                "{name}: {op} left whole"
            );
        }
        let io = corpus.io(&name);
        let inputs: Vec<Tensor> = series(&io, "", "in")
            .into_iter()
            .map(Tensor::copy)
            .collect();
        let outs = ours.module().call_flat(&leaves(&ours, &inputs)).unwrap();
        for (i, (g, w)) in outs.iter().zip(series(&io, "", "out")).enumerate() {
            let d = max_diff(g, w, &format!("{name} decomposed out{i}"));
            assert!(d <= ATOL, "{name}: decomposed out{i} differs by {d}");
        }
    }
}

/// The compiled runtime plans the composites' parts: no program here leaves a composite
/// op (one whose eager implementation is its decomposition) as one eager fallback.
#[test]
fn the_plan_has_no_composite_fallbacks() {
    let corpus = corpus();
    for name in corpus.names() {
        for core in [false, true] {
            let compiled = ferrex_runtime::load(corpus.file(&name, core)).unwrap();
            for op in compiled.stats().fallback_ops {
                let def = ferrex::ops::lookup(&op).unwrap();
                let composite = def.decomposition.is_some() && def.implementation.is_some();
                assert!(!composite, "{name} core={core}: {op} runs eagerly whole");
            }
        }
    }
}
