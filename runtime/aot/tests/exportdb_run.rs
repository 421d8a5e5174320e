//! The supported ExportDB cases the generator compiles (`tests/exportdb/`, kept fresh by
//! `tests/exportdb.rs`), compiled here and run on inputs of their example sizes, of
//! other sizes for each dynamic dim (its lower bound — 0 where allowed —, one less and
//! two more than the example, its upper bound), other data where data decides (a `cond`
//! predicate flipped, values read by `item` inside and outside their checked range), and
//! bad inputs (a missing one, a wrong dtype, a wrong rank): the same outputs as the
//! compiled plan bit for bit and within 1e-5 of the interpreter, or the same error,
//! word for word.

#[rustfmt::skip]
#[path = "exportdb/cases.rs"]
mod cases;

use std::collections::BTreeMap;

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::program::{ArgumentSpec, ConstantValue, InputKind};
use ferrex::symbolic::Symbol;
use ferrex::{DType, ExportedProgram, SymInt, Tensor};
use ferrex_exportdb::Verdict;

/// A tensor of `dtype` and `sizes` with small values (ids stay in small tables); `shift`
/// moves integer data and flips bools (other data where data decides).
fn input(dtype: DType, sizes: Vec<usize>, shift: i64) -> Tensor {
    let n: usize = sizes.iter().product();
    match dtype {
        DType::I64 => Tensor::from_vec(
            (0..n as i64).map(|i| i % 3 + shift).collect::<Vec<_>>(),
            sizes,
        ),
        DType::Bool => Tensor::from_vec(
            (0..n)
                .map(|i| (i % 2 == 0) == (shift == 0))
                .collect::<Vec<_>>(),
            sizes,
        ),
        _ => Tensor::randn(sizes).to_dtype(dtype),
    }
}

/// The values of `t` as bits (exact, whatever its dtype).
fn bits(t: &Tensor) -> Vec<u64> {
    values(t).iter().map(|v| v.to_bits()).collect()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).to_vec::<f64>().unwrap()
}

/// The value of each symbol of the inputs' sizes at the example (from a dim `a*s + b`).
fn example_symbols(ep: &ExportedProgram) -> BTreeMap<Symbol, i64> {
    let mut out = BTreeMap::new();
    for (id, _) in ep.graph().placeholders() {
        for size in &ep.graph().node(id).meta[0].sizes {
            if let Some((s, a, b)) = size.expr().as_linear() {
                out.entry(s).or_insert((size.hint() - b) / a);
            }
        }
    }
    out
}

/// The symbol values to run at: the example's, then each symbol at its lower bound
/// (0 at least), one less and two more than the example, and its upper bound.
fn symbol_sets(ep: &ExportedProgram) -> Vec<BTreeMap<Symbol, i64>> {
    let example = example_symbols(ep);
    let mut sets = vec![example.clone()];
    for (&s, &hint) in &example {
        let range = (ep.range_constraints().entries.iter())
            .find(|(e, _)| e.as_linear() == Some((s, 1, 0)))
            .map(|(_, r)| (r.lower, r.upper));
        let (lower, upper) = range.unwrap_or((0, None));
        let mut candidates = vec![lower.max(0), hint - 1, hint + 2];
        candidates.extend(upper.filter(|u| *u <= 64));
        for v in candidates {
            if v >= 0 && v != hint {
                let mut set = example.clone();
                set.insert(s, v);
                sets.push(set);
            }
        }
    }
    sets
}

/// The user inputs of `ep` with sizes from `symbols` and data shifted by `shift`.
fn leaves(ep: &ExportedProgram, symbols: &BTreeMap<Symbol, i64>, shift: i64) -> Vec<InputLeaf> {
    let mut placeholders = ep.graph().placeholders().map(|(id, _)| id);
    let mut leaves = Vec::new();
    for spec in &ep.graph_signature().input_specs {
        let value = match &spec.arg {
            ArgumentSpec::Constant { value, .. } => match value {
                ConstantValue::Int(i) => LeafValue::Int(*i),
                ConstantValue::Float(f) => LeafValue::Float(*f),
                ConstantValue::Bool(b) => LeafValue::Bool(*b),
                ConstantValue::Str(s) => LeafValue::Str(s.clone()),
                ConstantValue::None => LeafValue::None,
            },
            _ => {
                let id = placeholders.next().expect("a placeholder per tensor input");
                let meta = &ep.graph().node(id).meta[0];
                let size = |s: &SymInt| {
                    let v = s.expr().eval(&|sym| symbols.get(&sym).copied());
                    v.unwrap_or(s.hint()).max(0) as usize
                };
                let sizes = meta.sizes.iter().map(size).collect();
                LeafValue::Tensor(input(meta.dtype, sizes, shift))
            }
        };
        if spec.kind == InputKind::UserInput {
            leaves.push(InputLeaf {
                path: spec.arg.name().to_string(),
                value,
            });
        }
    }
    leaves
}

/// A deep copy (input mutations are written into the caller's tensors).
fn copy(ls: &[InputLeaf]) -> Vec<InputLeaf> {
    ls.iter()
        .map(|l| InputLeaf {
            path: l.path.clone(),
            value: match &l.value {
                LeafValue::Tensor(t) => LeafValue::Tensor(t.copy()),
                v => v.clone(),
            },
        })
        .collect()
}

