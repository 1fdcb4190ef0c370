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

/// Bytes to send or expect: text (templated) or hex (raw bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A TOML string, sent as its UTF-8 bytes after templating.
    Text(Template),
    /// Bytes given in hex.
    Hex(Vec<u8>),
}

/// A regular expression as written; compiled at load time when it has no placeholder.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern text, with its placeholders.
    pub template: Template,
    /// The compiled regex, when the pattern has no placeholder.
    pub compiled: Option<regex::Regex>,
}

/// How a `send` is split into writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Chunking {
    /// One write.
    #[default]
    Whole,
    /// `chunks = [3, 4, 5]`: writes of these sizes; what is left goes in one last write.
    Sizes(Vec<usize>),
    /// `chunk = N`: writes of at most N bytes.
    Every(usize),
}

/// `shutdown(2)`'s `how`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownHow {
    /// SHUT_WR: no more sending; the peer reads EOF.
    Write,
    /// SHUT_RD: no more receiving.
    Read,
    /// SHUT_RDWR.
    Both,
}

/// The expected outcome of a `connect`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectExpect {
    /// The connection is established.
    #[default]
    Connected,
    /// `expect = "refused"`: nothing listens there.
    Refused,
    /// `expect = "timeout"`: no answer within the timeout.
    Timeout,
}

/// Every action of the format (contract §1.2).
#[derive(Debug, Clone)]
pub enum Action {
    /// TCP `connect`: `"target"`, a listener actor's name, or `host:port`.
    Connect { to: Template, expect: ConnectExpect },
    /// `send` / `send_hex`: bytes on a TCP stream, or ONE datagram on UDP.
    Send {
        data: Payload,
        chunking: Chunking,
        pause: Option<Duration>,
        /// UDP only: `to = "actor" | "host:port"` (default: the target).
        to: Option<Template>,
    },
    /// UDP `reply` / `reply_hex`: one datagram to the sender of the last one received.
    Reply { data: Payload },
    /// `recv` / `recv_hex`: exactly these bytes (TCP) or this whole datagram (UDP).
    Recv {
        expect: Payload,
        from: Option<Template>,
    },
    /// `recv_line`: the next line, without `\n` and a `\r` before it.
    RecvLine { expect: Template },
    /// `recv_match`: the next line (TCP) or datagram (UDP) matches.
    RecvMatch {
        pattern: Pattern,
        from: Option<Template>,
    },
    /// `recv_until`: read through the delimiter; optional `match` on what was read.
    RecvUntil {
        delimiter: Template,
        pattern: Option<Pattern>,
    },
    /// `recv_bytes`: exactly N bytes; optional `match`.
    RecvBytes {
        count: usize,
        pattern: Option<Pattern>,
    },
    /// `recv_eof = true`.
    RecvEof,
    /// `recv_reset = true`.
    RecvReset,
    /// `silence`: nothing arrives for this long.
    Silence(Duration),
    /// `shutdown`.
    Shutdown(ShutdownHow),
    /// `close = true`.
    Close,
    /// `abort = true`: close with RST.
    Abort,
    /// `listen`: bind and listen (`true` means `127.0.0.1:0`).
    Listen { addr: Template },
    /// `accept`: wait for a connection; it becomes the actor named here.
    Accept { name: String },
    /// UDP `bind` (`true` means `127.0.0.1:0`).
    Bind { addr: Template },
    /// `spawn`: a command line, or `None` for the target's own command.
    Spawn { command: Option<Template> },
    /// `stdin`: write to the process's standard input.
    Stdin(Template),
    /// `close_stdin = true`.
    CloseStdin,
    /// `stdout_line`: the next line printed equals this.
    StdoutLine(Template),
    /// `stdout_match`: the next line printed matches.
    StdoutMatch(Pattern),
    /// `exit`: the process exits with this code.
    Exit(i32),
    /// `kill = true`.
    Kill,
    /// `sleep`.
    Sleep(Duration),
    /// `parallel = N, steps = [...]`: N concurrent copies, each with fresh actors.
    Parallel { copies: usize, steps: Vec<Step> },
}

impl Action {
    /// The action's word as written in scenario files.
    pub fn word(&self) -> &'static str {
        match self {
            Action::Connect { .. } => "connect",
            Action::Send {
                data: Payload::Text(_),
                ..
            } => "send",
            Action::Send {
                data: Payload::Hex(_),
                ..
            } => "send_hex",
            Action::Reply {
                data: Payload::Text(_),
            } => "reply",
            Action::Reply {
                data: Payload::Hex(_),
            } => "reply_hex",
            Action::Recv {
                expect: Payload::Text(_),
                ..
            } => "recv",
            Action::Recv {
                expect: Payload::Hex(_),
                ..
            } => "recv_hex",
            Action::RecvLine { .. } => "recv_line",
            Action::RecvMatch { .. } => "recv_match",
            Action::RecvUntil { .. } => "recv_until",
            Action::RecvBytes { .. } => "recv_bytes",
            Action::RecvEof => "recv_eof",
            Action::RecvReset => "recv_reset",
            Action::Silence(_) => "silence",
            Action::Shutdown(_) => "shutdown",
            Action::Close => "close",
            Action::Abort => "abort",
            Action::Listen { .. } => "listen",
            Action::Accept { .. } => "accept",
            Action::Bind { .. } => "bind",
            Action::Spawn { .. } => "spawn",
            Action::Stdin(_) => "stdin",
            Action::CloseStdin => "close_stdin",
            Action::StdoutLine(_) => "stdout_line",
            Action::StdoutMatch(_) => "stdout_match",
            Action::Exit(_) => "exit",
            Action::Kill => "kill",
            Action::Sleep(_) => "sleep",
            Action::Parallel { .. } => "parallel",
        }
    }

    /// True for steps that wait for something and so obey `timeout`.
    pub fn waits(&self) -> bool {
        matches!(
            self,
            Action::Connect { .. }
                | Action::Recv { .. }
                | Action::RecvLine { .. }
                | Action::RecvMatch { .. }
                | Action::RecvUntil { .. }
                | Action::RecvBytes { .. }
                | Action::RecvEof
                | Action::RecvReset
                | Action::Silence(_)
                | Action::Accept { .. }
                | Action::StdoutLine(_)
                | Action::StdoutMatch(_)
                | Action::Exit(_)
                | Action::Parallel { .. }
        )
    }
}

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
