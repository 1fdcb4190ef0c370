/*!
The JSON Schema of a scenario file, as `netdrill schema` prints it (for editors: taplo,
VS Code's Even Better TOML). The top-level tables are documentation structs; the step
schema is built from the action and modifier registries, so it lists every word with its
value type and description.
*/

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::vocab::{self, ValueType};

/// A netdrill scenario file: one scripted exchange against one program under test.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, title = "netdrill scenario")]
#[allow(dead_code)]
pub struct ScenarioDoc {
    /// The scenario's name (default: the file stem).
    name: Option<String>,
    /// What the scenario checks, in a sentence.
    about: Option<String>,
    /// Tags, to select scenarios with `run --tag`.
    tags: Option<Vec<String>>,
    /// The default wait of every waiting step, like "2s" (default "5s").
    timeout: Option<DurationDoc>,
    /// The script: one ordered list of steps, each an inline table with one action.
    #[schemars(length(min = 1))]
    steps: Vec<StepDoc>,
    /// The program under test.
    target: Option<TargetDoc>,
    /// Actor kinds declared up front (otherwise they follow from the first action).
    actors: Option<BTreeMap<String, ActorKindDoc>>,
    /// Constants for `{{name}}` placeholders.
    vars: Option<BTreeMap<String, VarDoc>>,
    /// The impairing link between the actors and the target.
    link: Option<LinkDoc>,
    /// What `netdrill explore` may vary (`run` only uses the defaults of its variables).
    explore: Option<ExploreDoc>,
}

/// `[explore]`: what `netdrill explore` varies from case to case.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ExploreDoc {
    /// Split every TCP send into random writes, with random pauses.
    chunking: Option<bool>,
    /// The longest pause between the writes of a split send (default "20ms").
    pause_max: Option<DurationDoc>,
    /// Merge consecutive sends of one actor into one write.
    coalesce: Option<bool>,
    /// Run the steps as K concurrent copies, K in [min, max].
    clients: Option<[u16; 2]>,
    /// UDP link loss in [min, max], with a random seed per case.
    loss: Option<[f64; 2]>,
    /// Variables drawn per case; `run` uses their `default`.
    vars: Option<BTreeMap<String, ExploreVarDoc>>,
}

/// One `[explore.vars]` variable: one generator and a default.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ExploreVarDoc {
    /// A string matching this regex.
    regex: Option<String>,
    /// An integer in [min, max].
    int: Option<[i64; 2]>,
    /// [min, max] random bytes, as hex pairs (for send_hex and recv_hex).
    bytes: Option<[u32; 2]>,
    /// The value `netdrill run` uses.
    default: VarDoc,
}

/// A duration: a number and a unit, like "250ms", "2s" or "1m 30s".
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct DurationDoc(String);

/// A `[vars]` value: a string, or an integer used as its decimal text.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum VarDoc {
    Text(String),
    Number(i64),
}

/// An actor kind.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
enum ActorKindDoc {
    /// A TCP client socket.
    Tcp,
    /// A UDP socket.
    Udp,
    /// A scripted TCP listener.
    Listen,
    /// A process.
    Process,
}

/// `[target]`: the program under test (at most one of builtin, command, address).
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct TargetDoc {
    /// An embedded reference server (see `netdrill serve --list`).
    builtin: Option<String>,
    /// A command spawned for the scenario in its own process group; `{{port}}` is its port.
    command: Option<String>,
    /// A program already running at host:port.
    address: Option<String>,
    /// "tcp" (default) or "udp": what readiness waits for and what a bare `send` means.
    protocol: Option<ProtocolDoc>,
    /// A fixed port, only for a program that hard-codes it.
    #[schemars(range(min = 1, max = 65535))]
    port: Option<u16>,
    /// "server" (default, started before the first step) or "client" (spawned by a step).
    role: Option<RoleDoc>,
}

/// Transport of the target.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
enum ProtocolDoc {
    Tcp,
    Udp,
}

/// Role of the target.
#[derive(JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
enum RoleDoc {
    Server,
    Client,
}

/// `[link]`: impairments between the actors and the target, reproducible by seed.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct LinkDoc {
    /// The seed of every random decision (default: a direction's own seed).
    seed: Option<u64>,
    /// What the actors send to the target.
    to_target: Option<LinkDirectionDoc>,
    /// What the target sends back.
    from_target: Option<LinkDirectionDoc>,
}

