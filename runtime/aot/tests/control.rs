//! The control-flow and data-dependent fixtures (`support/control.rs`) generated and
//! run: `cond` on both sides of its predicate, `map` over 0 to 16 rows, values read from
//! data inside and outside their checked range, a SymInt output — the same outputs as the
//! plan bit for bit and within 1e-5 of the interpreter, or the same error, word for word.

mod support;

#[rustfmt::skip]
#[path = "generated/cond_dyn.rs"]
mod cond_dyn;

#[rustfmt::skip]
#[path = "generated/map_dyn.rs"]
mod map_dyn;

#[rustfmt::skip]
#[path = "generated/item_b2.rs"]
mod item_b2;

#[rustfmt::skip]
#[path = "generated/size_output_dyn.rs"]
mod size_output_dyn;

use ferrex::module::InputLeaf;
use ferrex::{DType, RunError, Tensor};

type Outcome = Result<Vec<Tensor>, RunError>;

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).to_vec::<f64>().unwrap()
}

/// Runs fixture `name`'s generated `call_flat` on each of `calls` (tuples of input
/// tensors): the plan's outputs bit for bit (or its error), the interpreter's within
/// 1e-5 (or its error). Returns the outcomes.
fn agree(name: &str, aot: &dyn Fn(&[InputLeaf]) -> Outcome, calls: &[Vec<Tensor>]) -> Vec<Outcome> {
    let ep = support::load(name);
    let plan = ferrex_runtime::compile(&ep).unwrap();
    let mut outcomes = Vec::new();
    for inputs in calls {
        let leaves = || -> Vec<InputLeaf> {
            match &inputs[..] {
                [x] => ep.flatten_inputs((x.copy(),)),
                [x, y] => ep.flatten_inputs((x.copy(), y.copy())),
                _ => panic!("{name}: {} inputs", inputs.len()),
            }
        };
        let what = format!(
            "{name} on {:?}",
            inputs.iter().map(Tensor::shape).collect::<Vec<_>>()
        );
        let (got, want, reference) = (
            aot(&leaves()),
            plan.call_flat(&leaves()),
            ep.module().call_flat(&leaves()),
        );
        match (&got, &want, &reference) {
            (Ok(g), Ok(w), Ok(r)) => {
                assert_eq!(g.len(), w.len(), "{what}");
                for ((g, w), r) in g.iter().zip(w).zip(r) {
                    assert_eq!((g.shape(), g.dtype()), (w.shape(), w.dtype()), "{what}");
                    let (a, b, c) = (values(g), values(w), values(r));
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a), bits(&b), "{what}");
                    for (p, q) in a.iter().zip(&c) {
                        assert!(
                            (p - q).abs() <= 1e-5 * (1.0 + q.abs()),
                            "{what}: {p} vs {q}"
                        );
                    }
                }
            }
            (Err(g), Err(w), Err(r)) => {
                assert_eq!(g.to_string(), w.to_string(), "{what}");
                assert_eq!(g.to_string(), r.to_string(), "{what}");
            }
            _ => panic!("{what}: aot {got:?}, plan {want:?}, interpreter {reference:?}"),
        }
        outcomes.push(got);
    }
    outcomes
}

fn randn(sizes: &[usize]) -> Tensor {
    Tensor::randn(sizes.to_vec())
}

#[test]
fn cond_takes_the_branch_of_its_symbolic_predicate() {
    ferrex::manual_seed(7);
    let m = cond_dyn::Model::new().unwrap();
    // batch 0, 3 and 4 take the false branch (`* 2`), 5 and 16 the true one (`relu`).
    let calls: Vec<Vec<Tensor>> = [0, 3, 4, 5, 16, 17]
        .iter()
        .map(|&b| vec![randn(&[b, 6])])
        .collect();
    let out = agree("cond_dyn", &|l| m.call_flat(l), &calls);
    let relu = |o: &Outcome| values(&o.as_ref().unwrap()[0]).iter().all(|v| *v >= 0.0);
    assert!(relu(&out[3]) && relu(&out[4]), "the true branch is a relu");
    assert!(!relu(&out[2]), "batch 4 takes the false branch");
    let e = out[5].as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("<= 16"), "{e}");
    // Another input width: refused before any branch runs.
    assert!(agree("cond_dyn", &|l| m.call_flat(l), &[vec![randn(&[5, 7])]])[0].is_err());
}

#[test]
fn map_runs_its_body_per_row_and_stacks() {
    ferrex::manual_seed(8);
    let m = map_dyn::Model::new().unwrap();
    let calls: Vec<Vec<Tensor>> = [0, 1, 4, 9, 16]
        .iter()
        .map(|&b| vec![randn(&[b, 5]), randn(&[3])])
        .collect();
    let out = agree("map_dyn", &|l| m.call_flat(l), &calls);
    assert_eq!(out[3].as_ref().unwrap()[0].shape(), &[9, 3]);
    assert!(out.iter().skip(1).all(Result::is_ok));
}

#[test]
fn values_read_from_data_bind_sizes_and_are_checked() {
    ferrex::manual_seed(9);
    let m = item_b2::Model::new().unwrap();
    let calls: Vec<Vec<Tensor>> = [3i64, 0, 8, 9, -1]
        .iter()
        .map(|&n| vec![Tensor::scalar(n), randn(&[2, 3])])
        .collect();
    let out = agree("item_b2", &|l| m.call_flat(l), &calls);
    assert_eq!(out[0].as_ref().unwrap()[0].shape(), &[3, 3]);
    assert_eq!(out[1].as_ref().unwrap()[0].shape(), &[0, 3]);
    assert_eq!(out[2].as_ref().unwrap()[0].shape(), &[8, 3]);
    let e = |k: usize| out[k].as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(e(3).contains("u0 <= 8"), "{}", e(3));
    assert!(e(4).contains("u0 >= 0"), "{}", e(4));
    // The typed `forward` fills a data-dependent output of any length.
    let mut ws = item_b2::Workspace::new().unwrap();
    let (mut rows, mut relu) = (Vec::new(), [0.0f32; 6]);
    let x = [0.5f32, -1.0, 2.0, -3.0, 0.0, 1.0];
    m.forward(&mut ws, &[5], &x, &mut rows, &mut relu).unwrap();
    assert_eq!(rows.len(), 15);
    assert_eq!(rows[0], (3.0f32).sin());
    assert_eq!(relu, [0.5, 0.0, 2.0, 0.0, 0.0, 1.0]);
}

#[test]
fn a_symint_output_is_returned_by_call_as_the_plan_returns_it() {
    let m = size_output_dyn::Model::new().unwrap();
    let calls: Vec<Vec<Tensor>> = [0, 3, 16].iter().map(|&b| vec![randn(&[b, 2])]).collect();
    let out = agree("size_output_dyn", &|l| m.call_flat(l), &calls);
    let size = out[1].as_ref().unwrap()[1].to_vec::<i64>().unwrap();
    assert_eq!(size, [7]);
}
