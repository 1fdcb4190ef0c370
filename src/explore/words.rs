/*! A plan and a case in words, for the progress line, the report and the saved file. */

use super::case::{self, Case, Plan};
use crate::scenario::VarGen;

/// What the plan varies, in words.
pub fn explored(plan: &Plan) -> String {
    let mut parts: Vec<String> = plan
        .vars
        .iter()
        .map(|(name, g)| match g {
            VarGen::Regex(re) => format!("{name} (regex {re:?})"),
            VarGen::Int(a, b) => format!("{name} (an integer from {a} to {b})"),
            VarGen::Bytes(a, b) => format!("{name} ({a} to {b} random bytes)"),
        })
        .collect();
    if plan.chunking && !plan.sends.is_empty() {
        parts.push(format!(
            "sends split into up to {} writes with pauses up to {}ms",
            case::MAX_PIECES,
            plan.pause_max_ms
        ));
    }
    if !plan.pairs.is_empty() {
        parts.push("consecutive sends coalesced".into());
    }
    if let Some((a, b)) = plan.clients {
        parts.push(format!("{a} to {b} concurrent clients"));
    }
    if let Some((a, b)) = plan.loss {
        parts.push(format!(
            "datagram loss from {} to {}",
            a as f64 / 1000.0,
            b as f64 / 1000.0
        ));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

/// A case in a few words.
pub fn describe(plan: &Plan, case: &Case) -> String {
    let mut parts = Vec::new();
    for ((name, g), (_, value)) in plan.vars.iter().zip(&case.vars) {
        parts.push(match g {
            VarGen::Int(..) => format!("{name} = {value}"),
            VarGen::Regex(_) if value.len() <= 24 => format!("{name} = {value:?}"),
            VarGen::Regex(_) => format!("{name}: {} bytes", value.len()),
            VarGen::Bytes(..) => format!("{name}: {} bytes", value.split_whitespace().count()),
        });
    }
    if plan.chunking {
        let pieces: Vec<String> = case
            .splits
            .iter()
            .map(|s| match s.pieces {
                1 => "whole".to_string(),
                n => format!("{n} pieces, {}ms apart", s.pause_ms),
            })
            .collect();
        if !pieces.is_empty() {
            parts.push(format!("sends: {}", pieces.join(", ")));
        }
    }
    let merged = case.coalesce.iter().filter(|&&c| c).count();
    if merged > 0 {
        parts.push(format!("{merged} sends coalesced"));
    }
    if plan.clients.is_some() {
        parts.push(match case.clients {
            1 => "1 client".to_string(),
            n => format!("{n} clients"),
        });
    }
    if plan.loss.is_some() {
        parts.push(format!(
            "loss {} (seed {})",
            case.loss_permille as f64 / 1000.0,
            case.seed
        ));
    }
    parts.join("; ")
}
