//! `einsum`: an equation over labelled dims, decomposed as PyTorch's composite does:
//! each operand unsqueezed and permuted to one label order (the output's labels, then
//! the summed ones), then multiplied pairwise with `bmm` (batch, left-only,
//! summed and right-only dims folded into three), then viewed to the output. Labels are
//! letters; an ellipsis stands for the dims no label names (broadcast across operands,
//! as PyTorch's); a label repeated inside one operand (a diagonal) is refused.

use super::op_def;
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{Tensor, TensorMeta};

/// A parsed equation: each operand's labels, the output's labels, and the global label
/// order (output labels first, then summed labels in order of appearance).
struct Equation {
    inputs: Vec<Vec<char>>,
    output: Vec<char>,
    order: Vec<char>,
}

fn parse(equation: &str, operands: usize) -> Result<Equation, OpError> {
    let equation: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (equation.as_str(), None),
    };
    let inputs: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    if inputs.len() != operands {
        op_bail!("einsum(): more operands were provided than specified in the equation");
    }
    let labels = |t: &[char]| -> Result<(), OpError> {
        for (i, c) in t.iter().enumerate() {
            if !c.is_ascii_alphabetic() {
                op_bail!("einsum(): invalid subscript given at index {i} in the equation string, subscripts must be in [a-zA-Z]");
            }
            if t[..i].contains(c) {
                op_bail!("einsum(): the label '{c}' appears twice in one operand (a diagonal), which ferrex does not support");
            }
        }
        Ok(())
    };
    for t in &inputs {
        labels(t)?;
    }
    let seen: Vec<char> = inputs.iter().flatten().copied().collect();
    let output: Vec<char> = match rhs {
        Some(r) => {
            let out: Vec<char> = r.chars().collect();
            labels(&out)?;
            if let Some(c) = out.iter().find(|c| !seen.contains(c)) {
                op_bail!("einsum(): output subscript {c} does not appear in the equation for any input operand");
            }
            out
        }
        None => labels_used_once(&seen),
    };
    let mut order = output.clone();
    for c in seen {
        if !order.contains(&c) {
            order.push(c);
        }
    }
    Ok(Equation {
        inputs,
        output,
        order,
    })
}

/// An implicit output (no `->`): the labels used once, sorted, as PyTorch's.
fn labels_used_once(labels: &[char]) -> Vec<char> {
    let mut once: Vec<char> = (labels.iter().copied())
        .filter(|c| labels.iter().filter(|d| *d == c).count() == 1)
        .collect();
    once.sort_unstable();
    once
}

/// The size of every label of `order`, checked across operands (a size of 1 broadcasts).
fn label_sizes(eq: &Equation, metas: &[TensorMeta]) -> Result<Vec<SymInt>, OpError> {
    let mut sizes = vec![SymInt::Int(1); eq.order.len()];
    for (labels, m) in eq.inputs.iter().zip(metas) {
        if labels.len() != m.rank() {
            op_bail!(
                "einsum(): the number of subscripts in the equation ({}) does not match the number of dimensions ({}) for operand and no ellipsis was given",
                labels.len(),
                m.rank()
            );
        }
        for (c, s) in labels.iter().zip(&m.sizes) {
            let at = eq.order.iter().position(|o| o == c).unwrap_or(0);
            if sizes[at].hint() == 1 {
                sizes[at] = s.clone();
            } else if s.hint() != 1 && s.hint() != sizes[at].hint() {
                op_bail!(
                    "einsum(): operands do not broadcast: subscript '{c}' has size {} and {s}",
                    sizes[at]
                );
            }
        }
    }
    Ok(sizes)
}

fn einsum_plan(args: &Einsum) -> Result<(Equation, Vec<TensorMeta>), OpError> {
    let (equation, tensors) = (&args.equation, &args.tensors);
    if tensors.is_empty() {
        op_bail!("einsum(): must provide at least one operand");
    }
    let metas = tensors
        .iter()
        .map(super::util::meta_of)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(m) = metas.iter().find(|m| m.dtype != metas[0].dtype) {
        op_bail!(
            "expected scalar type {} but found {}",
            metas[0].dtype,
            m.dtype
        );
    }
    let ranks: Vec<usize> = metas.iter().map(TensorMeta::rank).collect();
    let equation = expand_ellipsis(equation, &ranks)?;
    Ok((parse(&equation, metas.len())?, metas))
}

