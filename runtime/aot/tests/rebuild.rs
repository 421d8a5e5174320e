//! Rebuilds, by a real `cargo build` of two small crates (in `CARGO_TARGET_TMPDIR`) into
//! this workspace's target directory, so ferrex-aot and its dependencies are already
//! built and each build costs seconds: with `include_program!`, touching the archive
//! rebuilds the crate (rustc tracks the `include_bytes!`); with the `build.rs`
//! `Builder`, touching the archive reruns the build script and editing another file
//! of the crate does not.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The workspace's crates in ferrex-aot's dependencies: they are built at `[profile.dev]`'s
/// level here, and must be there too for the artifacts to be shared.
const WORKSPACE_CRATES: &[&str] = &[
    "ferrex",
    "ferrex-macros",
    "ferrex-kernels",
    "ferrex-schema",
    "ferrex-symbolic",
    "ferrex-runtime",
    "ferrex-aot",
    "ferrex-aot-codegen",
    "ferrex-aot-macros",
];

fn aot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory this test was built into (`…/target/debug/deps/rebuild-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let deps = exe.parent().expect("deps/");
    let profile = deps.parent().expect("debug/");
    profile.parent().expect("target/").to_path_buf()
}

/// Writes crate `name` in a fresh folder: the MLP fixture as `model.pt2`, the workspace's
/// lock file and dev profile, `src/main.rs` and `src/other.rs`.
fn write_crate(name: &str, builder: bool) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("creating the crate");
    let copy = |from: PathBuf, to: &str| {
        std::fs::copy(&from, dir.join(to)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    copy(aot_dir().join("tests/fixtures/mlp_b8.pt2"), "model.pt2");
    copy(aot_dir().join("../../Cargo.lock"), "Cargo.lock");
    let dep = format!(
        "ferrex-aot = {{ path = {:?} }}",
        aot_dir().display().to_string()
    );
    let profiles: String = (WORKSPACE_CRATES.iter())
        .map(|c| format!("[profile.dev.package.{c}]\nopt-level = 1\n"))
        .collect();
    let build = match builder {
        true => format!("build = \"build.rs\"\n\n[build-dependencies]\n{dep}\n"),
        false => String::new(),
    };
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{build}\n\
         [dependencies]\n{dep}\n\n[workspace]\n\n[profile.dev]\nopt-level = 1\n\n\
         [profile.dev.package.\"*\"]\nopt-level = 2\n{profiles}"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("writing Cargo.toml");
    let module = match builder {
        true => {
            let script = "fn main() {\n    if let Err(e) = ferrex_aot::Builder::new(\"model.pt2\").write_to_out_dir() {\n        println!(\"cargo::error={e}\");\n    }\n}\n";
            std::fs::write(dir.join("build.rs"), script).expect("writing build.rs");
            "include!(concat!(env!(\"OUT_DIR\"), \"/model.rs\"));"
        }
        false => "ferrex_aot::include_program!(mod model = \"model.pt2\");",
    };
    let main = format!(
        "{module}\nmod other;\n\nfn main() {{\n    let m = model::Model::new().map(|_| other::GREETING);\n    println!(\"{{m:?}}\");\n}}\n"
    );
    std::fs::write(dir.join("src/main.rs"), main).expect("writing main.rs");
    std::fs::write(dir.join("src/other.rs"), other("hello")).expect("writing other.rs");
    dir
}

fn other(greeting: &str) -> String {
    format!("pub const GREETING: &str = {greeting:?};\n")
}

/// Writes `src/other.rs` with `greeting`, dated a few seconds later than anything built.
fn edit(path: &Path, greeting: &str) {
    std::fs::write(path, other(greeting)).expect("writing other.rs");
    touch(path);
}

/// Dates `path` later than the last build, as an edit would.
fn touch(path: &Path) {
    static STEP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = STEP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let later = SystemTime::now() + Duration::from_secs(5 * n);
    let file = std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.set_modified(later)
        .expect("setting the modification time");
}

/// What one `cargo build -v` of the crate at `dir` did: whether it compiled the crate,
/// and whether it ran its build script.
#[derive(Debug, PartialEq, Eq)]
struct Build {
    compiled: bool,
    ran_build_script: bool,
}

fn build(dir: &Path, name: &str) -> Build {
    let out = Command::new(env!("CARGO"))
        .args(["build", "-v", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("running cargo");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "building {name} failed:\n{log}");
    let script = format!("{name}-");
    Build {
        compiled: log.contains(&format!("Compiling {name} v0.1.0")),
        ran_build_script: log.lines().any(|l| {
            l.contains("Running `") && l.contains(&script) && l.contains("build-script-build")
        }),
    }
}

#[test]
fn touching_the_archive_rebuilds_a_crate_using_include_program() {
    let name = "aot_rebuild_macro";
    let dir = write_crate(name, false);
    let first = build(&dir, name);
    assert!(first.compiled);
    let nothing = build(&dir, name);
    assert!(
        !nothing.compiled,
        "a second build with nothing changed compiled again"
    );
    touch(&dir.join("model.pt2"));
    assert!(
        build(&dir, name).compiled,
        "the archive changed, the crate was not rebuilt"
    );
}

#[test]
fn the_builder_reruns_for_the_archive_and_only_for_it() {
    let name = "aot_rebuild_builder";
    let dir = write_crate(name, true);
    let first = build(&dir, name);
    assert_eq!(
        first,
        Build {
            compiled: true,
            ran_build_script: true
        }
    );
    edit(&dir.join("src/other.rs"), "hello again");
    assert_eq!(
        build(&dir, name),
        Build {
            compiled: true,
            ran_build_script: false
        },
        "editing src/other.rs"
    );
    touch(&dir.join("model.pt2"));
    assert_eq!(
        build(&dir, name),
        Build {
            compiled: true,
            ran_build_script: true
        },
        "touching model.pt2"
    );
}
