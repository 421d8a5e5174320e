//! The `ferrex` command on programs written by `ferrex::save`: exit codes, printed values,
//! comparisons with expected outputs and mutations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferrex::prelude::*;

/// Counts its calls in a buffer and adds `x` into `acc` in place.
#[export_module]
struct Counter {
    #[buffer]
    calls: Tensor,
}

#[export_module]
impl Counter {
    fn forward(&self, x: &Tensor, acc: &Tensor) -> Tensor {
        self.calls.add_(1.0);
        acc.add_(x);
        x * 2.0 + 1.0
    }
}

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("ferrex-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ferrex(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A saved `Counter` program and an inputs file with the right expected values
/// (computed here by hand, not by ferrex), under prefix `p_`.
fn counter_files(files: &Files, wrong_mutation: bool) -> (PathBuf, PathBuf) {
    let model = Counter {
        calls: Tensor::zeros([1]),
    };
    let args = (Tensor::ones([2, 3]), Tensor::zeros([2, 3]));
    let ep = ferrex::export(&model, args).unwrap();
    let program = files.path("counter.pt2");
    ferrex::save(&ep, &program).unwrap();
    let x = Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.0, 3.0, -2.5], [2, 3]);
    let acc = Tensor::from_vec(vec![1.0f32; 6], [2, 3]);
    let out = Tensor::from_vec(vec![2.0f32, -1.0, 5.0, 1.0, 7.0, -4.0], [2, 3]);
    let calls = Tensor::from_vec(vec![1.0f32], [1]);
    let acc_after = if wrong_mutation { 9.0f32 } else { 1.0 };
    let acc_after = Tensor::from_vec(vec![1.5f32, 0.0, 3.0, 1.0, 4.0, -1.5 * acc_after], [2, 3]);
    let io = files.path("counter.io.safetensors");
    ferrex::serialize::safetensors::save_file(
        [
            ("p_in0", &x),
            ("p_in1", &acc),
            ("p_out0", &out),
            ("p_mut0", &calls),
            ("p_mut1", &acc_after),
        ],
        &io,
    )
    .unwrap();
    (program, io)
}

fn run_args<'a>(program: &'a Path, io: &'a Path, runner: &'a str) -> Vec<&'a str> {
    let (p, i) = (program.to_str().unwrap(), io.to_str().unwrap());
    vec![
        "run", p, "--inputs", i, "--prefix", "p_", "--runner", runner,
    ]
}

#[test]
fn run_compares_outputs_and_mutations_with_both_runners() {
    let files = Files::new("run");
    let (program, io) = counter_files(&files, false);
    for runner in ["interpreter", "compiled"] {
        let o = ferrex(&run_args(&program, &io, runner));
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{runner}: {stdout}{stderr}");
        assert_eq!(
            stdout,
            "output 0: f32 [2, 3] = [2.000000, -1.000000, 5.000000, 1.000000, 7.000000, -4.000000]\n  \
             PASS against p_out0: max abs diff 0.000e0\n\
             buffer calls: f32 [1] = [1.000000]\n  PASS against p_mut0: max abs diff 0.000e0\n\
             input acc: f32 [2, 3] = [1.500000, 0.000000, 3.000000, 1.000000, 4.000000, -1.500000]\n  \
             PASS against p_mut1: max abs diff 0.000e0\n\
             PASS: 3 values within 1e-5\n"
        );
    }
}

/// `--rtol` accepts a difference relative to the expected value on top of `--atol`:
/// the wrong mutation (-1.5 for an expected -13.5, 12 apart) passes within
/// `1e-5 + 1·|expected|` (13.5) and fails within `1e-5 + 0.8·|expected|` (10.8).
#[test]
fn a_relative_tolerance_scales_with_the_expected_value() {
    let files = Files::new("rtol");
    let (program, io) = counter_files(&files, true);
    for (rtol, code, last) in [
        ("1", 0, "PASS: 3 values within 1e-5 + 1e0·|expected|\n"),
        (
            "0.8",
            1,
            "FAIL: 1 of 3 values differ by more than 1e-5 + 8e-1·|expected|\n",
        ),
    ] {
        let mut args = run_args(&program, &io, "compiled");
        args.extend(["--rtol", rtol]);
        let o = ferrex(&args);
        let (stdout, _) = text(&o);
        assert_eq!(o.status.code(), Some(code), "{stdout}");
        assert!(stdout.ends_with(last), "{stdout}");
        // The printed difference stays the absolute one.
        assert!(
            stdout.contains("against p_mut1: max abs diff 1.200e1"),
            "{stdout}"
        );
    }
}

