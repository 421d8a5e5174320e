//! Pooling: `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`, nearest upsampling.

use super::OpDef;

pub static OPS: &[&OpDef] = &[];
