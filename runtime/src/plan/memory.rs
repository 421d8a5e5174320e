//! Memory planning, the last pass: liveness (the last step reading each value), then
//! slot assignment (each planned output gets a buffer slot, reused once every value in
//! it is dead). [`plan_memory`] is pure over what steps read and write, so it is tested
//! without a graph.

use std::collections::BTreeMap;

use ferrex::graph::Arg;
use ferrex::symbolic::SymInt;

use super::{ConvStep, Epilogue, GemmB, GemmStep, Kind, Operand, Step, V};

/// What the memory planner needs of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StepBuffers {
    /// The value the step produces.
    pub out: V,
    pub reads: Vec<V>,
    pub writes: Vec<V>,
    /// For a step whose output is a planned f32 buffer: its length in elements (from
    /// the size hints).
    pub planned_len: Option<usize>,
}

/// Slots and frees of each step, and the length of each slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryPlan {
    /// The slot of each step's output, for planned steps.
    pub slots: Vec<Option<usize>>,
    /// The values whose last use is each step (dropped after it).
    pub free_after: Vec<Vec<V>>,
    pub slot_sizes: Vec<usize>,
}

/// The planner's view of a step.
pub(crate) fn buffers(step: &Step) -> StepBuffers {
    let planned = step.kind.is_planned();
    StepBuffers {
        out: step.out,
        reads: reads(step),
        writes: writes(step),
        planned_len: planned.then(|| hint_numel(&step.sizes)),
    }
}

/// Assigns slots to `steps`, run in order. `owner[v]` is the value whose slot `v`
/// shares (itself when none: aliases and epilogues point at their source);
/// `is_output[v]` marks graph outputs, which live to the end.
pub(crate) fn plan_memory(steps: &[StepBuffers], owner: &[V], is_output: &[bool]) -> MemoryPlan {
    let last_use = last_uses(steps, is_output, owner.len());
    let slot_end = slot_ends(&last_use, owner);
    let mut slot_of: BTreeMap<V, usize> = BTreeMap::new();
    let mut free: Vec<usize> = Vec::new();
    let mut plan = MemoryPlan::default();
    for (i, step) in steps.iter().enumerate() {
        let slot = step.planned_len.map(|need| {
            let root = find(owner, step.out);
            *slot_of
                .entry(root)
                .or_insert_with(|| take_slot(&mut free, &mut plan.slot_sizes, need))
        });
        plan.slots.push(slot);
        let dead = last_use.iter().enumerate().filter(|(_, l)| **l == Some(i));
        plan.free_after.push(dead.map(|(v, _)| v).collect());
        for (root, _) in slot_end.iter().filter(|(_, end)| **end == i) {
            if let Some(s) = slot_of.get(root) {
                if !free.contains(s) {
                    free.push(*s);
                }
            }
        }
    }
    plan
}

/// The last step that reads or writes each value; graph outputs live forever
/// (`usize::MAX`).
fn last_uses(steps: &[StepBuffers], is_output: &[bool], n_values: usize) -> Vec<Option<usize>> {
    let mut last_use: Vec<Option<usize>> = vec![None; n_values];
    for (i, s) in steps.iter().enumerate() {
        for &v in s.writes.iter().chain(&s.reads) {
            last_use[v] = Some(last_use[v].map_or(i, |l| l.max(i)));
        }
    }
    for (v, out) in is_output.iter().enumerate() {
        if *out {
            last_use[v] = Some(usize::MAX);
        }
    }
    last_use
}

/// The value owning `v`'s slot.
fn find(owner: &[V], mut v: V) -> V {
    while owner[v] != v {
        v = owner[v];
    }
    v
}

/// The step after which each slot owner is dead: a slot lives as long as any value in it.
fn slot_ends(last_use: &[Option<usize>], owner: &[V]) -> BTreeMap<V, usize> {
    let mut slot_end: BTreeMap<V, usize> = BTreeMap::new();
    for (v, l) in last_use.iter().enumerate() {
        if let Some(l) = l {
            let e = slot_end.entry(find(owner, v)).or_insert(*l);
            *e = (*e).max(*l);
        }
    }
    slot_end
}

/// A slot for `need` elements: the best fit among free slots, else the largest free one
/// (grown), else a new one.
fn take_slot(free: &mut Vec<usize>, sizes: &mut Vec<usize>, need: usize) -> usize {
    let pick = free
        .iter()
        .enumerate()
        .filter(|(_, &s)| sizes[s] >= need)
        .min_by_key(|(_, &s)| sizes[s])
        .or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| sizes[s]))
        .map(|(pos, _)| pos);
    let s = match pick {
        Some(pos) => free.swap_remove(pos),
        None => {
            sizes.push(0);
            sizes.len() - 1
        }
    };
    sizes[s] = sizes[s].max(need);
    s
}

