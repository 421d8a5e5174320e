//! The supported ExportDB cases the generator compiles (`tests/exportdb/`, kept fresh by
//! `tests/exportdb.rs`), compiled here and run on inputs of their example sizes: the
//! same outputs as the compiled plan bit for bit, or the same error.

#[rustfmt::skip]
#[path = "exportdb/cases.rs"]
mod cases;

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::program::{ArgumentSpec, InputKind};
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

#[test]
fn generated_exportdb_cases_match_the_plan() {
    let mut ran = 0;
    for case in ferrex_exportdb::cases() {
        if case.verdict != Verdict::Supported {
            continue;
        }
        ferrex::manual_seed(0);
        let Ok(exported) = (case.run)() else {
            panic!("{} does not export", case.name)
        };
        let ep = exported.program;
        let placeholders: Vec<_> = ep.graph().placeholders().map(|(id, _)| id).collect();
        let mut leaves = Vec::new();
        let specs = ep.graph_signature().input_specs.iter();
        for (spec, id) in specs
            .filter(|s| !matches!(s.arg, ArgumentSpec::Constant { .. }))
            .zip(&placeholders)
        {
            if spec.kind != InputKind::UserInput {
                continue;
            }
            let meta = &ep.graph().node(*id).meta[0];
            let sizes = meta
                .sizes
                .iter()
                .map(|s| s.hint().max(0) as usize)
                .collect();
            leaves.push(InputLeaf {
                path: spec.arg.name().to_string(),
                value: LeafValue::Tensor(input(meta.dtype, sizes)),
            });
        }
        let Some(got) = cases::call(case.name, &leaves) else {
            continue;
        };
        let plan = ferrex_runtime::compile(&ep).unwrap();
        match (got, plan.call_flat(&leaves)) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got.len(), want.len(), "{}", case.name);
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.shape(), w.shape(), "{}", case.name);
                    assert_eq!(g.dtype(), w.dtype(), "{}", case.name);
                    let bits = |t: &Tensor| -> Vec<u64> {
                        let t = t.to_dtype(DType::F64);
                        t.to_vec::<f64>()
                            .unwrap()
                            .iter()
                            .map(|v| v.to_bits())
                            .collect()
                    };
                    assert_eq!(bits(g), bits(w), "{}", case.name);
                }
            }
            (Err(g), Err(w)) => assert_eq!(g.to_string(), w.to_string(), "{}", case.name),
            (g, w) => panic!(
                "{}: aot {:?}, plan {:?}",
                case.name,
                g.map(drop),
                w.map(drop)
            ),
        }
        ran += 1;
    }
    println!("ExportDB cases run: {ran}");
    assert_eq!(ran, 32);
}
