//! Rule: opaque calls that receive a tensor — functions and methods that are neither
//! ferrex ops, methods of the annotated impl, nor `#[ferrex::export_fn]` helpers (the
//! tutorial's `Bad3`: calling an unsupported function).
//!
//! The macro sees one item, so whether a free function is an `export_fn` is decided by
//! the compiler: `#[export_fn]` puts a hidden marker type with the function's name beside
//! it (types and functions live in different namespaces), and each annotated body
//! checks its callees with
//!
//! ```text
//! const _: () = {
//!     use path::to::helper as __ferrex_callee;      // the fn, and the marker if any
//!     const _: () = {
//!         mod not_an_export_fn { pub struct helper {} }
//!         use not_an_export_fn::*;                  // fallback, shadowed by ...
//!         use __ferrex_callee as helper;            // ... the marker, when it exists
//!         fn check() { let _ = <helper as Check>::OK; }   // Check: ExportFn, ferrex's message
//!     };
//! };
//! ```
//!
//! An explicit import shadows a glob import, so `helper` names the marker when the
//! function is marked, and the fallback type otherwise, which does not implement
//! `ExportFn`: the trait's `#[diagnostic::on_unimplemented]` message, spanned on the
//! call, tells the user what to do.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

use super::opaque_receiver::Message;
use super::{graph_break, non_strict_fix};

fn fixes(name: &str, method: bool) -> Vec<String> {
    let mut out = Vec::new();
    if method {
        out.push(format!(
            "move `{name}` into this `#[export_module]` impl block: the methods that forward \
             calls there are checked too"
        ));
    } else {
        out.push(format!(
            "make `{name}` a free function marked `#[ferrex::export_fn]`, or a method of this \
             `#[export_module]` impl block: its body is then checked too"
        ));
    }
    out.push(non_strict_fix(
        "traces whatever the call runs (values that do not depend on tensors become constants)",
    ));
    out
}

const WHY: &str = "strict export proves forward free of graph breaks by reading its code, and \
                   cannot see into this call";

/// `Type::f(x)` of a type other than ferrex's.
pub fn assoc_error(call: &syn::ExprCall, callee: &str) -> syn::Error {
    graph_break(
        &call.func,
        &format!("`{callee}` receives a tensor, but its body is not visible to strict export"),
        WHY,
        &fixes(callee, false),
    )
}

/// `x.name(..)` on a tensor where `name` is not ferrex's: an extension trait's method.
pub fn foreign_method_error(call: &syn::ExprMethodCall, name: &str) -> syn::Error {
    graph_break(
        call,
        &format!(
            "`.{name}({})` is not a method of ferrex's `Tensor`",
            if call.args.is_empty() { "" } else { "…" }
        ),
        "it comes from a trait of another crate or of this one, whose body strict export \
         cannot see into",
        &[
            format!(
                "make `{name}` a free function marked `#[ferrex::export_fn]` and call it as \
                 `{name}(&x)`: its body is then checked too"
            ),
            non_strict_fix("traces whatever the method runs"),
        ],
    )
}

/// `xs.name(..)` on a container of tensors where `name` is not std's: an extension
/// trait's method.
pub fn foreign_container_method_error(call: &syn::ExprMethodCall, name: &str) -> syn::Error {
    let recv = super::text(&call.receiver);
    graph_break(
        call,
        &format!(
            "`.{name}({})` is not a method of std's containers or iterators, and `{recv}` holds \
             tensors",
            if call.args.is_empty() { "" } else { "…" }
        ),
        "it comes from a trait of another crate or of this one, whose body strict export \
         cannot see into",
        &[
            format!(
                "make `{name}` a free function marked `#[ferrex::export_fn]` and call it as \
                 `{name}(&{recv})`: its body is then checked too"
            ),
            non_strict_fix("traces whatever the method runs"),
        ],
    )
}

/// `(self.f)(x)`, `let f = &self.f; f()`: a function held in a value.
pub fn value_call_error(call: &syn::ExprCall) -> syn::Error {
    graph_break(
        &call.func,
        &format!(
            "`{}` calls a function held in a value",
            super::text(&call.func)
        ),
        "strict export reads the code of the functions forward calls by name; which function a \
         value holds is only known when the model runs",
        &[
            "call the function by name: a method of this `#[export_module]` impl block, or a \
             free function marked `#[ferrex::export_fn]`"
                .to_string(),
            non_strict_fix("traces whatever the call runs"),
        ],
    )
}