/// Values a step reads.
fn reads(step: &Step) -> Vec<V> {
    let ops = |os: &[Operand]| -> Vec<V> {
        os.iter()
            .filter_map(|o| match o {
                Operand::Val(v) => Some(*v),
                Operand::Const(_) => None,
            })
            .collect()
    };
    let ep = |e: &Option<Epilogue>| e.as_ref().map(|e| ops(&e.inputs)).unwrap_or_default();
    match &step.kind {
        Kind::Fallback { args, .. } | Kind::Typed { args, .. } | Kind::Lanes { args, .. } => {
            args.iter().flat_map(Arg::nodes).map(|n| n.0).collect()
        }
        Kind::GetItem { src, .. } | Kind::Alias { src, .. } => vec![*src],
        Kind::Recurrent { args, .. } => args.clone(),
        Kind::HigherOrder { args, .. } => {
            let operands: Vec<Operand> = args
                .iter()
                .flat_map(|a| a.tensors().into_iter().copied())
                .collect();
            ops(&operands)
        }
        Kind::Gemm(g) => {
            let mut r = ops(&[g.a]);
            if let GemmB::Dynamic(b) = g.b {
                r.extend(ops(&[b]));
            }
            if let Some((i, _)) = g.init {
                r.extend(ops(&[i]));
            }
            r.extend(ep(&g.epilogue));
            r
        }
        Kind::Conv(c) => {
            let mut r = ops(&[c.x]);
            r.extend(ep(&c.epilogue));
            r
        }
        other => ops(&other.operands()),
    }
}

/// Values a step writes (its output, and an epilogue's value).
fn writes(step: &Step) -> Vec<V> {
    let mut w = vec![step.out];
    match &step.kind {
        Kind::Gemm(GemmStep {
            epilogue: Some(e), ..
        })
        | Kind::Conv(ConvStep {
            epilogue: Some(e), ..
        }) => w.push(e.value),
        _ => {}
    }
    w
}

fn hint_numel(sizes: &[SymInt]) -> usize {
    sizes
        .iter()
        .map(|s| usize::try_from(s.hint()).unwrap_or(0))
        .product()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planned step writing `out` (`len` elements) after reading `reads`.
    fn planned(out: V, reads: &[V], len: usize) -> StepBuffers {
        StepBuffers {
            out,
            reads: reads.to_vec(),
            writes: vec![out],
            planned_len: Some(len),
        }
    }

    fn own(n: usize) -> Vec<V> {
        (0..n).collect()
    }

    fn outputs(n: usize, outs: &[V]) -> Vec<bool> {
        (0..n).map(|v| outs.contains(&v)).collect()
    }

    #[test]
    fn a_chain_alternates_between_two_slots() {
        let steps = [
            planned(0, &[], 8),
            planned(1, &[0], 8),
            planned(2, &[1], 8),
            planned(3, &[2], 8),
        ];
        let m = plan_memory(&steps, &own(4), &outputs(4, &[3]));
        assert_eq!(m.slots, [Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(m.slot_sizes, [8, 8]);
        assert_eq!(m.free_after, [vec![], vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn a_value_live_across_another_keeps_its_slot() {
        // `0` is read again by step 2, so step 1 cannot take its slot.
        let steps = [
            planned(0, &[], 4),
            planned(1, &[0], 4),
            planned(2, &[0, 1], 4),
            planned(3, &[2], 4),
        ];
        let m = plan_memory(&steps, &own(4), &outputs(4, &[3]));
        assert_eq!(m.slots, [Some(0), Some(1), Some(2), Some(0)]);
    }

    #[test]
    fn graph_outputs_are_never_reused() {
        let steps = [
            planned(0, &[], 4),
            planned(1, &[0], 4),
            planned(2, &[1], 4),
            planned(3, &[2], 4),
        ];
        let m = plan_memory(&steps, &own(4), &outputs(4, &[0, 3]));
        assert_eq!(m.slots, [Some(0), Some(1), Some(2), Some(1)]);
        assert!(m.free_after.iter().all(|f| !f.contains(&0)));
    }

    #[test]
    fn an_alias_shares_its_source_slot_and_keeps_it_alive() {
        // `1` aliases `0`; `0`'s slot stays taken until `1`'s last read at step 3.
        let steps = [
            planned(0, &[], 6),
            planned(1, &[0], 6),
            planned(2, &[1], 6),
            planned(3, &[1, 2], 6),
        ];
        let m = plan_memory(&steps, &[0, 0, 2, 3], &outputs(4, &[3]));
        assert_eq!(m.slots, [Some(0), Some(0), Some(1), Some(2)]);
        assert_eq!(m.slot_sizes, [6, 6, 6]);
    }

    #[test]
    fn a_free_slot_is_picked_by_best_fit_and_grown_when_none_fits() {
        let steps = [
            planned(0, &[], 10),
            planned(1, &[], 3),
            planned(2, &[0, 1], 1),
            planned(3, &[2], 2),
            planned(4, &[3], 20),
        ];
        let m = plan_memory(&steps, &own(5), &outputs(5, &[4]));
        // After step 2 slots 0 (10) and 1 (3) are free: 2 elements fit best in slot 1;
        // then 20 elements fit in none, so the largest free one (slot 0) grows.
        assert_eq!(m.slots, [Some(0), Some(1), Some(2), Some(1), Some(0)]);
        assert_eq!(m.slot_sizes, [20, 3, 1]);
    }

    #[test]
    fn unplanned_steps_get_no_slot_but_their_values_are_freed() {
        let eager = StepBuffers {
            out: 0,
            reads: vec![],
            writes: vec![0],
            planned_len: None,
        };
        let m = plan_memory(&[eager, planned(1, &[0], 2)], &own(2), &outputs(2, &[1]));
        assert_eq!(m.slots, [None, Some(0)]);
        assert_eq!(m.free_after, [vec![], vec![0]]);
    }
}
