//! `ferrex-aot`: a saved program (`.pt2`) compiled into Rust code, ahead of time.
//!
//! The runtime (`ferrex_runtime::compile`) turns a program into a plan of steps and
//! interprets that plan on every call. This crate walks the same plan once and writes
//! it out as a Rust module — straight-line code calling the same step functions and
//! kernels — so the program's checks and numbers come with no interpretation left at
//! run time. Three front ends share the one generator, [`generate`]:
//!
//! - `ferrex aot PROGRAM.pt2 -o src/mlp.rs` (the command-line tool): checked-in code,
//!   best for review;
//! - [`include_program!`]`(pub mod mlp = "models/mlp.pt2")`: a proc macro, no build
//!   script;
//! - [`Builder`] in a `build.rs`: code written to `OUT_DIR`; with [`Builder::prepack`]
//!   the GEMM weights packed and the derived constants computed there too.
//!
//! Every front end reads only the archive's structure to generate (its zip directory,
//! local headers and JSON entries — [`read_structure`]): the time does not grow with
//! the weights.
//!
//! ```
//! use ferrex::Tensor;
//!
//! // The zoo's MLP (20 -> 64 -> 32 -> 5), exported at batch 8 and saved with
//! // `ferrex::save`; the path is relative to the crate root.
//! ferrex_aot::include_program!(pub mod mlp = "tests/fixtures/mlp_b8.pt2");
//!
//! let model = mlp::Model::new()?;
//! let mut ws = mlp::Workspace::new()?;
//! let x = vec![0.5f32; 8 * 20];
//! let mut y = vec![0f32; 8 * 5];
//! model.forward(&mut ws, &x, &mut y)?; // typed, on row-major slices
//!
//! // `call` is `CompiledProgram::call`: same results, bit for bit, and the same errors.
//! let plan = ferrex_runtime::load("tests/fixtures/mlp_b8.pt2")?;
//! let out = model.call((Tensor::from_vec(x.clone(), [8, 20]),))?;
//! let want = plan.call((Tensor::from_vec(x, [8, 20]),))?;
//! assert_eq!(out[0].to_vec::<f32>()?, want[0].to_vec::<f32>()?);
//! assert_eq!(out[0].to_vec::<f32>()?, y);
//! let err = model.call((Tensor::ones([8, 19]),)).unwrap_err();
//! assert_eq!(err.to_string(), "Guard failed: x.size()[1] == 20, but got 19");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The generated module holds:
//!
//! - `Model::new()`: the weights, read from the archive embedded with `include_bytes!`
//!   (never as literals: rustc tracks the file, and a changed archive rebuilds), decoded
//!   as little-endian f32 (right on big-endian targets too) and packed for the GEMM
//!   once; derived constants (a slice of a weight, a folded batch norm) are recomputed
//!   from the stored weights by the code the planner used; a compile-time check (the
//!   archive's length and the CRC-32 its zip headers record for its JSON entries: a few
//!   bytes read, whatever the program's size) refuses an archive other than the one the
//!   code was generated from;
//! - `Workspace::new()`: the plan's buffer slots, allocated once;
//! - `Model::forward(&self, ws, inputs…, outputs…)`: the typed entry point on slices,
//!   which allocates nothing once it has run (the GEMM kernel packs its left operand
//!   into a per-thread scratch buffer kept between calls);
//! - `Model::call(args)` / `call_flat(leaves)`: drop-ins for
//!   `ferrex_runtime::CompiledProgram::call`, with the interpreter's input checks in its
//!   order and with its words.
//!
//! Each step is a block of code with a comment naming its node, its op and its source
//! line; programs of more than [`STEPS_PER_FUNCTION`] steps are split into functions.
//! **Repeated blocks are emitted once**: consecutive runs of steps whose code is the
//! same but for the weights, fused programs and workspace slots they use and their
//! nodes' names (a transformer's layers) become one function, `block{b}`, taking those
//! as arguments (`names`, `&self.c13`, `&mut ws.s3`, …) and called once per block — the
//! same calls with the same arguments, so the same bits. Its steps' comments name each
//! node `names[k]`; the call's comment and arguments name the block's nodes.
//! The same archive always gives byte-identical code. A checked-in module should be
//! declared `#[rustfmt::skip] mod NAME;`, so `cargo fmt` leaves it as generated.
//!
//! **Side-file weights.** Every module also has `Model::from_file(path)` and
//! `Model::from_bytes(bytes)`: the weights read at run time from the program's archive,
//! refused with a `ferrex::LoadError` unless it is the archive the code was generated from
//! (its length and the FNV-1a of its JSON entries).
//! `include_program!(mod m = "x.pt2", side_file)` embeds nothing (no `Model::new`); an
//! archive above [`DEFAULT_EMBED_LIMIT`] (or `max_embed = BYTES`) is a compile error
//! naming its size, the limit and both fixes. `AotOptions::embed_weights` is the
//! generator's switch.
//!
//! **Dynamic dims.** For a program exported with `Dim`s the module also holds `Dims`:
//! `Model::dims(x_sizes, …)` binds the symbols from the input sizes with the
//! interpreter's checks, in its order and with its words (static sizes, the first
//! `a*s + b` dim binding `s`, the other dims, range constraints, guards), then computes
//! every size the steps use as an expression of the symbols, once, with checked
//! arithmetic; `Dims::out0()`… are the outputs' sizes. The typed entry point takes each
//! input's sizes after its slice: `forward(&self, ws, x, x_sizes, out0)`. Nothing is
//! specialised to the example inputs: a kernel parameter that cannot be written as an
//! expression of the input sizes (a convolution's or pooling's image size when
//! symbolic) fails generation. `Workspace::new()` sizes the slots at the dims' upper
//! bounds when every symbol has one (and the total is at most 256 MiB), so no call
//! allocates; otherwise at the example's sizes, and a call that needs more grows the
//! slots it needs first (`forward` and `call` alike).
//!
//! **Eager fallbacks.** A node the plan runs through the registry's eager kernel is
//! generated as the same call: the op is looked up once in `Model::new`, called with
//! `ferrex::ops::run_eager` on the step's arguments (sizes bound for the call), and its
//! results kept in the workspace for the steps that read them (f32 results made
//! contiguous; `getitem` of a multi-output result costs nothing). These steps allocate,
//! as they do in the plan.
//!
//! **Constant inputs and input mutations.** A constant (non-tensor) input is not an
//! argument of the typed `forward`; `call` checks it against the exported value with the
//! interpreter's words. An input the program mutates has its new value as an extra
//! output of the typed `forward` (`out{k}` in the order of the program's outputs), and
//! `call` writes it into the caller's tensor, as `ExportedProgram::finish_call` does.
//!
//! **Control flow and values read from data.** A `cond` / `map` step's subgraphs are
//! generated as functions of their own (`Model::sub0`…, each over a nested workspace),
//! called through the runtime's own higher-order step
//! (`ferrex_runtime::step::higher_order`): the branch a bool tensor or a SymBool of the
//! sizes picks, `map`'s slices and stacking, and every error are the plan's. A value
//! read from data (`item`'s `u0`) is bound when the step defining it has run, checked by
//! the program's `_assert_scalar` steps in the interpreter's words; an output of
//! data-dependent sizes is a `&mut Vec<f32>` that the typed `forward` fills; a SymInt
//! output is returned by `call` as a 0-d i64 tensor, as `CompiledProgram::call` does.
//!
//! What is generated today: programs with f32, i64 (embedding ids, values read by
//! `item`) and bool (`cond` predicates) tensor inputs, constant inputs, tensor and SymInt
//! outputs, input mutations and mutated buffers, whose plan consists of GEMM steps (with
//! bias and fused epilogue), convolutions, max pooling, permutes, softmax, layer norm,
//! attention, strided views, sums and means, group norm, `bmm`, embeddings, fused
//! elementwise chains, free reshapes, eager fallbacks and `cond` / `map` — every zoo
//! model and all 42 supported ExportDB cases, with static or dynamic dims. Anything else
//! (a constant folded inside a subgraph, a value read from data inside one, a size mixing
//! input dims and data values, comparisons) is an [`AotError::Unsupported`] naming the
//! node: generation fails rather than guess.

mod builder;
#[doc(hidden)]
pub mod rt;

pub use builder::{BuildOutput, Builder};
pub use ferrex_aot_codegen::{
    generate, generate_file, module_name, packed_layout, read_structure, AotError, AotOptions,
    GeneratedCode, Prepack, DEFAULT_EMBED_LIMIT, STEPS_PER_FUNCTION,
};
pub use ferrex_aot_macros::include_program;
