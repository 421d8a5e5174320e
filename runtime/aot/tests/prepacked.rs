//! Build-time prepacking (`Builder::prepack`): `Model::new` takes the GEMM weight panels
//! and the derived constants (LeNet's folded batch norm, the transformer block's folded
//! constant) from the file the build script wrote, and the outputs are the compiled
//! plan's, bit for bit; with a recorded layout no build has (a forced mismatch) it packs
//! and folds itself, with the same bits.

mod support;

#[rustfmt::skip]
#[path = "generated/lenet_b2_prepacked.rs"]
mod lenet_b2_prepacked;
#[rustfmt::skip]
#[path = "generated/lenet_b2_other_layout.rs"]
mod lenet_b2_other_layout;
#[rustfmt::skip]
#[path = "generated/transformer_b2_prepacked.rs"]
mod transformer_b2_prepacked;

use ferrex::Tensor;

fn bits(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter()
        .map(|t| {
            t.to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect()
}

/// `aot`'s outputs are the plan's, bit for bit, on a few inputs of `shape`.
fn same_as_plan(name: &str, shape: &[usize], aot: &dyn Fn(Tensor) -> Vec<Tensor>) {
    let plan = ferrex_runtime::compile(&support::load(name)).unwrap();
    for draw in 0..3 {
        let x = &Tensor::randn(shape.to_vec()) * (0.5 + draw as f64);
        let want = plan.call((x.copy(),)).unwrap();
        assert_eq!(bits(&aot(x)), bits(&want), "{name}, draw {draw}");
    }
}

#[test]
fn prepacked_weights_give_the_plans_bits() {
    ferrex::manual_seed(31);
    let m = lenet_b2_prepacked::Model::new().unwrap();
    assert!(m.uses_prepacked_weights());
    same_as_plan("lenet_b2", &[2, 1, 28, 28], &|x| m.call((x,)).unwrap());
    let m = transformer_b2_prepacked::Model::new().unwrap();
    assert!(m.uses_prepacked_weights());
    same_as_plan("transformer_b2", &[2, 10, 32], &|x| m.call((x,)).unwrap());
}

#[test]
fn another_layout_falls_back_to_packing_with_the_same_bits() {
    ferrex::manual_seed(32);
    let m = lenet_b2_other_layout::Model::new().unwrap();
    assert!(!m.uses_prepacked_weights());
    same_as_plan("lenet_b2", &[2, 1, 28, 28], &|x| m.call((x,)).unwrap());
    // The same archive and panels: only the recorded layout differs.
    let code = |f: &str| std::fs::read_to_string(support::root().join(f)).unwrap();
    let (ours, other) = (
        code("tests/generated/lenet_b2_prepacked.rs"),
        code("tests/generated/lenet_b2_other_layout.rs"),
    );
    let layout = |c: &str| {
        let line = c.lines().find(|l| l.starts_with("const PREPACKED_LAYOUT"));
        line.unwrap().to_string()
    };
    assert_eq!(
        layout(&ours),
        format!(
            "const PREPACKED_LAYOUT: &str = {:?};",
            ferrex_aot::packed_layout()
        )
    );
    assert_eq!(
        layout(&other),
        format!(
            "const PREPACKED_LAYOUT: &str = {:?};",
            support::NO_SUCH_LAYOUT
        )
    );
    assert_eq!(ours.replace(&layout(&ours), &layout(&other)), other);
}

/// The prepacked file holds the packed panels, as the plan packed them, 64-byte aligned.
#[test]
fn the_prepacked_file_holds_the_plans_panels() {
    let ep = support::load("lenet_b2");
    let plan = ferrex_runtime::compile(&ep).unwrap();
    let blob = std::fs::read(support::root().join("tests/generated/lenet_b2.prepacked")).unwrap();
    let code =
        std::fs::read_to_string(support::root().join("tests/generated/lenet_b2_prepacked.rs"))
            .unwrap();
    let mut found = 0;
    for step in &plan.plan().steps {
        let ferrex_runtime::plan::Kind::Gemm(g) = &step.kind else {
            continue;
        };
        let ferrex_runtime::plan::GemmB::Packed(p, _) = &g.b else {
            continue;
        };
        let [k, n] = p.shape();
        let at = "packed_panels(PREPACKED, ";
        let offsets: Vec<usize> = code
            .match_indices(&at)
            .filter_map(|(i, _)| {
                let rest = &code[i + at.len()..];
                let (off, dims) = rest.split_once(", ")?;
                dims.starts_with(&format!("[{k}, {n}]"))
                    .then(|| off.parse().ok())?
            })
            .collect();
        let data: Vec<u8> = p.as_slice().iter().flat_map(|x| x.to_le_bytes()).collect();
        assert!(
            offsets
                .iter()
                .any(|&o| o % 64 == 0 && blob.get(o..o + data.len()) == Some(&data[..])),
            "the [{k}, {n}] panels are not in the file at {offsets:?}"
        );
        found += 1;
    }
    assert!(found >= 2, "{found} packed weights");
}
