//! Writing a program in PyTorch's `.pt2` format beside an inputs file (`NAME.pt2`,
//! `NAME.io.safetensors` with `in0, …` and ferrex's outputs `out0, …`), for checking it in
//! real PyTorch with `../shared/tools/pt2_check_in_torch.py`: used by the `write_pt2`
//! example and by the tutorial's `--save-pt2 DIR`.

use std::path::Path;

use ferrex::program::ArgumentSpec;
use ferrex::{DType, ExportedProgram, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes `ep` as `DIR/NAME.pt2` and `DIR/NAME.io.safetensors`: random inputs of the
/// example shapes and the interpreter's outputs on them.
pub fn write_program_with_io(dir: &Path, name: &str, ep: &ExportedProgram) -> Result<()> {
    let inputs = example_inputs(ep)?;
    // The call mutates inputs in place: keep the values PyTorch must start from.
    let originals: Vec<Tensor> = inputs.iter().map(Tensor::copy).collect();
    let outputs = ep.module().call_flat(&leaves(ep, &inputs))?;
    let mut named: Vec<(String, Tensor)> = Vec::new();
    named.extend(
        originals
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("in{i}"), t)),
    );
    named.extend(
        outputs
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("out{i}"), t)),
    );
    ferrex::serialize::safetensors::save_file(
        named.iter().map(|(n, t)| (n.as_str(), t)),
        dir.join(format!("{name}.io.safetensors")),
    )?;
    ferrex::serialize::pt2::save(ep, dir.join(format!("{name}.pt2")))?;
    Ok(())
}

/// Random tensors of the user inputs' example shapes (constants are passed as exported).
fn example_inputs(ep: &ExportedProgram) -> Result<Vec<Tensor>> {
    let graph = ep.graph();
    let mut placeholders = graph.placeholders().map(|(_, n)| n);
    let mut inputs = Vec::new();
    for spec in &ep.graph_signature().input_specs {
        if let ArgumentSpec::Constant { .. } = spec.arg {
            continue;
        }
        let node = placeholders
            .next()
            .ok_or("fewer placeholders than inputs")?;
        if spec.kind != ferrex::program::InputKind::UserInput {
            continue;
        }
        let meta = node.meta.first().ok_or("a placeholder without a meta")?;
        let shape: Vec<usize> = meta
            .sizes
            .iter()
            .map(|s| usize::try_from(s.hint()).unwrap_or(0))
            .collect();
        let t = match meta.dtype {
            DType::F32 => Tensor::randn(shape.as_slice()),
            DType::F64 => Tensor::randn(shape.as_slice()).to_dtype(DType::F64),
            DType::Bool => Tensor::randn(shape.as_slice()).gt(0.0),
            // Small non-negative integers: valid indices for the cases that index.
            other => (Tensor::rand(shape.as_slice()) * 3.0)
                .floor()
                .to_dtype(other),
        };
        inputs.push(t);
    }
    Ok(inputs)
}

fn leaves(ep: &ExportedProgram, tensors: &[Tensor]) -> Vec<ferrex::module::InputLeaf> {
    use ferrex::module::{InputLeaf, LeafValue};
    use ferrex::program::ConstantValue;
    let mut tensors = tensors.iter();
    ep.graph_signature()
        .user_inputs()
        .map(|spec| {
            let value = match &spec.arg {
                ArgumentSpec::Constant { value, .. } => match value {
                    ConstantValue::Int(v) => LeafValue::Int(*v),
                    ConstantValue::Float(v) => LeafValue::Float(*v),
                    ConstantValue::Bool(v) => LeafValue::Bool(*v),
                    ConstantValue::Str(v) => LeafValue::Str(v.clone()),
                    ConstantValue::None => LeafValue::None,
                },
                _ => match tensors.next() {
                    Some(t) => LeafValue::Tensor(t.clone()),
                    None => LeafValue::None,
                },
            };
            InputLeaf {
                path: spec.arg.name().to_string(),
                value,
            }
        })
        .collect()
}
