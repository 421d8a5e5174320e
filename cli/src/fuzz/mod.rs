//! `ferrex fuzz`: a deterministic fuzz loop over ferrex's inputs from outside — saved
//! programs, safetensors files (`files.rs`) and op calls with hostile arguments
//! (`ops.rs`). Each case runs in a child process (this binary, re-executed with
//! `--case`) under a memory limit (`ulimit -v`) and a timeout (`child.rs`), so that a
//! panic, an abort (a failed allocation, a stack overflow) or a hang is caught and
//! counted; a program that runs is run by both runners, which must agree.
//!
//! ```text
//! ferrex fuzz --minutes 10 [--seed S] [--out DIR]   # progress, then a summary
//! ferrex fuzz --seed S --case ID                    # one case, in this process
//! ```

mod child;
mod files;
mod ops;
mod rng;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferrex::module::{InputLeaf, LeafValue};
use ferrex::program::ExportedProgram;
use ferrex::Tensor;

use crate::CliError;
use child::Verdict;
use rng::Rng;

/// The options of `ferrex fuzz`.
#[derive(Clone, Debug, clap::Args)]
pub struct FuzzArgs {
    /// How long to run.
    #[arg(long, default_value_t = 1.0)]
    pub minutes: f64,
    /// Stop after this many cases (whichever comes first).
    #[arg(long)]
    pub cases: Option<u64>,
    /// The seed: the same seed gives the same cases.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only this case, in this process (what each child does).
    #[arg(long)]
    pub case: Option<u64>,
    /// Where each failing case's reproducer is written.
    #[arg(long, default_value = "fuzz-findings")]
    pub out: PathBuf,
    /// The programs and safetensors files to damage.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/pt2"))]
    pub corpus: PathBuf,
    /// The memory limit of each case, in MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory_mib: u64,
    /// The time limit of each case, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Only these kinds of cases (comma-separated: program-json, program-bytes,
    /// program-entry, safetensors, op-eager, op-exported).
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<String>,
}

impl FuzzArgs {
    /// The kind of case `id`: ids cycle through the selected kinds.
    fn kind(&self, id: u64) -> Result<&'static str, String> {
        let wanted: Vec<&String> = self.kinds.iter().filter(|s| !s.is_empty()).collect();
        let selected: Vec<&'static str> = KINDS
            .iter()
            .copied()
            .filter(|k| wanted.is_empty() || wanted.iter().any(|s| s == k))
            .collect();
        if let Some(unknown) = wanted.iter().find(|s| !KINDS.contains(&s.as_str())) {
            return Err(format!(
                "unknown kind `{unknown}` (kinds: {})",
                KINDS[..6].join(", ")
            ));
        }
        let n = selected.len() as u64;
        selected
            .get((id % n.max(1)) as usize)
            .copied()
            .ok_or_else(|| "no kind selected".to_string())
    }
}

/// What one case did, as the child reports it.
#[derive(Debug)]
pub enum Outcome {
    /// Ran (and both runners agreed, where there were two).
    Ran,
    /// Returned an error value (the expected answer to most damaged inputs).
    Error(String),
    /// Not run (an input too large to make, an op that only reads).
    Skipped(String),
    /// The runners disagree.
    Disagree(String),
}

/// The kinds of cases, in the order case ids cycle through them.
const KINDS: [&str; 7] = [
    "program-json",
    "program-bytes",
    "program-entry",
    "safetensors",
    "op-eager",
    "op-exported",
    "program-json",
];

/// A case: its kind, and what it does, generated from `(seed, id)` alone.
enum Case {
    File(files::FileCase),
    Op { call: ops::OpCall, exported: bool },
}

fn generate(args: &FuzzArgs, id: u64) -> Result<(&'static str, Case), String> {
    let kind = args.kind(id)?;
    let mut rng = Rng::for_case(args.seed, id);
    let damage = match kind {
        "program-json" => files::Damage::Json,
        "program-bytes" => files::Damage::Bytes,
        "program-entry" => files::Damage::Entry,
        "safetensors" => files::Damage::Safetensors,
        _ => {
            let call = ops::OpCall::generate(&mut rng);
            let exported = kind == "op-exported";
            return Ok((kind, Case::Op { call, exported }));
        }
    };
    Ok((
        kind,
        Case::File(files::generate(&mut rng, damage, &args.corpus)?),
    ))
}

