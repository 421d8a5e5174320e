//! Models trained in PyTorch, rebuilt in ferrex from the zoo, loaded from PyTorch's
//! safetensors files: outputs must equal PyTorch's (`tests/data/models/`, copied from
//! `shared/reference/models/`) within 1e-5, eagerly and through the exported program.

use ferrex::prelude::*;
use ferrex::serialize::safetensors;
use ferrex::LoadError;
use ferrex_examples::zoo::Mlp;

fn data(name: &str) -> String {
    format!("{}/data/models/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn io(name: &str) -> Vec<(String, Tensor)> {
    safetensors::load_file(data(&format!("{name}.io.safetensors"))).unwrap()
}

fn get<'a>(entries: &'a [(String, Tensor)], key: &str) -> &'a Tensor {
    &entries.iter().find(|(k, _)| k == key).unwrap().1
}

fn assert_close(got: &Tensor, want: &Tensor, tol: f32) {
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "element {i}: {a} vs PyTorch {b}"
        );
    }
}

#[test]
fn mlp_with_pytorch_weights_gives_pytorch_outputs() {
    let m = Mlp::new(20, [64, 32], 5);
    let report = m
        .load_safetensors(data("mlp.weights.safetensors"), true)
        .unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    let io = io("mlp");
    let (x, want) = (get(&io, "x"), get(&io, "output"));
    assert_close(&m.forward(x), want, 1e-5);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    assert_close(&ep.module().call((x.copy(),)).unwrap()[0], want, 1e-5);
}

#[test]
fn state_dict_round_trips_through_safetensors() {
    let m = Mlp::new(20, [64, 32], 5);
    let path = std::env::temp_dir().join(format!("ferrex-mlp-{}.safetensors", std::process::id()));
    m.save_safetensors(&path).unwrap();
    let n = Mlp::new(20, [64, 32], 5);
    n.load_safetensors(&path, true).unwrap();
    let x = Tensor::randn([3, 20]);
    assert_eq!(
        m.forward(&x).to_vec::<f32>().unwrap(),
        n.forward(&x).to_vec::<f32>().unwrap()
    );
    // safetensors files order tensors by name, whatever order they were written in.
    let names: Vec<String> = safetensors::load_file(&path)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        names,
        [
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight",
            "fc3.bias",
            "fc3.weight"
        ]
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn mismatched_state_dicts_list_every_problem() {
    let m = Mlp::new(20, [64, 32], 5);
    let before = m.fc1.weight.to_vec::<f32>().unwrap();
    let mut entries = safetensors::load_file(data("mlp.weights.safetensors")).unwrap();
    entries.retain(|(k, _)| k != "fc3.bias");
    entries.push(("fc4.weight".into(), Tensor::zeros([1])));
    if let Some(e) = entries.iter_mut().find(|(k, _)| k == "fc2.weight") {
        e.1 = Tensor::zeros([32, 63]);
    }
    let err = m.load_state_dict(&entries, true).unwrap_err();
    assert!(matches!(err, LoadError::StateDictMismatch { .. }));
    assert_eq!(
        err.to_string(),
        "Error(s) in loading state_dict:\n  Missing key(s) in state_dict: \"fc3.bias\".\n  \
         Unexpected key(s) in state_dict: \"fc4.weight\".\n  \
         size mismatch for fc2.weight: copying a param with shape f32[32, 63] from checkpoint, \
         the shape in current model is f32[32, 64]."
    );
    assert_eq!(
        m.fc1.weight.to_vec::<f32>().unwrap(),
        before,
        "a failed load writes nothing"
    );

    // Non-strict: missing/unexpected are reported, shape mismatches still fail.
    if let Some(e) = entries.iter_mut().find(|(k, _)| k == "fc2.weight") {
        e.1 = Tensor::zeros([32, 64]);
    }
    let report = m.load_state_dict(&entries, false).unwrap();
    assert_eq!(report.missing_keys, ["fc3.bias"]);
    assert_eq!(report.unexpected_keys, ["fc4.weight"]);
}

#[test]
fn unreadable_files_are_errors() {
    let m = Mlp::new(20, [64, 32], 5);
    let err = m
        .load_safetensors("/nonexistent/weights.safetensors", true)
        .unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
    let path =
        std::env::temp_dir().join(format!("ferrex-garbage-{}.safetensors", std::process::id()));
    std::fs::write(&path, b"not a safetensors file").unwrap();
    let err = m.load_safetensors(&path, true).unwrap_err();
    assert!(matches!(err, LoadError::Format { .. }), "{err}");
    std::fs::remove_file(&path).ok();
}

#[test]
fn lenet_with_pytorch_weights_gives_pytorch_outputs() {
    let m = ferrex_examples::zoo::LeNet::new();
    let report = m
        .load_safetensors(data("lenet.weights.safetensors"), true)
        .unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    assert_eq!(m.bn1.num_batches_tracked.dtype(), DType::I64);
    let io = io("lenet");
    let (x, want) = (get(&io, "x"), get(&io, "output"));
    assert_close(&m.forward(x), want, 1e-5);
    let ep = ferrex::export(&m, (x.copy(),)).unwrap();
    assert_close(&ep.module().call((x.copy(),)).unwrap()[0], want, 1e-5);
}
