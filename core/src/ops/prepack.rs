//! Packed f32 weights of recent `linear` calls, so that eager code and the graph
//! interpreter, which call `linear` with the same parameters again and again, pack each
//! weight once — as the compiled runtime does at compile time — instead of on every
//! call (16% of a transformer block's interpreted time went to packing).
//!
//! Soundness: an entry holds a clone of the weight's `ArcArray`, and ndarray copies a
//! shared array before any write (copy on write), so the data an entry points at cannot
//! change while the entry lives: the data pointer, shape and strides identify its
//! contents. A weight written in place afterwards is a new buffer, hence a miss.

use std::sync::{Arc, Mutex};

use ndarray::{ArcArray, IxDyn};

use ferrex_kernels::sgemm::PackedB;
use ferrex_kernels::Mat;

use crate::error::OpError;

/// At most this many weights are kept (oldest dropped first).
const MAX_ENTRIES: usize = 64;
/// At most this many packed floats are kept in all (64 MiB).
const MAX_FLOATS: usize = 1 << 24;

struct Entry {
    weight: ArcArray<f32, IxDyn>,
    packed: Arc<PackedB>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn same_buffer(a: &ArcArray<f32, IxDyn>, b: &ArcArray<f32, IxDyn>) -> bool {
    a.as_ptr() == b.as_ptr() && a.shape() == b.shape() && a.strides() == b.strides()
}

/// `weight` (`[n, k]`, a `linear` weight) packed as the right operand `[k, n]` of a
/// product, from the cache or packed now and kept.
pub(crate) fn packed_weight(weight: &ArcArray<f32, IxDyn>) -> Result<Arc<PackedB>, OpError> {
    if let Ok(cache) = CACHE.lock() {
        if let Some(e) = cache.iter().find(|e| same_buffer(&e.weight, weight)) {
            return Ok(Arc::clone(&e.packed));
        }
    }
    let packed = Arc::new(pack_transposed(weight)?);
    let floats = packed.as_slice().len();
    if floats <= MAX_FLOATS {
        if let Ok(mut cache) = CACHE.lock() {
            let mut total: usize = cache.iter().map(|e| e.packed.as_slice().len()).sum();
            while !cache.is_empty() && (cache.len() >= MAX_ENTRIES || total + floats > MAX_FLOATS) {
                total -= cache.remove(0).packed.as_slice().len();
            }
            cache.push(Entry {
                weight: weight.clone(),
                packed: Arc::clone(&packed),
            });
        }
    }
    Ok(packed)
}

/// Packs `[n, k]` read as its transpose `[k, n]`, any strides.
fn pack_transposed(weight: &ArcArray<f32, IxDyn>) -> Result<PackedB, OpError> {
    let (shape, strides) = (weight.shape(), weight.strides());
    let (&[n, k], &[rs, cs]) = (shape, strides) else {
        return Err(OpError::new("a linear weight is 2-D"));
    };
    let (Ok(rs), Ok(cs)) = (usize::try_from(rs), usize::try_from(cs)) else {
        return Err(OpError::new("a linear weight with negative strides"));
    };
    let data = weight
        .as_slice_memory_order()
        .ok_or_else(|| OpError::new("a linear weight that is not one block of memory"))?;
    let m = Mat {
        data,
        rows: k,
        cols: n,
        rs: cs,
        cs: rs,
    };
    PackedB::pack(m).map_err(|e| OpError(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weight_is_packed_once_and_a_written_weight_is_packed_again() {
        let w = ArcArray::from_shape_vec(IxDyn(&[20, 9]), (0..180).map(|v| v as f32).collect())
            .unwrap();
        let first = packed_weight(&w).unwrap();
        let again = packed_weight(&w.clone()).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "a clone of the same weight hits"
        );
        assert_eq!(first.shape(), [9, 20]);
        // Row 0 of the packed [9, 20] is column 0 of the weight: w[j][0] = 9 j.
        assert_eq!(
            first.as_slice()[..16],
            (0..16).map(|j| 9.0 * j as f32).collect::<Vec<_>>()[..]
        );
        // Written in place: copy on write gives it a new buffer, so it is packed anew.
        let mut written = w.clone();
        written[[0, 0]] = 100.0;
        let repacked = packed_weight(&written).unwrap();
        assert!(!Arc::ptr_eq(&first, &repacked));
        assert_eq!(repacked.as_slice()[0], 100.0);
        assert_eq!(packed_weight(&w).unwrap().as_slice()[0], 0.0);
    }
}
