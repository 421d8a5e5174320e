//! nn layers: PyTorch's parameter names, default initialisation, containers.

use ferrex::prelude::*;

#[test]
fn sequential_names_layers_by_position_and_exports() {
    let seq = nn::Sequential::new()
        .append(nn::Linear::new(4, 8))
        .append(nn::ReLU::default())
        .append(nn::Dropout::new(0.1))
        .append(nn::Linear::new(8, 2));
    let names: Vec<String> = seq.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "3.weight", "3.bias"]);
    let x = Tensor::randn([5, 4]);
    let ep = ferrex::export(&seq, (x.copy(),)).unwrap();
    assert_eq!(
        ep.op_targets(),
        [
            "aten::t.default",
            "aten::addmm.default",
            "aten::relu.default",
            "aten::t.default",
            "aten::addmm.default"
        ]
    );
    let sig: Vec<&str> = ep
        .graph_signature()
        .input_specs
        .iter()
        .map(|s| s.arg.name())
        .collect();
    assert_eq!(
        sig,
        ["p_0_weight", "p_0_bias", "p_3_weight", "p_3_bias", "input"]
    );
    let want = seq.forward(&x).to_vec::<f32>().unwrap();
    assert_eq!(
        ep.module().call((x,)).unwrap()[0].to_vec::<f32>().unwrap(),
        want
    );
}

#[test]
fn linear_initialisation_follows_pytorch_bounds() {
    let lin = nn::Linear::new(64, 32);
    let bound = 1.0 / 8.0;
    let w = lin.weight.to_vec::<f32>().unwrap();
    assert_eq!(lin.weight.shape(), [32, 64]);
    assert!(w.iter().all(|v| v.abs() <= bound));
    let spread =
        w.iter().cloned().fold(f32::MIN, f32::max) - w.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        spread > 1.8 * bound,
        "uniform over the whole range, spread {spread}"
    );
    let no_bias = nn::Linear::no_bias(3, 2);
    assert_eq!(no_bias.named_parameters().len(), 1);
    let ep = ferrex::export(&no_bias, (Tensor::ones([4, 3]),)).unwrap();
    assert_eq!(ep.op_targets(), ["aten::t.default", "aten::matmul.default"]);
}
