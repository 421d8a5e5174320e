//! Rule: global state in forward — `static mut`, a `static` atomic, lock or `OnceLock`,
//! a `thread_local!` key (whatever they are named, also through an alias or a `use`), and
//! the parts of the standard library that read the world outside the program (`std::env`,
//! `std::time`, `std::fs`, …). Global state read or written while tracing would be frozen
//! into the graph as a constant.

use quote::ToTokens;

use super::{graph_break, non_strict_fix};

fn fixes() -> Vec<String> {
    vec![
        "keep the state in a `#[buffer]` of the model and update it with an in-place op \
         (`self.calls.add_(1.0)`): the update is exported as a BUFFER_MUTATION output"
            .to_string(),
        "or pass the value as an input of forward, or keep it in a `#[config]` field".to_string(),
        non_strict_fix("specialises the value seen while tracing as a constant"),
    ]
}

pub fn access<T: ToTokens>(node: T, name: &str, write: bool, function: &str) -> syn::Error {
    let verb = if write { "writes" } else { "uses" };
    graph_break(
        node,
        &format!("`{function}` {verb} the global `static mut {name}`"),
        "a graph holds no global state: the value seen while exporting would be frozen in as \
         a constant",
        &fixes(),
    )
}

pub fn declared(s: &syn::ItemStatic, function: &str) -> syn::Error {
    graph_break(
        s,
        &format!(
            "`{function}` declares the global `static {}{}`",
            if matches!(s.mutability, syn::StaticMutability::Mut(_)) {
                "mut "
            } else {
                ""
            },
            s.ident
        ),
        "a graph holds no global state: the value seen while exporting would be frozen in as \
         a constant",
        &fixes(),
    )
}

/// `COUNTER.fetch_add(1, …)`, `CACHE.lock()`, `CALLS.with(|c| …)`.
pub fn shared_state(call: &syn::ExprMethodCall, name: &str, function: &str) -> syn::Error {
    graph_break(
        call,
        &format!(
            "`{function}` reaches the global `{name}` (`.{}({})`)",
            call.method,
            if call.args.is_empty() { "" } else { "…" }
        ),
        "a graph holds no global state: the value seen while exporting would be frozen in as \
         a constant, and a change made while exporting would not be made by the program",
        &fixes(),
    )
}

/// `thread_local! { … }` inside a body.
pub fn thread_local_declared(mac: &syn::Macro, function: &str) -> syn::Error {
    graph_break(
        mac,
        &format!("`{function}` declares `thread_local!` state"),
        "a graph holds no global state: the value seen while exporting would be frozen in as \
         a constant",
        &fixes(),
    )
}

/// Modules of the standard library whose functions read state outside the program.
const OUTSIDE_MODULES: &[&str] = &["env", "time", "fs", "io", "process", "thread", "net"];

/// Whether `std::env::var(..)`-style path segments reach the world outside the program.
pub fn reads_outside(segs: &[String]) -> bool {
    segs.len() >= 3
        && matches!(segs[0].as_str(), "std" | "core" | "alloc")
        && OUTSIDE_MODULES.contains(&segs[1].as_str())
        // Ending the program is not a value: `panic_on_data` judges it.
        && !matches!(segs.last().map(String::as_str), Some("exit" | "abort"))
}

/// `std::env::var("K")`, `std::time::Instant::now()`.
pub fn outside(call: &syn::ExprCall, path: &str, function: &str) -> syn::Error {
    graph_break(
        &call.func,
        &format!("`{function}` reads the world outside the model (`{path}`)"),
        "a graph holds no outside state: the value seen while exporting would be frozen in as \
         a constant, and the program would not read it again",
        &fixes(),
    )
}
