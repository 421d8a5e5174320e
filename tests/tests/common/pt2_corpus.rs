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