fn describe(case: &Case) -> String {
    match case {
        Case::File(f) => f.description.clone(),
        Case::Op { call, exported } => format!(
            "{} {}",
            if *exported { "exported" } else { "eager" },
            call.describe()
        ),
    }
}

/// `ferrex fuzz`: one case (`--case`), or the loop.
pub fn fuzz(args: &FuzzArgs) -> Result<std::process::ExitCode, CliError> {
    match args.case {
        Some(id) => Ok(run_one(args, id)),
        None => run_loop(args),
    }
}

/// The child's side: runs case `id` and reports on stdout; exit status 3 when the
/// runners disagree.
fn run_one(args: &FuzzArgs, id: u64) -> std::process::ExitCode {
    let (kind, case) = match generate(args, id) {
        Ok(c) => c,
        Err(e) => {
            outln!("skipped: cannot generate the case: {e}");
            return std::process::ExitCode::SUCCESS;
        }
    };
    let mut rng = Rng::for_case(args.seed ^ 0x5EED, id);
    let outcome = match &case {
        Case::File(f) => files::run(f, &mut rng),
        Case::Op {
            call,
            exported: false,
        } => ops::run_eager(call),
        Case::Op {
            call,
            exported: true,
        } => ops::run_exported(call),
    };
    let line = |what: &str, detail: &str| {
        outln!("{what} [{kind}] {}: {}", describe(&case), one_line(detail));
    };
    match outcome {
        Outcome::Ran => line("ran", ""),
        Outcome::Error(e) => line("error", &e),
        Outcome::Skipped(why) => line("skipped", &why),
        Outcome::Disagree(why) => {
            line("disagree", &why);
            return std::process::ExitCode::from(3);
        }
    }
    std::process::ExitCode::SUCCESS
}

