//! `ferrex bench`: both runners timed on the same inputs.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::io::IoFile;
use crate::runner::{self, Runner};
use crate::{CliError, RunnerKind};

/// Calls per runner when `--iters` is not given: as many as fit in this time.
const BUDGET: Duration = Duration::from_secs(1);
const MAX_AUTO_ITERS: usize = 10_000;
const WARM_UP: usize = 3;

pub fn bench(
    program: &Path,
    inputs: &Path,
    prefix: &str,
    iters: Option<usize>,
    profile: bool,
) -> Result<ExitCode, CliError> {
    let io = IoFile::open(inputs, prefix)?;
    outln!("{}", program.display());
    for kind in [RunnerKind::Interpreter, RunnerKind::Compiled] {
        // Each runner gets its own copy of the program: calls may mutate its buffers.
        let runner = Runner::new(runner::load_program(program)?, kind)?;
        let times = time_runner(&runner, &io, iters, kind)?;
        outln!(
            "  {:<12} {}",
            format!("{kind:?}").to_lowercase(),
            Summary::of(times)
        );
        // Whether the compiled plan splits its batch over two threads, and what it
        // leaves to the eager kernels, per op (its description's last two lines).
        if let Runner::Compiled(c) = &runner {
            let d = c.describe();
            let lines: Vec<&str> = d.lines().collect();
            for line in &lines[lines.len().saturating_sub(2)..] {
                outln!("  {line}");
            }
            if profile {
                profile_steps(c, &runner, &io, iters)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Steps printed by `--profile`: the slowest, then the rest summed.
const PROFILE_TOP: usize = 15;

/// The compiled plan's steps, timed over calls: each step's median, slowest first.
fn profile_steps(
    compiled: &ferrex_runtime::CompiledProgram,
    runner: &Runner,
    io: &IoFile,
    iters: Option<usize>,
) -> Result<(), CliError> {
    let leaves = runner::leaves(runner.program(), &mut |i, name| io.input(i, name))?;
    let calls = iters.unwrap_or(50).clamp(1, 1000);
    let mut per_step: Vec<(String, Vec<Duration>)> = Vec::new();
    for _ in 0..calls {
        let (_, times) = compiled.profile_flat(&leaves)?;
        for (i, (name, t)) in times.into_iter().enumerate() {
            match per_step.get_mut(i) {
                Some((_, ts)) => ts.push(t),
                None => per_step.push((name, vec![t])),
            }
        }
    }
    let mut medians: Vec<(String, Duration)> = per_step
        .into_iter()
        .map(|(name, mut ts)| {
            ts.sort();
            (name, ts[ts.len() / 2])
        })
        .collect();
    let total: Duration = medians.iter().map(|(_, t)| *t).sum();
    medians.sort_by_key(|m| std::cmp::Reverse(m.1));
    outln!(
        "  steps of the compiled plan, median of {calls} profiled calls (sum {:.1} µs):",
        total.as_secs_f64() * 1e6
    );
    let share = |t: Duration| 100.0 * t.as_secs_f64() / total.as_secs_f64().max(1e-12);
    for (name, t) in medians.iter().take(PROFILE_TOP) {
        outln!(
            "    {:>10.1} µs {:>5.1}%  {name}",
            t.as_secs_f64() * 1e6,
            share(*t)
        );
    }
    if medians.len() > PROFILE_TOP {
        let rest: Duration = medians[PROFILE_TOP..].iter().map(|(_, t)| *t).sum();
        outln!(
            "    {:>10.1} µs {:>5.1}%  ({} other steps)",
            rest.as_secs_f64() * 1e6,
            share(rest),
            medians.len() - PROFILE_TOP
        );
        // Many small steps (an RNN's per time step): their sum per kind of node.
        outln!("  the same steps by kind of node (their names without the `_N` suffix):");
        for (kind, count, t) in by_kind(&medians).iter().take(PROFILE_TOP) {
            outln!(
                "    {:>10.1} µs {:>5.1}%  {kind} ×{count}",
                t.as_secs_f64() * 1e6,
                share(*t)
            );
        }
    }
    Ok(())
}

/// Steps' times summed per kind of node: the name without the numeric suffix that
/// names repeated nodes (`linear_33` → `linear`), largest first.
fn by_kind(steps: &[(String, Duration)]) -> Vec<(String, usize, Duration)> {
    let mut kinds: Vec<(String, usize, Duration)> = Vec::new();
    for (name, t) in steps {
        let kind = match name.rsplit_once('_') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
            _ => name.as_str(),
        };
        match kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) => (k.1, k.2) = (k.1 + 1, k.2 + *t),
            None => kinds.push((kind.to_string(), 1, *t)),
        }
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.2));
    kinds
}

fn time_runner(
    runner: &Runner,
    io: &IoFile,
    iters: Option<usize>,
    kind: RunnerKind,
) -> Result<Vec<Duration>, CliError> {
    let leaves = runner::leaves(runner.program(), &mut |i, name| io.input(i, name))?;
    for _ in 0..WARM_UP {
        runner.call(&leaves)?;
    }
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut times = Vec::new();
    loop {
        let done = match iters {
            Some(n) => times.len() >= n,
            None => {
                times.len() >= MAX_AUTO_ITERS || (times.len() >= 5 && started.elapsed() >= BUDGET)
            }
        };
        if done {
            break;
        }
        let t = Instant::now();
        runner.call(&leaves)?;
        times.push(t.elapsed());
        if progress && times.len() % 16 == 0 {
            eprint!("\r{kind:?}: {} calls", times.len());
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    Ok(times)
}

/// Median and spread (10th–90th percentile) of call times.
struct Summary {
    median: Duration,
    p10: Duration,
    p90: Duration,
    calls: usize,
}

impl Summary {
    fn of(mut times: Vec<Duration>) -> Summary {
        times.sort();
        let at = |q: usize| times.get(times.len().saturating_sub(1) * q / 100).copied();
        Summary {
            median: at(50).unwrap_or_default(),
            p10: at(10).unwrap_or_default(),
            p90: at(90).unwrap_or_default(),
            calls: times.len(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "median {:>10.1} µs   (p10 {:.1}, p90 {:.1}; {} calls)",
            us(self.median),
            us(self.p10),
            us(self.p90),
            self.calls
        )
    }
}
