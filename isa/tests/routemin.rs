//! Property test of ordered covering (`nm_isa::routemin`): on random required behaviours (disjoint
//! aligned blocks that must route, pass straight on, or match nothing, amid don't-care keys),
//! the minimised table routes every key exactly like the uncompressed table (one entry per
//! routed block), brute force over the key space, and is never longer.

use nm_isa::program::{Dirs, RouteEntry};
use nm_isa::routemin::{check_table, ordered_covering, Need, Want};
use proptest::prelude::*;

/// Split the 8-bit key space into aligned blocks from the random draws `r` (consumed in order);
/// each block gets a behaviour or stays a don't-care.
fn partition(r: &[u32], shift: u32) -> Vec<Need> {
    let dirs = [Dirs(1), Dirs(3), Dirs(9), Dirs(4), Dirs(2), Dirs(21)];
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut next = || {
        let v = r[pos % r.len()].rotate_left(pos as u32 / r.len() as u32 * 7);
        pos += 1;
        v
    };
    // (prefix value, prefix length) stack.
    let mut stack = vec![(0u32, 0u32)];
    while let Some((v, len)) = stack.pop() {
        let x = next();
        if len < 8 && (len < 2 || x % 4 != 0) {
            stack.push((v << 1 | 1, len + 1));
            stack.push((v << 1, len + 1));
            continue;
        }
        let key = v << (shift + 8 - len);
        let mask = !0u32 << (shift + 8 - len);
        let want = match (x >> 8) % 10 {
            0..=5 => Want::Route(dirs[(x >> 16) as usize % dirs.len()]),
            6 => Want::Default(Dirs::NORTH),
            7 => Want::Default(Dirs::EAST),
            8 => Want::Nothing,
            _ => continue, // don't-care keys
        };
        out.push(Need { key, mask, want });
    }
    out
}

fn first(table: &[RouteEntry], key: u32) -> Option<Dirs> {
    table.iter().find(|e| key & e.mask == e.key).map(|e| e.dirs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn minimised_table_routes_every_key_like_the_original(
        r in prop::collection::vec(any::<u32>(), 64..128),
        shift in 0u32..=8,
        low in any::<u32>(),
        target in prop_oneof![Just(0usize), 0usize..40],
    ) {
        let needs = partition(&r, shift);
        let original: Vec<RouteEntry> = needs
            .iter()
            .filter_map(|n| match n.want {
                Want::Route(d) => Some(RouteEntry { key: n.key, mask: n.mask, dirs: d }),
                _ => None,
            })
            .collect();
        check_table(&needs, &original).expect("the original routes as needed");
        let t = ordered_covering(&needs, target).expect("minimises");
        prop_assert!(t.len() <= original.len());
        let low = low & ((1u32 << shift) - 1);
        for n in &needs {
            let size = (!n.mask >> shift) + 1;
            for k in 0..size {
                let key = n.key | k << shift | low;
                // The original: first match, else the block's default behaviour.
                let before = first(&original, key).map(Some).unwrap_or(match n.want {
                    Want::Default(d) => Some(d),
                    _ => None,
                });
                let after = first(&t, key).or(match n.want {
                    Want::Default(d) => Some(d),
                    _ => None,
                });
                prop_assert_eq!(before, after, "key {:#x} of {:?}; table {:?}", key, n, t);
            }
        }
    }
}
