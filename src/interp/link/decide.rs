/*!
Link decisions: what happens to one datagram, as a pure function of where it sits.

A datagram is identified by the run's seed, its flow (the actor's name), its
[`Direction`] and its `seq`, its 1-based position among the datagrams of that flow in
that direction. Its [`Verdict`] is computed from a ChaCha8 stream keyed by
`SHA-256(seed ‖ flow ‖ direction)` and positioned at `seq`: every datagram draws the
same fixed set of words ([`WORDS_PER_DATAGRAM`]), so a verdict never depends on earlier
outcomes, on timing, or on other flows. Adding an actor never changes another actor's
decisions.
*/

use std::fmt;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::scenario::model::LinkDirection;

/// 32-bit words of the stream used per datagram: four `u64` draws (loss, duplicate,
/// reorder, jitter).
pub const WORDS_PER_DATAGRAM: u128 = 8;

/// Which way a datagram travels through the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From an actor to the target (`[link.to_target]`).
    ToTarget,
    /// From the target back to an actor (`[link.from_target]`).
    FromTarget,
}

impl Direction {
    /// The name used in scenario files and transcripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToTarget => "to_target",
            Direction::FromTarget => "from_target",
        }
    }

    fn tag(self) -> u8 {
        match self {
            Direction::ToTarget => 1,
            Direction::FromTarget => 2,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the link does to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Lost: listed in `drop`, or drawn by `loss`. A dropped datagram is neither
    /// duplicated, held nor delayed.
    pub drop: bool,
    /// Dropped because its seq is in the `drop` list (as opposed to `loss`).
    pub listed: bool,
    /// Forwarded twice (both copies with the same delay).
    pub duplicate: bool,
    /// Reordered: held back and forwarded right after the next datagram.
    pub hold: bool,
    /// `delay` plus a uniform jitter in `[0, jitter]`, in whole milliseconds.
    pub delay: Duration,
}

impl Verdict {
    /// True when the datagram is forwarded at once, unchanged.
    pub fn is_trivial(&self) -> bool {
        !self.drop && !self.duplicate && !self.hold && self.delay.is_zero()
    }

    /// How the verdict reads in a transcript: `dropped (listed)`, `dropped`,
    /// `duplicated, held back, delayed 23ms`, …; `None` when trivial.
    pub fn describe(&self) -> Option<String> {
        if self.drop {
            return Some(
                if self.listed {
                    "dropped (listed)"
                } else {
                    "dropped"
                }
                .to_string(),
            );
        }
        let mut parts: Vec<String> = Vec::new();
        if self.duplicate {
            parts.push("duplicated".to_string());
        }
        if self.hold {
            parts.push("held back".to_string());
        }
        if !self.delay.is_zero() {
            parts.push(format!("delayed {}ms", self.delay.as_millis()));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The verdict of the datagram at `seq` (1-based) of `flow` in `direction`.
///
/// Pure: the same inputs always give the same verdict.
pub fn decide(
    dir: &LinkDirection,
    seed: u64,
    flow: &str,
    direction: Direction,
    seq: u64,
) -> Verdict {
    Decider::new(dir, seed, flow, direction).decide(seq)
}

/// The decision stream of one flow in one direction, keyed once; [`Decider::decide`]
/// positions it at the datagram's seq, so calls may come in any order.
#[derive(Debug, Clone)]
pub struct Decider {
    rng: ChaCha8Rng,
    drop: Vec<u64>,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    delay_ms: u64,
    jitter_ms: u64,
}

impl Decider {
    /// Keys the stream of `flow` in `direction` under `seed`.
    pub fn new(dir: &LinkDirection, seed: u64, flow: &str, direction: Direction) -> Decider {
        let mut hasher = Sha256::new();
        hasher.update(b"netdrill-link\0");
        hasher.update(seed.to_le_bytes());
        hasher.update((flow.len() as u64).to_le_bytes());
        hasher.update(flow.as_bytes());
        hasher.update([direction.tag()]);
        let key: [u8; 32] = hasher.finalize().into();
        let mut drop = dir.drop.clone();
        drop.sort_unstable();
        drop.dedup();
        Decider {
            rng: ChaCha8Rng::from_seed(key),
            drop,
            loss: dir.loss,
            duplicate: dir.duplicate,
            reorder: dir.reorder,
            delay_ms: millis(dir.delay),
            jitter_ms: millis(dir.jitter),
        }
    }

    /// The verdict of the datagram at `seq` (1-based).
    pub fn decide(&mut self, seq: u64) -> Verdict {
        self.rng
            .set_word_pos(u128::from(seq.saturating_sub(1)) * WORDS_PER_DATAGRAM);
        // Always the same four draws, whatever the outcome.
        let loss = unit(self.rng.next_u64());
        let duplicate = unit(self.rng.next_u64());
        let reorder = unit(self.rng.next_u64());
        let jitter = self.rng.next_u64();

        let listed = self.drop.binary_search(&seq).is_ok();
        if listed || loss < self.loss {
            return Verdict {
                drop: true,
                listed,
                ..Verdict::default()
            };
        }
        let extra = match self.jitter_ms {
            0 => 0,
            j => jitter % (j.saturating_add(1)),
        };
        Verdict {
            drop: false,
            listed: false,
            duplicate: duplicate < self.duplicate,
            hold: reorder < self.reorder,
            delay: Duration::from_millis(self.delay_ms.saturating_add(extra)),
        }
    }
}

/// A uniform draw in `[0, 1)` from 53 random bits: `p = 0` never hits, `p = 1` always.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LinkDirection {
        LinkDirection {
            loss: 0.3,
            duplicate: 0.2,
            reorder: 0.2,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            ..LinkDirection::default()
        }
    }

    #[test]
    fn same_inputs_same_verdict() {
        let d = spec();
        for seq in 1..200 {
            assert_eq!(
                decide(&d, 7, "a", Direction::ToTarget, seq),
                decide(&d, 7, "a", Direction::ToTarget, seq)
            );
        }
    }

    #[test]
    fn decider_is_order_independent() {
        let d = spec();
        let mut fwd = Decider::new(&d, 3, "x", Direction::FromTarget);
        let forward: Vec<Verdict> = (1..100).map(|s| fwd.decide(s)).collect();
        let mut back = Decider::new(&d, 3, "x", Direction::FromTarget);
        let mut backward: Vec<Verdict> = (1..100).rev().map(|s| back.decide(s)).collect();
        backward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn drop_list_drops_exactly_those() {
        let d = LinkDirection {
            drop: vec![3, 1],
            ..LinkDirection::default()
        };
        let dropped: Vec<u64> = (1..50)
            .filter(|&s| decide(&d, 0, "a", Direction::ToTarget, s).drop)
            .collect();
        assert_eq!(dropped, vec![1, 3]);
        let v = decide(&d, 0, "a", Direction::ToTarget, 1);
        assert_eq!(v.describe().as_deref(), Some("dropped (listed)"));
        assert!(decide(&d, 0, "a", Direction::ToTarget, 2).is_trivial());
    }

    #[test]
    fn loss_zero_and_one() {
        let never = LinkDirection::default();
        let always = LinkDirection {
            loss: 1.0,
            ..LinkDirection::default()
        };
        for seq in 1..2000 {
            assert!(!decide(&never, 9, "f", Direction::ToTarget, seq).drop);
            let v = decide(&always, 9, "f", Direction::ToTarget, seq);
            assert!(v.drop && !v.duplicate && !v.hold && v.delay.is_zero());
        }
    }

    #[test]
    fn flows_and_directions_are_independent_streams() {
        let d = spec();
        let a: Vec<Verdict> = (1..300)
            .map(|s| decide(&d, 1, "a", Direction::ToTarget, s))
            .collect();
        let b: Vec<Verdict> = (1..300)
            .map(|s| decide(&d, 1, "b", Direction::ToTarget, s))
            .collect();
        let a_from: Vec<Verdict> = (1..300)
            .map(|s| decide(&d, 1, "a", Direction::FromTarget, s))
            .collect();
        assert_ne!(a, b);
        assert_ne!(a, a_from);
        // Interleaving another flow's decisions changes nothing for "a".
        let mut da = Decider::new(&d, 1, "a", Direction::ToTarget);
        let mut db = Decider::new(&d, 1, "b", Direction::ToTarget);
        let interleaved: Vec<Verdict> = (1..300)
            .map(|s| {
                db.decide(s);
                da.decide(s)
            })
            .collect();
        assert_eq!(a, interleaved);
    }

    #[test]
    fn delay_and_jitter_are_bounded_whole_millis() {
        let d = spec();
        let mut seen = std::collections::BTreeSet::new();
        for seq in 1..500 {
            let v = decide(&d, 5, "a", Direction::ToTarget, seq);
            if v.drop {
                continue;
            }
            let ms = v.delay.as_millis();
            assert!((20..=25).contains(&ms), "{ms}");
            assert_eq!(v.delay, Duration::from_millis(ms as u64));
            seen.insert(ms);
        }
        assert_eq!(seen.len(), 6, "every jitter value occurs: {seen:?}");
    }

    #[test]
    fn describe_combines_parts() {
        let v = Verdict {
            duplicate: true,
            hold: true,
            delay: Duration::from_millis(23),
            ..Verdict::default()
        };
        assert_eq!(
            v.describe().as_deref(),
            Some("duplicated, held back, delayed 23ms")
        );
        assert_eq!(Verdict::default().describe(), None);
    }
}
