//! Graph Break: the tutorial's four models that `torch.export` cannot capture in strict
//! mode. In ferrex each one is a compile error from `#[export_module]`, on the offending
//! expression, saying why it breaks the graph and how to fix it. The programs and their
//! errors are quoted from the UI suite (`tests/ui/fail/`), where `cargo test` checks them.

struct Case {
    title: &'static str,
    program: &'static str,
    error: &'static str,
}

const CASES: &[Case] = &[
    Case {
        title: "data-dependent control flow (Bad1)",
        program: include_str!("../../tests/ui/fail/data_branch.rs"),
        error: include_str!("../../tests/ui/fail/data_branch.stderr"),
    },
    Case {
        title: "accessing tensor data with .data (Bad2)",
        program: include_str!("../../tests/ui/fail/data_access.rs"),
        error: include_str!("../../tests/ui/fail/data_access.stderr"),
    },
    Case {
        title: "calling unsupported functions: id(x) (Bad3)",
        program: include_str!("../../tests/ui/fail/pointer_identity.rs"),
        error: include_str!("../../tests/ui/fail/pointer_identity.stderr"),
    },
    Case {
        title: "calling a function strict export cannot see into",
        program: include_str!("../../tests/ui/fail/opaque_call.rs"),
        error: include_str!("../../tests/ui/fail/opaque_call.stderr"),
    },
    Case {
        title: "unsupported language features: try/except (Bad4)",
        program: include_str!("../../tests/ui/fail/catch_unwind.rs"),
        error: include_str!("../../tests/ui/fail/catch_unwind.stderr"),
    },
];

/// A UI program without its leading comment and its empty `main`.
fn model_code(program: &str) -> String {
    program
        .lines()
        .skip_while(|l| l.starts_with("//"))
        .filter(|l| l.trim() != "fn main() {}")
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

pub fn run() -> crate::SectionResult {
    println!(
        "torch.export does not support graph breaks. In ferrex, `#[export_module]` proves at \
         compile time that forward captures into one graph: each graph break is a compile \
         error.\n"
    );
    for case in CASES {
        println!("----- {} -----\n", case.title);
        println!("{}\n", model_code(case.program));
        println!("$ cargo build\n{}", case.error);
    }
    Ok(())
}
