//! Routing-table minimisation by ordered covering (Mundy, Heathcote & Garside 2016, the method
//! of SpiNNaker's PACMAN and rig), exact under the first-match semantics of [`crate::program`].
//!
//! A router's required behaviour is a set of disjoint aligned key blocks ([`Need`]): keys that
//! must first-match an entry with given outputs, keys passed straight on by default routing
//! (they may match nothing or an entry whose outputs are exactly their travel direction), and
//! keys that must match nothing (silent keys at their source router). Keys in no block never
//! reach the router and are don't-cares.
//!
//! [`ordered_covering`] starts from one entry per routed block and greedily merges entries with
//! the same outputs into one ternary key/mask cover. Entries are kept in order of increasing
//! generality (number of don't-care bits), a merge is inserted after the entries that are no
//! more general than it, and the invariant is: every original block ("alias") owned by an entry
//! meets no entry above its owner with other outputs, and no blocked key (default-routed or
//! silent) meets an entry with outputs it may not take. Two checks keep it:
//!
//! * the **down-check**: the merge must not meet the aliases of entries below its insertion
//!   point that have other outputs, nor a blocked key it may not capture; a conflict is removed
//!   by turning one of the merge's don't-care bits into a care bit (dropping the members that
//!   disagree), choosing the bit that keeps the most members;
//! * the **up-check**: a member moves down to the insertion point, so it leaves the merge if an
//!   entry with other outputs between its old place and the insertion point meets its aliases.
//!
//! So the first matching entry of every key that reaches the router has the outputs it had
//! before; [`check_table`] proves this for a table symbolically (block by block, splitting a block
//! where an entry covers part of it), and the callers run it on every minimised table.

use crate::program::{Dirs, RouteEntry};
use thiserror::Error;

/// What the keys of one block must do at a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Want {
    /// First-match an entry with exactly these outputs.
    Route(Dirs),
    /// Passed straight on in this direction by default routing: match nothing, or first-match
    /// an entry whose outputs are exactly this direction.
    Default(Dirs),
    /// Match nothing (at its source router a key without targets is dropped).
    Nothing,
}

impl Want {
    /// Whether a first match with outputs `d` (or no match, `None`) is what this block needs.
    pub fn accepts(self, d: Option<Dirs>) -> bool {
        match (self, d) {
            (Want::Route(w), Some(d)) => w == d,
            (Want::Route(_), None) => false,
            (Want::Default(w), Some(d)) => w == d,
            (Want::Default(_), None) | (Want::Nothing, None) => true,
            (Want::Nothing, Some(_)) => false,
        }
    }
}

/// An aligned key block `key & mask == key` (`mask` of the form `1…10…0`) and what it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Need {
    pub key: u32,
    pub mask: u32,
    pub want: Want,
}

/// Why minimisation or a check refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MinimiseError {
    #[error("block {index} ({key:#x}/{mask:#x}) is not aligned: the mask must be high ones then zeros, the key zero below it")]
    Unaligned { index: usize, key: u32, mask: u32 },
    #[error("blocks {a} and {b} overlap: a key cannot need two behaviours")]
    Overlap { a: usize, b: usize },
    #[error("key {key:#x} first-matches outputs {got:?} but needs {want:?}")]
    Mismatch { key: u32, got: Option<Dirs>, want: Want },
}

/// Whether two ternary patterns share a key.
#[inline]
fn meets(k1: u32, m1: u32, k2: u32, m2: u32) -> bool {
    (k1 ^ k2) & m1 & m2 == 0
}

/// Number of don't-care bits.
#[inline]
fn generality(mask: u32) -> u32 {
    (!mask).count_ones()
}

/// Check that the blocks are aligned and pairwise disjoint.
pub fn check_needs(needs: &[Need]) -> Result<(), MinimiseError> {
    let mut order: Vec<usize> = (0..needs.len()).collect();
    for (i, n) in needs.iter().enumerate() {
        if n.mask.leading_ones() + n.mask.trailing_zeros() != 32 || n.key & !n.mask != 0 {
            return Err(MinimiseError::Unaligned { index: i, key: n.key, mask: n.mask });
        }
    }
    order.sort_by_key(|&i| (needs[i].key, needs[i].mask));
    for w in order.windows(2) {
        let (a, b) = (&needs[w[0]], &needs[w[1]]);
        let a_end = u64::from(a.key) + u64::from(!a.mask);
        if u64::from(b.key) <= a_end {
            return Err(MinimiseError::Overlap { a: w[0].min(w[1]), b: w[0].max(w[1]) });
        }
    }
    Ok(())
}

