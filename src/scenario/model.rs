/*!
The validated scenario: typed steps, each carrying its place in the source file.

The loader (`load.rs`) builds these from the raw TOML tree and guarantees what the
types cannot say: every actor is used as its kind allows, every `{{variable}}` is
defined or captured before use, every regex compiles (when it has no placeholder),
and every duration, address and hex string is well-formed. The interpreter trusts
that and never re-checks.
*/

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use miette::SourceSpan;

pub use super::template::Template;

/// The default wait of every waiting step when the scenario sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scenario file, validated.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `name`, or the file stem.
    pub name: String,
    /// `about`, if given.
    pub about: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// The default wait of every waiting step.
    pub timeout: Duration,
    /// The file it came from, as given to the loader.
    pub path: PathBuf,
    /// The file's text, kept for diagnostics at run time.
    pub source: Arc<str>,
    /// `[target]`.
    pub target: TargetSpec,
    /// Every actor used by the steps (nested `parallel` steps included), with its kind.
    pub actors: BTreeMap<String, ActorKind>,
    /// `[vars]`.
    pub vars: BTreeMap<String, String>,
    /// `[link]`.
    pub link: LinkSpec,
    /// `steps`, in order.
    pub steps: Vec<Step>,
    /// `[explore]`: what `netdrill explore` may vary (`run` only takes the defaults of
    /// its variables, which are in `vars`).
    pub explore: Option<ExploreSpec>,
}

/// `[explore]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExploreSpec {
    /// `chunking`: split every TCP send into random writes.
    pub chunking: bool,
    /// `pause_max`: the longest pause between the writes of a split send.
    pub pause_max: Duration,
    /// `coalesce`: merge consecutive sends of one actor into one write.
    pub coalesce: bool,
    /// `clients = [min, max]`: run the steps as K concurrent copies.
    pub clients: Option<(usize, usize)>,
    /// `loss = [min, max]`: UDP link loss, with a random seed per case.
    pub loss: Option<(f64, f64)>,
    /// `[explore.vars]`, in file order.
    pub vars: Vec<(String, VarGen)>,
}

/// How `[explore.vars]` draws one variable.
#[derive(Debug, Clone, PartialEq)]
pub enum VarGen {
    /// `regex = "…"`: a string matching it.
    Regex(String),
    /// `int = [min, max]`.
    Int(i64, i64),
    /// `bytes = [min, max]`: that many random bytes, as hex pairs (`0a ff`), for
    /// `send_hex` and `recv_hex`.
    Bytes(usize, usize),
}

/// What `[target]` says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetSpec {
    /// Where the program under test comes from.
    pub source: TargetSource,
    /// What readiness waits for, and what a bare `send` means.
    pub protocol: Protocol,
    /// A fixed port, for a program that hard-codes it.
    pub port: Option<u16>,
    /// Server (started up front) or client (spawned by a step).
    pub role: Role,
    /// The span of the `[target]` table, when there is one.
    pub span: Option<SourceSpan>,
}

/// Where the program under test comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TargetSource {
    /// No `[target]`: the steps talk only to actors of their own (or the CLI supplies one).
    #[default]
    None,
    /// An embedded reference server, by name.
    Builtin(String),
    /// A program spawned for the scenario; `{{port}}` is replaced by its port.
    Command(String),
    /// A program already running at `host:port`.
    Address(String),
}

/// Transport of the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// Whether the target is a server (started before the first step) or a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    /// Started before the first step; the first step runs once it is ready.
    #[default]
    Server,
    /// Not started up front: a `{ target.spawn = true }` step starts it.
    Client,
}

/// The kind of an actor, from `[actors]` or from its first action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A TCP client socket (`connect`).
    TcpClient,
    /// A connection accepted by a scripted listener (`accept = "name"`).
    TcpAccepted,
    /// A scripted TCP listener (`listen`).
    TcpListener,
    /// A UDP socket (`bind`, or `send` in a UDP scenario).
    Udp,
    /// A process (`spawn`).
    Process,
}

impl ActorKind {
    /// The word used for it in `[actors]` and in messages.
    pub fn word(self) -> &'static str {
        match self {
            ActorKind::TcpClient => "tcp",
            ActorKind::TcpAccepted => "accepted tcp connection",
            ActorKind::TcpListener => "listen",
            ActorKind::Udp => "udp",
            ActorKind::Process => "process",
        }
    }

    /// True for the two kinds that carry a TCP byte stream.
    pub fn is_tcp_stream(self) -> bool {
        matches!(self, ActorKind::TcpClient | ActorKind::TcpAccepted)
    }
}

/// One step of `steps`.
#[derive(Debug, Clone)]
pub struct Step {
    /// Position in its list, from 1 (the contract's `step`).
    pub number: usize,
    /// 1-based line of the step's first character.
    pub line: usize,
    /// The whole step table in the source.
    pub span: SourceSpan,
    /// Who does it (`client` when the step names nobody).
    pub actor: String,
    /// What it does.
    pub action: Action,
    /// `timeout`: this step's wait, overriding the scenario default.
    pub timeout: Option<Duration>,
    /// `capture`: store what was read under this name.
    pub capture: Option<String>,
    /// `capture_as`: how the captured bytes become the variable's value.
    pub capture_as: CaptureAs,
    /// `resend`: on a UDP receive, send the last datagram again when the wait runs
    /// out, up to this many times (stop-and-wait retransmission).
    pub resend: Option<u32>,
}

