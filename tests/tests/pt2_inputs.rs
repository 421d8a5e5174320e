//! Non-tensor inputs of PyTorch 2.15 archives (`tests/data/pt2_inputs/`, see its README):
//! an `int` argument PyTorch specialised is a constant user input, read without a
//! placeholder and given its exported value at the call.

use std::path::{Path, PathBuf};

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::Tensor;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/pt2_inputs/{file}"))
}

#[test]
fn a_specialised_int_input_is_a_constant_input() {
    let ep = ferrex::load(data("constin.pt2")).unwrap();
    assert!(ep
        .to_string()
        .contains("    x: USER_INPUT\n    n: USER_INPUT value=4\n"));
    let bytes = std::fs::read(data("constin.io.safetensors")).unwrap();
    let io: std::collections::HashMap<String, Tensor> =
        ferrex::serialize::safetensors::from_bytes(&bytes)
            .unwrap()
            .into_iter()
            .collect();
    let leaves = [
        InputLeaf {
            path: "x".into(),
            value: LeafValue::Tensor(io["in0"].clone()),
        },
        InputLeaf {
            path: "n".into(),
            value: LeafValue::Int(4),
        },
    ];
    let want = io["out0"].to_vec::<f32>().unwrap();
    let got = ep.module().call_flat(&leaves).unwrap();
    assert_eq!(got[0].to_vec::<f32>().unwrap(), want);
    let compiled = ferrex_runtime::compile(&ep).unwrap();
    assert_eq!(
        compiled.call_flat(&leaves).unwrap()[0]
            .to_vec::<f32>()
            .unwrap(),
        want
    );
    // Another value than the exported one is refused, as PyTorch's module does.
    let mut other = leaves.clone();
    other[1].value = LeafValue::Int(5);
    assert!(ep.module().call_flat(&other).is_err());
}
