//! Writes ferrex's programs in PyTorch 2.15's `.pt2` format, each with an inputs file, for
//! checking them against real PyTorch by hand:
//!
//! ```sh
//! cargo run --release --example write_pt2 -- target/pt2-check
//! for f in target/pt2-check/*.pt2; do
//!   python ../shared/tools/pt2_check_in_torch.py "$f" "${f%.pt2}.io.safetensors"
//! done
//! ```
//!
//! Programs: the zoo (MLP, LeNet, transformer block) and every supported ExportDB case.
//! Inputs are the programs' example shapes filled with seeded random values
//! (`in0, in1, …`), and `out0, …` are ferrex's interpreter's outputs on them.

use std::path::Path;

use ferrex::{ExportedProgram, Tensor};
use ferrex_examples::zoo::{LeNet, Mlp, TransformerBlock};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/pt2-check".into());
    if let Err(e) = run(Path::new(&dir)) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    ferrex::manual_seed(0);
    let mut programs: Vec<(String, ExportedProgram)> = vec![
        (
            "zoo_mlp".into(),
            ferrex::export(&Mlp::new(20, [64, 32], 5), (Tensor::randn([4, 20]),))?,
        ),
        (
            "zoo_lenet".into(),
            ferrex::export(&LeNet::new(), (Tensor::randn([2, 1, 28, 28]),))?,
        ),
        (
            "zoo_transformer".into(),
            ferrex::export(
                &TransformerBlock::new(32, 4, 64),
                (Tensor::randn([2, 5, 32]),),
            )?,
        ),
    ];
    for case in ferrex_exportdb::cases() {
        if let Ok(exported) = (case.run)() {
            programs.push((format!("exportdb_{}", case.name), exported.program));
        }
    }
    let (mut written, mut skipped) = (0, 0);
    for (name, ep) in &programs {
        match ferrex_examples::pt2_check::write_program_with_io(dir, name, ep) {
            Ok(()) => written += 1,
            Err(e) => {
                skipped += 1;
                println!("skipped {name}: {e}");
            }
        }
    }
    println!(
        "wrote {written} programs to {} ({skipped} skipped)",
        dir.display()
    );
    Ok(())
}
