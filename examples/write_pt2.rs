//! Writes ferrex's programs in PyTorch 2.15's `.pt2` format, each with an inputs file, for
//! checking them against real PyTorch by hand:
//!
//! ```sh
//! cargo run --release --example write_pt2 -- target/pt2-check
//! for f in target/pt2-check/*.pt2; do
//!   python ../shared/tools/pt2_check_in_torch.py "$f" "${f%.pt2}.io.safetensors"
//! done
//! ```
//!
//! Programs: the zoo (MLP, LeNet, transformer block) and every supported ExportDB case.
//! Inputs are the programs' example shapes filled with seeded random values
//! (`in0, in1, …`), and `out0, …` are ferrex's interpreter's outputs on them.

use std::path::Path;

use ferrex::program::ArgumentSpec;
use ferrex::{DType, ExportedProgram, Tensor};
use ferrex_examples::zoo::{LeNet, Mlp, TransformerBlock};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/pt2-check".into());
    if let Err(e) = run(Path::new(&dir)) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    ferrex::manual_seed(0);
    let mut programs: Vec<(String, ExportedProgram)> = vec![
        (
            "zoo_mlp".into(),
            ferrex::export(&Mlp::new(20, [64, 32], 5), (Tensor::randn([4, 20]),))?,
        ),
        (
            "zoo_lenet".into(),
            ferrex::export(&LeNet::new(), (Tensor::randn([2, 1, 28, 28]),))?,
        ),
        (
            "zoo_transformer".into(),
            ferrex::export(
                &TransformerBlock::new(32, 4, 64),
                (Tensor::randn([2, 5, 32]),),
            )?,
        ),
    ];
    for case in ferrex_exportdb::cases() {
        if let Ok(exported) = (case.run)() {
            programs.push((format!("exportdb_{}", case.name), exported.program));
        }
    }
    let (mut written, mut skipped) = (0, 0);
    for (name, ep) in &programs {
        match write_one(dir, name, ep) {
            Ok(()) => written += 1,
            Err(e) => {
                skipped += 1;
                println!("skipped {name}: {e}");
            }
        }
    }
    println!(
        "wrote {written} programs to {} ({skipped} skipped)",
        dir.display()
    );
    Ok(())
}

fn write_one(dir: &Path, name: &str, ep: &ExportedProgram) -> Result<()> {
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
