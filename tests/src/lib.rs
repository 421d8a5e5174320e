//! Cross-crate integration tests live in `tests/tests/`, the trybuild UI suite in
//! `tests/ui/`, and the examples in the repository's `examples/` folder.