/// The equation with each `...` written out as labels of its own: an operand's ellipsis
/// stands for its dims no label names, aligned from the right across operands (they
/// broadcast); the output's (or, with no output given, the output's first dims) are all
/// of them, as PyTorch's.
fn expand_ellipsis(equation: &str, ranks: &[usize]) -> Result<String, OpError> {
    let equation: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    if !equation.contains("...") {
        return Ok(equation);
    }
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (equation.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    let mut counts = Vec::with_capacity(terms.len());
    for (k, term) in terms.iter().enumerate() {
        let named = term.replace("...", "").chars().count();
        let rank = ranks.get(k).copied().unwrap_or(0);
        counts.push(match term.contains("...") {
            true if named <= rank => rank - named,
            true => op_bail!("einsum(): the number of subscripts in the equation ({named}) is more than the number of dimensions ({rank}) for operand {k}"),
            false => 0,
        });
    }
    let width = counts.iter().copied().max().unwrap_or(0);
    let fresh: Vec<char> = ('A'..='Z')
        .chain('a'..='z')
        .filter(|c| !equation.contains(*c))
        .take(width)
        .collect();
    if fresh.len() < width {
        op_bail!("einsum(): too many dims under the ellipsis for the labels left");
    }
    let dims = |n: usize| -> String { fresh[width - n..].iter().collect() };
    let inputs: Vec<String> = (terms.iter().zip(&counts))
        .map(|(t, &n)| t.replacen("...", &dims(n), 1))
        .collect();
    let output = match rhs {
        Some(r) => r.replacen("...", &dims(width), 1),
        None => {
            // Implicit: the ellipsis dims, then the labels used once, sorted.
            let named: Vec<char> = lhs.chars().filter(char::is_ascii_alphabetic).collect();
            dims(width) + &labels_used_once(&named).into_iter().collect::<String>()
        }
    };
    Ok(format!("{}->{output}", inputs.join(",")))
}

fn einsum_meta(args: &Einsum) -> Result<Vec<TensorMeta>, OpError> {
    let (eq, metas) = einsum_plan(args)?;
    let sizes = label_sizes(&eq, &metas)?;
    Ok(vec![TensorMeta::new(
        metas[0].dtype,
        sizes[..eq.output.len()].to_vec(),
    )])
}

/// An operand unsqueezed (its missing labels appended as size-1 dims) and permuted to
/// the global label order.
fn align(t: &Tensor, labels: &[char], order: &[char]) -> Tensor {
    let mut have = labels.to_vec();
    let mut x = t.clone();
    for &c in order {
        if !have.contains(&c) {
            x = x.unsqueeze(have.len() as i64);
            have.push(c);
        }
    }
    let perm: Vec<i64> = order
        .iter()
        .map(|c| have.iter().position(|h| h == c).unwrap_or(0) as i64)
        .collect();
    if perm.iter().enumerate().all(|(i, &p)| i as i64 == p) {
        x
    } else {
        x.permute(&perm)
    }
}

/// The product of sizes (1 for none).
fn product(sizes: &[SymInt]) -> SymInt {
    sizes.iter().fold(SymInt::Int(1), |acc, s| acc.mul(s))
}

/// Multiplies two aligned operands and sums `sum_dims`, keeping every dim (summed ones
/// as size 1): PyTorch's `sumproduct_pair`, through one `bmm`.
fn sumproduct_pair(left: &Tensor, right: &Tensor, sum_dims: &[bool]) -> Result<Tensor, OpError> {
    let (lm, rm) = (super::util::meta_of(left)?, super::util::meta_of(right)?);
    let (mut left, mut right) = (left.clone(), right.clone());
    let (mut batch, mut lo, mut ro, mut summed) = (vec![], vec![], vec![], vec![]);
    for (d, &sum) in sum_dims.iter().enumerate().take(lm.rank()) {
        let (sl, sr) = (lm.sizes[d].hint() > 1, rm.sizes[d].hint() > 1);
        match (sum, sl, sr) {
            (true, true, true) => summed.push(d),
            (true, true, false) => left = left.sum_dim(&[d as i64], true),
            (true, false, true) => right = right.sum_dim(&[d as i64], true),
            (false, true, true) => batch.push(d),
            (false, true, false) => lo.push(d),
            (false, false, true) => ro.push(d),
            _ => {}
        }
    }
    let size = |m: &TensorMeta, dims: &[usize]| -> Vec<SymInt> {
        dims.iter().map(|&d| m.sizes[d].clone()).collect()
    };
    let as_i64 =
        |dims: &[&[usize]]| -> Vec<i64> { dims.concat().iter().map(|&d| d as i64).collect() };
    let (b, l, s, r) = (
        size(&lm, &batch),
        size(&lm, &lo),
        size(&lm, &summed),
        size(&rm, &ro),
    );
    // Every dim not named keeps size 1 in that operand, so it folds away.
    let others = |named: &[&[usize]]| -> Vec<usize> {
        let named = named.concat();
        (0..lm.rank()).filter(|d| !named.contains(d)).collect()
    };
    let left_order = [&batch[..], &lo, &summed];
    let right_order = [&batch[..], &summed, &ro];
    let left = left
        .permute(&as_i64(&[&left_order.concat(), &others(&left_order)]))
        .reshape(vec![product(&b), product(&l), product(&s)]);
    let right = right
        .permute(&as_i64(&[&right_order.concat(), &others(&right_order)]))
        .reshape(vec![product(&b), product(&s), product(&r)]);
    let placed: Vec<usize> = [&batch[..], &lo, &ro].concat();
    let rest: Vec<usize> = (0..lm.rank()).filter(|d| !placed.contains(d)).collect();
    let mut out_sizes = [b, l, r].concat();
    out_sizes.extend(std::iter::repeat_n(SymInt::Int(1), rest.len()));
    let order = [&placed[..], &rest].concat();
    let mut inverse = vec![0i64; order.len()];
    for (i, &d) in order.iter().enumerate() {
        inverse[d] = i as i64;
    }
    Ok(left.bmm(&right).view(out_sizes).permute(&inverse))
}

fn einsum_decomposition(args: &Einsum) -> Result<Vec<Tensor>, OpError> {
    let (eq, metas) = einsum_plan(args)?;
    let sizes = label_sizes(&eq, &metas)?;
    let tensors = &args.tensors;
    let n_out = eq.output.len();
    // The operand after which a summed label is used no more.
    let last_use = |c: char| eq.inputs.iter().rposition(|t| t.contains(&c)).unwrap_or(0);
    let mut result = align(&tensors[0], &eq.inputs[0], &eq.order);
    for (i, t) in tensors.iter().enumerate().skip(1) {
        let operand = align(t, &eq.inputs[i], &eq.order);
        let sum_dims: Vec<bool> = eq
            .order
            .iter()
            .enumerate()
            .map(|(d, &c)| d >= n_out && last_use(c) == i)
            .collect();
        result = sumproduct_pair(&result, &operand, &sum_dims)?;
    }
    // Summed labels still larger than 1 (a single operand) are summed here.
    let rm = super::util::meta_of(&result)?;
    let left: Vec<i64> = (n_out..eq.order.len())
        .filter(|&d| rm.sizes[d].hint() > 1)
        .map(|d| d as i64)
        .collect();
    if !left.is_empty() {
        result = result.sum_dim(&left, true);
    }
    Ok(vec![result.view(sizes[..n_out].to_vec())])
}

op_def! {
    /// `torch.einsum`; PyTorch's export keeps it whole, its core IR has the `bmm` form.
    pub static EINSUM: struct Einsum =
        "aten::einsum(str equation, Tensor[] tensors, *, int[]? path=None) -> Tensor" {
        meta: einsum_meta,
        composite: einsum_decomposition,
    }
}

#[cfg(test)]
mod ellipsis_tests {
    use super::expand_ellipsis;

    /// Each ellipsis becomes fresh labels for its operand's unnamed dims, aligned from the
    /// right; with no output given, the output is those dims then the labels used once.
    #[test]
    fn an_ellipsis_is_written_out_as_labels() {
        let e = |eq: &str, ranks: &[usize]| expand_ellipsis(eq, ranks);
        assert_eq!(e("...ij,...jk->...ik", &[4, 3]).unwrap(), "ABij,Bjk->ABik");
        assert_eq!(e("...i,i", &[3, 1]).unwrap(), "ABi,i->AB");
        assert_eq!(e("b...,b...->...", &[3, 3]).unwrap(), "bAB,bAB->AB");
        assert_eq!(e("ij,jk", &[2, 2]).unwrap(), "ij,jk");
        let err = e("i...j", &[1]).unwrap_err().to_string();
        assert!(
            err.contains("more than the number of dimensions (1)"),
            "{err}"
        );
    }
}
