//! The torch.export tutorial, in Rust: `cargo run --release --example tutorial`.
//! One file per section; each prints what its PyTorch counterpart prints.
//!
//! `-- --save-pt2 DIR` also writes each program the tutorial exports to `DIR` in
//! PyTorch's `.pt2` format with inputs and ferrex's outputs, for checking in PyTorch
//! (`ferrex_examples::pt2_check`).

mod basic_usage;
mod control_flow;
mod custom_ops;
mod decompositions;
mod dynamic_shapes;
mod exportdb;
mod graph_breaks;
mod non_strict;
mod running;

type SectionResult = Result<(), Box<dyn std::error::Error>>;

/// Where `--save-pt2` writes the tutorial's programs, if it was given.
static SAVE_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Writes `ep` for PyTorch when the tutorial runs with `--save-pt2 DIR`.
pub(crate) fn keep(name: &str, ep: &ferrex::ExportedProgram) {
    if let Some(dir) = SAVE_DIR.get() {
        let written = std::fs::create_dir_all(dir)
            .map_err(Into::into)
            .and_then(|()| ferrex_examples::pt2_check::write_program_with_io(dir, name, ep));
        if let Err(e) = written {
            eprintln!("--save-pt2: {name} not written: {e}");
        }
    }
}

/// A section's title and the function that runs it.
type Section = (&'static str, fn() -> SectionResult);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--save-pt2") {
        let Some(dir) = args.get(i + 1) else {
            eprintln!("--save-pt2 needs a folder");
            std::process::exit(2);
        };
        let _ = SAVE_DIR.set(dir.into());
    }
    ferrex::manual_seed(0);
    let sections: &[Section] = &[
        ("Basic Usage", basic_usage::run),
        ("Graph Break", graph_breaks::run),
        ("Non-Strict Export", non_strict::run),
        ("Control Flow Ops", control_flow::run),
        ("Constraints/Dynamic Shapes", dynamic_shapes::run),
        ("Custom Ops", custom_ops::run),
        ("Decompositions", decompositions::run),
        ("ExportDB", exportdb::run),
        ("Running the Exported Program", running::run),
    ];
    for (title, run) in sections {
        println!("==================== {title} ====================\n");
        if let Err(e) = run() {
            eprintln!("error in section {title}: {e}");
            std::process::exit(1);
        }
        println!();
    }
}
