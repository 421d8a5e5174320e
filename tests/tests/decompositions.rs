//! `run_decompositions`: composite ops become the ops they are made of, the program
//! computes the same values, and the signature follows the renamed nodes.

use ferrex::prelude::*;
use ferrex::program::DecompositionTable;

mod common;
use common::MyModule;

#[test]
fn my_module_decomposes_to_core_aten_like_pytorch() {
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let ep = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100]))).unwrap();
    let core = ep.run_decompositions().unwrap();
    // PyTorch 2.15: add → permute(p_lin_weight, [1, 0]) → addmm → relu.
    assert_eq!(
        core.op_targets(),
        [
            "aten::add.Tensor",
            "aten::permute.default",
            "aten::addmm.default",
            "aten::relu.default"
        ]
    );
    let code = core.graph_code(0);
    assert!(
        code.contains("let permute: f32[100, 10] = aten::permute.default(p_lin_weight, [1, 0]);"),
        "{code}"
    );
    assert!(
        code.contains("let addmm: f32[8, 10] = aten::addmm.default(p_lin_bias, add, permute);"),
        "{code}"
    );
    assert_eq!(core.graph_signature().output_specs[0].arg.name(), "relu");
    let (x, y) = (Tensor::randn([8, 100]), Tensor::randn([8, 100]));
    let a = ep.module().call((x.copy(), y.copy())).unwrap();
    let b = core.module().call((x, y)).unwrap();
    assert_eq!(a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
}

#[export_module]
struct Composites {
    norm: nn::LayerNorm,
}

#[export_module]
impl Composites {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.norm.forward(&x.softmax(-1)).transpose(0, 1)
    }
}

#[test]
fn composites_decompose_and_keep_their_values() {
    let m = Composites {
        norm: nn::LayerNorm::new(&[6]),
    };
    let ep = ferrex::export(&m, (Tensor::randn([4, 6]),)).unwrap();
    assert!(ep.op_targets().contains(&"aten::softmax.int".to_string()));
    assert!(ep
        .op_targets()
        .contains(&"aten::layer_norm.default".to_string()));
    let core = ep.run_decompositions().unwrap();
    for gone in [
        "aten::softmax.int",
        "aten::layer_norm.default",
        "aten::transpose.int",
    ] {
        assert!(
            !core.op_targets().contains(&gone.to_string()),
            "{gone} left in {:?}",
            core.op_targets()
        );
    }
    let x = Tensor::randn([4, 6]);
    let a = ep.module().call((x.copy(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let b = core.module().call((x,)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
    // A table can keep ops whole.
    let partial = ep
        .run_decompositions_with(&DecompositionTable::Except(vec![
            "aten::layer_norm.default".into(),
        ]))
        .unwrap();
    assert!(partial
        .op_targets()
        .contains(&"aten::layer_norm.default".to_string()));
    assert!(!partial
        .op_targets()
        .contains(&"aten::softmax.int".to_string()));
}