fn one_line(s: &str) -> String {
    let s = crate::one_line(s);
    match s.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Counts by verdict.
#[derive(Default)]
struct Tally {
    cases: u64,
    ran: u64,
    errors: u64,
    skipped: u64,
    panics: u64,
    aborts: u64,
    hangs: u64,
    disagreements: u64,
}

impl Tally {
    fn add(&mut self, v: &Verdict) {
        self.cases += 1;
        match v {
            Verdict::Ran => self.ran += 1,
            Verdict::Error => self.errors += 1,
            Verdict::Skipped => self.skipped += 1,
            Verdict::Panic => self.panics += 1,
            Verdict::Abort => self.aborts += 1,
            Verdict::Hang => self.hangs += 1,
            Verdict::Disagree => self.disagreements += 1,
        }
    }

    fn findings(&self) -> u64 {
        self.panics + self.aborts + self.hangs + self.disagreements
    }

    fn line(&self, elapsed: f64) -> String {
        format!(
            "{} cases in {elapsed:.1} s ({:.1} cases/s): panics {}, aborts {}, hangs {}, \
             disagreements {}",
            self.cases,
            self.cases as f64 / elapsed.max(1e-9),
            self.panics,
            self.aborts,
            self.hangs,
            self.disagreements
        )
    }
}

/// The parent's side: cases until the time or the count is up, each in a child.
fn run_loop(args: &FuzzArgs) -> Result<std::process::ExitCode, CliError> {
    files::corpus(&args.corpus).map_err(CliError::new)?;
    args.kind(0).map_err(CliError::new)?;
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(args.minutes.max(0.0) * 60.0);
    let terminal = std::io::stderr().is_terminal();
    let mut total = Tally::default();
    let mut by_kind: Vec<(&str, Tally)> = Vec::new();
    let mut last_progress = Instant::now();
    let mut id = 0u64;
    while started.elapsed() < deadline && args.cases.is_none_or(|n| id < n) {
        let report = child::run_case(&exe, args, id)?;
        total.add(&report.verdict);
        let kind = args.kind(id).map_err(CliError::new)?;
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, t)) => t.add(&report.verdict),
            None => {
                let mut t = Tally::default();
                t.add(&report.verdict);
                by_kind.push((kind, t));
            }
        }
        if report.verdict.is_finding() {
            write_reproducer(args, id, &report)?;
        }
        if terminal && last_progress.elapsed() > Duration::from_millis(500) {
            eprint!("\r{}   ", total.line(started.elapsed().as_secs_f64()));
            let _ = std::io::stderr().flush();
            last_progress = Instant::now();
        }
        id += 1;
    }
    if terminal {
        eprintln!();
    }
    let elapsed = started.elapsed().as_secs_f64();
    outln!("fuzz: seed {}: {}", args.seed, total.line(elapsed));
    outln!(
        "  ran {}, errors {}, skipped {}",
        total.ran,
        total.errors,
        total.skipped
    );
    for (kind, t) in &by_kind {
        outln!(
            "  {kind:14} {:6} cases: ran {}, errors {}, skipped {}, panics {}, aborts {}, \
             hangs {}, disagreements {}",
            t.cases,
            t.ran,
            t.errors,
            t.skipped,
            t.panics,
            t.aborts,
            t.hangs,
            t.disagreements
        );
    }
    if total.findings() > 0 {
        outln!("  reproducers in {}", args.out.display());
        return Ok(std::process::ExitCode::from(1));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `OUT/<verdict>-s<seed>-c<id>/`: how to rerun it, what the child printed, and the
/// damaged file.
fn write_reproducer(args: &FuzzArgs, id: u64, report: &child::Report) -> Result<(), CliError> {
    let dir = args
        .out
        .join(format!("{:?}-s{}-c{id}", report.verdict, args.seed).to_lowercase());
    std::fs::create_dir_all(&dir)?;
    let mut text = format!(
        "verdict: {:?}\nrerun: ferrex fuzz --seed {} --case {id} --corpus {} --kinds '{}'\n",
        report.verdict,
        args.seed,
        args.corpus.display(),
        args.kinds.join(",")
    );
    if let Ok((kind, case)) = generate(args, id) {
        text.push_str(&format!("kind: {kind}\ncase: {}\n", describe(&case)));
        if let Case::File(f) = &case {
            std::fs::write(dir.join(format!("case.{}", f.extension)), &f.bytes)?;
        }
    }
    text.push_str(&format!(
        "\n--- stdout\n{}\n--- stderr\n{}\n",
        report.stdout, report.stderr
    ));
    std::fs::write(dir.join("README.txt"), text)?;
    Ok(())
}

/// Runs `leaves` through the interpreter of `interpreted` and the compiled plan of
/// `compiled` (two loads of one program, so that buffer updates stay apart): both must
/// fail, or both run with the same outputs (within 1e-5) and the same mutations.
pub fn compare_runners(
    interpreted: &ExportedProgram,
    compiled: &ExportedProgram,
    leaves: &[InputLeaf],
) -> Outcome {
    let (leaves_a, leaves_b) = (deep_copy(leaves), deep_copy(leaves));
    let a = interpreted.module().call_flat(&leaves_a);
    let b = ferrex_runtime::compile(compiled)
        .map_err(|e| e.to_string())
        .and_then(|c| c.call_flat(&leaves_b).map_err(|e| e.to_string()));
    match (a, b) {
        (Err(e), Err(_)) => Outcome::Error(e.to_string()),
        (Ok(_), Err(e)) => Outcome::Disagree(format!("the interpreter runs; compiled: {e}")),
        (Err(e), Ok(_)) => Outcome::Disagree(format!("compiled runs; the interpreter: {e}")),
        (Ok(x), Ok(y)) => {
            let values = sane_state(interpreted) && sane_arguments(interpreted.graph());
            if let Some(d) = differ("output", &x, &y, values) {
                return Outcome::Disagree(d);
            }
            let muts = |ep, l| crate::runner::mutations(ep, l).unwrap_or_default();
            let (ma, mb) = (muts(interpreted, &leaves_a), muts(compiled, &leaves_b));
            let ta: Vec<Tensor> = ma.into_iter().map(|(_, t)| t).collect();
            let tb: Vec<Tensor> = mb.into_iter().map(|(_, t)| t).collect();
            differ("mutation", &ta, &tb, values).map_or(Outcome::Ran, Outcome::Disagree)
        }
    }
}

fn deep_copy(leaves: &[InputLeaf]) -> Vec<InputLeaf> {
    leaves
        .iter()
        .map(|l| InputLeaf {
            path: l.path.clone(),
            value: match &l.value {
                LeafValue::Tensor(t) => LeafValue::Tensor(t.copy()),
                other => other.clone(),
            },
        })
        .collect()
}

/// Whether every weight and constant is finite and at most 1e3 in magnitude. Damaged
/// weight bytes give values like -4.7e5, and float rounding (the runners sum in
/// different orders) is then amplified past any tolerance (`sin` of 7e5 differs in the
/// second digit): with such weights only shapes, dtypes and errors are compared.
fn sane_state(ep: &ExportedProgram) -> bool {
    ep.state_dict()
        .iter()
        .chain(ep.constants().iter())
        .all(|(_, t)| {
            t.to_vec::<f64>()
                .is_ok_and(|v| v.iter().all(|x| x.is_finite() && x.abs() <= 1e3))
        })
}

/// Whether every number the graph passes to an op is at most 1e6 in magnitude. A damaged
/// `alpha` of 2^62 makes values of 1e18, whose last-bit rounding differences (the
/// runners' GEMMs sum in different orders) `sin` turns into different numbers: as with
/// damaged weights, only shapes, dtypes and errors are compared then.
fn sane_arguments(graph: &ferrex::graph::Graph) -> bool {
    use ferrex::graph::{Argument, NodeKind};
    let small = |a: &ferrex::graph::Arg| match a {
        Argument::Int(i) => i.as_int().is_none_or(|v| v.unsigned_abs() <= 1_000_000),
        Argument::Float(f) => f.abs() <= 1e6,
        Argument::FloatList(l) => l.iter().all(|f| f.abs() <= 1e6),
        _ => true,
    };
    let nodes_ok = graph.nodes.iter().all(|n| match &n.kind {
        NodeKind::Call { args, .. } | NodeKind::HigherOrder { args, .. } => args.iter().all(small),
        _ => true,
    });
    nodes_ok && graph.subgraphs.iter().all(|s| sane_arguments(&s.graph))
}

/// The first difference between two lists of results, if any (values compared only
/// when `values`).
fn differ(what: &str, a: &[Tensor], b: &[Tensor], values: bool) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} {what}s against {}", a.len(), b.len()));
    }
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x.shape() != y.shape() || x.dtype() != y.dtype() {
            return Some(format!(
                "{what} {i}: {:?} {:?} against {:?} {:?}",
                x.dtype(),
                x.shape(),
                y.dtype(),
                y.shape()
            ));
        }
        let (u, v) = match (x.to_vec::<f64>(), y.to_vec::<f64>()) {
            (Ok(u), Ok(v)) => (u, v),
            (Err(e), _) | (_, Err(e)) => return Some(format!("{what} {i}: {e}")),
        };
        if !values {
            continue;
        }
        // Within 1e-5 relative to the tensor's largest value: the runners sum in
        // different orders, and float rounding scales with the magnitudes summed.
        let scale = 1.0
            + v.iter()
                .filter(|q| q.is_finite())
                .fold(0.0f64, |m, q| m.max(q.abs()));
        let far = u.iter().zip(&v).position(|(p, q)| {
            let both_nan = p.is_nan() && q.is_nan();
            let close = (p - q).abs() <= 1e-5 * scale; // false when one is NaN
            !both_nan && p != q && !close
        });
        if let Some(j) = far {
            return Some(format!("{what} {i} element {j}: {} against {}", u[j], v[j]));
        }
    }
    None
}