/// `my_macro!(x)`: a macro outside the known set — given a tensor or the model, or not
/// (its expansion may read state that the graph would freeze).
pub fn macro_error(mac: &syn::Macro, name: &str, tensors: &[String]) -> syn::Error {
    let headline = if tensors.is_empty() {
        format!("`{name}!` runs while forward runs, but its expansion is not visible")
    } else {
        format!(
            "`{name}!` is given `{}`, but its expansion is not visible",
            tensors.join("`, `")
        )
    };
    graph_break(
        mac,
        &headline,
        "strict export reads the code of forward as written; a macro's expansion is only known \
         to the compiler",
        &[
            format!(
                "write out what `{name}!` does, or move it into a free function marked \
                 `#[ferrex::export_fn]`: its body is then checked too"
            ),
            non_strict_fix("traces whatever the macro expands to"),
        ],
    )
}

/// What a generated check asks of a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CalleeKind {
    /// A free function: it must be a `#[ferrex::export_fn]`.
    Function,
    /// A type whose associated function forward calls: it must implement
    /// `TracedReceiver` (a module, `Tensor`, or an `#[ferrex::export_fn]` impl).
    Type,
}

/// A free function called from a strict body, or a type whose associated function is, to
/// be checked by the generated code.
pub struct Callee {
    /// The path without generic arguments.
    path: syn::Path,
    name: syn::Ident,
    span: Span,
    kind: CalleeKind,
}

impl Callee {
    pub fn new(path: &syn::Path) -> Option<Callee> {
        let mut path = path.clone();
        for seg in path.segments.iter_mut() {
            seg.arguments = syn::PathArguments::None;
        }
        let last = path.segments.last()?;
        let mut name = last.ident.clone();
        name.set_span(Span::call_site());
        let span = last.ident.span();
        Some(Callee {
            path,
            name,
            span,
            kind: CalleeKind::Function,
        })
    }

    /// `Type::f`: the type `Type` (generic arguments dropped; a generic type is not checked).
    pub fn of_type(path: &syn::Path) -> Option<Callee> {
        let mut path = path.clone();
        path.segments.pop();
        path.segments.pop_punct();
        if path.segments.iter().any(|s| !s.arguments.is_empty()) {
            return None;
        }
        let last = path.segments.last()?;
        if last.ident == "Self" {
            return None;
        }
        Some(Callee {
            name: last.ident.clone(),
            span: last.ident.span(),
            path,
            kind: CalleeKind::Type,
        })
    }

    pub fn first_segment(&self) -> String {
        self.path
            .segments
            .first()
            .map(|s| s.ident.to_string())
            .unwrap_or_default()
    }

    pub fn same_path(&self, other: &Callee) -> bool {
        self.path.to_token_stream().to_string() == other.path.to_token_stream().to_string()
    }
}

/// A check that `ty` implements `base`, reported with `msg` at `span`: a trait declared
/// there carries ferrex's message (see `opaque_receiver::local_check`).
pub fn type_check(span: Span, ty: &TokenStream, base: &TokenStream, msg: &Message) -> TokenStream {
    let (headline, label, notes) = (&msg.headline, &msg.label, &msg.notes);
    let name = super::opaque_receiver::check_name(span, base);
    quote_spanned! {span=>
        #[diagnostic::on_unimplemented(message = #headline, label = #label, #(note = #notes),*)]
        trait #name {
            const OK: u8 = 0;
        }
        #[diagnostic::do_not_recommend]
        impl<T: ?Sized + #base> #name for T {}
        let _ = <#ty as #name>::OK;
    }
}

fn export_fn_message(name: &str) -> Message {
    Message {
        headline: format!(
            "graph break: `{name}` receives a tensor, but it is not a `#[ferrex::export_fn]`"
        ),
        label: "strict export cannot see into this call".to_string(),
        notes: vec![
            "strict export proves forward free of graph breaks by reading its code, and the body \
             of this function is not read"
                .to_string(),
            format!(
                "put `#[ferrex::export_fn]` on `fn {name}` (its body is then checked like \
                 forward's), or make it a method of the `#[export_module]` impl block"
            ),
            non_strict_fix("traces whatever the call runs"),
        ],
    }
}

fn traced_type_message(ty: &str) -> Message {
    Message {
        headline: format!(
            "graph break: forward gives a tensor to an associated function of `{ty}`, a type \
             strict export cannot see into"
        ),
        label: "not a module, `Tensor`, or a helper type marked `#[ferrex::export_fn]`".to_string(),
        notes: vec![
            format!(
                "put `#[ferrex::export_fn]` on the `impl {ty}` block (its functions are then \
                 checked like forward's), or make `{ty}` an `#[export_module]` module"
            ),
            non_strict_fix("traces whatever the call runs"),
        ],
    }
}

