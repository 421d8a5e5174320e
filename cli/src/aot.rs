//! `ferrex aot PROGRAM.pt2 -o src/mlp.rs`: the program compiled into a Rust module
//! (`ferrex_aot_codegen::generate`), for checking in beside the archive.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliError;

#[derive(clap::Args)]
pub struct AotArgs {
    /// The program archive (`.pt2`).
    program: PathBuf,
    /// The Rust file to write, a module's file (`mod mlp;`); it embeds the archive
    /// with `include_bytes!` by a path relative to itself.
    #[arg(short, long)]
    output: PathBuf,
    /// Embed nothing: the module reads the weights at run time
    /// (`Model::from_file`, refused unless the file is this archive).
    #[arg(long)]
    side_file: bool,
}

pub fn aot(args: &AotArgs) -> Result<ExitCode, CliError> {
    let mut options = ferrex_aot_codegen::AotOptions::for_files(&args.program, &args.output)?;
    options.embed_weights = !args.side_file;
    let bytes = ferrex_aot_codegen::read_structure(&args.program)?;
    let generated = ferrex_aot_codegen::generate(&bytes, &options)?;
    std::fs::write(&args.output, &generated.code)
        .map_err(|e| CliError::new(format!("cannot write `{}`: {e}", args.output.display())))?;
    outln!(
        "wrote {} ({} steps, {} lines; weights: {} bytes read from {}{})",
        args.output.display(),
        generated.steps,
        generated.code.lines().count(),
        generated.weight_bytes,
        options.archive_path,
        if args.side_file { " at run time" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}
