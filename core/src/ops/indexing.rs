//! Indexing and gathering: `index_select`, `gather`, `index.Tensor`, `embedding`.

use super::OpDef;

pub static OPS: &[&OpDef] = &[];