/// The compile-time checks that every callee is a `#[ferrex::export_fn]`.
pub fn checks(callees: &[Callee]) -> TokenStream {
    let mut out = TokenStream::new();
    for c in callees {
        let path = &c.path;
        if c.kind == CalleeKind::Type {
            // `Owner::f(x)`: `Owner` may be a type or a module alias (`use
            // ferrex::nn::functional as Fx`), so it is named where both resolve, as a path
            // expression: ferrex's function modules define `__ferrex_owner`, and every type
            // has it through `OwnerOf` (answering by whether strict export reads the type).
            let answer = quote_spanned! {c.span=> {
                #[allow(unused_imports)]
                use ::ferrex::__private::OwnerOf as _;
                #path::__ferrex_owner()
            } };
            let check = super::opaque_receiver::local_check(
                c.span,
                &answer,
                &quote!(::ferrex::__private::OwnerCheck),
                &traced_type_message(&c.name.to_string()),
            );
            out.extend(quote_spanned! {c.span=>
                const _: () = {
                    #[allow(dead_code)]
                    fn __ferrex_check() { #check }
                };
            });
            continue;
        }
        let name = &c.name;
        let mut at_call = name.clone();
        at_call.set_span(c.span);
        let check = type_check(
            c.span,
            &at_call.to_token_stream(),
            &quote!(::ferrex::__private::ExportFn),
            &export_fn_message(&name.to_string()),
        );
        out.extend(quote! {
            const _: () = {
                #[allow(unused_imports, deprecated)]
                use #path as __ferrex_callee;
                const _: () = {
                    #[doc(hidden)]
                    #[allow(non_camel_case_types, dead_code, non_snake_case)]
                    mod not_an_export_fn {
                        pub struct #name {}
                    }
                    #[allow(unused_imports, deprecated)]
                    use not_an_export_fn::*;
                    #[allow(unused_imports, deprecated)]
                    use __ferrex_callee as #name;
                    #[allow(dead_code)]
                    fn __ferrex_check() {
                        #check
                    }
                };
            };
        });
    }
    out
}

/// What `#[ferrex::export_fn]` emits beside the function: the marker type.
pub fn marker(vis: &syn::Visibility, ident: &syn::Ident) -> TokenStream {
    // A raw identifier (`r#try`) stays raw: the marker type shares the function's name.
    let name = ident;
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}
        #[diagnostic::do_not_recommend]
        impl ::ferrex::__private::ExportFn for #name {}
    }
}

/// The name of a method as a number (FNV-1a), so a trait can be implemented per method.
pub(crate) fn method_hash(name: &str) -> u64 {
    name.trim_start_matches("r#")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// `impl CheckedMethod<hash("m")> for Type {}` for each method of a block strict mode read;
/// for a marked impl of an operator trait, `CheckedMethod<hash("mul"), Rhs>`.
pub fn method_markers(item: &syn::ItemImpl) -> TokenStream {
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let rhs = item
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| operator_rhs(path, self_ty));
    let file = super::file_items::of_call_site();
    let mut out = TokenStream::new();
    for it in &item.items {
        if let syn::ImplItem::Fn(f) = it {
            let name = f.sig.ident.to_string();
            // An operator's marker is keyed by its right-hand side, unique per impl.
            if rhs.is_none() && !file.emits_method_marker(item, &name) {
                continue;
            }
            let h = method_hash(&name);
            let args = match &rhs {
                Some(rhs) => quote!(#h, #rhs),
                None => quote!(#h),
            };
            out.extend(quote! {
                #[doc(hidden)]
                #[diagnostic::do_not_recommend]
                impl #impl_generics ::ferrex::__private::CheckedMethod<#args> for #self_ty #where_clause {}
            });
        }
    }
    out
}

/// The traits of Rust's binary operators, whose impls differ by their right-hand side.
pub const OPERATOR_TRAITS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Rem",
    "BitAnd",
    "BitOr",
    "BitXor",
    "Shl",
    "Shr",
    "AddAssign",
    "SubAssign",
    "MulAssign",
    "DivAssign",
    "RemAssign",
    "BitAndAssign",
    "BitOrAssign",
    "BitXorAssign",
    "ShlAssign",
    "ShrAssign",
];

/// The right-hand side of an operator trait's impl (`Mul<Gain>`: `Gain`; `Add`: `Self`'s
/// type), `None` for other traits.
fn operator_rhs(path: &syn::Path, self_ty: &syn::Type) -> Option<TokenStream> {
    let last = path.segments.last()?;
    if !OPERATOR_TRAITS.contains(&last.ident.to_string().as_str()) {
        return None;
    }
    let explicit = match &last.arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            syn::GenericArgument::Type(t) => Some(t.to_token_stream()),
            _ => None,
        }),
        _ => None,
    };
    Some(explicit.unwrap_or_else(|| self_ty.to_token_stream()))
}

