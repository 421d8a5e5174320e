//! `ferrex run`: one call, its outputs printed and compared with the expected ones.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use ferrex::{DType, Tensor};

use crate::io::IoFile;
use crate::runner::{self, Runner};
use crate::{CliError, RunnerKind};

/// How far a value may be from the expected one: `|got - want| <= atol + rtol · |want|`
/// per element (NumPy's `allclose`); integers compare exactly whatever the tolerance.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rtol {
            0.0 => write!(f, "{:e}", self.atol),
            rtol => write!(f, "{:e} + {rtol:e}·|expected|", self.atol),
        }
    }
}

pub fn run(
    program: &Path,
    inputs: &Path,
    prefix: &str,
    kind: RunnerKind,
    tol: Tolerance,
) -> Result<ExitCode, CliError> {
    let runner = Runner::new(runner::load_program(program)?, kind)?;
    let io = IoFile::open(inputs, prefix)?;
    let ep = runner.program();
    let leaves = runner::leaves(ep, &mut |i, name| io.input(i, name))?;
    // The mutated values before the call (see `BeforeCall`).
    let before: Vec<Tensor> = (runner::mutations(ep, &leaves)?.iter())
        .map(|(_, t)| t.copy())
        .collect();
    let outputs = runner.call(&leaves)?;
    let mutations = runner::mutations(ep, &leaves)?;
    let mut before_call = BeforeCall {
        program,
        io: &io,
        kind,
        before,
        other: None,
    };
    let colour = Colour::for_stdout();
    let mut checked = 0;
    let mut failed = 0;
    let named_outputs = outputs
        .iter()
        .enumerate()
        .map(|(j, t)| (format!("output {j}"), "out", j, t));
    let named_mutations = mutations
        .iter()
        .enumerate()
        .map(|(k, (name, t))| (name.clone(), "mut", k, t));
    for (name, what, index, value) in named_outputs.chain(named_mutations) {
        outln!("{name}: {}", describe(value)?);
        if let Some(want) = io.expected(what, index) {
            checked += 1;
            let mut verdict = compare(value, want, tol.rtol)?;
            let stale = !within(&verdict, tol)
                && what == "mut"
                && name.starts_with("buffer ")
                && before_call.holds(index, want)?;
            if stale {
                outln!(
                    "  {prefix}mut{index} is `{name}` before the call (gen_pt2_corpus.py keeps \
                     an alias of a mutated buffer, then restores the state); compared with \
                     the {} runner's value after the call instead",
                    format!("{:?}", before_call.other_kind()).to_lowercase()
                );
                verdict = compare(value, &before_call.other_after(index)?, tol.rtol)?;
            }
            let ok = within(&verdict, tol);
            failed += usize::from(!ok);
            let label = if ok { colour.pass() } else { colour.fail() };
            outln!("  {label} against {prefix}{what}{index}: {verdict}");
        }
    }
    if checked == 0 {
        outln!("(no expected values in the inputs file to compare with)");
    } else if failed == 0 {
        outln!("{}: {checked} values within {tol}", colour.pass());
    } else {
        outln!(
            "{}: {failed} of {checked} values differ by more than {tol}",
            colour.fail()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn within(verdict: &Verdict, tol: Tolerance) -> bool {
    matches!(verdict, Verdict::Diff { excess, .. } if *excess <= tol.atol)
}

/// A file whose expected buffer mutation is the buffer's value *before* the call:
/// `gen_pt2_corpus.py` saves `state_dict()[name]`, an alias of the buffer, then restores
/// the state with `load_state_dict`, so its `mut{k}` of a buffer is the old value
/// (PyTorch's own run of the archive gives the new one). Such a value is compared with
/// the other runner's, from a fresh load, instead: an independent computation of the
/// buffer after the call, where the file has none.
struct BeforeCall<'a> {
    program: &'a Path,
    io: &'a IoFile,
    kind: RunnerKind,
    /// The mutated values before the call, in signature order.
    before: Vec<Tensor>,
    /// The other runner's mutated values after the call, once computed.
    other: Option<Vec<Tensor>>,
}

impl BeforeCall<'_> {
    /// Whether `want` is, bit for bit, mutated value `index` before the call.
    fn holds(&self, index: usize, want: &Tensor) -> Result<bool, CliError> {
        let Some(old) = self.before.get(index) else {
            return Ok(false);
        };
        let bits = |t: &Tensor| -> Result<Vec<u64>, CliError> {
            Ok(t.to_vec::<f64>()?.iter().map(|v| v.to_bits()).collect())
        };
        Ok(old.shape() == want.shape() && old.dtype() == want.dtype() && bits(old)? == bits(want)?)
    }

    fn other_kind(&self) -> RunnerKind {
        match self.kind {
            RunnerKind::Interpreter => RunnerKind::Compiled,
            RunnerKind::Compiled => RunnerKind::Interpreter,
        }
    }

    /// The other runner's mutated value `index` after one call on the same inputs.
    fn other_after(&mut self, index: usize) -> Result<Tensor, CliError> {
        if self.other.is_none() {
            let runner = Runner::new(runner::load_program(self.program)?, self.other_kind())?;
            let ep = runner.program();
            let leaves = runner::leaves(ep, &mut |i, name| self.io.input(i, name))?;
            runner.call(&leaves)?;
            let after = runner::mutations(ep, &leaves)?;
            self.other = Some(after.into_iter().map(|(_, t)| t).collect());
        }
        (self.other.as_ref().and_then(|o| o.get(index)).cloned())
            .ok_or_else(|| CliError::new(format!("the other runner has no mutation {index}")))
    }
}

/// `f32 [8, 10] = [0.1234, -0.5, …]`
fn describe(t: &Tensor) -> Result<String, CliError> {
    let values: Vec<f64> = t.to_vec()?;
    let shown: Vec<String> = values
        .iter()
        .take(6)
        .map(|v| format_value(*v, t.dtype()))
        .collect();
    let more = if values.len() > shown.len() {
        ", …"
    } else {
        ""
    };
    Ok(format!(
        "{} {:?} = [{}{more}]",
        t.dtype(),
        t.shape(),
        shown.join(", ")
    ))
}

fn format_value(v: f64, dtype: DType) -> String {
    match dtype {
        DType::Bool => (v != 0.0).to_string(),
        DType::I64 | DType::I32 => format!("{v}"),
        _ => format!("{v:.6}"),
    }
}

/// How one value compares with the expected one.
pub enum Verdict {
    /// The largest absolute difference (NaN where both are NaN counts as equal), and
    /// the largest of `|got - want| - rtol · |want|` (what `atol` must cover).
    Diff {
        worst: f64,
        excess: f64,
    },
    Shape(Vec<usize>, Vec<usize>),
    DType(DType, DType),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Diff { worst, .. } => write!(f, "max abs diff {worst:.3e}"),
            Verdict::Shape(got, want) => write!(f, "shape {got:?}, expected {want:?}"),
            Verdict::DType(got, want) => write!(f, "dtype {got}, expected {want}"),
        }
    }
}

