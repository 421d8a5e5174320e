//! Repeated blocks emitted once. A transformer's N identical layers give N runs of
//! steps whose code differs only in the fields it reads (`self.c{i}` constants,
//! `self.w{i}` packed weights, `self.k{i}` prepared convolution weights, `self.f{i}`
//! fused programs, `self.o{i}` ops), the
//! workspace slots it uses (`ws.s{i}`, `ws.e{v}`) and its nodes' names. Each step's code
//! is put in a canonical form — those references renamed by order of first appearance
//! (`(*c0)`, `(*s1)`, `names[3]`) — and a run of consecutive blocks with the same
//! canonical code becomes one function, `block{b}`, taking the references as arguments,
//! called once per block. The calls compute exactly what the inline steps compute: the
//! function's code is the steps' code with each reference replaced by the argument that
//! is that reference at the call.

use std::collections::HashMap;
use std::fmt::Write;

const RT: &str = "::ferrex_aot::rt";

/// The fewest steps a repeated block has: shorter repeats (a `q`/`k`/`v` projection
/// triple) are not worth a function.
pub(super) const MIN_BLOCK_STEPS: usize = 4;

/// A step's code with its references renamed.
#[derive(Default)]
struct Canon {
    /// The code without comments: what two blocks must share.
    key: String,
    /// The code with its comments, names as `names[k]`: the function's body.
    code: String,
    /// The references in order of first appearance: `(kind, index)` (`('c', 13)` is
    /// `self.c13`), and the argument each is renamed to.
    refs: Vec<(char, usize, String)>,
}

impl Canon {
    /// The argument standing for `self.{kind}{index}` / `ws.{kind}{index}`.
    fn arg(&mut self, kind: char, index: usize) -> String {
        if let Some((_, _, a)) = (self.refs.iter()).find(|(k, i, _)| *k == kind && *i == index) {
            return a.clone();
        }
        let n = self.refs.iter().filter(|(k, _, _)| *k == kind).count();
        let arg = format!("{kind}{n}");
        self.refs.push((kind, index, arg.clone()));
        arg
    }

    fn push(&mut self, s: &str) {
        self.key.push_str(s);
        self.code.push_str(s);
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `c13` → `('c', 13)` when the kind is one of `kinds`.
fn field(ident: &str, kinds: &[u8]) -> Option<(char, usize)> {
    let (&k, digits) = ident.as_bytes().split_first()?;
    let plain = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    let index = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (kinds.contains(&k) && plain).then_some((char::from(k), index))
}

/// Adds the code of step `k` of a block (node `name`) to `canon`; `None` when the step
/// uses the workspace other than through its slots (it cannot be moved into a block).
fn canonicalize(body: &str, name: &str, k: usize, canon: &mut Canon) -> Option<()> {
    let b = body.as_bytes();
    let quoted = format!("{name:?}");
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = body[i..].find('\n').map_or(b.len(), |e| i + e);
            canon.code.push_str(&comment(&body[i..end], name, k, canon));
            i = end;
        } else if b[i] == b'"' {
            let mut end = i + 1;
            while end < b.len() && b[end] != b'"' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(b.len());
            let lit = &body[i..end];
            canon.push(&if lit == quoted {
                format!("names[{k}]")
            } else {
                lit.to_string()
            });
            i = end;
        } else if is_ident(b[i]) && (i == 0 || !is_ident(b[i - 1])) {
            let end = (i..b.len()).find(|&e| !is_ident(b[e])).unwrap_or(b.len());
            let ident = &body[i..end];
            let member = (b.get(end) == Some(&b'.')).then(|| {
                let m_end = (end + 1..b.len())
                    .find(|&e| !is_ident(b[e]))
                    .unwrap_or(b.len());
                (&body[end + 1..m_end], m_end)
            });
            match (ident, member) {
                ("self", Some((m, m_end))) if field(m, b"cwfok").is_some() => {
                    let (kind, index) = field(m, b"cwfok")?;
                    let arg = canon.arg(kind, index);
                    canon.push(&format!("(*{arg})"));
                    i = m_end;
                }
                ("ws", Some((m, m_end))) => {
                    let (kind, index) = field(m, b"se")?;
                    let arg = canon.arg(kind, index);
                    canon.push(&format!("(*{arg})"));
                    i = m_end;
                }
                ("ws", None) => return None,
                _ => {
                    canon.push(ident);
                    i = end;
                }
            }
        } else {
            let end = (i + 1..b.len())
                .find(|&e| b[e] == b'"' || b[e] == b'/' || is_ident(b[e]))
                .unwrap_or(b.len());
            canon.push(&body[i..end]);
            i = end;
        }
    }
    Some(())
}

