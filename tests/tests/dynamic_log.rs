//! `FERREX_LOG`'s events, captured with a `tracing` subscriber. Alone in its own test
//! binary: `tracing` caches per callsite whether anyone listens, and a test on another
//! thread meeting ferrex's callsites with no subscriber could make this one see nothing.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes, Exporter};

#[export_module]
struct Branchy {}

#[export_module]
impl Branchy {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        if x.size(0) <= 16 {
            return x.matmul(&y.slice(1, None::<i64>, Some(16), 1));
        }
        y.clone()
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_dynamic_log_shows_each_symbol_and_guard_with_its_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .without_time()
        .with_ansi(false)
        .finish();
    let shapes = DynamicShapes::new()
        .input("x", [(0, Dim::new("rows")), (1, Dim::new("inner"))])
        .input("y", [(0, Dim::new("inner2")), (1, Dim::new("cols"))]);
    let result = tracing::subscriber::with_default(subscriber, || {
        // Another test's thread may have met ferrex's log callsites first, with no
        // subscriber, and cached "not interested": ask again now that this one exists.
        tracing::callsite::rebuild_interest_cache();
        Exporter::new(
            &Branchy {},
            (Tensor::randn([8, 16]), Tensor::randn([16, 32])),
        )
        .dynamic_shapes(shapes)
        .run()
    });
    assert!(result.is_err());
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            " INFO ferrex::dynamic: create_symbol s0 = 8 for x.size()[0] [0, int_oo]",
            " INFO ferrex::dynamic: create_symbol s1 = 16 for x.size()[1] [0, int_oo]",
            " INFO ferrex::dynamic: create_symbol s2 = 16 for y.size()[0] [0, int_oo]",
            " INFO ferrex::dynamic: create_symbol s3 = 32 for y.size()[1] [0, int_oo]",
            " INFO ferrex::dynamic: eval x.size()[0] <= 16 [guard added] at \
             tests/tests/dynamic_log.rs:14, code: if x.size(0) <= 16 {",
            " INFO ferrex::dynamic: eval 16 <= y.size()[1] [guard added] at \
             tests/tests/dynamic_log.rs:15, code: return x.matmul(&y.slice(1, None::<i64>, Some(16), 1));",
            " INFO ferrex::dynamic: eval x.size()[1] == y.size()[0] [guard added] at \
             tests/tests/dynamic_log.rs:15, code: return x.matmul(&y.slice(1, None::<i64>, Some(16), 1));",
        ]
    );
}
