/*!
A case of an exploration, and the proptest value tree that draws and shrinks it.

A [`Case`] is everything explore varies: the drawn variables, each TCP send's pieces and
pause, which consecutive sends are coalesced, the number of concurrent copies, and the
link's loss and seed. [`CaseTree`] is a [`ValueTree`] over it, built from proptest's own
trees: [`BinarySearch`] for every number (clients, loss, pieces, pause, integers, the
length of a drawn string), and proptest's `string_regex` strategy to draw strings. Like
proptest's tuple trees it shrinks one dimension at a time, in the order of
[`Plan`]: fewer clients, no loss, no coalescing, fewer and longer pieces with shorter
pauses, then shorter and smaller values.
*/

use std::sync::Arc;

use proptest::num::u64::BinarySearch;
use proptest::prelude::{Rng, RngExt};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use crate::scenario::VarGen;

/// The most pieces a send is split into.
pub const MAX_PIECES: u64 = 8;

/// How many prefix lengths are tried when looking for a prefix of a drawn string that
/// still matches its regex (each try is a match of the whole prefix).
const PREFIX_LOOKS: usize = 64;

/// The shortest pause between the pieces of a split send (unless `pause_max` is
/// shorter): on a busy machine a shorter one does not reliably make the pieces arrive
/// in separate reads, so a case that failed with it might pass when run again.
pub const PAUSE_FLOOR_MS: u64 = 10;

/// What explore may vary in one scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The sends that may be split (indices into the top-level steps).
    pub sends: Vec<usize>,
    /// Pairs of consecutive sends (indices into `sends`) that may be coalesced.
    pub pairs: Vec<usize>,
    /// `chunking`.
    pub chunking: bool,
    /// `pause_max`, in ms.
    pub pause_max_ms: u64,
    /// `clients`.
    pub clients: Option<(usize, usize)>,
    /// `loss`, in thousandths.
    pub loss: Option<(u64, u64)>,
    /// `[explore.vars]`.
    pub vars: Vec<(String, VarGen)>,
    /// Per variable: for a regex, its strategy and the regex that a shrunk prefix must
    /// still match, compiled once for every case.
    pub compiled: Vec<Option<Arc<Compiled>>>,
}

/// A `regex` variable, compiled.
#[derive(Debug)]
pub struct Compiled {
    strategy: proptest::string::RegexGeneratorStrategy<String>,
    full: Option<regex::Regex>,
}

impl Compiled {
    /// Compiles `re` for drawing and for checking prefixes.
    pub fn new(re: &str) -> Result<Compiled, String> {
        Ok(Compiled {
            strategy: proptest::string::string_regex(re).map_err(|e| e.to_string())?,
            full: regex::Regex::new(&format!("^(?:{re})$")).ok(),
        })
    }
}

/// One send's split.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Split {
    /// Into how many writes (1: not split).
    pub pieces: u64,
    /// The pause between writes, in ms.
    pub pause_ms: u64,
    /// Where the cuts fall (a seed: the same seed gives the same cuts).
    pub cuts: u64,
}

/// One generated case.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Case {
    /// The drawn values, in `[explore.vars]` order.
    pub vars: Vec<(String, String)>,
    /// Per entry of [`Plan::sends`].
    pub splits: Vec<Split>,
    /// Per entry of [`Plan::pairs`]: merged into one write.
    pub coalesce: Vec<bool>,
    /// Concurrent copies of the steps.
    pub clients: usize,
    /// Link loss, in thousandths.
    pub loss_permille: u64,
    /// The link's seed.
    pub seed: u64,
}

/// One dimension of a case.
#[derive(Debug, Clone)]
enum Dim {
    /// A number, shrunk towards its lower bound.
    Num(BinarySearch),
    /// A flag, shrunk towards false.
    Flag { on: bool, tried: bool },
    /// A drawn string (or byte string), shrunk by length.
    Text(Text),
}

/// A drawn string, shrunk to its shortest prefix that still fails (and, for a regex,
/// still matches it).
#[derive(Debug, Clone)]
struct Text {
    full: Vec<char>,
    len: BinarySearch,
    matches: Option<Arc<Compiled>>,
    bytes: bool,
}

