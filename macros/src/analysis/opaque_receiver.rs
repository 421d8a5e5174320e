//! Rule: a method call whose receiver strict mode cannot identify by syntax (a field of
//! the model, a local, a closure parameter) and that receives a tensor, or is a
//! `forward`: the receiver must be a type strict export can see into — a module, a tensor
//! or a container of tensors, or a helper type whose `impl` is `#[ferrex::export_fn]`.
//!
//! Syntax cannot tell `self.block` (a submodule) from `self.helper` (an opaque struct), so
//! the check is left to the compiler: the emitted body wraps each such call as
//!
//! ```text
//! { let _ = || { /* trait Check with ferrex's message */ Check::ok((&&&ReceiverProbe(&recv)).__ferrex_receiver()) }; recv.m(x) }
//! ```
//!
//! The closure is never called (the receiver is not evaluated twice); autoref
//! specialisation picks `IsReceiver` when the receiver's type (through up to two
//! references) implements `TracedReceiver`, and `OpaqueReceiver<T>` otherwise, which
//! the local trait (implemented only through `ReceiverCheck`) rejects with ferrex's
//! message naming the call, spanned on the receiver (`local_check`).
//! `Type::forward(&m, x)` checks its first argument the same way; a data read
//! (`w.to_vec()`) or a method outside the tensor vocabulary on such a receiver gets the
//! opposite check (`DataProbe`): it compiles only when the receiver is not a tensor.

use super::segment_names;
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

/// More methods of std's `Vec`, slices, `Option`, `Result`, tuples and iterators: with
/// [`STD_METHODS`], what a container of tensors may be called with. Any other name on one
/// is an extension trait's, whose body strict export cannot see into.
const MORE_STD_METHODS: &[&str] = &[
    "borrow_mut",
    "into_inner",
    "get_ref",
    "set",
    "with_borrow",
    "sum",
    "product",
    "max",
    "min",
    "max_by",
    "min_by",
    "max_by_key",
    "min_by_key",
    "count",
    "partition",
    "flatten",
    "nth_back",
    "next_back",
    "rposition",
    "rfind",
    "find_map",
    "try_for_each",
    "sort",
    "sort_by",
    "sort_by_key",
    "sort_unstable",
    "sort_unstable_by",
    "sort_unstable_by_key",
    "reverse",
    "retain",
    "truncate",
    "resize",
    "resize_with",
    "swap",
    "drain",
    "split_off",
    "clear",
    "dedup",
    "dedup_by",
    "dedup_by_key",
    "chunks",
    "chunks_exact",
    "rchunks",
    "split",
    "splitn",
    "iter_mut",
    "as_mut",
    "as_mut_slice",
    "into_boxed_slice",
    "join",
    "starts_with",
    "ends_with",
    "binary_search_by",
    "is_ok",
    "is_err",
    "ok",
    "err",
    "map_err",
    "unwrap_err",
    "expect_err",
    "unwrap_unchecked",
    "zip",
    "unzip",
    "as_deref_mut",
    "get_or_insert_default",
    "insert",
    "is_some_and",
    "is_none_or",
    "is_ok_and",
    "transpose",
    "copied",
    "cloned",
    "last",
    "capacity",
    "reserve",
    "shrink_to_fit",
    "contains_key",
    "keys",
    "values",
    "values_mut",
    "entry",
    "or_insert",
    "or_insert_with",
    "to_owned",
    "borrow",
    "as_ptr",
    "fuse",
    "by_ref",
    "sum",
    "collect_vec",
    "try_into",
    "into_iter",
    "array_chunks",
    "each_ref",
    "map_while",
    "flat_map",
    "rev",
    "cmp",
    "partial_cmp",
    "lt",
    "le",
    "gt",
    "ge",
    "hash",
    "fmt",
    "default",
    "is_sorted",
    "repeat",
    "fill",
    "rotate_left",
    "rotate_right",
    "first_chunk",
    "last_chunk",
    "split_first_mut",
    "split_last_mut",
    "swap_remove",
];