/// Bad calls: the last input missing, the first tensor as f64, the first tensor with
/// one more dim.
fn bad_calls(good: &[InputLeaf]) -> Vec<Vec<InputLeaf>> {
    let mut out = vec![copy(&good[..good.len().saturating_sub(1)])];
    if let Some(k) = (good.iter()).position(|l| matches!(l.value, LeafValue::Tensor(_))) {
        let LeafValue::Tensor(t) = &good[k].value else {
            unreachable!()
        };
        let mut wrong_dtype = copy(good);
        wrong_dtype[k].value = LeafValue::Tensor(t.to_dtype(DType::F64));
        let mut wrong_rank = copy(good);
        let mut sizes = t.shape().to_vec();
        sizes.push(1);
        wrong_rank[k].value = LeafValue::Tensor(t.copy().reshape(sizes));
        out.extend([wrong_dtype, wrong_rank]);
    }
    out
}

/// Every call of a case: sizes per symbol set, other data, then bad inputs (from the
/// returned index on).
fn calls(ep: &ExportedProgram) -> (Vec<Vec<InputLeaf>>, usize) {
    let mut out: Vec<Vec<InputLeaf>> = Vec::new();
    for symbols in symbol_sets(ep) {
        out.push(leaves(ep, &symbols, 0));
    }
    let example = example_symbols(ep);
    let data_decides = (ep.graph().placeholders())
        .any(|(id, _)| matches!(ep.graph().node(id).meta[0].dtype, DType::Bool | DType::I64));
    if data_decides {
        for shift in [1, 5, 7, -1] {
            out.push(leaves(ep, &example, shift));
        }
    }
    let bad = bad_calls(&out[0]);
    // The example twice: a mutated buffer carries over from call to call.
    let again = copy(&out[0]);
    out.push(again);
    let good = out.len();
    out.extend(bad);
    (out, good)
}

type Outcome = Result<Vec<Tensor>, ferrex::RunError>;

/// The generated module agrees with the plan (bits, or the error's words) and with the
/// interpreter (within 1e-5, or the error's words).
fn compare(what: &str, aot: &Outcome, plan: &Outcome, interp: &Outcome) {
    match (aot, plan) {
        (Ok(got), Ok(want)) => {
            assert_eq!(got.len(), want.len(), "{what}");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g.shape(), w.shape(), "{what}");
                assert_eq!(g.dtype(), w.dtype(), "{what}");
                assert_eq!(bits(g), bits(w), "{what}");
            }
        }
        (Err(g), Err(w)) => assert_eq!(g.to_string(), w.to_string(), "{what}"),
        (g, w) => panic!("{what}: aot {g:?}, plan {w:?}"),
    }
    match (aot, interp) {
        (Ok(got), Ok(want)) => {
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g.shape(), w.shape(), "{what}: interpreter");
                for (a, b) in values(g).iter().zip(values(w)) {
                    assert!((a - b).abs() <= 1e-5, "{what}: {a} vs {b} (interpreter)");
                }
            }
        }
        (Err(g), Err(w)) => assert_eq!(g.to_string(), w.to_string(), "{what}: interpreter"),
        (g, w) => panic!("{what}: aot {g:?}, interpreter {w:?}"),
    }
}

/// Exports case `case` (the same program each time: seeded).
fn export(case: &ferrex_exportdb::Case) -> ExportedProgram {
    ferrex::manual_seed(0);
    match (case.run)() {
        Ok(exported) => exported.program,
        Err(_) => panic!("{} does not export", case.name),
    }
}

#[test]
fn generated_exportdb_cases_match_the_plan_and_the_interpreter() {
    let (mut ran, mut total_calls, mut errors) = (0, 0, 0);
    for case in ferrex_exportdb::cases() {
        if case.verdict != Verdict::Supported {
            continue;
        }
        // One program per runner: the plan and the interpreter each update their own
        // program's buffers, the generated module its own.
        let (ep, ep_interp) = (export(case), export(case));
        let (calls, good) = calls(&ep);
        let mine: Vec<Vec<InputLeaf>> = calls.iter().map(|c| copy(c)).collect();
        let Some(got) = cases::call(case.name, &mine) else {
            panic!("{} is not generated", case.name)
        };
        let plan = ferrex_runtime::compile(&ep).unwrap();
        for (k, (call, got)) in calls.iter().zip(got).enumerate() {
            let theirs = copy(call);
            let want = plan.call_flat(&theirs);
            let interp_leaves = copy(call);
            let interp = ep_interp.module().call_flat(&interp_leaves);
            let what = format!("{}, call {k}", case.name);
            compare(&what, &got, &want, &interp);
            for (a, b) in mine[k].iter().zip(&theirs) {
                if let (LeafValue::Tensor(a), LeafValue::Tensor(b)) = (&a.value, &b.value) {
                    assert_eq!(bits(a), bits(b), "{what}: inputs after the call");
                }
            }
            match (&got, k) {
                (Err(e), 0) => panic!("{what}: the example inputs fail: {e}"),
                (Ok(_), k) if k >= good => panic!("{what}: a bad input is accepted"),
                (Err(e), k) if k < good => println!("{what}: {e}"),
                _ => {}
            }
            errors += usize::from(got.is_err());
            total_calls += 1;
        }
        ran += 1;
    }
    println!("ExportDB cases run: {ran}, calls: {total_calls}, of which errors: {errors}");
    assert_eq!(ran, 42);
}
