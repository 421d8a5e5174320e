//! Rule: a method call whose receiver strict mode cannot identify by syntax (a field of
//! the model, a local, a closure parameter) and that receives a tensor, or is a
//! `forward`: the receiver must be a type strict export can see into — a module, a tensor
//! or a container of tensors, or a helper type whose `impl` is `#[ferrex::export_fn]`.
//!
//! Syntax cannot tell `self.block` (a submodule) from `self.helper` (an opaque struct), so
//! the check is left to the compiler: the emitted body wraps each such call as
//!
//! ```text
//! { let _ = || require_receiver((&&&ReceiverProbe(&recv)).__ferrex_receiver()); recv.m(x) }
//! ```
//!
//! The closure is never called (the receiver is not evaluated twice); autoref
//! specialisation picks `IsReceiver` when the receiver's type (through up to two
//! references) implements `TracedReceiver`, and `OpaqueReceiver<T>` otherwise, which
//! `require_receiver` rejects with ferrex's message, spanned on the receiver.
//! `Type::forward(&m, x)` checks its first argument the same way; a data read
//! (`w.to_vec()`) or a method outside the tensor vocabulary on such a receiver gets the
//! opposite check (`DataProbe`): it compiles only when the receiver is not a tensor.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, ExprCall, ExprMethodCall};

/// Methods of the standard containers, iterators and `Option` that forward may call with
/// tensors: they move values around; closures they receive are analysed where written.
const STD_METHODS: &[&str] = &[
    "push",
    "push_back",
    "push_front",
    "insert",
    "extend",
    "append",
    "extend_from_slice",
    "get",
    "first",
    "last",
    "unwrap",
    "expect",
    "unwrap_or",
    "unwrap_or_else",
    "unwrap_or_default",
    "next",
    "pop",
    "remove",
    "swap_remove",
    "pop_front",
    "pop_back",
    "nth",
    "cloned",
    "copied",
    "iter",
    "iter_mut",
    "into_iter",
    "map",
    "filter",
    "filter_map",
    "flat_map",
    "zip",
    "chain",
    "enumerate",
    "rev",
    "skip",
    "take",
    "step_by",
    "fold",
    "try_fold",
    "rfold",
    "reduce",
    "for_each",
    "collect",
    "any",
    "all",
    "find",
    "position",
    "map_or",
    "map_or_else",
    "and_then",
    "or_else",
    "or",
    "and",
    "ok_or",
    "ok_or_else",
    "as_ref",
    "as_deref",
    "as_slice",
    "clone",
    "contains",
    "eq",
    "ne",
    "len",
    "is_empty",
    "is_some",
    "is_none",
    "take_while",
    "skip_while",
    "inspect",
    "windows",
    "concat",
    "get_or_insert",
    "get_or_insert_with",
    "replace",
    "xor",
    "filter_map",
    "unzip",
    "last_mut",
    "first_mut",
    "get_mut",
    "scan",
    "peekable",
    "cycle",
    "split_at",
    "split_first",
    "split_last",
    "to_vec",
    "into",
    "then",
    "then_some",
    "zip_with",
];

/// `forward` and its trait forms: a call that must reach a module.
const FORWARD_METHODS: &[&str] = &["forward", "forward_args", "forward_layer"];

/// Whether `recv.name(..)` needs its receiver checked by type.
pub fn needs_check(name: &str, gets_tensor: bool) -> bool {
    FORWARD_METHODS.contains(&name) || (gets_tensor && !STD_METHODS.contains(&name))
}

/// What identifies a method call between the analysis and the rewrite.
pub fn key(call: &ExprMethodCall) -> String {
    let span = call.method.span();
    format!("{}:{:?}:{:?}", call.method, span.start(), span)
}

/// The key of a data read (`self.w.to_vec()`) on a receiver syntax cannot identify: the
/// receiver must not be a tensor.
pub fn data_read_key(call: &ExprMethodCall) -> String {
    format!("data:{}", key(call))
}

/// The key of a method outside the tensor vocabulary on a receiver syntax cannot identify:
/// the receiver must not be a tensor (the method would be an extension trait's).
pub fn foreign_method_key(call: &ExprMethodCall) -> String {
    format!("foreign:{}", key(call))
}

/// The key of a method of a value of the model (`self.meter.read()`) given no tensor: the
/// value must be one whose methods strict mode trusts (`ValueCheck` in core's `strict.rs`).
pub fn value_key(call: &ExprMethodCall) -> String {
    format!("value:{}", key(call))
}

