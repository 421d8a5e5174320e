//! Rule: a hand-written impl of a std trait that forward runs without naming a function —
//! `g.clone()` (`Clone`), `*g` (`Deref`), `g[i]` (`Index`), `for a in g` (`Iterator`,
//! `IntoIterator`), `g == h` / `g < h` (`PartialEq`, `PartialOrd`) — must be one strict
//! export read (marked `#[ferrex::export_fn]`), or the use is an error with that fix.
//!
//! Syntax cannot type `g`, but the file of the macro call lists the impls it holds
//! (`file_items.rs`): for each unmarked impl of these traits of a type declared in the file,
//! each use site gets a check whose trait is implemented for `&ImplProbe<'_, Type>` (and
//! references to it) only, answering `ImplUnread`; every other type — std's, a derived
//! impl (no `impl` block in the file), a marked impl — falls through to `ViaImplRead`
//! (core's `strict.rs`). A file without such impls gets no checks.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Token, UnOp};

use super::file_items::FileItems;
use super::opaque_receiver::{local_check, Message};

/// The std traits whose impls run at a use that names no function, with the method that
/// runs (what the fix's attribute must find in the block).
const TRAITS: &[(&str, &str)] = &[
    ("Clone", "clone"),
    ("Deref", "deref"),
    ("Index", "index"),
    ("Iterator", "next"),
    ("IntoIterator", "into_iter"),
    ("PartialEq", "eq"),
    ("PartialOrd", "partial_cmp"),
    ("Display", "fmt"),
    ("Debug", "fmt"),
];

/// The std macros that format their arguments.
const FORMAT_MACROS: &[&str] = &[
    "format",
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "format_args",
];

/// An unmarked impl of one of [`TRAITS`] in the file.
struct Unread {
    trait_name: String,
    method: &'static str,
    /// The self type, named from the module of the checked block.
    ty: TokenStream,
    generics: syn::Generics,
    /// The type as the message shows it.
    shown: String,
}

