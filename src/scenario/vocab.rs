/*!
The words of a step: every action and modifier, with the type of its value and a
one-line description. The loader checks steps against these lists and `netdrill schema`
builds the step schema from them, so the two never disagree.
*/

/// The type of a step key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A string (TOML escapes; `{{var}}` templating).
    Text,
    /// Bytes in hex, whitespace ignored.
    Hex,
    /// A regular expression.
    Regex,
    /// A duration string like `"250ms"` or `"2s"`.
    Duration,
    /// Only `true`.
    True,
    /// A string, or `true`.
    TextOrTrue,
    /// An integer.
    Integer,
    /// A positive integer.
    Positive,
    /// An array of positive integers.
    Positives,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An array of steps.
    Steps,
}

/// A step key: its word, its value type, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Word {
    /// The key as written.
    pub name: &'static str,
    /// The type of its value.
    pub value: ValueType,
    /// One line for the schema and for messages.
    pub about: &'static str,
}

const fn w(name: &'static str, value: ValueType, about: &'static str) -> Word {
    Word { name, value, about }
}

/// Every action.
pub const ACTIONS: &[Word] = &[
    w(
        "connect",
        ValueType::Text,
        "TCP: open a connection to \"target\", a listener actor, or \"host:port\"",
    ),
    w(
        "send",
        ValueType::Text,
        "TCP: write these bytes; UDP: send them as one datagram",
    ),
    w(
        "send_hex",
        ValueType::Hex,
        "like send, with the bytes in hex (\"de ad be ef\")",
    ),
    w(
        "recv",
        ValueType::Text,
        "TCP: the next bytes are exactly these; UDP: the next datagram is",
    ),
    w(
        "recv_hex",
        ValueType::Hex,
        "like recv, with the bytes in hex",
    ),
    w(
        "recv_line",
        ValueType::Text,
        "TCP: the next line (without \\n, and a \\r before it) equals this",
    ),
    w(
        "recv_match",
        ValueType::Regex,
        "the next line (TCP) or datagram (UDP) matches this regex",
    ),
    w(
        "recv_until",
        ValueType::Text,
        "TCP: read through this delimiter (optional `match` on what was read)",
    ),
    w(
        "recv_bytes",
        ValueType::Positive,
        "TCP: read exactly this many bytes (optional `match`)",
    ),
    w(
        "recv_eof",
        ValueType::True,
        "TCP: the peer closed its sending side, with no bytes before",
    ),
    w(
        "recv_reset",
        ValueType::True,
        "TCP: the peer reset the connection (RST)",
    ),
    w(
        "silence",
        ValueType::Duration,
        "nothing at all arrives for this long",
    ),
    w(
        "shutdown",
        ValueType::OneOf(&["write", "read", "both"]),
        "TCP: shutdown(2) with SHUT_WR, SHUT_RD or SHUT_RDWR",
    ),
    w("close", ValueType::True, "close the socket normally (FIN)"),
    w(
        "abort",
        ValueType::True,
        "TCP: close with an RST (SO_LINGER 0)",
    ),
    w(
        "listen",
        ValueType::TextOrTrue,
        "TCP listener: bind and listen (true means 127.0.0.1:0); its port is {{NAME.port}}",
    ),
    w(
        "accept",
        ValueType::Text,
        "TCP listener: wait for a connection; it becomes the actor named here",
    ),
    w(
        "bind",
        ValueType::TextOrTrue,
        "UDP: bind to this address (true means 127.0.0.1:0); its port is {{NAME.port}}",
    ),
    w(
        "reply",
        ValueType::Text,
        "UDP: send one datagram back to the sender of the last one received",
    ),
    w(
        "reply_hex",
        ValueType::Hex,
        "like reply, with the bytes in hex",
    ),
    w(
        "spawn",
        ValueType::TextOrTrue,
        "process: start this command (true: the target's own command)",
    ),
    w(
        "stdin",
        ValueType::Text,
        "process: write to its standard input",
    ),
    w(
        "close_stdin",
        ValueType::True,
        "process: close its standard input",
    ),
    w(
        "stdout_line",
        ValueType::Text,
        "process: the next line it prints equals this",
    ),
    w(
        "stdout_match",
        ValueType::Regex,
        "process: the next line it prints matches this regex",
    ),
    w(
        "exit",
        ValueType::Integer,
        "process: it exits with this code",
    ),
    w(
        "kill",
        ValueType::True,
        "process: end it (SIGTERM, then SIGKILL)",
    ),
    w("sleep", ValueType::Duration, "wait this long"),
    w(
        "parallel",
        ValueType::Positive,
        "run this many concurrent copies of `steps`, each with fresh actors",
    ),
];

/// Every modifier.
pub const MODIFIERS: &[Word] = &[
    w(
        "timeout",
        ValueType::Duration,
        "this waiting step's wait, instead of the scenario's timeout",
    ),
    w(
        "capture",
        ValueType::Text,
        "store what this receive read (a regex's first group) as {{name}}",
    ),
    w(
        "chunks",
        ValueType::Positives,
        "TCP send: split the write into writes of these sizes",
    ),
    w(
        "chunk",
        ValueType::Positive,
        "TCP send: split the write into writes of at most this many bytes",
    ),
    w(
        "pause",
        ValueType::Duration,
        "TCP send with chunks: sleep this long between the writes",
    ),
    w(
        "expect",
        ValueType::OneOf(&["connected", "refused", "timeout"]),
        "connect: the expected outcome",
    ),
    w(
        "to",
        ValueType::Text,
        "UDP send: send to this actor or host:port instead of the target",
    ),
    w(
        "from",
        ValueType::Text,
        "UDP receive: the datagram must come from \"target\", this actor or host:port",
    ),
    w(
        "resend",
        ValueType::Positive,
        "UDP receive: when nothing arrives within the timeout, send the actor's last datagram again, up to this many times",
    ),
    w(
        "match",
        ValueType::Regex,
        "recv_until / recv_bytes: what was read must match this regex",
    ),
    w(
        "steps",
        ValueType::Steps,
        "parallel: the steps each copy runs",
    ),
];

/// The action named `name`.
pub fn action(name: &str) -> Option<&'static Word> {
    ACTIONS.iter().find(|w| w.name == name)
}

/// The modifier named `name`.
pub fn modifier(name: &str) -> Option<&'static Word> {
    MODIFIERS.iter().find(|w| w.name == name)
}

/// Every action and modifier word.
pub fn all_words() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().chain(MODIFIERS).map(|w| w.name)
}
