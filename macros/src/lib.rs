//! Procedural macros of ferrex. Users depend on `ferrex`, which re-exports them; generated
//! code names `::ferrex::…` only.
//!
//! `#[export_module]` on a struct implements `ferrex::Module` (parameters, buffers,
//! constants, submodules, configuration); on the `impl` block that defines `forward` it
//! implements `ferrex::Forward` and records the block's source lines for the printed
//! graph. Each stage is its own file: `model.rs` parses into a small typed model,
//! `expand_struct.rs` / `expand_impl.rs` generate code, `source.rs` rebuilds source lines.

mod expand_impl;
mod expand_struct;
mod model;
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