/// One entry of the table being minimised.
#[derive(Clone, Debug)]
struct Ent {
    key: u32,
    mask: u32,
    dirs: u8,
    /// Routed blocks this entry is responsible for, as (key, mask).
    aliases: Vec<(u32, u32)>,
}

/// A refined merge: members (indices into the table, ascending), the cover, its insertion index.
#[derive(Clone, Debug)]
struct Merge {
    members: Vec<usize>,
    key: u32,
    mask: u32,
}

/// The smallest ternary cover of the members.
fn cover(ents: &[Ent], members: &[usize]) -> (u32, u32) {
    let first = &ents[members[0]];
    let mut mask = first.mask;
    for &i in &members[1..] {
        let e = &ents[i];
        mask &= e.mask & !(e.key ^ first.key);
    }
    (first.key & mask, mask)
}

/// Index at which an entry of mask `mask` goes: after every entry no more general than it.
fn insertion_index(ents: &[Ent], mask: u32) -> usize {
    let g = generality(mask);
    ents.partition_point(|e| generality(e.mask) <= g)
}

/// Down-check and up-check a candidate merge of `members` (all with outputs `dirs`) until it
/// is safe; `None` if it is not better than `min_goodness` (members removed − 1… saved entries).
fn refine(
    ents: &[Ent],
    blocked: &[(u32, u32, Option<u8>)],
    dirs: u8,
    mut members: Vec<usize>,
    min_goodness: usize,
) -> Option<Merge> {
    let mut is_member = vec![false; ents.len()];
    for &i in &members {
        is_member[i] = true;
    }
    loop {
        if members.len() < 2 || members.len() - 1 <= min_goodness {
            return None;
        }
        let (key, mask) = cover(ents, &members);
        let p = insertion_index(ents, mask);
        // Down-check: conflicts the merge would capture.
        let mut conflicts: Vec<(u32, u32)> = Vec::new();
        for e in &ents[p..] {
            if e.dirs != dirs && meets(key, mask, e.key, e.mask) {
                conflicts.extend(e.aliases.iter().copied().filter(|&(k, m)| meets(key, mask, k, m)));
            }
        }
        for &(k, m, allowed) in blocked {
            if allowed != Some(dirs) && meets(key, mask, k, m) {
                conflicts.push((k, m));
            }
        }
        if !conflicts.is_empty() {
            // Per bit, members with a care bit of value 0 / 1 there.
            let mut count = [[0usize; 2]; 32];
            for &i in &members {
                let e = &ents[i];
                for (b, c) in count.iter_mut().enumerate() {
                    if e.mask >> b & 1 == 1 {
                        c[(e.key >> b & 1) as usize] += 1;
                    }
                }
            }
            // The (bit, value) that excludes a conflict and keeps the most members.
            let mut best: Option<(usize, u32, u32)> = None;
            for &(k, m) in &conflicts {
                let free = !mask & m;
                if free == 0 {
                    return None; // this conflict cannot be excluded by any sub-merge cover
                }
                for b in 0..32u32 {
                    if free >> b & 1 == 1 {
                        let v = !(k >> b) & 1;
                        let kept = count[b as usize][v as usize];
                        if best.is_none_or(|(n, bb, _)| kept > n || (kept == n && b < bb)) {
                            best = Some((kept, b, v));
                        }
                    }
                }
            }
            let (_, b, v) = best?;
            members.retain(|&i| {
                let e = &ents[i];
                let keep = e.mask >> b & 1 == 1 && e.key >> b & 1 == v;
                if !keep {
                    is_member[i] = false;
                }
                keep
            });
            continue;
        }
        // Up-check: members moving down past entries with other outputs that meet their aliases.
        let before = members.len();
        members.retain(|&i| {
            let e = &ents[i];
            let clash = ents[i + 1..p.max(i + 1)].iter().enumerate().any(|(off, o)| {
                !is_member[i + 1 + off]
                    && o.dirs != dirs
                    && meets(e.key, e.mask, o.key, o.mask)
                    && e.aliases.iter().any(|&(k, m)| meets(k, m, o.key, o.mask))
            });
            if clash {
                is_member[i] = false;
            }
            !clash
        });
        if members.len() == before {
            return Some(Merge { members, key, mask });
        }
    }
}

