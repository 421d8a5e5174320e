//! `ferrex`: show, run, benchmark and convert exported programs.
//!
//! ```text
//! cargo run --release --bin ferrex -- show PROGRAM.pt2
//! cargo run --release --bin ferrex -- run PROGRAM.pt2 --inputs IO.safetensors [--prefix P]
//!                                         [--runner interpreter|compiled] [--atol 1e-5] [--rtol 0]
//! cargo run --release --bin ferrex -- bench PROGRAM.pt2 --inputs IO.safetensors [--prefix P]
//! cargo run --release --bin ferrex -- convert IN.pt2 OUT.pt2
//! cargo run --release --bin ferrex -- fuzz --minutes 10 [--seed S] [--out DIR]
//! cargo run --release --bin ferrex -- aot PROGRAM.pt2 -o src/program.rs
//! ```
//!
//! Exit status: 0 on success, 1 when `run` finds an output or mutation that differs from
//! the expected one, 2 on any error (missing file, bad archive, missing input, wrong shape),
//! reported as one line.

/// `println!` that ends the program quietly when stdout is closed (`ferrex show X | head`)
/// instead of panicking, as `println!` does on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!`, with [`outln!`]'s handling of a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

/// Writes to stdout; a reader that has gone away (a closed pipe) ends the program with
/// success, the Unix convention; other write errors are reported and exit with 2.
fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(text) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(2);
    }
}

mod aot;
mod bench;
mod fuzz;
mod io;
mod report;
mod runner;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "ferrex",
    version,
    about = "Show, run, benchmark and convert exported programs (.pt2)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the program: graph, signature and range constraints.
    Show {
        /// The program archive (`.pt2`).
        program: PathBuf,
        /// Print the compiled runtime's plan instead: its steps, what the plan splits
        /// over threads and what it leaves to eager kernels.
        #[arg(long)]
        plan: bool,
    },
    /// Run the program on inputs from a safetensors file and compare with expected values.
    ///
    /// Inputs are `{P}in0, {P}in1, …` (one per user input, in order). Where the file
    /// holds `{P}out0, …` (outputs) and `{P}mut0, …` (mutated buffers and inputs, in
    /// signature order), they are compared: the largest difference per value is printed
    /// and the exit status is 1 when one exceeds `--atol`.
    Run {
        program: PathBuf,
        /// The safetensors file with the inputs (and expected outputs).
        #[arg(long)]
        inputs: PathBuf,
        /// The prefix of the tensor names in the inputs file (`b3_` for `b3_in0`).
        #[arg(long, default_value = "")]
        prefix: String,
        /// Which runner executes the program.
        #[arg(long, value_enum, default_value_t = RunnerKind::Compiled)]
        runner: RunnerKind,
        /// The largest absolute difference accepted.
        #[arg(long, default_value_t = 1e-5)]
        atol: f64,
        /// A difference relative to the expected value accepted on top of `--atol`:
        /// `|got - want| <= atol + rtol · |want|` (outputs of large values).
        #[arg(long, default_value_t = 0.0)]
        rtol: f64,
    },
    /// Time both runners on inputs from a safetensors file (median and spread).
    Bench {
        program: PathBuf,
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long, default_value = "")]
        prefix: String,
        /// Timed calls per runner (after warm-up); by default as many as fit in about a second.
        #[arg(long)]
        iters: Option<usize>,
        /// Then time the compiled plan's steps and print the slowest (median over calls,
        /// with each step's share of a call).
        #[arg(long)]
        profile: bool,
    },
    /// Read any program ferrex can read and write it again.
    Convert { input: PathBuf, output: PathBuf },
    /// Damage saved programs and safetensors files and call ops with hostile arguments,
    /// each case in a child process with a memory limit and a timeout; count panics,
    /// aborts, hangs and disagreements between the two runners (exit status 1 if any).
    Fuzz(fuzz::FuzzArgs),
    /// Compile a program into a Rust module (ahead of time): `ferrex aot X.pt2 -o src/x.rs`.
    Aot(aot::AotArgs),
}

/// The two ways ferrex runs a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunnerKind {
    /// The reference interpreter (`ep.module().call`).
    Interpreter,
    /// The compiled plan (`ferrex_runtime::compile`).
    Compiled,
}

/// A command's failure: one line for the user.
#[derive(Debug)]
pub struct CliError(String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(one_line(&e.to_string()))
    }
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

/// Joins a multi-line message so that the error stays one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Show { program, plan } => {
            let ep = runner::load_program(&program)?;
            if plan {
                let compiled = ferrex_runtime::compile(&ep)?;
                out!("{}", compiled.describe());
            } else {
                out!("{ep}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            program,
            inputs,
            prefix,
            runner,
            atol,
            rtol,
        } => report::run(
            &program,
            &inputs,
            &prefix,
            runner,
            report::Tolerance { atol, rtol },
        ),
        Command::Bench {
            program,
            inputs,
            prefix,
            iters,
            profile,
        } => bench::bench(&program, &inputs, &prefix, iters, profile),
        Command::Convert { input, output } => {
            let ep = runner::load_program(&input)?;
            ferrex::save(&ep, &output)?;
            outln!("wrote {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Fuzz(args) => fuzz::fuzz(&args),
        Command::Aot(args) => aot::aot(&args),
    }
}