/// A comment of step `k` as the block function shows it: the node's name as
/// `names[k]`, a slot as the argument that is it.
fn comment(text: &str, name: &str, k: usize, canon: &Canon) -> String {
    let text = match text.strip_prefix(&format!("// {name}: ")) {
        Some(rest) => format!("// names[{k}]: {rest}"),
        None => text.to_string(),
    };
    let Some(at) = text.find("slot ") else {
        return text;
    };
    let digits: String = text[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let slot = digits
        .parse::<usize>()
        .ok()
        .and_then(|s| (canon.refs.iter()).find(|(kind, i, _)| *kind == 's' && *i == s));
    let shown = slot.map_or("a slot".to_string(), |(_, _, a)| format!("slot `{a}`"));
    format!("{}{shown}{}", &text[..at], &text[at + 5 + digits.len()..])
}

/// The canonical form of steps `start..start + len`, or `None` when one cannot be moved.
fn canon_of(bodies: &[String], names: &[&str], start: usize, len: usize) -> Option<Canon> {
    let mut canon = Canon::default();
    for k in 0..len {
        canonicalize(&bodies[start + k], names[start + k], k, &mut canon)?;
    }
    Some(canon)
}

/// One id per step, equal for steps whose code is the same up to references.
fn step_ids(bodies: &[String], names: &[&str]) -> Vec<usize> {
    let mut interned: HashMap<String, usize> = HashMap::new();
    (0..bodies.len())
        .map(|i| match canon_of(bodies, names, i, 1) {
            Some(c) => {
                let next = interned.len();
                *interned.entry(c.key).or_insert(next)
            }
            // Never equal to another step.
            None => usize::MAX - i,
        })
        .collect()
}

/// The best run of repeated blocks starting at step `p`: `(len, reps)` covering the
/// most steps (the shorter block on a tie), or `None`.
fn best_run(ids: &[usize], p: usize, max_len: usize) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let longest = max_len.min((ids.len() - p) / 2);
    for len in MIN_BLOCK_STEPS..=longest {
        let same = |r: usize| (0..len).all(|j| ids[p + j] == ids[p + r * len + j]);
        let mut reps = 1;
        while p + (reps + 1) * len <= ids.len() && same(reps) {
            reps += 1;
        }
        let better = best.is_none_or(|(l, r)| len * reps > l * r);
        if reps >= 2 && better {
            best = Some((len, reps));
        }
    }
    best
}

/// What `forward` runs, in order: each step's code, or calls of block functions.
pub(super) struct Layout {
    /// The code of each item: a step's body, or a block's call.
    pub(super) items: Vec<String>,
    /// The steps each item runs (1, or a block's length).
    pub(super) item_steps: Vec<usize>,
    /// The block functions (methods of `Model`).
    pub(super) functions: String,
}

/// The arguments every part and block function takes after its own: `(declared,
/// passed)`, e.g. `(", d: &Dims, x: &[f32]", ", d, x")`.
pub(super) struct Shared<'a> {
    pub(super) params: &'a str,
    pub(super) args: &'a str,
}