/// Minimise the table that `needs` describe by ordered covering, stopping once it has at most
/// `target` entries (0: as small as the method gets it). Returns entries in first-match order.
/// The result routes every key of `needs` as needed (checked by [`check_table`] before returning).
///
/// Default-routed blocks are first left to default routing (no entry may capture them unless it
/// has their direction); if that leaves more than `target` entries, the method is run again with
/// every default-routed block given an entry of its own direction (which routes it the same way,
/// and lets a general cover with other outputs sit below it), and the shorter table is returned.
pub fn ordered_covering(needs: &[Need], target: usize) -> Result<Vec<RouteEntry>, MinimiseError> {
    check_needs(needs)?;
    let mut table = cover_with(needs, target, false);
    if table.len() > target {
        let other = cover_with(needs, target, true);
        if other.len() < table.len() {
            table = other;
        }
    }
    check_table(needs, &table)?;
    Ok(table)
}

/// One run of ordered covering; `default_entries`: default-routed blocks get entries.
fn cover_with(needs: &[Need], target: usize, default_entries: bool) -> Vec<RouteEntry> {
    let mut ents: Vec<Ent> = Vec::new();
    let mut blocked: Vec<(u32, u32, Option<u8>)> = Vec::new();
    for n in needs {
        match n.want {
            Want::Route(d) => ents.push(Ent { key: n.key, mask: n.mask, dirs: d.0, aliases: vec![(n.key, n.mask)] }),
            Want::Default(d) if default_entries => {
                ents.push(Ent { key: n.key, mask: n.mask, dirs: d.0, aliases: vec![(n.key, n.mask)] })
            }
            Want::Default(d) => blocked.push((n.key, n.mask, Some(d.0))),
            Want::Nothing => blocked.push((n.key, n.mask, None)),
        }
    }
    ents.sort_by_key(|e| (generality(e.mask), e.key));
    while ents.len() > target {
        let mut routes: Vec<u8> = ents.iter().map(|e| e.dirs).collect();
        routes.sort_unstable();
        routes.dedup();
        let mut best: Option<Merge> = None;
        for &r in &routes {
            let members: Vec<usize> = (0..ents.len()).filter(|&i| ents[i].dirs == r).collect();
            let min = best.as_ref().map_or(0, |m| m.members.len() - 1);
            if let Some(m) = refine(&ents, &blocked, r, members, min) {
                best = Some(m);
            }
        }
        let Some(m) = best else { break };
        let dirs = ents[m.members[0]].dirs;
        let mut aliases = Vec::new();
        let mut is_member = vec![false; ents.len()];
        for &i in &m.members {
            is_member[i] = true;
        }
        let mut kept = Vec::with_capacity(ents.len() - m.members.len() + 1);
        for (i, e) in ents.into_iter().enumerate() {
            if is_member[i] {
                aliases.extend(e.aliases);
            } else {
                kept.push(e);
            }
        }
        ents = kept;
        let p = insertion_index(&ents, m.mask);
        ents.insert(p, Ent { key: m.key, mask: m.mask, dirs, aliases });
    }
    ents.into_iter().map(|e| RouteEntry { key: e.key, mask: e.mask, dirs: Dirs(e.dirs) }).collect()
}

