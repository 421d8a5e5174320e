//! `#[export_module]` on an impl block: implements `ferrex::Forward` for the block's
//! `forward`, and `HasSources` with the block's source lines. In strict mode it first runs
//! the graph-break analysis (`analysis/`), whose errors are emitted beside the unchanged
//! item and the generated impls.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, Pat, ReturnType, Type};

/// The arguments of `#[export_module(...)]`: `strict = false`, or `helpers` for a block
/// of methods that forward (in another block) calls.
pub struct ModuleArgs {
    pub strict: bool,
    pub helpers: bool,
}

impl Parse for ModuleArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = ModuleArgs {
            strict: true,
            helpers: false,
        };
        if input.is_empty() {
            return Ok(args);
        }
        let key: syn::Ident = input.parse()?;
        if key == "helpers" {
            args.helpers = true;
        } else if key == "strict" {
            input.parse::<syn::Token![=]>()?;
            let v: syn::LitBool = input.parse()?;
            args.strict = v.value;
        } else {
            return Err(syn::Error::new(
                key.span(),
                "expected `strict = true`, `strict = false` or `helpers`",
            ));
        }
        if !input.is_empty() {
            return Err(input.error(format!("unexpected tokens after `{key}`")));
        }
        Ok(args)
    }
}

/// How one parameter of `forward` is carried in the `Args` tuple and passed back.
struct Param {
    name: String,
    tuple_ty: Type,
    pass: TokenStream,
}

fn strip_ref_target(ty: &Type) -> Type {
    // `&[T]` is carried as `Vec<T>`, `&str` as `String`; deref coercion passes them back.
    match ty {
        Type::Slice(s) => {
            let elem = &s.elem;
            syn::parse_quote!(::std::vec::Vec<#elem>)
        }
        Type::Path(p) if p.path.is_ident("str") => syn::parse_quote!(::std::string::String),
        other => other.clone(),
    }
}

fn option_of_ref(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
        return None;
    };
    match a.args.first()? {
        syn::GenericArgument::Type(Type::Reference(r)) => Some(strip_ref_target(&r.elem)),
        _ => None,
    }
}

/// The one message for a `forward` whose signature export cannot call.
fn signature_error<T: ToTokens>(node: T, what: &str) -> syn::Error {
    syn::Error::new_spanned(
        node,
        format!(
            "`forward` must be a plain method `fn forward(&self, x: &Tensor, …) -> …`: {what}\n\
             help: export calls forward with the example inputs and records what it computes; \
             write it as a synchronous, safe, non-generic method taking `&self` and named \
             parameters of concrete types"
        ),
    )
}

/// Whether a receiver is `&self` (also spelled `self: &Self`).
fn is_ref_self(r: &syn::Receiver) -> bool {
    match &*r.ty {
        Type::Reference(t) => {
            t.mutability.is_none() && matches!(&*t.elem, Type::Path(p) if p.path.is_ident("Self"))
        }
        _ => false,
    }
}

fn params_of(f: &syn::ImplItemFn) -> syn::Result<Vec<Param>> {
    check_signature(&f.sig)?;
    let mut out = Vec::new();
    let mut has_receiver = false;
    for (i, arg) in f.sig.inputs.iter().enumerate() {
        match arg {
            FnArg::Receiver(r) => {
                // `&mut self` has its own graph-break diagnostic (`mut_self.rs`).
                let mut_self = r.mutability.is_some() && r.reference.is_some();
                if !mut_self && !is_ref_self(r) {
                    return Err(signature_error(r, "it must take `&self`"));
                }
                has_receiver = true;
            }
            FnArg::Typed(pt) => {
                let param = param_of(i, out.len(), pt)?;
                out.push(param);
            }
        }
    }
    if !has_receiver {
        return Err(signature_error(&f.sig, "it has no `&self` parameter"));
    }
    Ok(out)
}

