//! The `FERREX_LOG` switch, ferrex's `TORCH_LOGS`: what the trace decides about symbolic
//! sizes is emitted as `tracing` events under the target `ferrex::dynamic` — each symbol
//! as it is created, each guard with the source line that needed it.
//!
//! `FERREX_LOG="+dynamic"` (or `dynamic`) installs a subscriber printing them to stderr
//! when an export starts; an application that installs its own `tracing` subscriber
//! receives the same events and filters them as it likes.

use std::sync::Once;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use crate::error::{CodeSnippet, SourceLocation};

/// The `tracing` target of shape events.
pub const DYNAMIC_TARGET: &str = "ferrex::dynamic";

/// The environment variable that switches the log on (named by error messages too, so
/// it lives with them).
pub use crate::error::LOG_SWITCH as SWITCH;

static INIT: Once = Once::new();

/// Installs a stderr subscriber for the components `FERREX_LOG` names, once per process,
/// unless a global subscriber is already set. `+name` logs `name` at debug level, `name`
/// at info level; `target=level` passes a `tracing` directive through.
pub(crate) fn init_from_env() {
    INIT.call_once(|| {
        let Ok(spec) = std::env::var(SWITCH) else {
            return;
        };
        let targets = parse_switch(&spec);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(LevelFilter::TRACE)
            .finish()
            .with(targets);
        // Fails only when the application installed its own subscriber, which then
        // receives the events.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

fn parse_switch(spec: &str) -> Targets {
    let mut targets = Targets::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if let Some((target, level)) = item.split_once('=') {
            if let Ok(level) = level.trim().parse::<LevelFilter>() {
                targets = targets.with_target(target.trim().to_string(), level);
            }
            continue;
        }
        let (name, level) = match item.strip_prefix('+') {
            Some(name) => (name, LevelFilter::DEBUG),
            None => (item.trim_start_matches('-'), LevelFilter::INFO),
        };
        let target = if name == "all" {
            "ferrex".to_string()
        } else {
            format!("ferrex::{name}")
        };
        targets = targets.with_target(target, level);
    }
    targets
}

/// Whether a `#[track_caller]` location lies in ferrex's own source (an op's meta
/// function), rather than in the user's code.
pub(crate) fn is_inside_ferrex(file: &str) -> bool {
    // This file is `<crate root>/src/trace/log.rs`; ferrex's sources are under
    // `<crate root>/src/`, whether built in the workspace or from a registry.
    let own = file!();
    let root = own.strip_suffix("trace/log.rs").unwrap_or(own);
    file.starts_with(root)
}

/// Logs the creation of a size symbol for an input dim.
pub(crate) fn symbol_created(symbol: &str, value: i64, source: &str, range: &str) {
    tracing::info!(target: DYNAMIC_TARGET, "create_symbol {symbol} = {value} for {source} {range}");
}

/// Logs a guard the program relies on, with the line that needed it.
pub(crate) fn guard_added(guard: &str, at: SourceLocation, code: &CodeSnippet) {
    tracing::info!(
        target: DYNAMIC_TARGET,
        "eval {guard} [guard added] at {}:{}{code}",
        at.file,
        at.line
    );
}

/// Logs a run-time assertion recorded in the graph (`ferrex::check` on an unbacked value).
pub(crate) fn runtime_assert_added(expr: &str, at: SourceLocation, code: &CodeSnippet) {
    tracing::info!(
        target: DYNAMIC_TARGET,
        "runtime_assert {expr} [assert added] at {}:{}{code}",
        at.file,
        at.line
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_names_components_or_passes_directives_through() {
        let t = parse_switch("+dynamic");
        assert!(t.would_enable("ferrex::dynamic", &tracing::Level::DEBUG));
        assert!(!t.would_enable("ferrex::dynamic", &tracing::Level::TRACE));
        let t = parse_switch("dynamic");
        assert!(t.would_enable("ferrex::dynamic", &tracing::Level::INFO));
        assert!(!t.would_enable("ferrex::dynamic", &tracing::Level::DEBUG));
        let t = parse_switch("ferrex=trace, other");
        assert!(t.would_enable("ferrex::dynamic", &tracing::Level::TRACE));
        assert!(t.would_enable("ferrex::other", &tracing::Level::INFO));
    }

    #[test]
    fn ferrex_sources_are_told_from_user_code() {
        assert!(is_inside_ferrex(file!()));
        assert!(is_inside_ferrex(
            &file!().replace("trace/log.rs", "ops/shape.rs")
        ));
        assert!(!is_inside_ferrex("tests/tests/dynamic_shapes.rs"));
    }
}
