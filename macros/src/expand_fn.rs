//! `#[ferrex::export_fn]` on a free function: the strict-mode analysis of its body, and
//! the marker that lets annotated bodies call it (see `analysis/opaque_call.rs`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn};

use crate::analysis;

pub fn expand(attr: TokenStream, item: ItemFn) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new(
            attr.span(),
            "#[ferrex::export_fn] takes no arguments",
        ));
    }
    if let Some(odd) = odd_signature(&item.sig) {
        errors.push(odd);
        let errors = errors.iter().map(syn::Error::to_compile_error);
        return quote! { #item #(#errors)* };
    }
    let receiver = item.sig.inputs.iter().find_map(|a| match a {
        FnArg::Receiver(r) => Some(r),
        _ => None,
    });
    if let Some(r) = receiver {
        errors.push(syn::Error::new(
            r.span(),
            "#[ferrex::export_fn] goes on free functions; a method that forward calls belongs \
             in the `#[export_module]` impl block, where it is checked too",
        ));
        let errors = errors.iter().map(syn::Error::to_compile_error);
        return quote! { #item #(#errors)* };
    }
    let report = analysis::analyze_fn(&item);
    errors.extend(report.errors);
    let checks = analysis::checks(&report.callees);
    let marker = analysis::opaque_call::marker(&item.vis, &item.sig.ident);
    let errors = combine(errors);
    let mut item = item;
    analysis::opaque_receiver::rewrite_fn(&mut item, &report.receiver_checks);
    analysis::unread_impls::rewrite_fn(&mut item);
    quote! {
        #item
        #errors
        #marker
        #checks
    }
}

/// The one message for an `#[export_fn]` helper forward cannot call as a plain function
/// while tracing: `async` (its body runs when the future is polled), `extern`, variadic.
fn odd_signature(sig: &syn::Signature) -> Option<syn::Error> {
    let (span, what) = if let Some(a) = &sig.asyncness {
        (
            a.span(),
            "it is `async`: its body runs when the future is polled, not when forward calls it",
        )
    } else if let Some(a) = &sig.abi {
        (a.span(), "it has an `extern` ABI")
    } else if let Some(v) = &sig.variadic {
        (v.span(), "it is variadic")
    } else {
        return None;
    };
    let fix = if sig.asyncness.is_some() {
        "write it as a synchronous Rust function: replace `async fn` with `fn`"
    } else {
        "write it as a plain Rust function"
    };
    Some(syn::Error::new(
        span,
        format!(
            "`#[ferrex::export_fn]` helpers must be plain functions `fn f(x: &Tensor, …) -> …`: \
             {what}\nhelp: {fix}; strict export reads its body where forward calls it"
        ),
    ))
}

/// All errors as one `compile_error!` group, each at its own span.
pub fn combine(errors: Vec<syn::Error>) -> TokenStream {
    let mut it = errors.into_iter();
    let Some(mut first) = it.next() else {
        return TokenStream::new();
    };
    for e in it {
        first.combine(e);
    }
    first.to_compile_error()
}

/// `#[ferrex::export_fn]` on an `impl` block of a helper type: every method is checked
/// like forward, and the type becomes one whose methods a strict body may call
/// (`TracedReceiver`). On a trait impl (`impl Default for Helper`, `impl Mul<Gain> for
/// &Tensor`), the trait's functions are checked and marked, so forward may use them
/// (`Helper::default()`, `x * gain`).
pub fn expand_helper_impl(attr: TokenStream, item: syn::ItemImpl) -> TokenStream {
    let mut errors = Vec::new();
    if !attr.is_empty() {
        errors.push(syn::Error::new(
            attr.span(),
            "#[ferrex::export_fn] takes no arguments",
        ));
    }
    expand_checked_impl(item, errors, true)
}

/// An impl block whose every method strict mode checks: a helper type's
/// (`#[ferrex::export_fn]`, which also makes the type one forward may call methods of) or
/// a module's block of helper methods (`#[export_module(helpers)]`).
pub fn expand_checked_impl(
    item: syn::ItemImpl,
    mut errors: Vec<syn::Error>,
    helper_type: bool,
) -> TokenStream {
    let trait_impl = item.trait_.is_some();
    if let (Some((_, path, _)), false) = (&item.trait_, helper_type) {
        errors.push(syn::Error::new(
            path.span(),
            "`#[export_module(helpers)]` goes on an inherent impl block of the model; mark a \
             trait impl `#[ferrex::export_fn]`",
        ));
    }
    let report = analysis::analyze_helper_impl(&item);
    errors.extend(report.errors);
    let mut checks = analysis::checks(&report.callees);
    checks.extend(analysis::opaque_call::method_markers(&item));
    checks.extend(analysis::opaque_call::method_checks(
        &item,
        &report.other_methods,
    ));
    let errors = combine(errors);
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    // A trait impl (`impl Default for Helper`) is read, its functions marked; whether the
    // type's own methods may be called is its inherent block's to say.
    // Two marked inherent blocks of one type: the first in the file says it.
    let marker = if helper_type
        && !trait_impl
        && analysis::file_items::of_call_site().emits_receiver_marker(&item)
    {
        quote! {
            impl #impl_generics ::ferrex::__private::TracedReceiver for #self_ty #where_clause {}
        }
    } else {
        quote!()
    };
    let mut item = item;
    analysis::opaque_receiver::rewrite_impl(&mut item, &report.receiver_checks);
    analysis::unread_impls::rewrite_impl(&mut item);
    quote! {
        #item
        #errors
        #marker
        #checks
    }
}