/// Prove that `table` (first match) gives every key of every block what it needs: each block is
/// followed through the table, split where an entry covers part of it.
pub fn check_table(needs: &[Need], table: &[RouteEntry]) -> Result<(), MinimiseError> {
    fn walk(table: &[RouteEntry], key: u32, mask: u32, from: usize, want: Want) -> Result<(), MinimiseError> {
        for (j, e) in table.iter().enumerate().skip(from) {
            if !meets(key, mask, e.key, e.mask) {
                continue;
            }
            let split = e.mask & !mask;
            if split == 0 {
                // The entry covers the whole (sub-)block.
                return if want.accepts(Some(e.dirs)) {
                    Ok(())
                } else {
                    Err(MinimiseError::Mismatch { key, got: Some(e.dirs), want })
                };
            }
            let b = split.trailing_zeros();
            let bit = 1u32 << b;
            let inside = (key & !bit) | (e.key & bit);
            walk(table, inside, mask | bit, j, want)?;
            return walk(table, inside ^ bit, mask | bit, j + 1, want);
        }
        if want.accepts(None) {
            Ok(())
        } else {
            Err(MinimiseError::Mismatch { key, got: None, want })
        }
    }
    for n in needs {
        walk(table, n.key & n.mask, n.mask, 0, n.want)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Dirs = Dirs::LOCAL;
    const N: Dirs = Dirs::NORTH;
    const LN: Dirs = Dirs(Dirs::LOCAL.0 | Dirs::NORTH.0);

    fn need(key: u32, mask: u32, want: Want) -> Need {
        Need { key, mask, want }
    }

    /// First matching outputs of `key` in `table`.
    fn first(table: &[RouteEntry], key: u32) -> Option<Dirs> {
        table.iter().find(|e| key & e.mask == e.key).map(|e| e.dirs)
    }

    #[test]
    fn same_route_blocks_merge_into_one() {
        let needs: Vec<Need> = (0..8).map(|k| need(k << 4, !0xF, Want::Route(L))).collect();
        let t = ordered_covering(&needs, 0).expect("minimises");
        assert_eq!(t, vec![RouteEntry { key: 0, mask: !0x7F, dirs: L }]);
    }

    #[test]
    fn a_naive_merge_would_capture_a_default_routed_key() {
        // Keys 0, 1, 3 go local; key 2 passes straight on north by default routing. Merging
        // 0, 1, 3 into X..XX would send key 2 to the local core.
        let needs = vec![
            need(0, !0, Want::Route(L)),
            need(1, !0, Want::Route(L)),
            need(2, !0, Want::Default(N)),
            need(3, !0, Want::Route(L)),
        ];
        let t = ordered_covering(&needs, 0).expect("minimises");
        for k in 0..4 {
            assert!(needs[k as usize].want.accepts(first(&t, k)), "key {k}: {:?} in {t:?}", first(&t, k));
        }
        assert_eq!(t.len(), 2, "{t:?}"); // 0X -> L and 11 -> L (or equivalent)
                                         // The naive cover is refused by the checker.
        let naive = vec![RouteEntry { key: 0, mask: !3, dirs: L }];
        assert!(matches!(check_table(&needs, &naive), Err(MinimiseError::Mismatch { key: 2, .. })));
    }

    #[test]
    fn a_default_routed_key_may_be_captured_by_its_own_direction() {
        let needs = vec![need(0, !0, Want::Route(N)), need(1, !0, Want::Default(N)), need(2, !0, Want::Route(N))];
        let t = ordered_covering(&needs, 0).expect("minimises");
        assert_eq!(t.len(), 1, "{t:?}");
        check_table(&needs, &t).expect("checks");
    }

    #[test]
    fn silent_keys_are_never_captured() {
        let needs = vec![need(0, !0, Want::Route(LN)), need(1, !0, Want::Nothing), need(3, !0, Want::Route(LN))];
        let t = ordered_covering(&needs, 0).expect("minimises");
        assert_eq!(first(&t, 1), None, "{t:?}");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn order_lets_a_general_entry_sit_below_exceptions() {
        // 16 blocks: all LN except block 5 (L). Ordered covering: 0101 -> L above XXXX -> LN.
        let needs: Vec<Need> =
            (0..16u32).map(|k| need(k << 8, !0xFF, Want::Route(if k == 5 { L } else { LN }))).collect();
        let t = ordered_covering(&needs, 0).expect("minimises");
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0], RouteEntry { key: 5 << 8, mask: !0xFF, dirs: L });
        assert_eq!(t[1], RouteEntry { key: 0, mask: !0xFFF, dirs: LN });
    }

    #[test]
    fn up_check_keeps_a_member_above_an_entry_with_other_outputs_that_meets_it() {
        // After the first merge, 1XXX -> N (from 1000, 1010, 1100, 1110, all N) sits above
        // XXX1 -> E; merging 0000 with the N cover into XXX0 -> N is fine, but key 1001 must
        // keep E: a cover must never capture it.
        let e = Dirs::EAST;
        let mut needs = Vec::new();
        for k in 0..16u32 {
            let want = if k & 1 == 1 { Want::Route(e) } else { Want::Route(N) };
            needs.push(need(k, !0, want));
        }
        let t = ordered_covering(&needs, 0).expect("minimises");
        assert_eq!(t.len(), 2, "{t:?}");
        for n in &needs {
            assert!(n.want.accepts(first(&t, n.key)), "{n:?} in {t:?}");
        }
    }

    #[test]
    fn default_routed_exceptions_get_entries_when_that_is_shorter() {
        // 32 blocks coming from the north: most go local and on south (LS), seven scattered ones
        // pass straight on south without local delivery. Left to default routing, LS covers must
        // avoid all seven; given entries of their direction (S), they sit above one LS cover.
        let ls = Dirs(Dirs::LOCAL.0 | Dirs::SOUTH.0);
        let odd = [1u32, 6, 11, 16, 21, 26, 31];
        let needs: Vec<Need> = (0..32u32)
            .map(|k| need(k << 4, !0xF, if odd.contains(&k) { Want::Default(Dirs::SOUTH) } else { Want::Route(ls) }))
            .collect();
        let left_to_default = cover_with(&needs, 0, false);
        let t = ordered_covering(&needs, 0).expect("minimises");
        assert!(t.len() < left_to_default.len(), "{t:?} vs {left_to_default:?}");
        assert!(t.len() <= odd.len() + 1, "{t:?}");
        assert_eq!(t.last().map(|e| (e.key, e.mask, e.dirs)), Some((0, !0x1FF, ls)), "{t:?}");
    }

    #[test]
    fn stops_at_the_target() {
        let needs: Vec<Need> = (0..64u32).map(|k| need(k, !0, Want::Route(if k % 3 == 0 { L } else { N }))).collect();
        let small = ordered_covering(&needs, 0).expect("minimises");
        let at = ordered_covering(&needs, 40).expect("minimises");
        assert!(at.len() <= 40 && at.len() >= small.len(), "{} {}", at.len(), small.len());
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert!(matches!(
            ordered_covering(&[need(1, !3, Want::Route(L))], 0),
            Err(MinimiseError::Unaligned { index: 0, .. })
        ));
        assert!(matches!(
            ordered_covering(&[need(0, 0xF0F0_FFFF, Want::Route(L))], 0),
            Err(MinimiseError::Unaligned { .. })
        ));
        assert!(matches!(
            ordered_covering(&[need(0, !3, Want::Route(L)), need(2, !0, Want::Route(N))], 0),
            Err(MinimiseError::Overlap { a: 0, b: 1 })
        ));
    }

    #[test]
    fn checker_splits_partial_covers() {
        let needs = vec![need(0, !3, Want::Route(L))];
        // 0X0 -> L covers keys 0 and 2 of the block; 1 and 3 fall to XX1 -> L.
        let ok = vec![RouteEntry { key: 0, mask: 1, dirs: L }, RouteEntry { key: 1, mask: 1, dirs: L }];
        check_table(&needs, &ok).expect("both halves local");
        let bad = vec![RouteEntry { key: 0, mask: 1, dirs: L }, RouteEntry { key: 1, mask: 1, dirs: N }];
        assert!(matches!(check_table(&needs, &bad), Err(MinimiseError::Mismatch { got: Some(N), .. })));
        let short = vec![RouteEntry { key: 0, mask: 1, dirs: L }];
        assert!(matches!(check_table(&needs, &short), Err(MinimiseError::Mismatch { got: None, .. })));
    }
}
