//! Procedural macros of ferrex. Users depend on `ferrex`, which re-exports them; generated
//! code names `::ferrex::…` only.
//!
//! `#[export_module]` on a struct implements `ferrex::Module` (parameters, buffers,
//! constants, submodules, configuration); on the `impl` block that defines `forward` it
//! implements `ferrex::Forward`, records the block's source lines for the printed graph,
//! and — in strict mode, the default — proves that `forward` captures into one graph.
//! `#[export_fn]` marks a free helper that forward may call; its body is checked too.
//!
//! Each stage is its own file: `model.rs` parses into a small typed model,
//! `expand_struct.rs` / `expand_impl.rs` / `expand_fn.rs` generate code, `source.rs`
//! rebuilds source lines, and `analysis/` is the strict-mode proof: a walker over the
//! syn AST (`analysis/mod.rs`) and one file per graph-break rule.

mod analysis;
mod expand_fn;
mod expand_impl;
mod expand_struct;
mod model;
mod op_def;
mod source;

use proc_macro::TokenStream;

/// Marks a model struct, or the `impl` block holding its `forward`.
///
/// On a struct, fields are classified:
/// - `#[param]` — a parameter (`Tensor`, `Option<Tensor>`, `Vec<Tensor>`);
/// - `#[buffer]` or `#[buffer(persistent = false)]` — a buffer;
/// - a `Tensor` field without attribute — a constant tensor;
/// - a field whose type is a module (also in `Vec`, `Option`, arrays, `Box`) — a submodule;
/// - anything else — configuration, specialised into the graph.
///
/// `#[module]` forces a field to be treated as a submodule (needed for generic fields),
/// `#[config]` as configuration.
///
/// # Strict mode: graph breaks are compile errors
///
/// On the impl block, `forward` — and every method of the block it calls, and every
/// `#[export_fn]` helper — must capture into one graph, or the build fails with an error
/// on the offending expression that says why and how to fix it. All graph breaks of a body
/// are reported, and the item is still emitted so the rest of the crate type-checks.
///
/// Rejected (the tutorial's "Graph Break" cases):
/// - **data_branch** — `if` / `while` / `match` / match guard / `for` bound on tensor
///   data (`if x.sum().item::<f32>()? > 0.0`, `if x.gt(0.0).any()`). Fix: `cond!`, which
///   the error writes out with your condition and branches, or a condition on sizes.
/// - **data_access** — reading tensor data: `item`, `to_vec`, `to_ndarray`,
///   `try_storage`, `data`, `x[i]`. Fix: tensor ops; `x.size(d)`.
/// - **opaque_call** — a call that receives a tensor and is neither a ferrex op
///   (`x.op(..)`, `F::`, `nn::`, `Tensor::`), a method of this block, nor an
///   `#[export_fn]` helper; a tensor method that is not ferrex's (an extension trait); a
///   macro of the user's given a tensor; a function used as a value that is not an
///   `#[export_fn]`; a function held in a value called with a tensor.
/// - **opaque_receiver** — a method of a value that is not a module, a tensor or an
///   `#[export_fn]` helper type (`impl` block marked `#[ferrex::export_fn]`), given a
///   tensor, or given none when the value is not plain (numbers, strings, std containers):
///   checked by type at the call. A function called without a tensor whose result is not
///   a tensor, module or custom op must be an `#[export_fn]` (checked at the call). A
///   method of the model from another impl block needs that block marked
///   `#[export_module(helpers)]`, which checks every method in it. A trait impl of a user
///   type that forward runs — `Gain::default()`, `let g: Gain = 2.0.into()`, an operator
///   with a user-typed operand (`self.gain + d`, `x * self.gain`, `-g`) — must be marked
///   `#[ferrex::export_fn]` (checked by type at the use).
/// - **pointer_identity** — `x.id()`, pointer casts, `std::ptr::eq`, `{:p}`.
/// - **panic_on_data** — `panic!` / `assert!` / `unreachable!` depending on tensor data
///   (asserts on sizes are allowed: they become guards).
/// - **early_return** — `?` and `return Err(..)`.
/// - **catch_unwind** — `std::panic::catch_unwind` (try/except).
/// - **unsafe_block**, **static_mut** (global state: `static mut`, `static` atomics and
///   locks, `thread_local!` — of any name, by path, `use` or alias — and `std::env`,
///   `std::time`, `std::fs`, …), **interior_mutability** (`Cell`, `RefCell`, locks and atomics
///   read or written on a model attribute, directly or through an alias),
///   **mut_self** (`&mut self`), `is_traced`.
/// - **tensor_format** — `{}` / `{:?}` of a tensor, `dbg!(x)`, `x.to_string()`.
///
/// Allowed: branches and loops on constants, configuration fields, `dim()` and sizes
/// (sizes become guards); `for` over submodule lists; iterator adaptors and closures;
/// shadowing; helper methods; `Option`, tuple and struct inputs.
///
/// # Non-strict
///
/// `#[export_module(strict = false)]` skips the proof: `ferrex::export` traces whatever
/// forward runs. Writes into tensors are recorded as in-place ops; values that do not
/// depend on tensors (an address, a counter) become constants; control flow that does not
/// depend on tensor data is traced through; reading tensor data fails the export with
/// the file, line and code of the read.
#[proc_macro_attribute]
pub fn export_module(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let file = source::call_site_file();
    match syn::parse2::<syn::Item>(item2.clone()) {
        Ok(syn::Item::Struct(s)) => expand_struct::expand(attr, s).into(),
        Ok(syn::Item::Impl(i)) => expand_impl::expand(attr, i, &file).into(),
        Ok(other) => {
            let err = syn::Error::new_spanned(
                &other,
                "#[export_module] goes on a model struct or on the impl block that defines its `forward`",
            );
            let mut out = err.to_compile_error();
            out.extend(item2);
            out.into()
        }
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item2);
            out.into()
        }
    }
}

/// Marks a free function that a strict `forward` may call with tensors, the `impl`
/// block of a helper type whose methods it may call, or a trait impl whose functions
/// forward runs (`impl Default for Gain` for `Gain::default()`, `impl Add for Gain` for
/// `a + b`, `impl Mul<Gain> for &Tensor` for `x * gain`).
///
/// Its body is checked by the same rules as `forward` (see [`macro@export_module`]), and a
/// hidden marker beside it lets annotated bodies call it: calling an unmarked function
/// with a tensor from a strict `forward` is a compile error that names the call.
///
/// ```text
/// #[ferrex::export_fn]
/// fn gelu_ish(x: &Tensor) -> Tensor {
///     x * (x * 1.702).sigmoid()
/// }
/// ```
#[proc_macro_attribute]
pub fn export_fn(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item2 = proc_macro2::TokenStream::from(item);
    match syn::parse2::<syn::Item>(item2.clone()) {
        Ok(syn::Item::Fn(f)) => expand_fn::expand(attr, f).into(),
        Ok(syn::Item::Impl(i)) => expand_fn::expand_helper_impl(attr, i).into(),
        _ => {
            let err = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[ferrex::export_fn] goes on a free function, or on the impl block of a helper \
                 type whose methods forward calls",
            );
            let mut out = err.to_compile_error();
            out.extend(item2);
            out.into()
        }
    }
}

/// Defines built-in ATen ops from their schema strings (see `op_def.rs`): for each, the
/// typed argument struct, the `OpDef` and its registration. Used by `ferrex::ops`.
#[proc_macro]
pub fn op_def(input: TokenStream) -> TokenStream {
    op_def::expand(input.into()).into()
}