/// The key of `Type::forward(&instance, …)`: the instance must be a module.
pub fn first_arg_key(call: &ExprCall) -> String {
    let span = call.func.span();
    format!(
        "first:{}:{:?}:{:?}",
        super::text(&call.func),
        span.start(),
        span
    )
}

/// The key of a call of a free function (`gain()`) or of another type's associated
/// function (`Clock::now()`) given no tensor: what it returns must be something the graph
/// records, or the callee marked (`CallCheck` in core's `strict.rs`).
pub fn result_key(call: &ExprCall) -> String {
    format!("result:{}", first_arg_key(call))
}

/// The same for `Type::f(..)`: the type may instead be one strict export can see into.
pub fn type_result_key(call: &ExprCall) -> String {
    format!("type_result:{}", first_arg_key(call))
}

/// Receivers that cannot move into a closure unchanged.
fn rewritable(recv: &Expr) -> bool {
    fn clean(tokens: TokenStream) -> bool {
        tokens.into_iter().all(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => !matches!(
                i.to_string().as_str(),
                "return" | "break" | "continue" | "await" | "yield"
            ),
            proc_macro2::TokenTree::Punct(p) => p.as_char() != '?',
            proc_macro2::TokenTree::Group(g) => clean(g.stream()),
            proc_macro2::TokenTree::Literal(_) => true,
        })
    }
    clean(recv.to_token_stream())
}

struct Rewriter<'a> {
    keys: &'a HashSet<String>,
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, e);
        let wrapped = match e {
            Expr::Call(call) => self.checked_call(call),
            Expr::MethodCall(call) => self.checked_method_call(call),
            _ => None,
        };
        if let Some(new) = wrapped.and_then(|w| syn::parse2::<Expr>(w).ok()) {
            *e = new;
        }
    }
}

