//! `include_program!(pub mod mlp = "models/mlp.pt2")`: the program saved in
//! `models/mlp.pt2` (relative to the crate root, `CARGO_MANIFEST_DIR`) compiled into the
//! module `mlp` at compile time, by `ferrex-aot`'s generator. Use it as
//! `ferrex_aot::include_program!`; see `ferrex-aot` for what the module holds.
//!
//! `include_program!(pub mod mlp = "models/mlp.pt2", side_file)` embeds nothing: the
//! module reads the weights at run time (`Model::from_file`, `from_bytes`, refused unless
//! the file is the one the code was generated from). An archive above
//! `ferrex_aot_codegen::DEFAULT_EMBED_LIMIT` (128 MiB) is refused unless `side_file` or
//! a higher `max_embed = BYTES` is given.
//!
//! Every error (a missing file, a file that is not a program, a program saved by a
//! newer ferrex, an archive too large to embed, one the generator cannot emit) is a
//! compile error on the path, naming the resolved path; the module is still emitted, so
//! the rest of the crate checks.

use std::path::{Path, PathBuf};

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitStr, Token, Visibility};

/// `#[attrs] vis mod NAME = "path"`, then optionally `, side_file` (weights read at run
/// time) or `, max_embed = BYTES` (the largest archive embedded).
struct ProgramDecl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    path: LitStr,
    side_file: bool,
    max_embed: u64,
}

impl Parse for ProgramDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![mod]>()?;
        let name = input.parse()?;
        input.parse::<Token![=]>()?;
        let path = input.parse()?;
        let (mut side_file, mut max_embed) = (false, ferrex_aot_codegen::DEFAULT_EMBED_LIMIT);
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            let key: Ident = input.parse()?;
            match key.to_string().as_str() {
                "side_file" => side_file = true,
                "max_embed" => {
                    input.parse::<Token![=]>()?;
                    max_embed = input.parse::<syn::LitInt>()?.base10_parse()?;
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "expected `side_file` or `max_embed = BYTES`",
                    ))
                }
            }
        }
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
        }
        Ok(ProgramDecl {
            attrs,
            vis,
            name,
            path,
            side_file,
            max_embed,
        })
    }
}

/// Compiles a saved program (`.pt2`) into a module: `include_program!(pub mod mlp =
/// "models/mlp.pt2")`, the path relative to the crate root.
#[proc_macro]
pub fn include_program(input: TokenStream) -> TokenStream {
    match syn::parse::<ProgramDecl>(input) {
        Ok(decl) => expand(&decl).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The archive's path: `path` under the crate root, with `.` and `..` resolved
/// lexically (the path shown in errors is the file that was looked for).
fn resolve(path: &str) -> PathBuf {
    let joined = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(root) => Path::new(&root).join(path),
        None => PathBuf::from(path),
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn generate(resolved: &Path, decl: &ProgramDecl) -> Result<TokenStream2, String> {
    let shown = resolved.display().to_string();
    // The size is checked before the file is read: an oversize archive costs nothing.
    let size = std::fs::metadata(resolved)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?
        .len();
    if !decl.side_file && size > decl.max_embed {
        return Err(format!(
            "`{shown}` is {size} bytes, above the {}-byte limit for weights embedded in the \
             binary: read them at run time instead — `include_program!(mod {} = {:?}, \
             side_file)`, then `{}::Model::from_file(\"…\")` — or raise the limit with \
             `, max_embed = {size}`",
            decl.max_embed,
            decl.name,
            decl.path.value(),
            decl.name
        ));
    }
    // The zip structure and JSON entries only: expansion does not grow with the weights.
    let bytes = ferrex_aot_codegen::read_structure(resolved).map_err(|e| e.to_string())?;
    let options = ferrex_aot_codegen::AotOptions {
        archive_path: shown.clone(),
        display_name: shown.clone(),
        regenerate: "cargo build (include_program!)".into(),
        steps_per_function: ferrex_aot_codegen::STEPS_PER_FUNCTION,
        embed_weights: !decl.side_file,
        prepack: None,
    };
    let generated = ferrex_aot_codegen::generate(&bytes, &options).map_err(|e| {
        let message = e.to_string();
        match message.contains(&shown) {
            true => message,
            false => format!("{message} (in `{shown}`)"),
        }
    })?;
    generated
        .code
        .parse()
        .map_err(|e| format!("the code generated from `{shown}` does not parse: {e}"))
}

fn expand(decl: &ProgramDecl) -> TokenStream2 {
    let ProgramDecl {
        attrs,
        vis,
        name,
        path,
        ..
    } = decl;
    let body = match generate(&resolve(&path.value()), decl) {
        Ok(body) => body,
        Err(message) => syn::Error::new(path.span(), message).to_compile_error(),
    };
    quote! {
        #(#attrs)*
        #vis mod #name {
            #body
        }
    }
}
