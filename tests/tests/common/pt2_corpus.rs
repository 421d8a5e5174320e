//! A folder of PyTorch 2.15 programs with their inputs and outputs (`NAME.pt2` in the
//! default IR, `NAME.core.pt2` after `run_decompositions()`, `NAME.io.safetensors` with
//! PyTorch's inputs `{P}in0…` and outputs `{P}out0…` per input set `P`), run with
//! `ferrex::load` / `ferrex_runtime::load` and both runners against PyTorch's values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::pt2_io::{io_file, leaves, max_diff};
use ferrex::program::OutputKind;
use ferrex::{ExportedProgram, Tensor};

/// How far from PyTorch's values an output may be.
pub const ATOL: f64 = 1e-5;

#[derive(Clone, Copy, Debug)]
pub enum Runner {
    Interpreter,
    Compiled,
}

/// A folder of `tests/data/`.
pub struct Corpus(pub PathBuf);

impl Corpus {
    pub fn new(folder: &str) -> Corpus {
        Corpus(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data")
                .join(folder),
        )
    }

    /// The program names: every `NAME.io.safetensors` of the folder, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                Some(name.strip_suffix(".io.safetensors")?.to_string())
            })
            .collect();
        names.sort();
        names
    }

    pub fn io(&self, name: &str) -> HashMap<String, Tensor> {
        io_file(&self.0.join(format!("{name}.io.safetensors")))
    }

    /// `NAME.pt2` or `NAME.core.pt2`.
    pub fn file(&self, name: &str, core: bool) -> PathBuf {
        self.0
            .join(format!("{name}{}.pt2", if core { ".core" } else { "" }))
    }

    /// Runs every input set of `name` in one IR; the largest difference from PyTorch.
    pub fn check_program(&self, name: &str, core: bool, runner: Runner) -> f64 {
        let io = self.io(name);
        let file = self.file(name, core);
        let mut worst: f64 = 0.0;
        let sets = prefixes(&io);
        assert!(!sets.is_empty(), "{name}: no input set");
        for prefix in sets {
            let what = format!("{} {runner:?} input set `{prefix}`", file.display());
            let inputs = inputs(&io, &prefix);
            let (outs, mutations) = run(&file, runner, &inputs);
            assert_eq!(mutations, 0, "{what}: mutations");
            let want = series(&io, &prefix, "out");
            assert_eq!(outs.len(), want.len(), "{what}: outputs");
            for (i, (g, w)) in outs.iter().zip(&want).enumerate() {
                let d = max_diff(g, w, &format!("{what} out{i}"));
                assert!(d <= ATOL, "{what}: out{i} differs by {d}");
                worst = worst.max(d);
            }
        }
        worst
    }

    /// Every program in one IR with one runner; `name worst-difference` per program.
    pub fn check_all(&self, runner: Runner, core: bool) -> Vec<String> {
        let checked: Vec<String> = (self.names().iter())
            .map(|name| format!("{name} {:.1e}", self.check_program(name, core, runner)))
            .collect();
        eprintln!("{runner:?} core={core}: {}", checked.join(", "));
        checked
    }
}

/// The input-set prefixes of an io file (`""`, `"b_"`, …): each has an `in0`.
pub fn prefixes(io: &HashMap<String, Tensor>) -> Vec<String> {
    let mut out: Vec<String> = io
        .keys()
        .filter_map(|k| k.strip_suffix("in0").map(str::to_string))
        .collect();
    out.sort();
    out
}

/// `{prefix}{kind}0`, `{prefix}{kind}1`, … while present.
pub fn series<'a>(io: &'a HashMap<String, Tensor>, prefix: &str, kind: &str) -> Vec<&'a Tensor> {
    (0..)
        .map_while(|i| io.get(&format!("{prefix}{kind}{i}")))
        .collect()
}

/// Fresh copies of input set `prefix` (`{prefix}in0`, …), as a call takes them.
pub fn inputs(io: &HashMap<String, Tensor>, prefix: &str) -> Vec<Tensor> {
    series(io, prefix, "in")
        .into_iter()
        .map(Tensor::copy)
        .collect()
}

/// Loads `file` fresh and runs it on `inputs`; the user outputs, and how many outputs
/// are mutations.
pub fn run(file: &Path, runner: Runner, inputs: &[Tensor]) -> (Vec<Tensor>, usize) {
    let ep: ExportedProgram = ferrex::load(file).unwrap_or_else(|e| panic!("{e}"));
    let leaves = leaves(&ep, inputs);
    let outs = match runner {
        Runner::Interpreter => ep.module().call_flat(&leaves),
        Runner::Compiled => ferrex_runtime::load(file)
            .unwrap_or_else(|e| panic!("{e}"))
            .call_flat(&leaves),
    };
    let outs = outs.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mutations = ep
        .graph_signature()
        .output_specs
        .iter()
        .filter(|s| s.kind != OutputKind::UserOutput)
        .count();
    (outs, mutations)
}

/// Loads the weights of PyTorch's default-IR program `name` of corpus `dir` into the
/// Rust model `model`, exports it on the first input set (with `shapes`, when given)
/// and checks: the parameter names and the op set are PyTorch's, and every input set
/// gives PyTorch's outputs both eagerly (`eager`) and through the exported program.
pub fn check_rust_model<M: ferrex::Forward + ferrex::ModuleExt>(
    dir: &str,
    name: &str,
    model: &M,
    shapes: Option<ferrex::DynamicShapes>,
    eager: impl Fn(&M, &[Tensor]) -> Vec<Tensor>,
    args: impl Fn(&[Tensor]) -> M::Args,
) {
    let corpus = Corpus::new(dir);
    let theirs = ferrex::load(corpus.file(name, false)).unwrap();
    let state: Vec<(String, Tensor)> = (theirs.state_dict().iter())
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    let report = model.load_state_dict(&state, true).unwrap();
    assert!(
        report.missing_keys.is_empty() && report.unexpected_keys.is_empty(),
        "{name}: {report:?}"
    );
    let io = corpus.io(name);
    let mut exporter = ferrex::Exporter::new(model, args(&inputs(&io, "")));
    if let Some(shapes) = shapes {
        exporter = exporter.dynamic_shapes(shapes);
    }
    let ours = exporter.run().unwrap_or_else(|e| panic!("{name}: {e}"));
    let ops = |ep: &ExportedProgram| -> std::collections::BTreeSet<String> {
        ep.op_targets().into_iter().collect()
    };
    assert_eq!(ops(&ours), ops(&theirs), "{name}: ops");
    let targets = |ep: &ExportedProgram| -> Vec<String> {
        (ep.graph_signature().input_specs.iter())
            .filter_map(|s| s.target.clone())
            .collect()
    };
    assert_eq!(targets(&ours), targets(&theirs), "{name}: parameters");
    for prefix in prefixes(&io) {
        let x = inputs(&io, &prefix);
        let want = series(&io, &prefix, "out");
        let exported = ours.module().call_flat(&leaves(&ours, &x)).unwrap();
        for (how, got) in [("eager", eager(model, &x)), ("exported", exported)] {
            assert_eq!(got.len(), want.len(), "{name} {how} `{prefix}`: outputs");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let d = max_diff(g, w, &format!("{name} {how} `{prefix}` out{i}"));
                assert!(d <= ATOL, "{name} {how} `{prefix}`: out{i} differs by {d}");
            }
        }
    }
}