impl Text {
    fn value(&self) -> String {
        let n = (self.len.current() as usize).min(self.full.len());
        if let Some(re) = self.matches.as_ref().and_then(|c| c.full.as_ref()) {
            // The longest prefix that still matches, looking a little way down; else the
            // whole draw (which matches).
            for m in (n.saturating_sub(PREFIX_LOOKS)..=n).rev() {
                let s: String = self.full[..m].iter().collect();
                if re.is_match(&s) {
                    return s;
                }
            }
            return self.full.iter().collect();
        }
        if self.bytes {
            self.full[..n]
                .iter()
                .map(|&c| format!("{:02x}", c as u32))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            self.full[..n].iter().collect()
        }
    }
}

impl Dim {
    fn simplify(&mut self) -> bool {
        match self {
            Dim::Num(b) => b.simplify(),
            Dim::Flag { on, tried } => {
                if *on && !*tried {
                    *on = false;
                    *tried = true;
                    true
                } else {
                    false
                }
            }
            Dim::Text(t) => t.len.simplify(),
        }
    }

    fn complicate(&mut self) -> bool {
        match self {
            Dim::Num(b) => b.complicate(),
            Dim::Flag { on, tried } => {
                if *tried && !*on {
                    *on = true;
                    true
                } else {
                    false
                }
            }
            Dim::Text(t) => t.len.complicate(),
        }
    }

    fn num(&self) -> u64 {
        match self {
            Dim::Num(b) => b.current(),
            _ => 0,
        }
    }
}

/// The value tree of a case.
#[derive(Debug, Clone)]
pub struct CaseTree {
    plan: std::sync::Arc<Plan>,
    /// In shrink order: clients, loss, coalesce flags, (pieces, pause) per send, vars.
    dims: Vec<Dim>,
    /// Fixed per case: the cut seed of each send, the link seed, each int var's lower
    /// bound.
    cut_seeds: Vec<u64>,
    seed: u64,
    int_base: Vec<i64>,
    shrinker: usize,
    prev: Option<usize>,
}

impl CaseTree {
    /// Draws a new case.
    pub fn draw(plan: &std::sync::Arc<Plan>, runner: &mut TestRunner) -> Result<CaseTree, String> {
        let mut dims = Vec::new();
        let rng = runner.rng();
        let clients = plan
            .clients
            .map_or(1, |(a, b)| rng.random_range(a as u64..=b as u64));
        dims.push(Dim::Num(BinarySearch::new_above(
            plan.clients.map_or(1, |(a, _)| a as u64),
            clients,
        )));
        let loss = plan.loss.map_or(0, |(a, b)| rng.random_range(a..=b));
        dims.push(Dim::Num(BinarySearch::new_above(
            plan.loss.map_or(0, |(a, _)| a),
            loss,
        )));
        for _ in &plan.pairs {
            dims.push(Dim::Flag {
                on: rng.random_bool(0.5),
                tried: false,
            });
        }
        let mut cut_seeds = Vec::new();
        for _ in &plan.sends {
            let least = PAUSE_FLOOR_MS.min(plan.pause_max_ms);
            let (pieces, pause) = if plan.chunking {
                (
                    rng.random_range(1..=MAX_PIECES),
                    rng.random_range(least..=plan.pause_max_ms),
                )
            } else {
                (1, 0)
            };
            dims.push(Dim::Num(BinarySearch::new_above(1, pieces)));
            dims.push(Dim::Num(BinarySearch::new_above(least.min(pause), pause)));
            cut_seeds.push(rng.next_u64());
        }
        let seed = rng.next_u64() >> 1;
        let mut int_base = Vec::new();
        for ((_, generator), compiled) in plan.vars.iter().zip(&plan.compiled) {
            let dim = match generator {
                VarGen::Int(a, b) => {
                    int_base.push(*a);
                    let x = runner.rng().random_range(*a..=*b);
                    Dim::Num(BinarySearch::new((x - a) as u64))
                }
                VarGen::Regex(re) => {
                    int_base.push(0);
                    let compiled = match compiled {
                        Some(c) => Arc::clone(c),
                        None => Arc::new(Compiled::new(re)?),
                    };
                    let drawn: Vec<char> = compiled
                        .strategy
                        .new_tree(runner)
                        .map_err(|e| e.to_string())?
                        .current()
                        .chars()
                        .collect();
                    let min = (0..=drawn.len().min(PREFIX_LOOKS))
                        .find(|&n| {
                            compiled
                                .full
                                .as_ref()
                                .is_none_or(|m| m.is_match(&drawn[..n].iter().collect::<String>()))
                        })
                        .unwrap_or(0);
                    Dim::Text(Text {
                        len: BinarySearch::new_above(min as u64, drawn.len() as u64),
                        full: drawn,
                        matches: Some(compiled),
                        bytes: false,
                    })
                }
                VarGen::Bytes(a, b) => {
                    int_base.push(0);
                    let rng = runner.rng();
                    let n = rng.random_range(*a..=*b);
                    let full: Vec<char> = (0..n).map(|_| char::from(rng.random::<u8>())).collect();
                    Dim::Text(Text {
                        len: BinarySearch::new_above(*a as u64, n as u64),
                        full,
                        matches: None,
                        bytes: true,
                    })
                }
            };
            dims.push(dim);
        }
        Ok(CaseTree {
            plan: std::sync::Arc::clone(plan),
            dims,
            cut_seeds,
            seed,
            int_base,
            shrinker: 0,
            prev: None,
        })
    }
}

