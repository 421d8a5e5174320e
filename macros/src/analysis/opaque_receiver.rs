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
    /// `f(x, ..)` with a marked key: the call wrapped in a receiver check on its first argument.
    fn checked_call(&self, call: &ExprCall) -> Option<TokenStream> {
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
        if !(receiver_check || data_check || foreign_check) || !rewritable(&call.receiver) {
            return None;
        }
        let recv = &call.receiver;
        let span = recv.span();
        let mut check = TokenStream::new();
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
