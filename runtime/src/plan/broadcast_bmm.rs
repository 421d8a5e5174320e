//! A batched product of a matrix broadcast over the batch (found by
//! [`ferrex::graph::broadcast_bmms`]) is one GEMM of `a`'s `B * M` rows with the matrix
//! (packed once when it is constant); the expand and the reshapes around it get no step
//! — materialized, the expand of a constant weight was `B` copies of it, folded into the
//! plan, and `B` products packing it anew.

use super::Builder;

impl Builder<'_> {
    /// Marks the graph's `bmm`s of a broadcast matrix: their right operand's chain gets
    /// no step, and the product is planned as one GEMM.
    pub(super) fn mark_broadcast_bmms(&mut self) {
        for b in ferrex::graph::broadcast_bmms(self.graph) {
            self.broadcast_b.insert(b.bmm, b.matrix);
            for c in b.chain {
                self.skip[c] = true;
            }
        }
    }
}
