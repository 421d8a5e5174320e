//! The torch.export tutorial, in Rust: `cargo run --release --example tutorial`.
//! One file per section; each prints what its PyTorch counterpart prints.

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

/// A section's title and the function that runs it.
type Section = (&'static str, fn() -> SectionResult);

fn main() {
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