/// For each `self.m(..)` of a method outside the block: a check that strict mode read it
/// in another block, spanned on the call.
pub fn method_checks(item: &syn::ItemImpl, calls: &[(String, Span)]) -> TokenStream {
    // `impl Mul<&Tensor> for &Sub`: `self.forward(x)` is `Sub`'s.
    let mut self_ty = &*item.self_ty;
    while let syn::Type::Reference(r) = self_ty {
        self_ty = &r.elem;
    }
    let ty_name = super::text(self_ty);
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let mut out = TokenStream::new();
    for (name, span) in calls {
        let h = method_hash(name);
        // The type respanned to the call, where the compiler reports the missing impl.
        let ty = respan(self_ty.to_token_stream(), *span);
        let msg = Message {
            headline: format!(
                "graph break: forward calls `{ty_name}::{name}`, a method strict export has not read"
            ),
            label: "defined in a plain `impl` block or a trait".to_string(),
            notes: vec![
                "strict export proves forward a pure function of its inputs and the model by \
                 reading the methods it calls"
                    .to_string(),
                format!(
                    "put `#[export_module(helpers)]` on the `impl {ty_name}` block that defines \
                     `{name}` (its methods are then checked too), or move `{name}` into the \
                     `#[export_module]` impl block"
                ),
                non_strict_fix("traces whatever the method runs"),
            ],
        };
        let check = type_check(
            *span,
            &ty,
            &quote!(::ferrex::__private::CheckedMethod<#h>),
            &msg,
        );
        out.extend(quote! {
            const _: () = {
                #[allow(dead_code, non_snake_case)]
                fn __ferrex_check #impl_generics () #where_clause {
                    #check
                }
            };
        });
    }
    out
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// The fix for a trait's method that forward calls by path: a free `#[export_fn]`.
fn trait_fixes(method: &str) -> Vec<String> {
    vec![
        format!(
            "make `{method}` a free function marked `#[ferrex::export_fn]` and call it as \
             `{method}(…)`: its body is then checked too"
        ),
        non_strict_fix("traces whatever the method runs"),
    ]
}

/// `Peek::peek(x)`: a method of a trait of this file called by path. Which impl runs is
/// the compiler's choice, and strict export reads no trait impl it is not told about.
pub fn trait_call_error(call: &syn::ExprCall, tr: &str, method: &str) -> syn::Error {
    graph_break(
        &call.func,
        &format!("`{tr}::{method}(…)` calls a method of the trait `{tr}`"),
        "which impl of a trait runs is chosen by the compiler, and strict export cannot see \
         into it",
        &trait_fixes(method),
    )
}

/// `xs.iter().map(Peek::peek)`: a trait's method used as a value.
pub fn trait_value_error(path: &syn::ExprPath, tr: &str, method: &str) -> syn::Error {
    graph_break(
        path,
        &format!("`{tr}::{method}` is a method of the trait `{tr}`, used as a value"),
        "which impl of a trait runs is chosen by the compiler, and strict export cannot see \
         into it",
        &trait_fixes(method),
    )
}

/// `fn f<G: Gain>(g: &G, …)` with `Gain` a trait of the file and `impl Gain for Ticking`
/// unmarked: which impl `g.gain()` runs is chosen per instantiation, so each must be read.
pub fn generic_bound_error(
    bound: &syn::Path,
    param: &str,
    tr: &str,
    ty: &str,
    method: Option<&str>,
) -> syn::Error {
    let fix = match method {
        Some(m) => format!(
            "put `#[ferrex::export_fn]` on the `impl {tr} for {ty}` block that defines `{m}`: \
             its body is then checked like forward's"
        ),
        None => format!("put `#[ferrex::export_fn]` on `impl {tr} for {ty}`"),
    };
    graph_break(
        bound,
        &format!(
            "`{param}: {tr}` lets forward run `impl {tr} for {ty}`, which strict export has not \
             read"
        ),
        "a method of a type parameter runs the impl of whatever type it is instantiated with",
        &[fix, non_strict_fix("traces whatever the impl runs")],
    )
}