/// Rejects the signature shapes `Forward` cannot adapt, before looking at parameters.
fn check_signature(sig: &syn::Signature) -> syn::Result<()> {
    if let Some(a) = &sig.asyncness {
        return Err(signature_error(a, "it is `async`"));
    }
    if let Some(u) = &sig.unsafety {
        return Err(signature_error(u, "it is `unsafe`"));
    }
    if let Some(c) = &sig.constness {
        return Err(signature_error(c, "it is `const`"));
    }
    if let Some(a) = &sig.abi {
        return Err(signature_error(a, "it has an `extern` ABI"));
    }
    if let Some(v) = &sig.variadic {
        return Err(signature_error(v, "it is variadic"));
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if mentions_impl_trait(ty) {
            return Err(signature_error(
                ty,
                "it returns an `impl Trait` type; name the type it returns (`Tensor`, a tuple)",
            ));
        }
    }
    if sig
        .generics
        .params
        .iter()
        .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
    {
        return Err(signature_error(
            &sig.generics,
            "it has type or const parameters; put them on the model struct instead",
        ));
    }
    Ok(())
}

/// The typed parameter at input position `i`, stored at `slot` of the args tuple.
fn param_of(i: usize, slot: usize, pt: &syn::PatType) -> syn::Result<Param> {
    if matches!(&*pt.ty, Type::ImplTrait(_)) || mentions_impl_trait(&pt.ty) {
        return Err(signature_error(
            &pt.ty,
            "a parameter has an `impl Trait` type",
        ));
    }
    let name = match &*pt.pat {
        Pat::Ident(id) if id.subpat.is_none() => {
            id.ident.to_string().trim_start_matches("r#").to_string()
        }
        Pat::Wild(_) => format!("arg{i}"),
        other => {
            return Err(signature_error(
                other,
                "a parameter is a pattern; name it (`pair: (Tensor, Tensor)`) and \
                 destructure it in the body",
            ))
        }
    };
    let idx = syn::Index::from(slot);
    let (tuple_ty, pass) = match &*pt.ty {
        Type::Reference(r) if r.mutability.is_some() => {
            (strip_ref_target(&r.elem), quote!(&mut __args.#idx))
        }
        Type::Reference(r) => (strip_ref_target(&r.elem), quote!(&__args.#idx)),
        ty => match option_of_ref(ty) {
            Some(inner) => (
                syn::parse_quote!(::core::option::Option<#inner>),
                quote!(__args.#idx.as_ref()),
            ),
            None => (ty.clone(), quote!(__args.#idx)),
        },
    };
    Ok(Param {
        name,
        tuple_ty,
        pass,
    })
}

fn mentions_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(&t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
        || match ty {
            Type::Reference(r) => mentions_impl_trait(&r.elem),
            _ => false,
        }
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_else(|| ty.to_token_stream().to_string()),
        _ => ty.to_token_stream().to_string(),
    }
}

pub fn expand(attr: TokenStream, item: ItemImpl, file: &str) -> TokenStream {
    let mut errors: Vec<syn::Error> = Vec::new();
    let (strict, helpers) = match syn::parse2::<ModuleArgs>(attr) {
        Ok(args) => (args.strict, args.helpers),
        Err(e) => {
            errors.push(e);
            (true, false)
        }
    };
    if helpers {
        return crate::expand_fn::expand_checked_impl(item, errors, false);
    }
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new(
            path.span(),
            "#[export_module] goes on the inherent impl block that defines `forward`, not on a trait impl",
        ));
    }
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let entries = source_entries(&item, file);

    let forward = item.items.iter().find_map(|it| match it {
        ImplItem::Fn(f) if f.sig.ident == "forward" => Some(f),
        _ => None,
    });
    if forward.is_none() && item.trait_.is_none() {
        errors.push(signature_error(
            &item.self_ty,
            "this `#[export_module]` impl block has no `forward`",
        ));
    }
    let strict_checks = if strict {
        strict_analysis(&item, forward, &mut errors)
    } else {
        StrictChecks::default()
    };

    let forward_impl = match forward.map(|f| (f, params_of(f))) {
        Some((f, Ok(params))) => {
            forward_impl(&item, f, &params, strict, strict_checks.forward_mut_self)
        }
        Some((_, Err(e))) => {
            errors.push(e);
            quote!()
        }
        None => quote!(),
    };
    let errors = crate::expand_fn::combine(errors);
    let mut emitted = item.clone();
    crate::analysis::opaque_receiver::rewrite_impl(&mut emitted, &strict_checks.receiver_checks);
    if strict {
        crate::analysis::unread_impls::rewrite_impl(&mut emitted);
    }
    let checks = strict_checks.checks;
    quote! {
        #emitted
        #errors
        #forward_impl
        impl #impl_generics ::ferrex::__private::HasSources for #self_ty #where_clause {
            const SOURCES: &'static [::ferrex::__private::SourceLine] = &[#(#entries),*];
        }
        #checks
    }
}

/// Source lines of every method, for the printed graph's comments.
fn source_entries(item: &ItemImpl, file: &str) -> Vec<TokenStream> {
    let type_str = type_name(&item.self_ty);
    let mut entries = Vec::new();
    for it in &item.items {
        if let ImplItem::Fn(f) = it {
            let function = format!("{type_str}::{}", f.sig.ident);
            for (line, code) in crate::source::lines_of(f.to_token_stream()) {
                if code.is_empty() {
                    continue;
                }
                let line = line as u32;
                entries.push(quote! {
                    ::ferrex::__private::SourceLine { file: #file, line: #line, function: #function, code: #code }
                });
            }
        }
    }
    entries
}

/// What strict mode adds to the expansion: the proof that forward captures into one graph.
#[derive(Default)]
struct StrictChecks {
    checks: TokenStream,
    forward_mut_self: bool,
    receiver_checks: std::collections::HashSet<String>,
}

fn strict_analysis(
    item: &ItemImpl,
    forward: Option<&syn::ImplItemFn>,
    errors: &mut Vec<syn::Error>,
) -> StrictChecks {
    let report = crate::analysis::analyze_impl(item);
    let forward_mut_self = forward.is_some_and(|f| {
        f.sig
            .receiver()
            .is_some_and(|r| r.mutability.is_some() && r.reference.is_some())
    });
    errors.extend(report.errors);
    let mut checks = crate::analysis::checks(&report.callees);
    checks.extend(crate::analysis::opaque_call::method_markers(item));
    checks.extend(crate::analysis::opaque_call::method_checks(
        item,
        &report.other_methods,
    ));
    StrictChecks {
        checks,
        forward_mut_self,
        receiver_checks: report.receiver_checks,
    }
}

/// The `Forward` impl adapting `forward`'s parameters to one args tuple.
fn forward_impl(
    item: &ItemImpl,
    forward: &syn::ImplItemFn,
    params: &[Param],
    strict: bool,
    forward_mut_self: bool,
) -> TokenStream {
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let tys = params.iter().map(|p| &p.tuple_ty);
    let names = params.iter().map(|p| &p.name);
    let passes = params.iter().map(|p| &p.pass);
    let output = match &forward.sig.output {
        ReturnType::Type(_, ty) => ty.to_token_stream(),
        ReturnType::Default => quote!(()),
    };
    // `&mut self` is reported by the analysis; the adapter must not add a second
    // error for it.
    let call = if forward_mut_self {
        quote!(::core::unreachable!("forward takes `&mut self`"))
    } else {
        quote!(self.forward(#(#passes),*))
    };
    // Strict mode's run-time safety net: export traces forward a second time and
    // compares the programs (core's `export/purity.rs`).
    let retrace = if strict {
        quote! {
            fn __ferrex_retrace_args(&self, __args: &Self::Args) -> ::core::option::Option<Self::Args> {
                #[allow(unused_imports)]
                use ::ferrex::__private::{NoClone as _, ViaClone as _};
                (&&::ferrex::__private::CloneProbe(__args)).__ferrex_clone()
            }
        }
    } else {
        quote!()
    };
    quote! {
        impl #impl_generics ::ferrex::Forward for #self_ty #where_clause {
            #retrace
            type Args = (#(#tys,)*);
            type Output = #output;
            fn arg_names(&self) -> &'static [&'static str] {
                &[#(#names),*]
            }
            #[allow(unused_variables, unused_mut)]
            fn forward_args(&self, mut __args: Self::Args) -> Self::Output {
                #call
            }
        }
    }
}
