//! Reading the inputs files that sit beside PyTorch's archives in `tests/data/`
//! (`NAME.io.safetensors`: inputs `{P}in0…`, PyTorch's outputs `{P}out0…`, mutated
//! state `{P}mut0…`, one set per prefix `P`) and comparing ferrex's values with them.

use std::collections::HashMap;
use std::path::Path;

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::{ExportedProgram, Tensor};

/// The tensors of an inputs file, by name.
pub fn io_file(path: &Path) -> HashMap<String, Tensor> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ferrex::serialize::safetensors::from_bytes(&bytes)
        .unwrap()
        .into_iter()
        .collect()
}

/// `inputs` as the call's leaves, named by the program's arguments.
pub fn leaves(ep: &ExportedProgram, inputs: &[Tensor]) -> Vec<InputLeaf> {
    ep.arg_names()
        .iter()
        .zip(inputs)
        .map(|(name, t)| InputLeaf {
            path: name.clone(),
            value: LeafValue::Tensor(t.clone()),
        })
        .collect()
}

/// The largest difference between `got` and `want`, which must agree in shape and
/// dtype (`what` names the value in the failure).
pub fn max_diff(got: &Tensor, want: &Tensor, what: &str) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    let g = got.to_dtype(ferrex::DType::F64).to_vec::<f64>().unwrap();
    let w = want.to_dtype(ferrex::DType::F64).to_vec::<f64>().unwrap();
    g.iter()
        .zip(&w)
        .map(|(&a, &b)| match (a.is_nan(), b.is_nan()) {
            (true, true) => 0.0,
            // A NaN where a number is due (or the reverse) is no small difference.
            (true, false) | (false, true) => f64::INFINITY,
            // Equal infinities agree (their difference would be NaN).
            _ if a == b => 0.0,
            _ => (a - b).abs(),
        })
        .fold(0.0, f64::max)
}