/// Whether `name` is a method of std's containers and iterators.
pub fn is_std_method(name: &str) -> bool {
    STD_METHODS.contains(&name) || MORE_STD_METHODS.contains(&name)
}

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

/// The key of the value of `let g: Gain = Default::default();` (a std conversion into a
/// type of the user's): the declared type must be one strict export reads.
pub fn declared_key(init: &Expr) -> String {
    let span = init.span();
    format!("declared:{:?}:{:?}", span.start(), span)
}

/// The key of `recv.set(..)`-like calls (`interior_mutability::access`) whose receiver
/// syntax could not place: it must not hold shared state (`SharedProbe`).
pub fn shared_key(call: &ExprMethodCall) -> String {
    format!("shared:{}", key(call))
}

/// The key of an operator (`a + b`, `-a`, `a += b`, by its token) with an operand syntax
/// cannot type: its impl must be std's, ferrex's or marked (`OperatorProbe`).
pub fn operator_key<T: ToTokens>(op: &T) -> String {
    let span = op
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(proc_macro2::Span::call_site, |t| t.span());
    format!("operator:{:?}:{:?}", span.start(), span)
}

/// The operator trait and its method (`+`: `Add`, `add`) of a binary operator.
fn binary_operator(op: &syn::BinOp) -> Option<(&'static str, &'static str)> {
    use syn::BinOp as B;
    Some(match op {
        B::Add(_) => ("Add", "add"),
        B::Sub(_) => ("Sub", "sub"),
        B::Mul(_) => ("Mul", "mul"),
        B::Div(_) => ("Div", "div"),
        B::Rem(_) => ("Rem", "rem"),
        B::BitAnd(_) => ("BitAnd", "bitand"),
        B::BitOr(_) => ("BitOr", "bitor"),
        B::BitXor(_) => ("BitXor", "bitxor"),
        B::Shl(_) => ("Shl", "shl"),
        B::Shr(_) => ("Shr", "shr"),
        B::AddAssign(_) => ("AddAssign", "add_assign"),
        B::SubAssign(_) => ("SubAssign", "sub_assign"),
        B::MulAssign(_) => ("MulAssign", "mul_assign"),
        B::DivAssign(_) => ("DivAssign", "div_assign"),
        B::RemAssign(_) => ("RemAssign", "rem_assign"),
        B::BitAndAssign(_) => ("BitAndAssign", "bitand_assign"),
        B::BitOrAssign(_) => ("BitOrAssign", "bitor_assign"),
        B::BitXorAssign(_) => ("BitXorAssign", "bitxor_assign"),
        B::ShlAssign(_) => ("ShlAssign", "shl_assign"),
        B::ShrAssign(_) => ("ShrAssign", "shr_assign"),
        _ => return None,
    })
}

fn operator_message(shown: &Expr, trait_name: &str, method: &str) -> Message {
    Message {
        headline: format!(
            "graph break: `{}` runs an `impl {trait_name}` strict export has not read",
            super::text(shown)
        ),
        label: format!(
            "an operand is of a type of the user's, whose `{method}` is not std's or ferrex's"
        ),
        notes: vec![
            "strict export proves forward a pure function of its inputs and the model by \
             reading its code; an operator of a user type runs that type's impl, which may read \
             state (a `Cell`, a lock, a global) that the graph would freeze"
                .to_string(),
            format!(
                "put `#[ferrex::export_fn]` on the `impl {trait_name}` block that defines \
                 `{method}`: its body is then checked like forward's"
            ),
            non_strict("traces whatever the operator runs"),
        ],
    }
}