/// `forward`'s steps with runs of repeated blocks replaced by calls of one function per
/// run; blocks have at most `max_len` steps. `taken` are the names the functions' own
/// arguments must not shadow (the inputs'): when one would, nothing is shared.
pub(super) fn layout(
    bodies: &[String],
    names: &[&str],
    max_len: usize,
    shared: &Shared<'_>,
    taken: &[&str],
) -> Layout {
    let inline = || Layout {
        items: bodies.to_vec(),
        item_steps: vec![1; bodies.len()],
        functions: String::new(),
    };
    if taken
        .iter()
        .any(|t| field(t, b"cwfokse").is_some() || *t == "names")
    {
        return inline();
    }
    let ids = step_ids(bodies, names);
    let mut out = Layout {
        items: Vec::new(),
        item_steps: Vec::new(),
        functions: String::new(),
    };
    let (mut p, mut b) = (0, 0);
    while p < bodies.len() {
        let run = best_run(&ids, p, max_len).and_then(|(len, reps)| {
            let first = canon_of(bodies, names, p, len)?;
            let same = (1..reps)
                .take_while(|r| {
                    canon_of(bodies, names, p + r * len, len).is_some_and(|c| c.key == first.key)
                })
                .count();
            (same >= 1).then_some((len, same + 1, first))
        });
        let Some((len, reps, first)) = run else {
            out.items.push(bodies[p].clone());
            out.item_steps.push(1);
            p += 1;
            continue;
        };
        block_function(&mut out.functions, b, &first, (p, len, reps), names, shared);
        for r in 0..reps {
            let start = p + r * len;
            let Some(canon) = canon_of(bodies, names, start, len) else {
                // Not reached: every block was canonicalized above.
                out.items.extend(bodies[start..start + len].iter().cloned());
                out.item_steps.extend(std::iter::repeat_n(1, len));
                continue;
            };
            out.items
                .push(block_call(b, &canon, &names[start..start + len], shared));
            out.item_steps.push(len);
        }
        p += len * reps;
        b += 1;
    }
    out
}

/// The `self.x{i}` / `ws.x{i}` expression of a reference.
fn place(kind: char, index: usize) -> String {
    match kind {
        's' | 'e' => format!("ws.{kind}{index}"),
        _ => format!("self.{kind}{index}"),
    }
}

/// The type of the field a reference names.
fn field_type(kind: char) -> String {
    match kind {
        'w' => format!("{RT}::PackedB"),
        'k' => format!("{RT}::ConvWeight"),
        'f' => format!("{RT}::FusedProgram"),
        'o' => format!("&'static {RT}::OpDef"),
        'e' => format!("Vec<{RT}::Storage>"),
        _ => "Vec<f32>".to_string(),
    }
}

/// `fn block{b}(&self, names, refs…, shared…)`: the steps of the run's blocks, written
/// once (`first`, the first block's canonical code).
fn block_function(
    code: &mut String,
    b: usize,
    first: &Canon,
    (start, len, reps): (usize, usize, usize),
    names: &[&str],
    shared: &Shared<'_>,
) {
    let params: String = (first.refs.iter())
        .map(|(kind, _, arg)| {
            let m = if matches!(kind, 's' | 'e') {
                "mut "
            } else {
                ""
            };
            format!(", {arg}: &{m}{}", field_type(*kind))
        })
        .collect();
    let _ = write!(
        code,
        "\n    /// A block of {len} steps, run {reps} times from step {start} (`{}` … `{}`, then the\n    \
         /// same steps of the next blocks) on each block's weights and slots; `names` are its\n    \
         /// nodes' names.\n    \
         fn block{b}(&self, names: &[&'static str; {len}]{params}{}) -> Result<(), {RT}::RunError> {{\n{}        Ok(())\n    }}\n",
        names[start],
        names[start + len - 1],
        shared.params,
        first.code
    );
}

