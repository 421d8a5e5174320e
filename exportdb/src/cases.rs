//! One module per case; each registers itself with `inventory::submit!`.

mod cond_predicate;