impl ValueTree for CaseTree {
    type Value = Case;

    fn current(&self) -> Case {
        let plan = &self.plan;
        let mut at = 0;
        let mut next = || {
            at += 1;
            &self.dims[at - 1]
        };
        let clients = next().num() as usize;
        let loss_permille = next().num();
        let coalesce = plan
            .pairs
            .iter()
            .map(|_| matches!(next(), Dim::Flag { on: true, .. }))
            .collect();
        let splits = self
            .cut_seeds
            .iter()
            .map(|&cuts| {
                let pieces = next().num();
                let pause_ms = next().num();
                Split {
                    pieces,
                    pause_ms,
                    cuts,
                }
            })
            .collect();
        let vars = plan
            .vars
            .iter()
            .zip(&self.int_base)
            .map(|((name, _), base)| {
                let value = match next() {
                    Dim::Num(b) => (base + b.current() as i64).to_string(),
                    Dim::Text(t) => t.value(),
                    Dim::Flag { .. } => String::new(),
                };
                (name.clone(), value)
            })
            .collect();
        Case {
            vars,
            splits,
            coalesce,
            clients,
            loss_permille,
            seed: self.seed,
        }
    }

    fn simplify(&mut self) -> bool {
        while self.shrinker < self.dims.len() {
            if self.dims[self.shrinker].simplify() {
                self.prev = Some(self.shrinker);
                return true;
            }
            self.shrinker += 1;
        }
        false
    }

    fn complicate(&mut self) -> bool {
        match self.prev {
            Some(i) if self.dims[i].complicate() => true,
            _ => {
                self.prev = None;
                false
            }
        }
    }
}

/// Where a payload of `len` bytes is cut into `pieces` writes: the sizes of the writes.
/// The cuts for k pieces are among those for k + 1 (the same seed, the same order of
/// draws), so fewer pieces means fewer cuts, not other ones.
pub fn chunk_sizes(len: usize, split: &Split) -> Vec<usize> {
    let pieces = (split.pieces as usize).clamp(1, len.max(1));
    if pieces <= 1 || len < 2 {
        return vec![len];
    }
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(split.cuts);
    let mut cuts = std::collections::BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < pieces - 1 {
        let at = 1 + (rand_core::Rng::next_u64(&mut rng) as usize % (len - 1));
        if cuts.insert(at) {
            order.push(at);
        }
    }
    let mut sizes = Vec::with_capacity(pieces);
    let mut last = 0;
    for at in cuts {
        sizes.push(at - last);
        last = at;
    }
    sizes.push(len - last);
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_pieces_keep_a_subset_of_the_cuts() {
        let cuts_of = |pieces| {
            let sizes = chunk_sizes(
                100,
                &Split {
                    pieces,
                    pause_ms: 0,
                    cuts: 7,
                },
            );
            assert_eq!(sizes.iter().sum::<usize>(), 100);
            sizes
                .iter()
                .scan(0, |acc, s| {
                    *acc += s;
                    Some(*acc)
                })
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(cuts_of(1).len(), 1);
        assert!(cuts_of(3).is_subset(&cuts_of(5)));
        assert_eq!(
            chunk_sizes(
                1,
                &Split {
                    pieces: 5,
                    pause_ms: 0,
                    cuts: 1
                }
            ),
            vec![1]
        );
    }
}
