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

#[export_module]
struct CausalChunks {
    qkv: nn::Linear,
}

#[export_module]
impl CausalChunks {
    fn forward(&self, x: &Tensor) -> Tensor {
        let parts = self.qkv.forward(x).chunk(3, -1);
        let y = F::scaled_dot_product_attention(
            &parts[0], &parts[1], &parts[2], None, 0.0, true, None, false,
        );
        F::silu(&y)
    }
}

/// `chunk` → `split_with_sizes`, the causal mask as PyTorch's table builds it (`ones` →
/// `full`, `tril` → `arange` + `sub` + `le` + `logical_and`, then `where` of two
/// `scalar_tensor`s added to the scores), `silu` → `sigmoid` + `mul`: the op set of
/// PyTorch 2.15's core IR for the same calls, and the same values.
#[test]
fn causal_attention_chunks_and_silu_decompose_like_pytorch() {
    let m = CausalChunks {
        qkv: nn::Linear::new(8, 24),
    };
    let ep = ferrex::export(&m, (Tensor::randn([2, 5, 8]),)).unwrap();
    let core = ep.run_decompositions().unwrap();
    let ops: std::collections::BTreeSet<String> = core.op_targets().into_iter().collect();
    let want = [
        "aten::view.default",
        "aten::permute.default",
        "aten::addmm.default",
        "aten::split_with_sizes.default",
        "aten::mul.Scalar",
        "aten::full.default",
        "aten::arange.start_step",
        "aten::unsqueeze.default",
        "aten::sub.Tensor",
        "aten::le.Scalar",
        "aten::logical_and.default",
        "aten::scalar_tensor.default",
        "aten::where.self",
        "aten::expand.default",
        "aten::bmm.default",
        "aten::add.Tensor",
        "aten::_softmax.default",
        "aten::eq.Scalar",
        "aten::logical_not.default",
        "aten::any.dim",
        "aten::full_like.default",
        "aten::sigmoid.default",
        "aten::mul.Tensor",
    ];
    assert_eq!(ops, want.iter().map(|s| s.to_string()).collect(), "{core}");
    let x = Tensor::randn([2, 5, 8]);
    let a = ep.module().call((x.copy(),)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    let b = core.module().call((x,)).unwrap()[0]
        .to_vec::<f32>()
        .unwrap();
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
}
