//! `ferrex run`: one call, its outputs printed and compared with the expected ones.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use ferrex::{DType, Tensor};

use crate::io::IoFile;
use crate::runner::{self, Runner};
use crate::{CliError, RunnerKind};

pub fn run(
    program: &Path,
    inputs: &Path,
    prefix: &str,
    kind: RunnerKind,
    atol: f64,
) -> Result<ExitCode, CliError> {
    let runner = Runner::new(runner::load_program(program)?, kind)?;
    let io = IoFile::open(inputs, prefix)?;
    let ep = runner.program();
    let leaves = runner::leaves(ep, &mut |i, name| io.input(i, name))?;
    let outputs = runner.call(&leaves)?;
    let mutations = runner::mutations(ep, &leaves)?;
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
    for (name, kind, index, value) in named_outputs.chain(named_mutations) {
        outln!("{name}: {}", describe(value)?);
        if let Some(want) = io.expected(kind, index) {
            checked += 1;
            let verdict = compare(value, want)?;
            let ok = matches!(verdict, Verdict::Diff(d) if d <= atol);
            failed += usize::from(!ok);
            let label = if ok { colour.pass() } else { colour.fail() };
            outln!("  {label} against {prefix}{kind}{index}: {verdict}");
        }
    }
    if checked == 0 {
        outln!("(no expected values in the inputs file to compare with)");
    } else if failed == 0 {
        outln!("{}: {checked} values within {atol:e}", colour.pass());
    } else {
        outln!(
            "{}: {failed} of {checked} values differ by more than {atol:e}",
            colour.fail()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
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
    /// The largest absolute difference (NaN where both are NaN counts as equal).
    Diff(f64),
    Shape(Vec<usize>, Vec<usize>),
    DType(DType, DType),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Diff(d) => write!(f, "max abs diff {d:.3e}"),
            Verdict::Shape(got, want) => write!(f, "shape {got:?}, expected {want:?}"),
            Verdict::DType(got, want) => write!(f, "dtype {got}, expected {want}"),
        }
    }
}

pub fn compare(got: &Tensor, want: &Tensor) -> Result<Verdict, CliError> {
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
        return Ok(Verdict::Diff(worst as f64));
    }
    let (a, b): (Vec<f64>, Vec<f64>) = (got.to_vec()?, want.to_vec()?);
    let worst = a.iter().zip(&b).fold(0.0f64, |worst, (x, y)| {
        let d = if x.is_nan() && y.is_nan() || x == y {
            0.0
        } else {
            (x - y).abs()
        };
        // A NaN difference (NaN against a number) must fail, not vanish in `max`.
        if d.is_nan() {
            f64::INFINITY
        } else {
            worst.max(d)
        }
    });
    Ok(Verdict::Diff(worst))
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
