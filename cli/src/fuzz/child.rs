//! One case in a child process: this binary re-executed with `--case ID` by `sh`, after
//! `ulimit -v` (a failed allocation aborts the child, not the loop), killed after the
//! timeout (a hang). The verdict comes from how the child ended.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::FuzzArgs;
use crate::CliError;

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ran,
    Error,
    Skipped,
    /// Exit status 101: a Rust panic.
    Panic,
    /// Killed by a signal or another exit status: an abort (allocation failure, stack
    /// overflow) or a crash.
    Abort,
    /// Still running at the timeout.
    Hang,
    /// Exit status 3: the two runners disagree.
    Disagree,
}

impl Verdict {
    pub fn is_finding(self) -> bool {
        matches!(
            self,
            Verdict::Panic | Verdict::Abort | Verdict::Hang | Verdict::Disagree
        )
    }
}

pub struct Report {
    pub verdict: Verdict,
    pub stdout: String,
    pub stderr: String,
}

/// Runs case `id` in a child and waits for it (at most `args.timeout` seconds).
pub fn run_case(exe: &Path, args: &FuzzArgs, id: u64) -> Result<Report, CliError> {
    let kib = args.memory_mib.saturating_mul(1024).to_string();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v "$1" && exec "$0" fuzz --seed "$2" --case "$3" --corpus "$4" --kinds "$5""#)
        .arg(exe)
        .arg(&kib)
        .arg(args.seed.to_string())
        .arg(id.to_string())
        .arg(&args.corpus)
        .arg(args.kinds.join(","))
        // One thread per case: the loop is the parallelism, and the limit is per process.
        .env("FERREX_NUM_THREADS", "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Read both pipes on threads, so that a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_out = std::thread::spawn(move || read_all(out.as_mut()));
    let read_err = std::thread::spawn(move || read_all(err.as_mut()));
    let started = Instant::now();
    let limit = Duration::from_secs_f64(args.timeout.max(0.1));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = read_out.join().unwrap_or_default();
    let stderr = read_err.join().unwrap_or_default();
    let verdict = match status {
        None => Verdict::Hang,
        Some(s) => match s.code() {
            Some(0) if stdout.starts_with("ran") => Verdict::Ran,
            Some(0) if stdout.starts_with("error") => Verdict::Error,
            Some(0) => Verdict::Skipped,
            Some(3) => Verdict::Disagree,
            Some(101) => Verdict::Panic,
            _ => Verdict::Abort,
        },
    };
    Ok(Report {
        verdict,
        stdout,
        stderr: tail(&stderr),
    })
}

fn read_all(pipe: Option<&mut impl Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(p) = pipe {
        let _ = p.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last 4 KiB of a child's stderr (a panic message and its location).
fn tail(s: &str) -> String {
    let start = s.len().saturating_sub(4096);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[start..].to_string()
}