#[test]
fn a_wrong_mutation_fails_with_exit_status_1() {
    let files = Files::new("wrong");
    let (program, io) = counter_files(&files, true);
    let o = ferrex(&run_args(&program, &io, "compiled"));
    let (stdout, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL against p_mut1: max abs diff 1.200e1"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("FAIL: 1 of 3 values differ by more than 1e-5\n"),
        "{stdout}"
    );
}

/// A file written as `gen_pt2_corpus.py` writes a mutated buffer, its value before the
/// call (0 calls): the run says so and compares with the other runner's value after
/// the call; a wrong input mutation still fails.
#[test]
fn a_buffer_recorded_before_the_call_is_compared_with_the_other_runner() {
    let files = Files::new("stale");
    let (program, io) = counter_files(&files, false);
    let mut tensors = ferrex::serialize::safetensors::load_file(&io).unwrap();
    for (name, t) in tensors.iter_mut() {
        if name == "p_mut0" {
            *t = Tensor::zeros([1]);
        }
    }
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    ferrex::serialize::safetensors::save_file(refs, &io).unwrap();
    for (runner, other) in [("interpreter", "compiled"), ("compiled", "interpreter")] {
        let o = ferrex(&run_args(&program, &io, runner));
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{runner}: {stdout}{stderr}");
        let line = format!(
            "buffer calls: f32 [1] = [1.000000]\n  p_mut0 is `buffer calls` before the call \
             (gen_pt2_corpus.py keeps an alias of a mutated buffer, then restores the state); \
             compared with the {other} runner's value after the call instead\n  \
             PASS against p_mut0: max abs diff 0.000e0\n"
        );
        assert!(stdout.contains(&line), "{runner}: {stdout}");
    }
}

#[test]
fn errors_are_one_line_with_exit_status_2() {
    let files = Files::new("errors");
    let (program, io) = counter_files(&files, false);
    let (p, i) = (program.to_str().unwrap(), io.to_str().unwrap());
    let cases: [(Vec<&str>, String); 3] = [
        (
            vec!["run", p, "--inputs", i, "--prefix", "q_"],
            format!(
                "error: {i} has no tensor `q_in0` for input 0 (`x`); its input sets have the prefixes `p_`\n"
            ),
        ),
        (
            vec!["show", "/nonexistent/model.pt2"],
            "error: no such file: /nonexistent/model.pt2\n".into(),
        ),
        (
            vec!["run", i, "--inputs", i],
            format!("error: {}\n", ferrex::load(&io).unwrap_err()),
        ),
    ];
    for (args, want) in cases {
        let o = ferrex(&args);
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stdout}");
        assert_eq!(stderr, want, "{args:?}");
        assert_eq!(stderr.lines().count(), 1);
    }
}

#[test]
fn show_prints_the_program_and_convert_round_trips() {
    let files = Files::new("show");
    let (program, io) = counter_files(&files, false);
    let shown = ferrex(&["show", program.to_str().unwrap()]);
    let ep = ferrex::load(&program).unwrap();
    assert_eq!(text(&shown).0, ep.to_string());
    let converted = files.path("converted.pt2");
    let o = ferrex(&[
        "convert",
        program.to_str().unwrap(),
        converted.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(
        ferrex::load(&converted).unwrap().to_string(),
        ep.to_string()
    );
    let o = ferrex(&run_args(&converted, &io, "interpreter"));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn bench_times_both_runners() {
    let files = Files::new("bench");
    let (program, io) = counter_files(&files, false);
    let args = [
        "bench",
        program.to_str().unwrap(),
        "--inputs",
        io.to_str().unwrap(),
    ];
    let o = ferrex(&[&args[..], &["--prefix", "p_", "--iters", "7"]].concat());
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(
        lines[1].trim_start().starts_with("interpreter  median"),
        "{stdout}"
    );
    assert!(
        lines[2].trim_start().starts_with("compiled     median"),
        "{stdout}"
    );
    assert!(lines[1].ends_with("; 7 calls)"), "{stdout}");
    // The counter writes its buffer back, so its calls do not split; its mean is a
    // planned reduction: nothing falls back.
    assert_eq!(
        lines[3], "  batch split: no (the program mutates its inputs or buffers)",
        "{stdout}"
    );
    assert_eq!(lines[4], "  eager fallbacks: none", "{stdout}");
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_a_panic() {
    use std::io::{BufRead, BufReader};
    // `ferrex show X | head -1`: the printed program is larger than a pipe's buffer.
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/pt2/block.core.pt2");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .arg("show")
        .arg(&program)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "ExportedProgram:\n");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
