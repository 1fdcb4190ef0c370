/*!
The JSON report of contract §4, on stdout.

`failure` is absent on a pass; `expected` and `actual` are `null` when a failure has
none, and otherwise given in full up to 4 KiB (around the first difference beyond). A
failure also carries the scenario's `about`, the failing step's `source` lines (with the
comment lines above it), the `transcript` up to the failure and, when data was compared,
the `comparison` the human report shows (a line diff, a hex dump, or what arrived). An invalid file has status `error` and a failure whose `step` is 0 and whose
`line` is the first problem's.
*/

use serde_json::{Value, json};

use super::{ScenarioOutcome, Summary};

/// The report as a JSON value.
pub fn report(outcomes: &[ScenarioOutcome]) -> Value {
    let scenarios: Vec<Value> = outcomes.iter().map(scenario).collect();
    let s = Summary::of(outcomes);
    json!({
        "scenarios": scenarios,
        "summary": { "passed": s.passed, "failed": s.failed, "error": s.error },
    })
}

fn scenario(o: &ScenarioOutcome) -> Value {
    let mut v = json!({
        "name": o.name,
        "file": o.file,
        "status": o.status,
        "duration_ms": u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
    });
    let failure = if let Some(f) = &o.failure {
        let mut v = json!({
            "step": f.step,
            "line": f.line,
            "actor": f.actor,
            "action": f.action,
            "message": f.failure.message,
            "expected": super::expected_in_full(&f.failure),
            "actual": super::actual_in_full(&f.failure),
            "about": o.about,
            "source": o.source.as_deref().and_then(|s| super::source_excerpt(s, f)),
            "transcript": o.transcript.render(),
        });
        if let (Some(e), Some(obj)) = (&f.failure.evidence, v.as_object_mut()) {
            obj.insert("comparison".into(), super::evidence::render(e).into());
        }
        Some(v)
    } else {
        o.error.as_ref().map(|(text, line)| {
            json!({
                "step": 0,
                "line": line,
                "actor": "",
                "action": "",
                "message": text,
                "expected": null,
                "actual": null,
            })
        })
    };
    if let Some(obj) = v.as_object_mut() {
        if let Some(f) = failure {
            obj.insert("failure".into(), f);
        }
        if o.retry.attempts > 1 {
            obj.insert("flaky".into(), o.flaky().into());
            obj.insert("attempts".into(), o.retry.attempts.into());
            let earlier: Vec<Value> = o
                .retry
                .earlier
                .iter()
                .map(|a| json!({ "message": a.message, "transcript": a.transcript }))
                .collect();
            obj.insert("earlier_attempts".into(), earlier.into());
        }
    }
    v
}
