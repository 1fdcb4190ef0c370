/*!
Validating `[link]` and its directions, `[link.to_target]` and `[link.from_target]`:
what TCP and UDP may each be impaired by.
*/

use super::{LINK_DIRECTION_KEYS, LINK_KEYS, ok};
use crate::diagnostic::Problem;
use crate::scenario::model::{LinkDirection, LinkSpec, Protocol};
use crate::scenario::raw::{self, RawValue, span};
use crate::scenario::suggest::{did_you_mean, one_of};

pub(super) fn link(v: &RawValue<'_>, protocol: Protocol, problems: &mut Vec<Problem>) -> LinkSpec {
    let mut spec = LinkSpec::default();
    let Some(t) = ok(problems, raw::expect_table("link", v)) else {
        return spec;
    };
    let mut link_seed = None;
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        match key {
            "seed" => {
                link_seed =
                    ok(problems, raw::expect_int_in("seed", val, 0, i64::MAX)).map(|n| n as u64)
            }
            "to_target" => spec.to_target = direction(key, val, protocol, problems),
            "from_target" => spec.from_target = direction(key, val, protocol, problems),
            _ => {
                let help = if LINK_DIRECTION_KEYS.contains(&key) {
                    format!(
                        "`{key}` belongs to a direction: `[link.to_target]` or `[link.from_target]`"
                    )
                } else {
                    did_you_mean(key, LINK_KEYS.iter().copied())
                        .unwrap_or_else(|| format!("[link] takes {}", one_of(LINK_KEYS)))
                };
                problems.push(
                    Problem::new(
                        span(k),
                        format!("unknown key `{key}` in [link]"),
                        "unknown key",
                    )
                    .help(help),
                );
            }
        }
    }
    spec.seed = link_seed.or(spec.to_target.seed).or(spec.from_target.seed);
    spec
}

fn direction(
    name: &str,
    v: &RawValue<'_>,
    protocol: Protocol,
    problems: &mut Vec<Problem>,
) -> LinkDirection {
    let mut d = LinkDirection::default();
    let Some(t) = ok(problems, raw::expect_table(name, v)) else {
        return d;
    };
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        if !LINK_DIRECTION_KEYS.contains(&key) {
            let help = did_you_mean(key, LINK_DIRECTION_KEYS.iter().copied())
                .unwrap_or_else(|| format!("a direction takes {}", one_of(LINK_DIRECTION_KEYS)));
            problems.push(
                Problem::new(
                    span(k),
                    format!("unknown key `{key}` in [link.{name}]"),
                    "unknown key",
                )
                .help(help),
            );
            continue;
        }
        if protocol == Protocol::Tcp
            && matches!(key, "drop" | "loss" | "duplicate" | "reorder" | "jitter")
        {
            problems.push(
                Problem::new(
                    span(k),
                    format!("TCP's link can only delay and slice; `{key}` needs UDP"),
                    "not for TCP",
                )
                .help("TCP never loses, duplicates or reorders bytes; use `delay` or `slice` here, or set `protocol = \"udp\"` in [target] for a UDP exercise"),
            );
            continue;
        }
        if protocol == Protocol::Udp && key == "slice" {
            problems.push(
                Problem::new(span(k), "`slice` cuts a TCP byte stream; UDP datagrams are never sliced", "not for UDP")
                    .help("remove `slice`; to impair datagrams use `loss`, `drop`, `duplicate`, `reorder`, `delay` or `jitter`"),
            );
            continue;
        }
        match key {
            "drop" => {
                if let Some(arr) = ok(problems, raw::expect_array("drop", val)) {
                    for x in arr.iter() {
                        if let Some(n) = ok(problems, raw::expect_int_in("drop", x, 1, i64::MAX)) {
                            d.drop.push(n as u64);
                        }
                    }
                }
            }
            "loss" => d.loss = ok(problems, raw::expect_probability(key, val)).unwrap_or(0.0),
            "duplicate" => {
                d.duplicate = ok(problems, raw::expect_probability(key, val)).unwrap_or(0.0)
            }
            "reorder" => d.reorder = ok(problems, raw::expect_probability(key, val)).unwrap_or(0.0),
            "delay" => {
                d.delay = ok(problems, raw::expect_duration(key, val, true)).unwrap_or_default()
            }
            "jitter" => {
                d.jitter = ok(problems, raw::expect_duration(key, val, true)).unwrap_or_default()
            }
            "slice" => {
                d.slice = ok(
                    problems,
                    raw::expect_int_in(key, val, 1, i64::from(u32::MAX)),
                )
                .map(|n| n as usize)
            }
            "seed" => {
                d.seed = ok(problems, raw::expect_int_in(key, val, 0, i64::MAX)).map(|n| n as u64)
            }
            _ => {}
        }
    }
    d
}