/// `self.block{b}(&[names…], &mut ws.s3, &self.c13, …)?;` for one block.
fn block_call(b: usize, canon: &Canon, names: &[&str], shared: &Shared<'_>) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let args: String = (canon.refs.iter())
        .map(|(kind, index, _)| {
            let m = if matches!(kind, 's' | 'e') {
                "mut "
            } else {
                ""
            };
            format!(", &{m}{}", place(*kind, *index))
        })
        .collect();
    format!(
        "        // {} … {}: block{b}\n        self.block{b}(&[{}]{args}{})?;\n",
        names[0],
        names[names.len() - 1],
        quoted.join(", "),
        shared.args
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "        // linear_3: aten::linear.default at a.rs:5\n        {\n            let out = &mut ws.s1[..640];\n            let fail = |e: &dyn ::std::fmt::Display| rt::failed(\"linear_3\", \"aten::linear.default\", None, e);\n            rt::gemm_packed(1.0f32, rt::Mat::row_major(&ws.s3[..640], 20, 32), &self.w12, 1.0f32, out).map_err(|e| fail(&e))?;\n            rt::fused(&self.f12, &[(&self.c3[..], &[32])], &[2, 10, 32], out).map_err(|e| fail(&e))?;\n        }\n        // (no code: slot 3 read as [2, 10, 32])\n";

    #[test]
    fn steps_differing_in_references_and_names_share_one_canonical_form() {
        let other = A
            .replace("linear_3", "linear_9")
            .replace("ws.s1[", "ws.s4[")
            .replace("ws.s3[", "ws.s0[")
            .replace("self.w12", "self.w29")
            .replace("self.f12", "self.f7")
            .replace("self.c3[", "self.c15[")
            .replace("slot 3", "slot 0");
        let (mut x, mut y) = (Canon::default(), Canon::default());
        canonicalize(A, "linear_3", 0, &mut x).unwrap();
        canonicalize(&other, "linear_9", 0, &mut y).unwrap();
        assert_eq!(x.key, y.key);
        assert_eq!(x.code, y.code);
        let refs = |c: &Canon| -> Vec<String> {
            c.refs
                .iter()
                .map(|(k, i, a)| format!("{k}{i}={a}"))
                .collect()
        };
        assert_eq!(refs(&x), ["s1=s0", "s3=s1", "w12=w0", "f12=f0", "c3=c0"]);
        assert_eq!(refs(&y), ["s4=s0", "s0=s1", "w29=w0", "f7=f0", "c15=c0"]);
        assert_eq!(
            x.code,
            "        // names[0]: aten::linear.default at a.rs:5\n        {\n            let out = &mut (*s0)[..640];\n            let fail = |e: &dyn ::std::fmt::Display| rt::failed(names[0], \"aten::linear.default\", None, e);\n            rt::gemm_packed(1.0f32, rt::Mat::row_major(&(*s1)[..640], 20, 32), &(*w0), 1.0f32, out).map_err(|e| fail(&e))?;\n            rt::fused(&(*f0), &[(&(*c0)[..], &[32])], &[2, 10, 32], out).map_err(|e| fail(&e))?;\n        }\n        // (no code: slot `s1` read as [2, 10, 32])\n"
        );
        // Another aliasing of the slots is another block.
        let aliased = A.replace("ws.s3[", "ws.s1[");
        let mut z = Canon::default();
        canonicalize(&aliased, "linear_3", 0, &mut z).unwrap();
        assert_ne!(z.key, x.key);
        // The workspace used whole cannot move into a block.
        assert!(canonicalize("self.run(ws)?;", "n", 0, &mut Canon::default()).is_none());
        assert!(canonicalize("ws.s0x[0]", "n", 0, &mut Canon::default()).is_none());
    }

    #[test]
    fn runs_cover_the_most_steps_with_the_shortest_block() {
        // 0 1 | 2 3 4 5 | 2 3 4 5 | 2 3 4 5 | 9
        let ids = [0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4, 5, 9];
        assert_eq!(best_run(&ids, 0, 200), None);
        assert_eq!(best_run(&ids, 2, 200), Some((4, 3)));
        assert_eq!(best_run(&ids, 2, 3), None);
        let same = [7; 16];
        assert_eq!(best_run(&same, 0, 200), Some((4, 4)));
    }
}