impl Rewriter<'_> {
    /// `f(x, ..)` with a marked key: the call wrapped in a receiver check on its first
    /// argument, or in a check of its callee and result.
    fn checked_call(&self, call: &ExprCall) -> Option<TokenStream> {
        if self.keys.contains(&result_key(call)) {
            return checked_result(call, false);
        }
        if self.keys.contains(&type_result_key(call)) {
            return checked_result(call, true);
        }
        if !self.keys.contains(&first_arg_key(call)) {
            return None;
        }
        let first = call.args.first()?;
        if !rewritable(first) {
            return None;
        }
        let span = first.span();
        Some(quote_spanned! {span=> {
            let _ = || ::ferrex::__private::require_receiver({
                #[allow(unused_imports)]
                use ::ferrex::__private::{
                    NoReceiver as _, ViaReceiver as _, ViaRefReceiver as _, ViaRefRefReceiver as _,
                };
                (&&&::ferrex::__private::ReceiverProbe(#first)).__ferrex_receiver()
            });
            #call
        } })
    }

    /// `x.m(..)` with any marked key: the call wrapped in the checks its keys ask for.
    fn checked_method_call(&self, call: &ExprMethodCall) -> Option<TokenStream> {
        let receiver_check = self.keys.contains(&key(call));
        let data_check = self.keys.contains(&data_read_key(call));
        let foreign_check = self.keys.contains(&foreign_method_key(call));
        let value_check = self.keys.contains(&value_key(call));
        if !(receiver_check || data_check || foreign_check || value_check)
            || !rewritable(&call.receiver)
        {
            return None;
        }
        let recv = &call.receiver;
        let span = recv.span();
        let mut check = TokenStream::new();
        if value_check {
            check.extend(quote_spanned! {span=>
                let _ = || ::ferrex::__private::require_known_value({
                    #[allow(unused_imports)]
                    use ::ferrex::__private::{
                        ViaOpaqueValue as _, ViaPlainValue as _, ViaTracedValue as _,
                        ViaTracedValueRef as _, ViaTracedValueRefRef as _,
                    };
                    (&&&&::ferrex::__private::ValueProbe(&#recv)).__ferrex_value()
                });
            });
        }
        if data_check {
            check.extend(not_tensor_check(call));
        }
        if foreign_check {
            check.extend(ferrex_method_check(call));
        }
        if receiver_check {
            check.extend(quote_spanned! {span=>
                let _ = || ::ferrex::__private::require_receiver({
                    #[allow(unused_imports)]
                    use ::ferrex::__private::{
                        NoReceiver as _, ViaReceiver as _, ViaRefReceiver as _, ViaRefRefReceiver as _,
                    };
                    (&&&::ferrex::__private::ReceiverProbe(&#recv)).__ferrex_receiver()
                });
            });
        }
        Some(quote_spanned! {span=> { #check #call } })
    }
}

/// `gain()` / `Clock::now()`: the call, then a never-called closure requiring that the
/// callee is marked (an `export_fn`, found by the marker-or-fallback imports of
/// `opaque_call.rs`, resolved where the call is, so a `use` in the body counts; or a type
/// strict export can see into) or that the result is something the graph records.
fn checked_result(call: &ExprCall, of_type: bool) -> Option<TokenStream> {
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    let mut path = p.path.clone();
    for seg in path.segments.iter_mut() {
        seg.arguments = syn::PathArguments::None;
    }
    let span = call.func.span();
    let probe = |marker: TokenStream, via: TokenStream| {
        quote_spanned! {span=>
            let _ = || ::ferrex::__private::require_known_call({
                #[allow(unused_imports)]
                use ::ferrex::__private::{
                    #via as _, ViaTracedResult as _, ViaTracedRef as _, ViaKnownValue as _,
                    ViaUnknownCall as _,
                };
                (&&&&::ferrex::__private::CallProbe::<#marker, _>(
                    &__ferrex_value,
                    ::core::marker::PhantomData,
                ))
                .__ferrex_call()
            });
        }
    };
    if of_type {
        path.segments.pop();
        path.segments.pop_punct();
        let check = probe(path.to_token_stream(), quote::quote!(ViaTracedType));
        return Some(quote_spanned! {span=> {
            let __ferrex_value = #call;
            #check
            __ferrex_value
        } });
    }
    let mut name = path.segments.last()?.ident.clone();
    name.set_span(proc_macro2::Span::call_site());
    let mut marker = name.clone();
    marker.set_span(span);
    let check = probe(marker.to_token_stream(), quote::quote!(ViaMarkedFn));
    Some(quote_spanned! {span=> {
        let __ferrex_value = #call;
        #[allow(unused_imports, deprecated)]
        use #path as __ferrex_callee;
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, non_snake_case)]
        mod __ferrex_not_an_export_fn {
            pub struct #name {}
        }
        {
            #[allow(unused_imports, deprecated)]
            use __ferrex_not_an_export_fn::*;
            #[allow(unused_imports, deprecated)]
            use __ferrex_callee as #name;
            #check
        }
        __ferrex_value
    } })
}

/// Requires the receiver of a data read not to be a tensor (spanned at the method).
fn not_tensor_check(call: &ExprMethodCall) -> TokenStream {
    let (recv, method) = (&call.receiver, &call.method);
    quote_spanned! {method.span()=>
        let _ = || ::ferrex::__private::require_not_tensor({
            #[allow(unused_imports)]
            use ::ferrex::__private::{
                NotTensor as _, ViaTensor as _, ViaRefTensor as _, ViaRefRefTensor as _,
            };
            (&&&::ferrex::__private::DataProbe(&#recv)).__ferrex_data()
        });
    }
}

/// Requires the receiver of a non-ferrex method to be a tensor's own method (spanned at the method).
fn ferrex_method_check(call: &ExprMethodCall) -> TokenStream {
    let (recv, method) = (&call.receiver, &call.method);
    quote_spanned! {method.span()=>
        let _ = || ::ferrex::__private::require_ferrex_method({
            #[allow(unused_imports)]
            use ::ferrex::__private::{
                NotTensor as _, ViaRefRefTensor as _, ViaRefTensor as _, ViaTensor as _,
            };
            (&&&::ferrex::__private::DataProbe(&#recv)).__ferrex_data()
        });
    }
}

/// Wraps the marked method calls of `item` in their receiver checks.
fn rewrite<T>(item: &mut T, keys: &HashSet<String>, visit: fn(&mut Rewriter<'_>, &mut T)) {
    if keys.is_empty() {
        return;
    }
    let mut r = Rewriter { keys };
    visit(&mut r, item);
}

/// Wraps the marked calls in every method of an impl block.
pub fn rewrite_impl(item: &mut syn::ItemImpl, keys: &HashSet<String>) {
    rewrite(item, keys, |r, i| r.visit_item_impl_mut(i));
}

/// Wraps the marked calls in a function.
pub fn rewrite_fn(item: &mut syn::ItemFn, keys: &HashSet<String>) {
    rewrite(item, keys, |r, i| r.visit_item_fn_mut(i));
}
