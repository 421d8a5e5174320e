//! PyTorch 2.15's own `.pt2` archives (`tests/data/pt2/`, a copy of the shared reference
//! corpus: `NAME.pt2` in the default IR, `NAME.core.pt2` after `run_decompositions()`,
//! `NAME.io.safetensors` with PyTorch's inputs `{P}in0…`, outputs `{P}out0…` and
//! mutated buffers / inputs `{P}mut0…` for each input set `P`) load with `ferrex::load`
//! and `ferrex_runtime::load`, and both runners reproduce PyTorch's values within 1e-5.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::program::OutputKind;
use ferrex::{ExportedProgram, LoadError, Tensor};

const ATOL: f64 = 1e-5;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/pt2")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(data_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Program {
    name: String,
    input_sets: Vec<String>,
    n_inputs: usize,
    printed: String,
    printed_core: String,
}

fn programs() -> Vec<Program> {
    let m = manifest();
    let progs = m["programs"].as_object().unwrap();
    progs
        .iter()
        .map(|(name, p)| Program {
            name: name.clone(),
            input_sets: p["input_sets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
            n_inputs: usize::try_from(p["n_inputs"].as_u64().unwrap()).unwrap(),
            printed: p["printed"].as_str().unwrap().to_string(),
            printed_core: p["printed_core"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn io(name: &str) -> HashMap<String, Tensor> {
    let bytes = std::fs::read(data_dir().join(format!("{name}.io.safetensors"))).unwrap();
    ferrex::serialize::safetensors::from_bytes(&bytes)
        .unwrap()
        .into_iter()
        .collect()
}

fn max_diff(got: &Tensor, want: &Tensor, what: &str) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    let g = got.to_dtype(ferrex::DType::F64).to_vec::<f64>().unwrap();
    let w = want.to_dtype(ferrex::DType::F64).to_vec::<f64>().unwrap();
    g.iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Which runner runs a loaded program.
#[derive(Clone, Copy, Debug)]
enum Runner {
    Interpreter,
    Compiled,
}

/// Loads `file` fresh (mutations change the state) and runs input set `prefix`;
/// returns the user outputs and the mutated values in signature order.
fn run(file: &Path, runner: Runner, inputs: &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>) {
    let ep: ExportedProgram = ferrex::load(file).unwrap_or_else(|e| panic!("{e}"));
    let leaves: Vec<InputLeaf> = ep
        .arg_names()
        .iter()
        .zip(inputs)
        .map(|(name, t)| InputLeaf {
            path: name.clone(),
            value: LeafValue::Tensor(t.clone()),
        })
        .collect();
    let (outs, ep) = match runner {
        Runner::Interpreter => (ep.module().call_flat(&leaves), ep),
        Runner::Compiled => {
            let compiled = ferrex_runtime::load(file).unwrap_or_else(|e| panic!("{e}"));
            let outs = compiled.call_flat(&leaves);
            (outs, compiled.program().clone())
        }
    };
    let outs = outs.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut muts = Vec::new();
    for spec in &ep.graph_signature().output_specs {
        let target = spec.target.clone().unwrap_or_default();
        match spec.kind {
            OutputKind::BufferMutation => muts.push(ep.state_dict().get(&target).unwrap().clone()),
            OutputKind::UserInputMutation => {
                let i = ep.arg_names().iter().position(|n| *n == target).unwrap();
                muts.push(inputs[i].clone());
            }
            OutputKind::UserOutput => {}
        }
    }
    (outs, muts)
}

/// `counter`'s buffers after one call, computed from PyTorch's output: `calls` is 1,
/// `running` is `0.1 * mean(y, 0)` with `y = atanh(out0)`. (The corpus's `mut0` / `mut1`
/// for `counter` hold the buffers' values *before* the call: `gen_pt2_corpus.py` keeps
/// `state_dict()[m].contiguous()`, which aliases the buffer, and then resets the buffer
/// with `load_state_dict(state0)`; PyTorch itself, run on `counter.pt2`, gives these.)
fn counter_mutations(out0: &Tensor) -> Vec<Tensor> {
    let out = out0.to_vec::<f32>().unwrap();
    let cols = out0.shape()[1];
    let rows = out.len() / cols;
    let running: Vec<f32> = (0..cols)
        .map(|c| {
            let sum: f64 = (0..rows)
                .map(|r| f64::from(out[r * cols + c]).atanh())
                .sum();
            (0.1 * sum / rows as f64) as f32
        })
        .collect();
    vec![
        Tensor::from_vec(vec![1.0f32], [1]),
        Tensor::from_vec(running, [cols]),
    ]
}

fn check_program(p: &Program, file: &Path, runner: Runner) -> f64 {
    let io = io(&p.name);
    let mut worst: f64 = 0.0;
    for prefix in &p.input_sets {
        let what = format!("{} {runner:?} input set `{prefix}`", file.display());
        let inputs: Vec<Tensor> = (0..p.n_inputs)
            .map(|i| io[&format!("{prefix}in{i}")].copy())
            .collect();
        // A program with a compiled runner is compiled from a fresh load, so its
        // mutated buffers start from the file's values.
        let (outs, muts) = run(file, runner, &inputs);
        let want_outs: Vec<&Tensor> = (0..)
            .map_while(|i| io.get(&format!("{prefix}out{i}")))
            .collect();
        let fixed;
        let mut want_muts: Vec<&Tensor> = (0..)
            .map_while(|i| io.get(&format!("{prefix}mut{i}")))
            .collect();
        if p.name == "counter" {
            fixed = counter_mutations(&io[&format!("{prefix}out0")]);
            want_muts = fixed.iter().collect();
        }
        assert_eq!(outs.len(), want_outs.len(), "{what}: outputs");
        assert_eq!(muts.len(), want_muts.len(), "{what}: mutations");
        for (i, (g, w)) in outs.iter().zip(&want_outs).enumerate() {
            let d = max_diff(g, w, &format!("{what} out{i}"));
            assert!(d <= ATOL, "{what}: out{i} differs by {d}");
            worst = worst.max(d);
        }
        for (i, (g, w)) in muts.iter().zip(&want_muts).enumerate() {
            let d = max_diff(g, w, &format!("{what} mut{i}"));
            assert!(d <= ATOL, "{what}: mut{i} differs by {d}");
            worst = worst.max(d);
        }
    }
    worst
}

/// Ops the `core-aten` branch adds to the registry: until it is merged, the programs
/// that call them are skipped (named in the test's output).
fn missing_ops(name: &str, core: bool) -> Vec<&'static str> {
    let needs: &[&str] = match (name, core) {
        ("cond", _) => &["aten::gt.Scalar"],
        ("convnet8", true) => &["aten::convolution", "aten::max_pool2d_with_indices"],
        ("block", true) => &["aten::mul.Scalar", "aten::eq.Scalar", "aten::squeeze.dims"],
        _ => &[],
    };
    needs
        .iter()
        .copied()
        .filter(|op| ferrex::ops::lookup(op).is_none())
        .collect()
}

fn check_all(runner: Runner, core: bool) {
    let mut checked = Vec::new();
    for p in programs() {
        let missing = missing_ops(&p.name, core);
        if !missing.is_empty() {
            eprintln!("skipped {} (core={core}): needs {missing:?}", p.name);
            continue;
        }
        let file = data_dir().join(format!("{}{}.pt2", p.name, if core { ".core" } else { "" }));
        let d = check_program(&p, &file, runner);
        checked.push(format!("{} {d:.1e}", p.name));
    }
    eprintln!("{runner:?} core={core}: {}", checked.join(", "));
    assert!(checked.len() >= 8, "{checked:?}");
}

#[test]
fn default_ir_runs_in_the_interpreter() {
    check_all(Runner::Interpreter, false);
}

#[test]
fn default_ir_runs_compiled() {
    check_all(Runner::Compiled, false);
}

#[test]
fn core_ir_runs_in_the_interpreter() {
    check_all(Runner::Interpreter, true);
}

#[test]
fn core_ir_runs_compiled() {
    check_all(Runner::Compiled, true);
}

/// The names of PyTorch's tensor-valued nodes in its printed program
/// (`add: "f32[8, 100]" = torch.ops.aten.add.Tensor(x, y)`).
fn pytorch_node_names(printed: &str) -> Vec<String> {
    printed
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim_start().split_once(": \"")?;
            let is_node = rest.contains("\" = ") && !rest.starts_with("Sym(");
            (is_node && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn printed_programs_keep_pytorch_node_names() {
    let mut total = 0;
    for p in programs() {
        for (core, printed) in [(false, &p.printed), (true, &p.printed_core)] {
            if !missing_ops(&p.name, core).is_empty() {
                continue;
            }
            let file =
                data_dir().join(format!("{}{}.pt2", p.name, if core { ".core" } else { "" }));
            let ours = ferrex::load(&file).unwrap().to_string();
            let names = pytorch_node_names(printed);
            assert!(!names.is_empty(), "{}", p.name);
            for name in names {
                assert!(
                    ours.contains(&format!("let {name}: ")),
                    "{}: node `{name}` is missing from\n{ours}",
                    file.display()
                );
                total += 1;
            }
        }
    }
    assert!(total > 100, "{total}");
}

#[test]
fn the_printed_mymodule_matches_pytorch_line_for_line() {
    let ep = ferrex::load(data_dir().join("mymodule.pt2")).unwrap();
    let printed = ep.to_string();
    assert!(
        printed.contains(
            "// File: gen_pt2_corpus.py:124 in forward, code: return torch.nn.functional.relu(self.lin(x + y))"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("let add: f32[8, 100] = aten::add.Tensor(x, y);"),
        "{printed}"
    );
    assert!(
        printed.contains(
            "let linear: f32[8, 10] = aten::linear.default(add, p_lin_weight, p_lin_bias);"
        ),
        "{printed}"
    );
}

/// The default IR's in-place ops are functionalized on load: `counter`'s buffer
/// updates and `inputmut`'s `x.add_(1)` become mutation outputs.
#[test]
fn in_place_ops_become_mutations() {
    let ep = ferrex::load(data_dir().join("counter.pt2")).unwrap();
    let kinds: Vec<(OutputKind, Option<String>)> = ep
        .graph_signature()
        .output_specs
        .iter()
        .map(|s| (s.kind, s.target.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (OutputKind::BufferMutation, Some("calls".into())),
            (OutputKind::BufferMutation, Some("running".into())),
            (OutputKind::UserOutput, None),
        ]
    );
    let printed = ep.to_string();
    assert!(
        printed.contains("let add_: f32[1] = aten::add.Tensor(b_calls, 1);"),
        "{printed}"
    );
    let ep = ferrex::load(data_dir().join("inputmut.pt2")).unwrap();
    assert_eq!(
        ep.graph_signature().output_specs[0].kind,
        OutputKind::UserInputMutation
    );
    assert_eq!(
        ep.graph_signature().output_specs[0].target.as_deref(),
        Some("x")
    );
}

#[test]
fn range_constraints_read_pytorch_spellings() {
    let ep = ferrex::load(data_dir().join("derived.pt2")).unwrap();
    assert_eq!(
        ep.range_constraints().to_string(),
        // In the file's order, as PyTorch prints it.
        "{s17 + 1: VR[3, 33], s17: VR[2, 32]}"
    );
    // Out of range: x has 41 rows (s17 + 1 <= 33), checked first as listed.
    let x = Tensor::zeros([41, 3]);
    let y = Tensor::zeros([40, 3]);
    let err = ep.module().call((x, y)).unwrap_err().to_string();
    assert_eq!(err, "Guard failed: x.size()[0] <= 33, but got 41");
}

fn load_bytes(bytes: &[u8]) -> Result<ExportedProgram, LoadError> {
    ferrex::serialize::pt2::from_bytes(bytes, "test.pt2")
}

/// Damaged archives are errors naming what is wrong, never panics.
#[test]
fn damaged_pytorch_archives_are_errors() {
    let good = std::fs::read(data_dir().join("counter.pt2")).unwrap();
    // Every truncation.
    for len in (0..good.len()).step_by(97) {
        assert!(
            load_bytes(&good[..len]).is_err(),
            "truncated to {len} bytes loaded"
        );
    }
    // Every single-byte corruption in the last 2 KB (central directory, end record),
    // and a sample of the rest: an error or, where the byte does not matter, a program.
    for at in (0..good.len())
        .step_by(13)
        .chain(good.len().saturating_sub(2048)..good.len())
    {
        let mut bad = good.clone();
        bad[at] ^= 0x5A;
        let _ = load_bytes(&bad);
    }
}

/// Programs beyond the corpus, written by PyTorch 2.15 from `tests/data/pt2-extra/gen_extra.py`:
/// `tied` (an embedding and a head sharing one weight, a non-persistent buffer, a
/// lifted constant tensor, an integer input, `dropout(train=False)`, `.to(float64)` with
/// its `_assert_tensor_metadata` check) and `strided` (a transposed parameter and a
/// buffer that share one storage file at different strides and offsets).
#[test]
fn programs_beyond_the_corpus_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/pt2-extra");
    for name in ["tied", "strided"] {
        let bytes = std::fs::read(dir.join(format!("{name}.io.safetensors"))).unwrap();
        let io: HashMap<String, Tensor> = ferrex::serialize::safetensors::from_bytes(&bytes)
            .unwrap()
            .into_iter()
            .collect();
        for file in [format!("{name}.pt2"), format!("{name}.core.pt2")] {
            let path = dir.join(&file);
            let ep = ferrex::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let inputs: Vec<Tensor> = (0..ep.arg_names().len())
                .map(|i| io[&format!("in{i}")].copy())
                .collect();
            for runner in [Runner::Interpreter, Runner::Compiled] {
                let (outs, _) = run(&path, runner, &inputs);
                for (j, got) in outs.iter().enumerate() {
                    let want = &io[&format!("out{j}")];
                    let d = max_diff(got, want, &format!("{file} {runner:?} out{j}"));
                    assert!(d <= ATOL, "{file} {runner:?}: out{j} differs by {d}");
                }
            }
        }
    }
}
