//! `ferrex fuzz` on a bounded slice: every case runs in a child process with a memory
//! limit and a timeout, and the slice finds no panic, abort, hang or disagreement
//! between the two runners.

use std::process::Command;

/// Runs `ferrex fuzz` on `cases` cases of `kinds` and returns its summary.
fn fuzz(seed: u64, cases: u64, kinds: &str) -> (bool, String) {
    let out = std::env::temp_dir().join(format!("ferrex-fuzz-test-{}-{seed}", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_ferrex"))
        .args(["fuzz", "--minutes", "2", "--cases", &cases.to_string()])
        .args(["--seed", &seed.to_string(), "--kinds", kinds])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&out);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (o.status.success(), text)
}

/// The counts of the summary's first line.
fn counts(summary: &str) -> Vec<(String, u64)> {
    let first = summary.lines().next().unwrap_or_default();
    ["panics", "aborts", "hangs", "disagreements"]
        .iter()
        .map(|name| {
            let n = first
                .split(&format!("{name} "))
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse().ok())
                .unwrap_or(u64::MAX);
            ((*name).to_string(), n)
        })
        .collect()
}

#[test]
fn damaged_programs_and_safetensors_files_are_errors_or_run_alike() {
    let (ok, summary) = fuzz(
        11,
        240,
        "program-json,program-bytes,program-entry,safetensors",
    );
    assert!(
        summary.starts_with("fuzz: seed 11: 240 cases in "),
        "{summary}"
    );
    for (name, n) in counts(&summary) {
        assert_eq!(n, 0, "{name} in:\n{summary}");
    }
    assert!(ok, "{summary}");
    // Each kind ran, and most damaged files are refused with an error value.
    for kind in [
        "program-json",
        "program-bytes",
        "program-entry",
        "safetensors",
    ] {
        assert!(summary.contains(&format!("  {kind} ")), "{summary}");
    }
}

/// Hostile op calls, eager and exported: errors or results, alike in both runners.
#[test]
fn hostile_op_calls_are_errors_or_run_alike() {
    let (ok, summary) = fuzz(12, 200, "op-eager,op-exported");
    for (name, n) in counts(&summary) {
        assert_eq!(n, 0, "{name} in:\n{summary}");
    }
    assert!(ok, "{summary}");
}

#[test]
fn one_case_reruns_alone_with_the_same_result() {
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_ferrex"))
            .args(["fuzz", "--seed", "11", "--case", "6"])
            .output()
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert!(a.status.success());
    let text = String::from_utf8_lossy(&a.stdout);
    assert_eq!(
        text,
        "ran [program-json] derived.pt2 (as PyTorch wrote it): model JSON /verifiers/0: \
         string `TRAINING` → `TRAINING_x`; /graph_module/graph/nodes/1/inputs/0/kind: number \
         → 1: \n"
    );
    assert_eq!(a.stdout, b.stdout);
}

/// Cases that once disagreed (seed 49), now run alike by both runners: a size list that
/// names no node (`as_sym_ints` of ints only), which the plan passed on to `reshape`
/// unconverted, and a pad past `i64` before a crop brings the size back (`1 + MAX - 2`),
/// whose size the meta saturated and the plan refused.
#[test]
fn past_disagreements_run_alike() {
    for case in ["7770", "18632"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrex"))
            .args(["fuzz", "--seed", "49", "--case", case])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{case}: {text}");
        assert!(text.starts_with("ran ["), "{case}: {text}");
    }
}
