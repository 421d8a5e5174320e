//! Packed f32 weights of recent `linear` calls, so that eager code and the graph
//! interpreter, which call `linear` with the same parameters again and again, pack each
//! weight once — as the compiled runtime does at compile time — instead of on every
//! call (16% of a transformer block's interpreted time went to packing).
//!
//! Soundness: an entry holds a clone of the weight's `ArcArray`, and ndarray copies a
//! shared array before any write (copy on write), so the data an entry points at cannot
//! change while the entry lives: the data pointer, shape and strides identify its
//! contents. A weight written in place afterwards is a new buffer, hence a miss.
//!
//! A model calls its weights in the same order at every call, so least-recently-used
//! eviction would miss every time once a model has more weights than fit (a cycle
//! longer than the cache): a weight is kept only in place of entries not hit within
//! the last [`Limits::recent`] lookups, else packed for the call alone — the weights
//! that fit stay packed, and another model's weights replace them once the first
//! model's stop being called.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ndarray::{ArcArray, IxDyn};

use ferrex_kernels::sgemm::PackedB;
use ferrex_kernels::Mat;

use crate::error::OpError;

/// What the cache may hold.
struct Limits {
    /// Weights kept (a 100-layer MLP has 100).
    entries: usize,
    /// Packed floats kept in all.
    floats: usize,
    /// Lookups within which a hit entry stays (a call of a model looks each of its
    /// weights up once).
    recent: u64,
}

const LIMITS: Limits = Limits {
    entries: 4096,
    floats: 1 << 24,
    recent: 1 << 14,
};

struct Entry {
    weight: ArcArray<f32, IxDyn>,
    packed: Arc<PackedB>,
    /// The lookup that last found it.
    last_hit: u64,
}

/// The kept weights, found by their data pointer.
#[derive(Default)]
struct Cache {
    entries: HashMap<usize, Vec<Entry>>,
    floats: usize,
    count: usize,
    lookups: u64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn same_buffer(a: &ArcArray<f32, IxDyn>, b: &ArcArray<f32, IxDyn>) -> bool {
    a.as_ptr() == b.as_ptr() && a.shape() == b.shape() && a.strides() == b.strides()
}

impl Cache {
    fn find(&mut self, weight: &ArcArray<f32, IxDyn>) -> Option<Arc<PackedB>> {
        self.lookups += 1;
        let now = self.lookups;
        let e = (self.entries.get_mut(&(weight.as_ptr() as usize)))?
            .iter_mut()
            .find(|e| same_buffer(&e.weight, weight))?;
        e.last_hit = now;
        Some(Arc::clone(&e.packed))
    }

    /// Keeps `packed` for `weight` if it fits, evicting entries not hit recently.
    fn keep(&mut self, weight: &ArcArray<f32, IxDyn>, packed: &Arc<PackedB>, limits: &Limits) {
        let floats = packed.as_slice().len();
        // Two threads (a split call's halves) may both have packed it.
        let kept = (self.entries.get(&(weight.as_ptr() as usize)))
            .is_some_and(|list| list.iter().any(|e| same_buffer(&e.weight, weight)));
        if kept || floats > limits.floats {
            return;
        }
        let full = |c: &Cache| c.count >= limits.entries || c.floats + floats > limits.floats;
        if full(self) {
            let stale = self.lookups.saturating_sub(limits.recent);
            let (mut freed, mut dropped) = (0, 0);
            for list in self.entries.values_mut() {
                list.retain(|e| {
                    let keep = e.last_hit > stale;
                    if !keep {
                        freed += e.packed.as_slice().len();
                        dropped += 1;
                    }
                    keep
                });
            }
            self.entries.retain(|_, list| !list.is_empty());
            self.floats -= freed;
            self.count -= dropped;
            if full(self) {
                return;
            }
        }
        self.floats += floats;
        self.count += 1;
        let list = self.entries.entry(weight.as_ptr() as usize).or_default();
        list.push(Entry {
            weight: weight.clone(),
            packed: Arc::clone(packed),
            last_hit: self.lookups,
        });
    }
}

/// `weight` (`[n, k]`, a `linear` weight) packed as the right operand `[k, n]` of a
/// product, from the cache or packed now (and kept, if it fits).
pub(crate) fn packed_weight(weight: &ArcArray<f32, IxDyn>) -> Result<Arc<PackedB>, OpError> {
    packed_with(weight, &CACHE, &LIMITS)
}

fn packed_with(
    weight: &ArcArray<f32, IxDyn>,
    cache: &Mutex<Option<Cache>>,
    limits: &Limits,
) -> Result<Arc<PackedB>, OpError> {
    if let Ok(mut c) = cache.lock() {
        if let Some(p) = c.get_or_insert_with(Cache::default).find(weight) {
            return Ok(p);
        }
    }
    let packed = Arc::new(pack_transposed(weight)?);
    if let Ok(mut c) = cache.lock() {
        c.get_or_insert_with(Cache::default)
            .keep(weight, &packed, limits);
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

    fn weights(n: usize) -> Vec<ArcArray<f32, IxDyn>> {
        (0..n)
            .map(|i| ArcArray::from_elem(IxDyn(&[4, 4]), i as f32))
            .collect()
    }

    /// Whether each weight, looked up in turn, was packed before (a hit).
    fn pass(ws: &[ArcArray<f32, IxDyn>], cache: &Mutex<Option<Cache>>, l: &Limits) -> Vec<bool> {
        let before = |w: &ArcArray<f32, IxDyn>| {
            let mut c = cache.lock().unwrap();
            let hit = c.get_or_insert_with(Cache::default).find(w).is_some();
            drop(c);
            let p = packed_with(w, cache, l).unwrap();
            assert_eq!(p.as_slice()[0], w[[0, 0]]);
            hit
        };
        ws.iter().map(before).collect()
    }

    /// A weight packed by two threads at once is kept once.
    #[test]
    fn a_weight_kept_twice_counts_once() {
        let l = Limits {
            entries: 4,
            floats: 1 << 20,
            recent: 40,
        };
        let w = weights(1).remove(0);
        let packed = Arc::new(pack_transposed(&w).unwrap());
        let mut c = Cache::default();
        c.keep(&w, &packed, &l);
        c.keep(&w, &packed, &l);
        assert_eq!((c.count, c.floats), (1, packed.as_slice().len()));
    }

    /// A model with more weights than the cache holds, called again and again: the
    /// weights that fit stay packed (least recently used eviction would miss them all);
    /// once another model is called instead, its weights take their place.
    #[test]
    fn a_cycle_longer_than_the_cache_keeps_what_fits_and_another_model_replaces_it() {
        let l = Limits {
            entries: 6,
            floats: 1 << 20,
            recent: 40,
        };
        let cache = Mutex::new(None);
        let (model, other) = (weights(10), weights(3));
        assert_eq!(pass(&model, &cache, &l), [false; 10]);
        for _ in 0..3 {
            let hits = pass(&model, &cache, &l);
            assert_eq!(hits[..6], [true; 6]);
            assert_eq!(hits[6..], [false; 4]);
        }
        // The other model's weights find no stale entry to replace at first, then do.
        let mut calls = 0;
        while pass(&other, &cache, &l) != [true; 3] {
            calls += 1;
            assert!(calls < 40, "the other model never got packed weights");
        }
        assert!(calls >= 1);
    }
}