pub fn compare(got: &Tensor, want: &Tensor, rtol: f64) -> Result<Verdict, CliError> {
    if got.shape() != want.shape() {
        return Ok(Verdict::Shape(got.shape(), want.shape()));
    }
    if got.dtype() != want.dtype() {
        return Ok(Verdict::DType(got.dtype(), want.dtype()));
    }
    if matches!(got.dtype(), DType::Bool | DType::I32 | DType::I64) {
        // Integers compare exactly (through f64, 2^53 + 1 would equal 2^53).
        let (a, b): (Vec<i64>, Vec<i64>) = (got.to_vec()?, want.to_vec()?);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (i128::from(*x) - i128::from(*y)).unsigned_abs())
            .max()
            .unwrap_or(0);
        let worst = worst as f64;
        return Ok(Verdict::Diff {
            worst,
            excess: worst,
        });
    }
    let (a, b): (Vec<f64>, Vec<f64>) = (got.to_vec()?, want.to_vec()?);
    let (mut worst, mut excess) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(&b) {
        let d = if x.is_nan() && y.is_nan() || x == y {
            0.0
        } else {
            (x - y).abs()
        };
        // A NaN difference (NaN against a number) must fail, not vanish in `max`.
        let d = if d.is_nan() { f64::INFINITY } else { d };
        worst = worst.max(d);
        // Infinite expected values count as any other: only equal ones pass (d = 0).
        let allowed = if y.is_finite() { rtol * y.abs() } else { 0.0 };
        excess = excess.max(d - allowed);
    }
    Ok(Verdict::Diff { worst, excess })
}

/// PASS/FAIL, in colour only on a terminal (and not under `NO_COLOR`).
pub struct Colour(bool);

impl Colour {
    pub fn for_stdout() -> Colour {
        Colour(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn pass(&self) -> String {
        self.paint("32", "PASS")
    }

    pub fn fail(&self) -> String {
        self.paint("31;1", "FAIL")
    }
}
