//! The supported ExportDB cases the generator compiles (`tests/exportdb/`, kept fresh by
//! `tests/exportdb.rs`), compiled here and run on inputs of their example sizes: the
//! same outputs as the compiled plan bit for bit, or the same error.

#[rustfmt::skip]
#[path = "exportdb/cases.rs"]
mod cases;

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::program::{ArgumentSpec, ConstantValue, InputKind};
use ferrex::{DType, Tensor};
use ferrex_exportdb::Verdict;

/// A tensor of `dtype` and `sizes` with small values (ids stay in small tables).
fn input(dtype: DType, sizes: Vec<usize>) -> Tensor {
    let n: usize = sizes.iter().product();
    match dtype {
        DType::I64 => Tensor::from_vec((0..n as i64).map(|i| i % 3).collect::<Vec<_>>(), sizes),
        DType::Bool => Tensor::from_vec((0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(), sizes),
        _ => Tensor::randn(sizes).to_dtype(dtype),
    }
}

/// The values of `t` as bits (exact, whatever its dtype).
fn bits(t: &Tensor) -> Vec<u64> {
    let t = t.to_dtype(DType::F64);
    t.to_vec::<f64>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn generated_exportdb_cases_match_the_plan() {
    let (mut ran, mut agreed) = (0, Vec::new());
    for case in ferrex_exportdb::cases() {
        if case.verdict != Verdict::Supported {
            continue;
        }
        ferrex::manual_seed(0);
        let Ok(exported) = (case.run)() else {
            panic!("{} does not export", case.name)
        };
        let ep = exported.program;
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
                    let sizes = meta.sizes.iter().map(|s| s.hint().max(0) as usize);
                    LeafValue::Tensor(input(meta.dtype, sizes.collect()))
                }
            };
            if spec.kind == InputKind::UserInput {
                leaves.push(InputLeaf {
                    path: spec.arg.name().to_string(),
                    value,
                });
            }
        }
        // Each runner gets its own copy (input mutations are written into them).
        let copy = |ls: &[InputLeaf]| -> Vec<InputLeaf> {
            ls.iter()
                .map(|l| InputLeaf {
                    path: l.path.clone(),
                    value: match &l.value {
                        LeafValue::Tensor(t) => LeafValue::Tensor(t.copy()),
                        v => v.clone(),
                    },
                })
                .collect()
        };
        // Two calls of one model and one plan: a mutated buffer carries over.
        let mine: Vec<Vec<InputLeaf>> = vec![copy(&leaves), copy(&leaves)];
        let theirs: Vec<Vec<InputLeaf>> = vec![copy(&leaves), copy(&leaves)];
        let Some(got) = cases::call(case.name, &mine) else {
            continue;
        };
        let plan = ferrex_runtime::compile(&ep).unwrap();
        for (call, (got, theirs)) in got.into_iter().zip(&theirs).enumerate() {
            let want = plan.call_flat(theirs);
            let what = format!("{}, call {call}", case.name);
            for (a, b) in mine[call].iter().zip(theirs) {
                if let (LeafValue::Tensor(a), LeafValue::Tensor(b)) = (&a.value, &b.value) {
                    assert_eq!(bits(a), bits(b), "{what}: inputs after the call");
                }
            }
            match (got, want) {
                (Ok(got), Ok(want)) => {
                    assert_eq!(got.len(), want.len(), "{what}");
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.shape(), w.shape(), "{what}");
                        assert_eq!(g.dtype(), w.dtype(), "{what}");
                        assert_eq!(bits(g), bits(w), "{what}");
                    }
                }
                (g, w) => panic!("{what}: aot {:?}, plan {:?}", g.map(drop), w.map(drop)),
            }
        }
        agreed.push(case.name);
        ran += 1;
    }
    println!("ExportDB cases run: {ran}, with outputs: {}", agreed.len());
    assert_eq!(agreed.len(), ran, "only {agreed:?} ran to outputs");
    assert_eq!(ran, 36);
}
