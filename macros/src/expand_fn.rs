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
    quote! {
        #item
        #errors
        #marker
        #checks
    }
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
/// (`TracedReceiver`).
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
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new(
            path.span(),
            "this attribute goes on an inherent impl block (`impl Helper { … }`), whose \
             methods forward may call",
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
    let marker = if helper_type {
        quote! {
            impl #impl_generics ::ferrex::__private::TracedReceiver for #self_ty #where_clause {}
        }
    } else {
        quote!()
    };
    let mut item = item;
    analysis::opaque_receiver::rewrite_impl(&mut item, &report.receiver_checks);
    quote! {
        #item
        #errors
        #marker
        #checks
    }
}