impl Step {
    /// The action's word as written (`recv_line`, `send_hex`, …).
    pub fn action_word(&self) -> &'static str {
        self.action.word()
    }
}

/// How a capture stores the bytes it read (`capture_as`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaptureAs {
    /// As text (bytes that are not UTF-8 become U+FFFD).
    #[default]
    Text,
    /// As lowercase hex digits, two per byte.
    Hex,
    /// The number one byte holds.
    U8,
    /// The number two bytes hold, most significant first (network byte order).
    U16be,
    /// The number four bytes hold, most significant first.
    U32be,
}

impl CaptureAs {
    /// The words of `capture_as`, in order.
    pub const WORDS: &'static [&'static str] = &["text", "hex", "u8", "u16be", "u32be"];

    /// The value for `capture_as = word`.
    pub fn from_word(word: &str) -> CaptureAs {
        match word {
            "hex" => CaptureAs::Hex,
            "u8" => CaptureAs::U8,
            "u16be" => CaptureAs::U16be,
            "u32be" => CaptureAs::U32be,
            _ => CaptureAs::Text,
        }
    }

    /// The variable's value for the bytes a step read; an integer decoding needs
    /// exactly its width of bytes.
    pub fn decode(self, bytes: &[u8]) -> Result<String, String> {
        let width = match self {
            CaptureAs::Text => return Ok(String::from_utf8_lossy(bytes).into_owned()),
            CaptureAs::Hex => return Ok(hex::encode(bytes)),
            CaptureAs::U8 => 1,
            CaptureAs::U16be => 2,
            CaptureAs::U32be => 4,
        };
        if bytes.len() != width {
            return Err(format!(
                "`capture_as = \"{}\"` reads a number from {width} byte{}, and the step read {}",
                CaptureAs::WORDS[self as usize],
                if width == 1 { "" } else { "s" },
                bytes.len()
            ));
        }
        Ok(bytes
            .iter()
            .fold(0u64, |n, &b| n << 8 | u64::from(b))
            .to_string())
    }
}

/// Bytes to send or expect: text (templated) or hex (raw bytes, or a template that
/// renders to hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A TOML string, sent as its UTF-8 bytes after templating.
    Text(Template),
    /// Bytes given in hex.
    Hex(Vec<u8>),
    /// Hex with placeholders (`"{{n | u16be}} {{body | hex}}"`): rendered when the step
    /// runs, then decoded.
    HexTemplate(Template),
}

impl Payload {
    /// True for bytes given in hex (`send_hex`, `recv_hex`, `reply_hex`).
    pub fn is_hex(&self) -> bool {
        !matches!(self, Payload::Text(_))
    }
}

/// A regular expression as written; compiled at load time when it has no placeholder.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern text, with its placeholders.
    pub template: Template,
    /// The compiled regex, when the pattern has no placeholder.
    pub compiled: Option<regex::bytes::Regex>,
}

pub use crate::action::Action;
pub use crate::action::close::ShutdownHow;
pub use crate::action::connect::ConnectExpect;
pub use crate::action::send::Chunking;

/// `[link]`: the impairing relay between the actors and the target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkSpec {
    /// `[link.to_target]`: what the actors send to the target.
    pub to_target: LinkDirection,
    /// `[link.from_target]`: what the target sends back.
    pub from_target: LinkDirection,
    /// `[link] seed`, or the first direction's `seed`; `run --seed` overrides it.
    pub seed: Option<u64>,
}

impl LinkSpec {
    /// True when any direction impairs anything, so the relay must be put in place.
    pub fn is_active(&self) -> bool {
        self.to_target.is_active() || self.from_target.is_active()
    }
}

/// The impairments of one direction of the link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkDirection {
    /// Datagrams to lose, 1-based, counted per flow in this direction.
    pub drop: Vec<u64>,
    /// Probability of losing each datagram.
    pub loss: f64,
    /// Probability of sending a datagram twice.
    pub duplicate: f64,
    /// Probability of holding a datagram back behind the next one.
    pub reorder: f64,
    /// Added delay.
    pub delay: Duration,
    /// Uniform extra delay in `[0, jitter]`.
    pub jitter: Duration,
    /// TCP: forward bytes in pieces of at most this many.
    pub slice: Option<usize>,
    /// This direction's own seed, if it sets one.
    pub seed: Option<u64>,
}

impl LinkDirection {
    /// True when this direction changes anything.
    pub fn is_active(&self) -> bool {
        self.impairs_datagrams() || self.slice.is_some()
    }

    /// True when this direction changes anything about datagrams (`slice` is TCP only).
    pub fn impairs_datagrams(&self) -> bool {
        !self.drop.is_empty()
            || self.loss > 0.0
            || self.duplicate > 0.0
            || self.reorder > 0.0
            || !self.delay.is_zero()
            || !self.jitter.is_zero()
    }
}