/// The impairments of one direction. TCP allows only `delay` and `slice`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct LinkDirectionDoc {
    /// UDP: lose exactly these datagrams (1-based, counted in this direction).
    drop: Option<Vec<u64>>,
    /// UDP: probability of losing each datagram.
    #[schemars(range(min = 0.0, max = 1.0))]
    loss: Option<f64>,
    /// UDP: probability of sending a datagram twice.
    #[schemars(range(min = 0.0, max = 1.0))]
    duplicate: Option<f64>,
    /// UDP: probability of holding a datagram back behind the next one.
    #[schemars(range(min = 0.0, max = 1.0))]
    reorder: Option<f64>,
    /// Added delay.
    delay: Option<DurationDoc>,
    /// UDP: uniform extra delay up to this.
    jitter: Option<DurationDoc>,
    /// TCP: forward bytes in pieces of at most this many.
    #[schemars(range(min = 1))]
    slice: Option<u64>,
    /// This direction's seed.
    seed: Option<u64>,
}

/// One step: exactly one action (bare, or under an actor name) and its modifiers.
pub struct StepDoc;

impl JsonSchema for StepDoc {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let steps = generator.subschema_for::<Vec<StepDoc>>();
        let mut props = serde_json::Map::new();
        let mut inner = serde_json::Map::new();
        for word in vocab::actions().chain(vocab::modifiers()) {
            let schema = value_schema(word.value, word.about, &steps);
            if word.value != ValueType::Steps {
                inner.insert(word.name.to_string(), schema.clone());
            }
            props.insert(word.name.to_string(), schema);
        }
        let actor = json_schema!({
            "type": "object",
            "description": "An actor's action (and its modifiers): `{ alice.send = \"hi\" }`.",
            "properties": inner,
            "additionalProperties": false,
        });
        json_schema!({
            "type": "object",
            "description": "One step: exactly one action, bare (done by `client`) or under an actor name, with optional modifiers.",
            "properties": props,
            "additionalProperties": actor,
        })
    }
}

fn value_schema(t: ValueType, about: &str, steps: &Schema) -> serde_json::Value {
    let s = match t {
        ValueType::Text => json_schema!({ "type": "string" }),
        // Hex digits, `??` (any byte, in `recv_hex`) and `{{…}}` placeholders.
        ValueType::Hex => json_schema!({
            "type": "string",
            "pattern": "^(?:[0-9a-fA-F?\\s]|\\{\\{[^{}]*\\}\\})*$"
        }),
        ValueType::Regex => json_schema!({ "type": "string", "format": "regex" }),
        ValueType::Duration => json_schema!({ "type": "string" }),
        ValueType::True => json_schema!({ "const": true }),
        ValueType::TextOrTrue => {
            json_schema!({ "anyOf": [ { "type": "string" }, { "const": true } ] })
        }
        ValueType::Integer => json_schema!({ "type": "integer" }),
        ValueType::Positive => json_schema!({ "type": "integer", "minimum": 1 }),
        ValueType::Count => json_schema!({
            "anyOf": [ { "type": "integer", "minimum": 1 }, { "type": "string", "pattern": "^\\{\\{.+\\}\\}$" } ]
        }),
        ValueType::Positives => {
            json_schema!({ "type": "array", "items": { "type": "integer", "minimum": 1 } })
        }
        ValueType::OneOf(words) => json_schema!({ "enum": words }),
        ValueType::Steps => steps.clone(),
    };
    let mut v = s.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("description".into(), about.into());
    }
    v
}

/// The JSON Schema (draft 2020-12) of a scenario file.
pub fn json_schema() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(drop_null)
        .into_generator()
        .into_root_schema_for::<ScenarioDoc>()
}

/// TOML has no null: an optional key is simply absent, so `Option`'s `null` goes.
fn drop_null(schema: &mut Schema) {
    if let Some(serde_json::Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            schema.insert("type".into(), only);
        }
    }
    if let Some(serde_json::Value::Array(any)) = schema.get_mut("anyOf") {
        any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
        if any.len() == 1
            && let Some(serde_json::Value::Object(only)) = any.pop()
        {
            schema.remove("anyOf");
            for (k, v) in only {
                schema.insert(k, v);
            }
        }
    }
    schemars::transform::transform_subschemas(&mut drop_null, schema);
}
