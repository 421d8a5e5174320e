//! The model zoo: each model exports, the exported program matches the eager model to
//! 1e-5, and its state dict round-trips through safetensors.

use ferrex::prelude::*;
use ferrex_examples::zoo::{LeNet, Mlp, TransformerBlock};

fn assert_close(got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "element {i}: {a} vs {b}"
        );
    }
}

fn check<M: Forward<Args = (Tensor,), Output = Tensor>>(
    m: &M,
    fresh: impl Fn() -> M,
    x: Tensor,
) -> ferrex::ExportedProgram {
    let ep = ferrex::export(m, (x.copy(),)).unwrap();
    let eager = m.forward_args((x.copy(),));
    assert_close(&ep.module().call((x.copy(),)).unwrap()[0], &eager);
    // State dict round trip.
    let path = std::env::temp_dir().join(format!(
        "ferrex-zoo-{}-{}.safetensors",
        m.type_name(),
        std::process::id()
    ));
    m.save_safetensors(&path).unwrap();
    let other = fresh();
    other.load_safetensors(&path, true).unwrap();
    assert_close(&other.forward_args((x.copy(),)), &eager);
    std::fs::remove_file(&path).ok();
    ep
}

#[test]
fn mlp_exports_and_round_trips() {
    let ep = check(
        &Mlp::new(20, [64, 32], 5),
        || Mlp::new(20, [64, 32], 5),
        Tensor::randn([4, 20]),
    );
    assert_eq!(
        ep.op_targets()
            .iter()
            .filter(|t| *t == "aten::linear.default")
            .count(),
        3
    );
}

#[test]
fn lenet_exports_and_round_trips() {
    let ep = check(&LeNet::new(), LeNet::new, Tensor::randn([2, 1, 28, 28]));
    let targets = ep.op_targets();
    for op in [
        "aten::conv2d.default",
        "aten::max_pool2d.default",
        "aten::flatten.using_ints",
    ] {
        assert!(targets.iter().any(|t| t == op), "{op} in {targets:?}");
    }
    let buffers = ep.graph_signature().buffers();
    assert_eq!(
        buffers,
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked"
        ]
    );
}

#[test]
fn transformer_block_exports_and_round_trips() {
    let m = TransformerBlock::new(16, 4, 32);
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "self_attn.in_proj_weight",
            "self_attn.in_proj_bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias",
            "norm1.weight",
            "norm1.bias",
            "norm2.weight",
            "norm2.bias",
        ]
    );
    let ep = check(
        &m,
        || TransformerBlock::new(16, 4, 32),
        Tensor::randn([2, 5, 16]),
    );
    let targets = ep.op_targets();
    for op in [
        "aten::scaled_dot_product_attention.default",
        "aten::layer_norm.default",
        "aten::gelu.default",
    ] {
        assert!(targets.iter().any(|t| t == op), "{op} in {targets:?}");
    }
}
