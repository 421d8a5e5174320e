//! Examples of ferrex live in `examples/`; this crate only hosts them.