/// `self::super::…::m` from module `from` to module `to` (both from the file's top).
fn relative(from: &[String], to: &[String]) -> TokenStream {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let ups = (common..from.len()).map(|_| quote!(super::));
    let downs = to[common..].iter().map(|m| {
        let m = syn::Ident::new(m, Span::call_site());
        quote!(#m::)
    });
    quote!(self:: #(#ups)* #(#downs)*)
}

fn unread(file: &FileItems, from: &[String]) -> Vec<Unread> {
    let mut out = Vec::new();
    for b in file.impls.iter().filter(|b| !b.is_marked()) {
        let (Some(tr), Some(name)) = (&b.trait_name, &b.type_name) else {
            continue;
        };
        let Some((_, method)) = TRAITS.iter().find(|(t, _)| t == tr) else {
            continue;
        };
        let Some(Some(module)) = file.type_modules.get(name) else {
            continue;
        };
        // A single-segment self type (`Gain`, `Wrap<T>`), named from `from`.
        let Ok(syn::Type::Path(mut ty)) = syn::parse_str::<syn::Type>(b.self_ty()) else {
            continue;
        };
        if ty.path.segments.len() != 1 || ty.qself.is_some() {
            continue;
        }
        let generics =
            syn::parse_str::<syn::DeriveInput>(&format!("struct __Generics{} ;", b.generics))
                .map(|d| d.generics)
                .unwrap_or_default();
        let prefix = relative(from, module);
        let seg = ty
            .path
            .segments
            .pop()
            .map(syn::punctuated::Pair::into_value);
        out.push(Unread {
            trait_name: tr.clone(),
            method,
            ty: quote!(#prefix #seg),
            generics,
            shown: name.clone(),
        });
    }
    out
}

/// Wraps the uses of unread impls in the bodies of a block strict mode read.
pub fn rewrite_impl(item: &mut syn::ItemImpl) {
    let file = super::file_items::of_call_site();
    let Some(module) = file.module_of_block(item) else {
        return;
    };
    let unread = unread(&file, &module);
    if !unread.is_empty() {
        Rewriter { unread }.visit_item_impl_mut(item);
    }
}

/// As [`rewrite_impl`], for an `#[ferrex::export_fn]` function.
pub fn rewrite_fn(item: &mut syn::ItemFn) {
    let file = super::file_items::of_call_site();
    let Some(Some(module)) = file.fn_modules.get(&item.sig.ident.to_string()) else {
        return;
    };
    let unread = unread(&file, module);
    if !unread.is_empty() {
        Rewriter { unread }.visit_item_fn_mut(item);
    }
}

struct Rewriter {
    unread: Vec<Unread>,
}

/// A place whose reference the check may take inside a never-called closure without
/// moving anything: a path, a field, an index or a dereference of one.
fn is_place(e: &Expr) -> bool {
    match e {
        Expr::Path(p) => p.qself.is_none(),
        Expr::Field(f) => is_place(&f.base),
        Expr::Paren(p) => is_place(&p.expr),
        Expr::Index(i) => is_place(&i.expr),
        Expr::Unary(u) => matches!(u.op, UnOp::Deref(_)) && is_place(&u.expr),
        _ => false,
    }
}

/// The dereferences and indexings inside an operand, each with the place it runs on.
fn inner_places(e: &Expr, out: &mut Vec<(&'static str, Expr)>) {
    match e {
        Expr::Paren(p) => inner_places(&p.expr, out),
        Expr::Reference(r) if r.mutability.is_none() => inner_places(&r.expr, out),
        Expr::Field(f) => inner_places(&f.base, out),
        Expr::Unary(u) if matches!(u.op, UnOp::Deref(_)) => {
            if is_place(&u.expr) {
                out.push(("Deref", (*u.expr).clone()));
            }
            inner_places(&u.expr, out);
        }
        Expr::Index(i) => {
            if is_place(&i.expr) {
                out.push(("Index", (*i.expr).clone()));
            }
            inner_places(&i.expr, out);
        }
        _ => {}
    }
}

/// The impl uses of an expression that is a value (a call, an operator, a loop), each with
/// the place whose type decides the impl.
fn uses(e: &Expr) -> Vec<(&'static str, Expr)> {
    let mut out = Vec::new();
    match e {
        Expr::MethodCall(m) => {
            let name = m.method.to_string();
            if (name == "clone" || name == "to_owned") && m.args.is_empty() && is_place(&m.receiver)
            {
                out.push(("Clone", (*m.receiver).clone()));
            }
            inner_places(&m.receiver, &mut out);
            m.args.iter().for_each(|a| inner_places(a, &mut out));
        }
        Expr::Call(c) => c.args.iter().for_each(|a| inner_places(a, &mut out)),
        Expr::Binary(b) if !is_assign(&b.op) => {
            let compare = match b.op {
                BinOp::Eq(_) | BinOp::Ne(_) => Some("PartialEq"),
                BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_) => Some("PartialOrd"),
                _ => None,
            };
            if let (Some(tr), true) = (compare, is_place(&b.left)) {
                out.push((tr, (*b.left).clone()));
            }
            inner_places(&b.left, &mut out);
            inner_places(&b.right, &mut out);
        }
        Expr::Macro(m) => return format_uses(&m.mac),
        Expr::ForLoop(f) => {
            // `for a in &mut it` runs `it`'s `next` too.
            let mut iterated = &*f.expr;
            while let Expr::Reference(syn::ExprReference { expr, .. })
            | Expr::Paren(syn::ExprParen { expr, .. }) = iterated
            {
                iterated = expr;
            }
            if is_place(iterated) {
                out.push(("Iterator", iterated.clone()));
                out.push(("IntoIterator", iterated.clone()));
            }
            inner_places(&f.expr, &mut out);
        }
        _ => {}
    }
    out
}

/// The arguments a format macro formats, each with the trait its placeholder runs
/// (`{}`: `Display`, `{:?}`: `Debug`), positional, indexed, named and inline (`{g}`).
fn format_uses(mac: &syn::Macro) -> Vec<(&'static str, Expr)> {
    let name = mac.path.segments.last().map(|s| s.ident.to_string());
    if !name.is_some_and(|n| FORMAT_MACROS.contains(&n.as_str())) {
        return Vec::new();
    }
    let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) else {
        return Vec::new();
    };
    let mut args: Vec<Expr> = args.into_iter().collect();
    // `write!(f, "…", …)`: the destination comes first.
    let at = args.iter().position(|a| {
        matches!(
            a,
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(_),
                ..
            })
        )
    });
    let Some(at) = at else { return Vec::new() };
    let Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(fmt),
        ..
    }) = args.remove(at)
    else {
        return Vec::new();
    };
    let args = args.split_off(at);
    let (positional, named): (Vec<Expr>, Vec<Expr>) = args
        .into_iter()
        .partition(|a| !matches!(a, Expr::Assign(_)));
    let named_arg = |n: &str| {
        named.iter().find_map(|a| match a {
            Expr::Assign(a) if super::text(&a.left) == n => Some((*a.right).clone()),
            _ => None,
        })
    };
    let mut out = Vec::new();
    let mut next = 0usize;
    for (arg, spec) in super::tensor_format::placeholders(&fmt.value()) {
        let tr = if spec.contains('?') {
            "Debug"
        } else {
            "Display"
        };
        let e = match arg {
            None => {
                next += 1;
                positional.get(next - 1).cloned()
            }
            Some(arg) => named_arg(&arg).or_else(|| syn::parse_str::<Expr>(&arg).ok()),
        };
        if let Some(e) = e.filter(is_place) {
            out.push((tr, e));
        }
    }
    out
}

/// A compound assignment (`+=`, `<<=`, …).
pub(super) fn is_assign(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::AddAssign(_)
            | BinOp::SubAssign(_)
            | BinOp::MulAssign(_)
            | BinOp::DivAssign(_)
            | BinOp::RemAssign(_)
            | BinOp::BitXorAssign(_)
            | BinOp::BitAndAssign(_)
            | BinOp::BitOrAssign(_)
            | BinOp::ShlAssign(_)
            | BinOp::ShrAssign(_)
    )
}