/// `a + b` (or `-a`, `a += b`) rewritten to bind its operands once, check their types
/// (`OperatorProbe`: the operator is std's, ferrex's, or its impl marked and read), and
/// apply the operator to the bound values. Operators take their operands by value (a
/// compound assignment its left side by `&mut`), so binding them first changes nothing.
fn checked_operator(e: &Expr, shown: &Expr) -> Option<TokenStream> {
    let (trait_name, method, span) = match e {
        Expr::Binary(b) => {
            let (t, m) = binary_operator(&b.op)?;
            (t, m, b.op.span())
        }
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(o),
            ..
        }) => ("Neg", "neg", o.span),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(o),
            ..
        }) => ("Not", "not", o.span),
        _ => return None,
    };
    let h = super::opaque_call::method_hash(method);
    let lv = levels(&[
        "ViaStdOperands",
        "ViaReadOperator",
        "ViaReadUnary",
        "ViaUnreadOperator",
    ]);
    let check = |left: TokenStream, right: TokenStream| {
        let answer = quote_spanned! {span=> { #lv (&&&::ferrex::__private::OperatorProbe::<#h, _, _>(#left, #right)).__ferrex_operator() } };
        local_check(
            span,
            &answer,
            &quote::quote!(::ferrex::__private::OperatorCheck),
            &operator_message(shown, trait_name, method),
        )
    };
    let rewritten = match e {
        Expr::Binary(b) if trait_name.ends_with("Assign") => {
            let (l, op, r) = (&b.left, &b.op, &b.right);
            let check = check(quote::quote!(&*__ferrex_l), quote::quote!(&__ferrex_r));
            quote_spanned! {span=> match (&mut #l, #r) { (__ferrex_l, __ferrex_r) => { #check *__ferrex_l #op __ferrex_r } } }
        }
        Expr::Binary(b) => {
            let (l, op, r) = (&b.left, &b.op, &b.right);
            let check = check(quote::quote!(&__ferrex_l), quote::quote!(&__ferrex_r));
            quote_spanned! {span=> match (#l, #r) { (__ferrex_l, __ferrex_r) => { #check __ferrex_l #op __ferrex_r } } }
        }
        Expr::Unary(u) => {
            let (op, operand) = (&u.op, &u.expr);
            let check = check(quote::quote!(&__ferrex_o), quote::quote!(&()));
            quote_spanned! {span=> match #operand { __ferrex_o => { #check #op __ferrex_o } } }
        }
        _ => return None,
    };
    // A `match` keeps the operands' temporaries alive as the operator would.
    Some(quote_spanned! {span=> {
        #[allow(clippy::match_single_binding, clippy::let_unit_value)]
        let __ferrex_value = #rewritten;
        __ferrex_value
    } })
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
    fn visit_local_mut(&mut self, l: &mut syn::Local) {
        syn::visit_mut::visit_local_mut(self, l);
        let (syn::Pat::Type(t), Some(init)) = (&l.pat, &mut l.init) else {
            return;
        };
        if !self.keys.contains(&declared_key(&init.expr)) {
            return;
        }
        let (ty, value) = (&t.ty, &init.expr);
        let span = value.span();
        // The conversion runs the target type's impl (`Default`, `From`, `FromStr`): one
        // strict export read defines its function.
        let h = super::opaque_call::method_hash(super::conversion_fn(value));
        let check = super::opaque_call::type_check(
            span,
            &ty.to_token_stream(),
            &quote::quote!(::ferrex::__private::CheckedMethod<#h>),
            &declared_message(ty, value),
        );
        if let Ok(e) = syn::parse2::<Expr>(quote_spanned! {span=> { #check #value } }) {
            *init.expr = e;
        }
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // The messages name the call as the user wrote it, not as its inner calls are
        // rewritten (`counter().fetch_add(..)` with `counter()` wrapped in its own check).
        let operator = match e {
            Expr::Binary(b) => Some(operator_key(&b.op)),
            Expr::Unary(u) => Some(operator_key(&u.op)),
            _ => None,
        }
        .is_some_and(|k| self.keys.contains(&k));
        let written =
            (operator || matches!(e, Expr::Call(_) | Expr::MethodCall(_))).then(|| e.clone());
        syn::visit_mut::visit_expr_mut(self, e);
        let wrapped = match (&*e, &written) {
            (Expr::Call(call), Some(Expr::Call(shown))) => self.checked_call(call, shown),
            (Expr::MethodCall(call), Some(Expr::MethodCall(shown))) => {
                self.checked_method_call(call, shown)
            }
            (Expr::Binary(_) | Expr::Unary(_), Some(shown)) if operator => {
                checked_operator(e, shown)
            }
            _ => None,
        };
        // A call, not a bare block: `{ check; a * b } * c` at the start of a statement
        // would print as a block statement followed by `*c`.
        let wrapped = wrapped.map(|w| quote::quote!(::core::convert::identity(#w)));
        if let Some(new) = wrapped.and_then(|w| syn::parse2::<Expr>(w).ok()) {
            *e = new;
        }
    }
}

/// The diagnostic of one generated check: ferrex's sentence naming the user's call, and
/// the fixes.
pub struct Message {
    pub headline: String,
    pub label: String,
    pub notes: Vec<String>,
}

/// A check that compiles only when `answer` (a probe's answer) implements `base`, reported
/// with `msg`: a trait declared at the call carries the message, implemented through
/// `base` (`do_not_recommend` makes rustc report it rather than `base`).
pub fn local_check(
    span: proc_macro2::Span,
    answer: &TokenStream,
    base: &TokenStream,
    msg: &Message,
) -> TokenStream {
    let (headline, label, notes) = (&msg.headline, &msg.label, &msg.notes);
    let name = check_name(span, base);
    quote_spanned! {span=>
        let _ = || {
            #[diagnostic::on_unimplemented(message = #headline, label = #label, #(note = #notes),*)]
            trait #name {
                fn __ferrex_ok(self) where Self: Sized {}
            }
            #[diagnostic::do_not_recommend]
            impl<T: #base> #name for T {}
            #name::__ferrex_ok(#answer)
        };
    }
}

/// The name of the trait a generated check declares, which rustc prints in its `help:` line
/// ("the trait `ValueReadByStrictExportAtLine12Col9` is not implemented for …"): what is
/// checked and where. Unique per check, so rustc prints it bare rather than as an internal
/// path (`Model::forward::{closure#0}::…`), which it does for a name used twice in a crate.
pub fn check_name(span: proc_macro2::Span, base: &TokenStream) -> syn::Ident {
    let base_name = base
        .clone()
        .into_iter()
        .filter_map(|t| match t {
            proc_macro2::TokenTree::Ident(i) => Some(i.to_string()),
            _ => None,
        })
        .last()
        .unwrap_or_default();
    let what = match base_name.as_str() {
        "ExportFn" => "MarkedExportFn",
        "CheckedMethod" => "MethodReadByStrictExport",
        "ReceiverCheck" => "ReceiverReadByStrictExport",
        "ValueCheck" => "ValueReadByStrictExport",
        "CallCheck" => "CallReadByStrictExport",
        "NotSharedAnswer" => "NoSharedState",
        "NotTensorCheck" => "NotATensor",
        "FerrexMethodCheck" => "FerrexTensorMethod",
        "OperatorCheck" => "OperatorReadByStrictExport",
        "ImplReadCheck" => "ImplReadByStrictExport",
        _ => "ReadByStrictExport",
    };
    let at = span.start();
    syn::Ident::new(
        &format!("{what}AtLine{}Col{}", at.line, at.column + 1),
        span,
    )
}

/// The fix that always applies, as a note.
fn non_strict(what_it_does: &str) -> String {
    super::non_strict_fix(what_it_does)
}

/// `recv.m(…)` as the messages print it.
fn call_text(call: &ExprMethodCall) -> String {
    format!(
        "{}.{}({})",
        super::text(&call.receiver),
        call.method,
        if call.args.is_empty() { "" } else { "…" }
    )
}

fn receiver_message(call: &ExprMethodCall) -> Message {
    let m = &call.method;
    Message {
        headline: format!(
            "graph break: `{}` gives a tensor to a method strict export cannot see into",
            call_text(call)
        ),
        label: format!(
            "`{}` is not a module, a tensor or a helper type marked `#[ferrex::export_fn]`",
            super::text(&call.receiver)
        ),
        notes: vec![
            format!(
                "strict export proves forward free of graph breaks by reading its code; the body \
                 of `{m}` is not read"
            ),
            format!(
                "put `#[ferrex::export_fn]` on the `impl` block that defines `{m}` (its methods \
                 are then checked like forward's), or make the type an `#[export_module]` submodule"
            ),
            non_strict("traces whatever the call runs"),
        ],
    }
}

fn value_message(call: &ExprMethodCall) -> Message {
    let m = &call.method;
    Message {
        headline: format!(
            "graph break: `{}` calls a method strict export cannot see into",
            call_text(call)
        ),
        label: format!(
            "`{}` is not a module, a tensor, a number, a string, a std container of them, or a \
             helper type marked `#[ferrex::export_fn]`",
            super::text(&call.receiver)
        ),
        notes: vec![
            format!(
                "the body of `{m}` is not read, and it may read state (a `Cell`, a lock, a \
                 global) that the graph would freeze as a constant"
            ),
            format!(
                "put `#[ferrex::export_fn]` on the `impl` block that defines `{m}` (its methods \
                 are then checked like forward's), or keep the value in a `#[buffer]` or a plain \
                 `#[config]` field"
            ),
            non_strict("traces whatever the method runs"),
        ],
    }
}

fn shared_message(call: &ExprMethodCall) -> Message {
    Message {
        headline: format!(
            "graph break: `{}` reaches state shared between calls (a `Cell`, `RefCell`, lock, \
             atomic or `thread_local!` key)",
            call_text(call)
        ),
        label: "the value seen while exporting would be frozen into the graph as a constant"
            .to_string(),
        notes: vec![
            "keep the state in a `#[buffer]` tensor and update it with an in-place op \
             (`self.steps.add_(1.0)`): the update is exported as a BUFFER_MUTATION output"
                .to_string(),
            "or, for a value fixed when the model is built, a plain `#[config]` field".to_string(),
            non_strict("specialises the value seen while tracing as a constant"),
        ],
    }
}

fn data_message(call: &ExprMethodCall) -> Message {
    Message {
        headline: format!(
            "graph break: `{}` reads the data of a tensor",
            call_text(call)
        ),
        label: format!(
            "`{}` is a tensor: while exporting it has a dtype and a shape but no values",
            super::text(&call.receiver)
        ),
        notes: vec![
            "keep it a tensor and compute with tensor ops (`+`, `.mul(..)`, `.gt(..)`): they are \
             recorded in the graph"
                .to_string(),
            "for a size, use `.size(d)` or `.dim()`: sizes are known while exporting".to_string(),
            non_strict("reports the read at export time"),
        ],
    }
}

fn foreign_message(call: &ExprMethodCall) -> Message {
    let m = &call.method;
    Message {
        headline: format!("graph break: `.{m}()` is not a method of ferrex's `Tensor`"),
        label: format!(
            "`{}` is a tensor, and `{m}` comes from a trait whose body strict export cannot see \
             into",
            super::text(&call.receiver)
        ),
        notes: vec![
            format!(
                "make `{m}` a free function marked `#[ferrex::export_fn]` and call it as \
                 `{m}(&{})`: its body is then checked too",
                super::text(&call.receiver)
            ),
            non_strict("traces whatever the method runs"),
        ],
    }
}

fn declared_message(ty: &syn::Type, value: &Expr) -> Message {
    let ty = super::text(ty);
    Message {
        headline: format!(
            "graph break: `{}` builds a `{ty}` with code strict export has not read",
            super::text(value)
        ),
        label: format!(
            "`{ty}` is not a module, a tensor or a helper type marked `#[ferrex::export_fn]`"
        ),
        notes: vec![
            format!(
                "the conversion runs `{ty}`'s own impl (`Default`, `From`, `FromStr`), which may \
                 read state (a `Cell`, a lock, a global) that the graph would freeze"
            ),
            format!(
                "put `#[ferrex::export_fn]` on the `impl {ty}` block that defines `{}` (its \
                 functions are then checked like forward's), or keep the value in a \
                 `#[config]` field",
                super::conversion_fn(value)
            ),
            non_strict("traces whatever the conversion runs"),
        ],
    }
}

/// `f(…)` or `f()` as the messages print a call.
fn fn_call_text(call: &ExprCall) -> String {
    format!(
        "{}({})",
        super::text(&call.func),
        if call.args.is_empty() { "" } else { "…" }
    )
}

/// How to mark the callee of `call` so that strict export reads it: `fn f`, or the
/// `impl Type` block that defines `f`; `None` for a trait's function (`<G as Trait>::f`),
/// whose impl cannot be marked.
fn callee_fix(call: &ExprCall) -> Option<String> {
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    if p.qself.is_some() {
        return None;
    }
    let segs = segment_names(&p.path);
    match segs.as_slice() {
        [.., owner, f] if owner.starts_with(|c: char| c.is_ascii_uppercase()) => Some(format!(
            "put `#[ferrex::export_fn]` on the `impl {owner}` block that defines `{f}`"
        )),
        [.., f] => Some(format!("put `#[ferrex::export_fn]` on `fn {f}`")),
        [] => None,
    }
}

fn call_message(call: &ExprCall) -> Message {
    let mut notes = vec![
        "strict export proves forward a pure function of its inputs and the \
                          model by reading its code; a value computed where it cannot read (a \
                          global, a clock, a file, the environment) would be frozen into the \
                          graph as a constant"
            .to_string(),
    ];
    match callee_fix(call) {
        Some(fix) => notes.push(format!("{fix}: its body is then checked like forward's")),
        None => notes.push(
            "a trait's function is not read: call an inherent function instead, and put \
             `#[ferrex::export_fn]` on the `impl` block that defines it"
                .to_string(),
        ),
    }
    notes.push(
        "or pass the value as an input of forward, or keep it in a `#[config]` field".to_string(),
    );
    notes.push(non_strict("specialises the value seen while tracing"));
    Message {
        headline: format!(
            "graph break: forward uses what `{}` returns, and strict export cannot see into it",
            fn_call_text(call)
        ),
        label: "not marked, and what it returns is not a tensor, a module or a custom op"
            .to_string(),
        notes,
    }
}

fn first_arg_message(call: &ExprCall) -> Message {
    let fix = callee_fix(call).unwrap_or_else(|| {
        "put `#[ferrex::export_fn]` on the `impl` block that defines it".to_string()
    });
    Message {
        headline: format!(
            "graph break: `{}` calls a method strict export cannot see into",
            fn_call_text(call)
        ),
        label: "not a module, a tensor or a helper type marked `#[ferrex::export_fn]`".to_string(),
        notes: vec![
            format!(
                "{fix} (its methods are then checked like forward's), or make the type an \
                 `#[export_module]` submodule"
            ),
            non_strict("traces whatever the call runs"),
        ],
    }
}

/// `use ::ferrex::__private::{A as _, …}` for the levels of a probe.
fn levels(names: &[&str]) -> TokenStream {
    let names = names
        .iter()
        .map(|n| syn::Ident::new(n, proc_macro2::Span::call_site()));
    quote::quote! {
        #[allow(unused_imports)]
        use ::ferrex::__private::{#(#names as _),*};
    }
}

const RECEIVER_LEVELS: &[&str] = &[
    "NoReceiver",
    "ViaReceiver",
    "ViaRefReceiver",
    "ViaRefRefReceiver",
];
const TENSOR_LEVELS: &[&str] = &["NotTensor", "ViaTensor", "ViaRefTensor", "ViaRefRefTensor"];

impl Rewriter<'_> {
    /// `f(x, ..)` with a marked key: the call wrapped in a receiver check on its first
    /// argument, or in a check of its callee and result.
    fn checked_call(&self, call: &ExprCall, shown: &ExprCall) -> Option<TokenStream> {
        if self.keys.contains(&result_key(call)) {
            return checked_result(call, shown, ResultOf::Function);
        }
        if self.keys.contains(&type_result_key(call)) {
            return checked_result(call, shown, ResultOf::Type);
        }
        if !self.keys.contains(&first_arg_key(call)) {
            return None;
        }
        let first = shown.args.first()?;
        if !rewritable(first) {
            return None;
        }
        let span = first.span();
        let lv = levels(RECEIVER_LEVELS);
        let answer = quote_spanned! {span=> { #lv (&&&::ferrex::__private::ReceiverProbe(#first)).__ferrex_receiver() } };
        let check = local_check(
            span,
            &answer,
            &quote::quote!(::ferrex::__private::ReceiverCheck),
            &first_arg_message(shown),
        );
        Some(quote_spanned! {span=> { #check #call } })
    }

    /// `x.m(..)` with any marked key: the call wrapped in the checks its keys ask for.
    fn checked_method_call(
        &self,
        call: &ExprMethodCall,
        shown: &ExprMethodCall,
    ) -> Option<TokenStream> {
        let receiver_check = self.keys.contains(&key(call));
        let data_check = self.keys.contains(&data_read_key(call));
        let foreign_check = self.keys.contains(&foreign_method_key(call));
        let value_check = self.keys.contains(&value_key(call));
        let shared_check = self.keys.contains(&shared_key(call));
        if !(receiver_check || data_check || foreign_check || value_check || shared_check)
            || !rewritable(&call.receiver)
        {
            return None;
        }
        // The probes read the receiver as written: its type is the rewritten one's, and its
        // own checks stay once, where it is evaluated.
        let recv = &shown.receiver;
        let span = recv.span();
        let mut check = TokenStream::new();
        if shared_check {
            let lv = levels(&["ViaShared", "ViaNotShared"]);
            let answer = quote_spanned! {span=> { #lv (&&&::ferrex::__private::SharedProbe(&#recv)).__ferrex_shared() } };
            check.extend(local_check(
                span,
                &answer,
                &quote::quote!(::ferrex::__private::NotSharedAnswer),
                &shared_message(shown),
            ));
        }
        if value_check {
            let mut names = vec![
                "ViaOpaqueValue",
                "ViaPlainValue",
                "ViaTracedValue",
                "ViaTracedValueRef",
                "ViaTracedValueRefRef",
            ];
            // A std method (`first`, `iter`, `len`) of a std container holds no code of
            // its items' type.
            if is_std_method(&call.method.to_string()) {
                names.push("ViaStdContainer");
            }
            let lv = levels(&names);
            let answer = quote_spanned! {span=> { #lv (&&&&::ferrex::__private::ValueProbe(&#recv)).__ferrex_value() } };
            check.extend(local_check(
                span,
                &answer,
                &quote::quote!(::ferrex::__private::ValueCheck),
                &value_message(shown),
            ));
        }
        let method_span = call.method.span();
        if data_check || foreign_check {
            let lv = levels(TENSOR_LEVELS);
            let answer = quote_spanned! {method_span=> { #lv (&&&::ferrex::__private::DataProbe(&#recv)).__ferrex_data() } };
            let (base, msg) = if data_check {
                (
                    quote::quote!(::ferrex::__private::NotTensorCheck),
                    data_message(shown),
                )
            } else {
                (
                    quote::quote!(::ferrex::__private::FerrexMethodCheck),
                    foreign_message(shown),
                )
            };
            check.extend(local_check(method_span, &answer, &base, &msg));
        }
        if receiver_check {
            let lv = levels(RECEIVER_LEVELS);
            let answer = quote_spanned! {span=> { #lv (&&&::ferrex::__private::ReceiverProbe(&#recv)).__ferrex_receiver() } };
            check.extend(local_check(
                span,
                &answer,
                &quote::quote!(::ferrex::__private::ReceiverCheck),
                &receiver_message(shown),
            ));
        }
        Some(quote_spanned! {span=> { #check #call } })
    }
}

/// Whose result a call check judges.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ResultOf {
    /// A free function (`gain()`): marked, or its result recorded by the graph.
    Function,
    /// An associated function of another type (`Clock::now()`, `Gain::new()`,
    /// `<G as Gain>::gain()`): the type marked, or its result recorded by the graph.
    Type,
}

/// `gain()` / `Clock::now()`: the call, then a never-called closure requiring that the
/// callee is marked (an `export_fn`, found by the marker-or-fallback imports of
/// `opaque_call.rs`, resolved where the call is, so a `use` in the body counts; or a type
/// strict export can see into) or that the result is something the graph records.
fn checked_result(call: &ExprCall, shown: &ExprCall, of: ResultOf) -> Option<TokenStream> {
    let Expr::Path(p) = &*call.func else {
        return None;
    };
    let mut path = p.path.clone();
    for seg in path.segments.iter_mut() {
        seg.arguments = syn::PathArguments::None;
    }
    let span = call.func.span();
    let msg = call_message(shown);
    let base = quote::quote!(::ferrex::__private::CallCheck);
    // `marker` is an expression of type `PhantomData<M>`, `M` marking the callee.
    let probe = |marker: TokenStream, via: &str| {
        let lv = levels(&[
            via,
            "ViaTracedResult",
            "ViaTracedRef",
            "ViaKnownValue",
            "ViaUnknownCall",
        ]);
        let answer = quote_spanned! {span=> {
            #lv
            (&&&&::ferrex::__private::CallProbe(&__ferrex_value, #marker))
            .__ferrex_call()
        } };
        local_check(span, &answer, &base, &msg)
    };
    match of {
        ResultOf::Type => {
            let marker = match &p.qself {
                // A trait's function: marking the type's inherent block does not read it.
                Some(_) => quote::quote!(::core::marker::PhantomData::<()>),
                None => {
                    // `Helper::default()`: the block strict export read that defines
                    // `default` (the inherent one, or a marked `impl Default`), through a
                    // path expression, which also resolves when the owner is a module
                    // alias (`Fx::relu(..)`, `OwnerOf` in core's `strict.rs`).
                    let f = path.segments.pop()?.into_value().ident.to_string();
                    path.segments.pop_punct();
                    let h = super::opaque_call::method_hash(&f);
                    quote::quote!({
                        #[allow(unused_imports)]
                        use ::ferrex::__private::OwnerOf as _;
                        #path::__ferrex_marker::<#h>()
                    })
                }
            };
            let check = probe(marker, "ViaMarkedFn");
            Some(quote_spanned! {span=> {
                #[allow(clippy::let_unit_value)]
                let __ferrex_value = #call;
                #check
                __ferrex_value
            } })
        }
        ResultOf::Function => {
            let mut name = path.segments.last()?.ident.clone();
            name.set_span(proc_macro2::Span::call_site());
            let mut marker = name.clone();
            marker.set_span(span);
            let check = probe(
                quote::quote!(::core::marker::PhantomData::<#marker>),
                "ViaMarkedFn",
            );
            Some(quote_spanned! {span=> {
                #[allow(clippy::let_unit_value)]
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
