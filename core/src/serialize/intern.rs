//! `'static` copies of the strings a loaded program's source locations hold.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The longest string [`intern`] keeps whole (a source line, a file path); longer ones
/// are cut, with `…`.
const MAX_INTERNED_LEN: usize = 1024;

/// The most bytes [`intern`] ever keeps. Loading programs with ever new strings (each
/// generated or damaged file has its own) would otherwise grow the table without end;
/// past this, new strings read as `…`.
const MAX_INTERNED_BYTES: usize = 16 << 20;

/// `'static` copies of the strings source locations and lines hold (their type is
/// `&'static str`, as `#[track_caller]` locations are), one per distinct string:
/// loading the same program twice adds nothing, and the table is bounded in total
/// ([`MAX_INTERNED_BYTES`]) so that no sequence of loads grows memory without end.
pub(crate) fn intern(s: &str) -> &'static str {
    static TABLE: OnceLock<Mutex<InternTable>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    table.intern(s, MAX_INTERNED_BYTES)
}

#[derive(Default)]
struct InternTable {
    strings: HashSet<&'static str>,
    bytes: usize,
}

impl InternTable {
    fn intern(&mut self, s: &str, max_bytes: usize) -> &'static str {
        let cut;
        let s = match s.char_indices().nth(MAX_INTERNED_LEN) {
            Some((end, _)) => {
                cut = format!("{}…", &s[..end]);
                cut.as_str()
            }
            None => s,
        };
        if let Some(k) = self.strings.get(s) {
            return k;
        }
        if self.bytes.saturating_add(s.len()) > max_bytes {
            return "…";
        }
        let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
        self.bytes += leaked.len();
        self.strings.insert(leaked);
        leaked
    }
}

#[cfg(test)]
mod intern_tests {
    use super::*;

    #[test]
    fn interned_strings_are_shared_cut_and_bounded() {
        let a = intern("core/src/intern_test.rs");
        assert!(std::ptr::eq(a, intern("core/src/intern_test.rs")));
        let cut = intern(&"x".repeat(5000));
        assert_eq!(cut.len(), MAX_INTERNED_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        // A table of 10,000 bytes keeps ten distinct 1000-byte strings, then none.
        let mut table = InternTable::default();
        let kept: Vec<&str> = (0..20)
            .map(|i| table.intern(&format!("{i:01000}"), 10_000))
            .collect();
        assert!(kept[..10].iter().all(|s| s.len() == 1000));
        assert!(kept[10..].iter().all(|s| *s == "…"));
        assert_eq!(table.bytes, 10_000);
        assert!(std::ptr::eq(
            kept[3],
            table.intern(&format!("{:01000}", 3), 10_000)
        ));
    }
}