/// The use as the message shows it (a loop by its header).
fn shown(used: &Expr) -> String {
    match used {
        Expr::ForLoop(f) => format!("for {} in {}", super::text(&*f.pat), super::text(&f.expr)),
        Expr::Macro(m) => format!(
            "{}!(…)",
            m.mac
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default()
        ),
        other => super::text(other),
    }
}

fn message(used: &Expr, u: &Unread) -> Message {
    let (tr, ty, m) = (&u.trait_name, &u.shown, u.method);
    let mut notes = vec![format!(
        "put `#[ferrex::export_fn]` on the `impl {tr} for {ty}` block that defines `{m}`: its \
         body is then checked like forward's"
    )];
    if matches!(tr.as_str(), "Clone" | "PartialEq" | "PartialOrd") {
        notes.push(format!(
            "or derive it (`#[derive({tr})]`): a derived impl runs only the fields' own"
        ));
    }
    notes.push(super::non_strict_fix("traces whatever the impl runs"));
    Message {
        headline: format!(
            "graph break: `{}` runs `impl {tr} for {ty}`, which strict export has not read",
            shown(used)
        ),
        label: format!(
            "a hand-written `{m}`, which may read state (a `Cell`, a lock, a global) that the \
             graph would freeze"
        ),
        notes,
    }
}

impl Rewriter {
    fn checks(&self, e: &Expr) -> TokenStream {
        let mut out = TokenStream::new();
        for (tr, place) in uses(e) {
            for u in self.unread.iter().filter(|u| u.trait_name == tr) {
                out.extend(self.check(e, &place, u));
            }
        }
        out
    }

    fn check(&self, used: &Expr, place: &Expr, u: &Unread) -> TokenStream {
        let span = place.span();
        let ty = &u.ty;
        let (impl_generics, _, where_clause) = u.generics.split_for_impl();
        let level = syn::Ident::new("ViaUnreadImpl", span);
        let answer = quote_spanned! {span=> {
            // Unused where the type is another's (the fallback answers).
            #[allow(dead_code)]
            trait #level {
                fn __ferrex_impl(&self) -> ::ferrex::__private::ImplUnread {
                    ::ferrex::__private::ImplUnread
                }
            }
            impl #impl_generics #level for &::ferrex::__private::ImplProbe<'_, #ty> #where_clause {}
            impl #impl_generics #level for &::ferrex::__private::ImplProbe<'_, &#ty> #where_clause {}
            impl #impl_generics #level for &::ferrex::__private::ImplProbe<'_, &&#ty> #where_clause {}
            #[allow(unused_imports)]
            use ::ferrex::__private::ViaImplRead as _;
            (&&::ferrex::__private::ImplProbe(&#place)).__ferrex_impl()
        } };
        local_check(
            span,
            &answer,
            &quote!(::ferrex::__private::ImplReadCheck),
            &message(used, u),
        )
    }
}

impl VisitMut for Rewriter {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, e);
        let checks = self.checks(e);
        if checks.is_empty() {
            return;
        }
        let span = e.span();
        let inner = e.to_token_stream();
        if let Ok(wrapped) = syn::parse2::<Expr>(quote_spanned! {span=> { #checks #inner } }) {
            *e = wrapped;
        }
    }

    fn visit_stmt_mut(&mut self, st: &mut syn::Stmt) {
        syn::visit_mut::visit_stmt_mut(self, st);
        // `println!("{}", g);` as a statement: checked like the expression.
        let syn::Stmt::Macro(m) = st else { return };
        let e = Expr::Macro(syn::ExprMacro {
            attrs: m.attrs.clone(),
            mac: m.mac.clone(),
        });
        let checks = self.checks(&e);
        if checks.is_empty() {
            return;
        }
        let span = m.mac.span();
        if let Ok(wrapped) = syn::parse2::<syn::Stmt>(quote_spanned! {span=> { #checks #e; } }) {
            *st = wrapped;
        }
    }

    fn visit_local_mut(&mut self, l: &mut syn::Local) {
        syn::visit_mut::visit_local_mut(self, l);
        // `let v = *g;` / `let v = g[i];`: the place read by value, as an initialiser.
        let Some(init) = &mut l.init else { return };
        let mut places = Vec::new();
        inner_places(&init.expr, &mut places);
        let mut checks = TokenStream::new();
        for (tr, place) in places {
            for u in self.unread.iter().filter(|u| u.trait_name == tr) {
                checks.extend(self.check(&init.expr, &place, u));
            }
        }
        if checks.is_empty() {
            return;
        }
        let value = &init.expr;
        let span = value.span();
        if let Ok(wrapped) = syn::parse2::<Expr>(quote_spanned! {span=> { #checks #value } }) {
            *init.expr = wrapped;
        }
    }
}
