//! `ferrex-aot-codegen`: the code generator behind `ferrex-aot` — a saved program's
//! compiled plan (`ferrex_runtime::CompiledProgram::plan`) written out as a Rust module.
//! Use it through `ferrex-aot` (its macro and `Builder`) or `ferrex aot`; the generated
//! code calls `::ferrex_aot::rt`. See `ferrex-aot`'s documentation for what is generated.

use std::path::{Path, PathBuf};

mod archive;
mod emit;

pub use emit::STEPS_PER_FUNCTION;

/// 64-bit FNV-1a of `bytes[start..start + len]`, a `const fn`: `Model::from_bytes`
/// checks that a side-file archive is the one the code was generated from; generated
/// code checks an embedded archive with it at compile time only when its zip headers
/// hold no CRC-32 ([`u32_le_at`]).
pub const fn fnv1a(bytes: &[u8], start: usize, len: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = start;
    while i < start.saturating_add(len) && i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The little-endian `u32` at `bytes[at..at + 4]` (0 past the end), a `const fn`:
/// generated code checks at compile time that the CRC-32 fields of the embedded
/// archive's JSON entries are those of the archive it was generated from — in constant
/// time, where hashing the entries in `const` evaluation grows with the program (and
/// trips rustc's `long_running_const_eval` on large ones).
pub const fn u32_le_at(bytes: &[u8], at: usize) -> u32 {
    if at > bytes.len() || bytes.len() - at < 4 {
        return 0;
    }
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Why a program could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum AotError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a program ferrex loads (the loader's error, naming the file).
    #[error(transparent)]
    Load(#[from] ferrex::LoadError),
    /// The program does not compile into a plan.
    #[error(transparent)]
    Compile(#[from] ferrex_runtime::CompileError),
    /// The archive's entries could not be read.
    #[error("the archive cannot be read: {0}")]
    Archive(String),
    /// The program uses something the generator does not emit yet.
    #[error("`{path}` cannot be compiled ahead of time: {message}")]
    Unsupported { path: String, message: String },
}

/// How to generate.
#[derive(Clone, Debug)]
pub struct AotOptions {
    /// The path written into `include_bytes!`, relative to the generated file (or
    /// absolute): where the compiler finds the archive when it builds the code.
    pub archive_path: String,
    /// The program's name in messages (its file name, as the user wrote it).
    pub display_name: String,
    /// The command that regenerates the code, quoted in its header.
    pub regenerate: String,
    /// Steps per generated function ([`STEPS_PER_FUNCTION`] by default).
    pub steps_per_function: usize,
    /// Whether the archive is embedded (`include_bytes!`, `Model::new`); without it the
    /// weights are read at run time (`Model::from_file` / `from_bytes`) only.
    pub embed_weights: bool,
    /// Build-time prepacking (the `Builder`'s `prepack`): the packed GEMM weights and
    /// derived constants computed now, from the weights (so [`generate`] then needs the
    /// whole archive, not its structure only), into [`GeneratedCode::prepacked`].
    pub prepack: Option<Prepack>,
}

/// Where the prepacked file goes and the layout its panels have.
#[derive(Clone, Debug)]
pub struct Prepack {
    /// The path the generated `include_bytes!` names for the prepacked file.
    pub path: String,
    /// The packed layout recorded with the panels: [`packed_layout`] where the build
    /// script runs; `Model::new` packs again when the running build's differs.
    pub layout: String,
}

/// The layout `ferrex_kernels::PackedB` packs GEMM weights in, as this build of the
/// kernels reads them: prepacked panels are used only by a build whose layout is the
/// recorded one (the panels are stored little-endian and decoded as such, so the byte
/// order of the target does not matter). Today every kernel (AVX-512, AVX2, portable)
/// reads the same panels; a kernel set with its own layout changes this string.
pub fn packed_layout() -> String {
    format!(
        "ferrex-kernels PackedB: f32 panels of {} columns, k rows each, zero-padded",
        ferrex_kernels::sgemm::NR
    )
}

/// The largest archive `include_program!` embeds by default (bytes); above it, the
/// macro asks for side-file weights (`side_file`) or a higher `max_embed`.
pub const DEFAULT_EMBED_LIMIT: u64 = 128 << 20;

impl AotOptions {
    /// The options of `ferrex aot PROGRAM -o OUTPUT`: `include_bytes!` names the archive
    /// relative to the output's folder (which must exist), with `/` separators, so the
    /// generated file and the archive can be checked in and moved together.
    pub fn for_files(program: &Path, output: &Path) -> Result<AotOptions, AotError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| AotError::Io { path, source }
        };
        let archive = program.canonicalize().map_err(io(program))?;
        let out_dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = out_dir.canonicalize().map_err(io(&out_dir))?;
        Ok(AotOptions {
            archive_path: relative(&archive, &base),
            display_name: program.display().to_string(),
            regenerate: format!("ferrex aot {} -o {}", program.display(), output.display()),
            steps_per_function: STEPS_PER_FUNCTION,
            embed_weights: true,
            prepack: None,
        })
    }
}

/// `target` relative to the folder `base` (both absolute), with `/` separators.
fn relative(target: &Path, base: &Path) -> String {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target.display().to_string();
    }
    let ups = std::iter::repeat_n("..".to_string(), b.len() - common);
    let downs = t[common..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    ups.chain(downs).collect::<Vec<_>>().join("/")
}

/// Generated code: a module body (`#![allow(..)]`, items), to be a module's file or
/// wrapped in `mod NAME { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedCode {
    pub code: String,
    /// Steps emitted, and weight bytes the module reads from the archive.
    pub steps: usize,
    pub weight_bytes: usize,
    /// The prepacked file the code includes ([`AotOptions::prepack`]).
    pub prepacked: Option<Vec<u8>>,
}

/// Generates the module of the program saved in `archive` (the bytes of a `.pt2` file).
/// Only the archive's structure is read — its zip directory, local headers and JSON
/// entries (`pt2::structure_from_bytes`, `ferrex_runtime::plan_structure`) — never the
/// weights, which may be anything (zeros in a file read sparsely, [`read_structure`]):
/// the generated code reads them from the archive itself.
pub fn generate(archive: &[u8], options: &AotOptions) -> Result<GeneratedCode, AotError> {
    let structure = ferrex::serialize::pt2::structure_from_bytes(archive, &options.display_name)?;
    let plan = ferrex_runtime::plan_structure(&structure)?;
    let stored = archive::stored_tensors(archive)?;
    let data = match options.prepack {
        Some(_) => Some(ferrex_runtime::compile(
            &ferrex::serialize::pt2::from_bytes(archive, &options.display_name)?,
        )?),
        None => None,
    };
    let data = data.as_ref().map(ferrex_runtime::CompiledProgram::plan);
    emit::module(&structure.program, &plan, data, &stored, archive, options)
}

/// What [`generate`] reads of the archive at `path`, read from the file (seeking): its
/// zip structure and every entry but the stored tensors (`data/weights/*`,
/// `data/constants/*` beside their JSON configs), which are zeros in the buffer — so the
/// time does not grow with the weights (`pt2::zip::read_sparse`). A file whose zip
/// structure cannot be read is read whole, so that [`generate`] reports the loader's
/// error for it, word for word.
pub fn read_structure(path: &Path) -> Result<Vec<u8>, AotError> {
    let io = |source| AotError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let payload = |name: &str| {
        let stored = name.contains("/data/weights/") || name.contains("/data/constants/");
        stored && !name.ends_with(".json")
    };
    match ferrex::serialize::pt2::zip::read_sparse(&mut file, |name| !payload(name)) {
        Ok(bytes) => Ok(bytes),
        Err(_) => std::fs::read(path).map_err(io),
    }
}

/// Reads `path` ([`read_structure`]) and generates its module ([`generate`]);
/// `archive_path` is what the generated `include_bytes!` names.
pub fn generate_file(
    path: &std::path::Path,
    archive_path: &str,
) -> Result<GeneratedCode, AotError> {
    let bytes = read_structure(path)?;
    let display_name = path.display().to_string();
    let options = AotOptions {
        archive_path: archive_path.to_string(),
        regenerate: format!("ferrex aot {display_name}"),
        display_name,
        steps_per_function: STEPS_PER_FUNCTION,
        embed_weights: true,
        prepack: None,
    };
    generate(&bytes, &options)
}

/// A module name made of `stem` (a file stem): lowercase letters, digits and `_`.
pub fn module_name(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        name.insert(0, '_');
    }
    name
}
