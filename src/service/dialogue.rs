//! One banner conversation, sans-IO: the user-space TCP session hands a
//! `Dialogue` the server's in-order bytes and sends what it answers, until
//! the dialogue says `Done` (then the session closes) or the server closes.
//!
//! The life of a session, as the session engine drives it:
//! 1. handshake completes: `opening` (client-first protocols speak now);
//! 2. bytes arrive: `received`, any number of times, in any chunking;
//! 3. the server stays silent for the hello wait: `quiet` (server-first
//!    protocols speak anyway, unknown ports get an HTTP GET);
//! 4. `Done`, a close or a timeout: `finish` gives the `Findings`.
//!
//! Every parser here reads hostile bytes: the budget (`max_bytes`) bounds
//! what is kept and parsed, each state either moves forward or ends the
//! dialogue, and nothing unexpected is retried.

use std::net::IpAddr;

use super::Findings;
use super::hello::Hello;
use super::tls::{TlsClient, TlsContext, TlsState};

/// What every dialogue of a run shares.
#[derive(Clone, Debug)]
pub struct Context {
    pub tls: TlsContext,
    /// `--banner-bytes`: how much of what the server says in plain text
    /// (greeting and reply together) one dialogue keeps.
    pub max_bytes: usize,
}

impl Context {
    /// `--banner-bytes`'s default.
    pub const DEFAULT_MAX_BYTES: usize = 4096;

    pub fn new(max_bytes: usize) -> Context {
        Context {
            tls: TlsContext::new(),
            max_bytes,
        }
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new(Context::DEFAULT_MAX_BYTES)
    }
}

/// What the session should do after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send what was appended to `out` (if anything) and keep listening.
    Continue,
    /// We have what we came for (or nothing more will come): send what was
    /// appended to `out`, then close.
    Done,
}

const SSH_HELLO: &[u8] = b"SSH-2.0-synsweep\r\n";
const SMTP_EHLO: &[u8] = b"EHLO synsweep.invalid\r\n";
const SMTP_STARTTLS: &[u8] = b"STARTTLS\r\n";
const POP3_STLS: &[u8] = b"STLS\r\n";
const IMAP_STARTTLS: &[u8] = b"a1 STARTTLS\r\n";
/// RESP array of one bulk string: the INFO command.
const REDIS_INFO: &[u8] = b"*1\r\n$4\r\nINFO\r\n";
const MEMCACHED_VERSION: &[u8] = b"version\r\n";
/// PostgreSQL's SSLRequest: length 8, then the request code 80877103.
const POSTGRES_SSL_REQUEST: &[u8] = &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// TPKT (version 3, length 19) around an X.224 Connection Request (length
/// indicator 14, code 0xE0, references and class zero) whose user data is
/// an RDP Negotiation Request (type 1, length 8) asking for TLS or CredSSP
/// (protocols 0x1 | 0x2).
const RDP_CONNECTION_REQUEST: &[u8] = &[
    0x03, 0x00, 0x00, 0x13, // TPKT
    0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, // X.224 CR
    0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, // RDP_NEG_REQ
];

/// How many lines a server may send before the one we wait for (SSH
/// allows text before its version line; IMAP untagged lines before the
/// tagged answer), so a chatty server cannot keep the dialogue open.
const MAX_PRELUDE_LINES: u32 = 16;

/// Telnet's command bytes.
const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;

/// What the dialogue waits for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// A client-first protocol before `opening`.
    Unopened,
    /// An unknown port, nothing sent: the server's first line(s).
    UnknownGreeting,
    /// The end of an HTTP response's headers (plain or inside TLS).
    HttpHead,
    /// The "SSH-" version line.
    SshVersion,
    /// The FTP greeting reply.
    FtpGreeting,
    SmtpGreeting,
    SmtpEhlo,
    SmtpStarttls,
    Pop3Greeting,
    Pop3Stls,
    ImapGreeting,
    ImapStarttls,
    /// The first RESP value of the answer to INFO.
    RedisReply,
    /// The MySQL handshake packet.
    MysqlGreeting,
    /// The one byte answering the SSLRequest.
    PostgresSslAnswer,
    /// The first backend message after the StartupMessage (or an error).
    PostgresMessage,
    MemcachedVersion,
    VncVersion,
    /// The TPKT of the X.224 Connection Confirm.
    RdpConfirm,
    /// Negotiation, banner, then a prompt.
    Telnet,
    /// The TLS handshake; what follows it.
    Tls(AfterTls),
    /// Done was returned; nothing more happens.
    Finished,
}

/// What a dialogue does once its TLS handshake completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterTls {
    /// HTTPS: the GET inside, then the response headers.
    Http,
    /// STARTTLS: the certificate was the point.
    Nothing,
    /// The StartupMessage inside, then the server's first message.
    PostgresStartup,
}

/// One connection's conversation. See the module comment for the order of
/// calls; every call after `Done` returns `Done` again and sends nothing.
#[derive(Debug)]
pub struct Dialogue {
    /// The port's hello; `None` for an unknown port.
    hello: Option<Hello>,
    target: IpAddr,
    stage: Stage,
    /// The protocol we spoke, once we sent anything.
    spoke: Option<Hello>,
    /// Set when our first hello went out: the server's bytes go to `reply`
    /// from then on. (Telnet's option refusals do not count: they only let
    /// the server get to its banner.)
    hello_sent: bool,
    /// SMTP: the server's 220 greeting has been read (it may follow the
    /// EHLO we sent to a silent server).
    smtp_greeted: bool,
    greeting: Vec<u8>,
    reply: Vec<u8>,
    /// Plain text received and kept but not yet consumed by the stage's
    /// parser. Never larger than the budget, since it is a copy of kept
    /// bytes.
    pending: Vec<u8>,
    /// How far into `pending` the search for the end of HTTP headers has
    /// already looked, so a byte-at-a-time server costs linear time.
    scanned: usize,
    /// The lines of the numbered reply (FTP, SMTP) read so far.
    reply_lines: Vec<Vec<u8>>,
    /// The lines of the last complete numbered reply.
    last_reply: Vec<Vec<u8>>,
    /// Lines skipped while waiting for the one that matters.
    prelude_lines: u32,
    tls: Option<Box<TlsClient>>,
    telnet: TelnetState,
}

#[derive(Debug, Default)]
struct TelnetState {
    /// Options already refused, one bit per (verb, option), so a server
    /// repeating itself gets each refusal once and cannot make us loop.
    refused: [[u64; 4]; 2],
    /// The current line of text so far, for prompt detection (capped).
    line: Vec<u8>,
    text_seen: bool,
}

impl Dialogue {
    /// A dialogue with `target`'s `port`, speaking `hello` (`None`: the
    /// port is unknown; wait for the server, then try HTTP).
    pub fn new(ctx: &Context, hello: Option<Hello>, target: IpAddr, port: u16) -> Dialogue {
        // The session engine passes the whole connection; today only the
        // hello and the address shape the conversation (the port chose the
        // hello already).
        let _ = (ctx, port);
        let stage = match hello {
            None => Stage::UnknownGreeting,
            Some(Hello::Ssh) => Stage::SshVersion,
            Some(Hello::Ftp) => Stage::FtpGreeting,
            Some(Hello::Smtp) => Stage::SmtpGreeting,
            Some(Hello::Pop3) => Stage::Pop3Greeting,
            Some(Hello::Imap) => Stage::ImapGreeting,
            Some(Hello::Mysql) => Stage::MysqlGreeting,
            Some(Hello::Vnc) => Stage::VncVersion,
            Some(Hello::Telnet) => Stage::Telnet,
            Some(
                Hello::Http
                | Hello::Tls
                | Hello::Redis
                | Hello::Postgres
                | Hello::Memcached
                | Hello::Rdp,
            ) => Stage::Unopened,
        };
        Dialogue {
            hello,
            target,
            stage,
            spoke: None,
            hello_sent: false,
            smtp_greeted: false,
            greeting: Vec::new(),
            reply: Vec::new(),
            pending: Vec::new(),
            scanned: 0,
            reply_lines: Vec::new(),
            last_reply: Vec::new(),
            prelude_lines: 0,
            tls: None,
            telnet: TelnetState::default(),
        }
    }

    /// Right after the TCP handshake: a client-first protocol appends its
    /// hello to `out` (HTTP GET, TLS ClientHello, Redis INFO, PostgreSQL
    /// SSLRequest, memcached version, RDP Connection Request). Server-first
    /// protocols and unknown ports send nothing and wait for the greeting.
    pub fn opening(&mut self, ctx: &Context, out: &mut Vec<u8>) -> Step {
        if self.stage == Stage::Finished {
            return Step::Done;
        }
        if self.stage != Stage::Unopened {
            return Step::Continue;
        }
        // Anything the server said before this belongs to no reply.
        self.pending.clear();
        match self.hello {
            Some(Hello::Http) => {
                self.speak(Hello::Http, out, &http_get(self.target));
                self.stage = Stage::HttpHead;
            }
            Some(Hello::Tls) => {
                self.spoke = Some(Hello::Tls);
                self.hello_sent = true;
                self.start_tls(ctx, AfterTls::Http, out);
            }
            Some(Hello::Redis) => {
                self.speak(Hello::Redis, out, REDIS_INFO);
                self.stage = Stage::RedisReply;
            }
            Some(Hello::Postgres) => {
                self.speak(Hello::Postgres, out, POSTGRES_SSL_REQUEST);
                self.stage = Stage::PostgresSslAnswer;
            }
            Some(Hello::Memcached) => {
                self.speak(Hello::Memcached, out, MEMCACHED_VERSION);
                self.stage = Stage::MemcachedVersion;
            }
            Some(Hello::Rdp) => {
                self.speak(Hello::Rdp, out, RDP_CONNECTION_REQUEST);
                self.stage = Stage::RdpConfirm;
            }
            _ => return self.finished(),
        }
        Step::Continue
    }

    /// The server said nothing within the hello wait. SSH and SMTP send
    /// their client hello anyway (version line, EHLO); an unknown port gets
    /// an HTTP GET. Other server-first protocols have nothing useful to
    /// say first: they wait on for the greeting (a loaded server may take
    /// seconds), until the session's own timeout. A server that went quiet
    /// mid-conversation has given what it will: `Done`.
    pub fn quiet(&mut self, ctx: &Context, out: &mut Vec<u8>) -> Step {
        let silent = self.greeting.is_empty() && self.reply.is_empty() && !self.hello_sent;
        match self.stage {
            Stage::Unopened => self.opening(ctx, out),
            Stage::SshVersion if silent => {
                self.speak(Hello::Ssh, out, SSH_HELLO);
                Step::Continue
            }
            Stage::SmtpGreeting if silent => {
                self.speak(Hello::Smtp, out, SMTP_EHLO);
                self.stage = Stage::SmtpEhlo;
                Step::Continue
            }
            Stage::UnknownGreeting if silent => {
                self.speak(Hello::Http, out, &http_get(self.target));
                self.stage = Stage::HttpHead;
                Step::Continue
            }
            _ if silent && self.stage != Stage::Finished => Step::Continue,
            _ => self.finished(),
        }
    }

    /// In-order bytes from the server; our answer, if any, is appended to
    /// `out`. How the stream is chunked does not change the outcome, except
    /// for Telnet, whose prompt is recognized at the end of a chunk.
    pub fn received(&mut self, ctx: &Context, data: &[u8], out: &mut Vec<u8>) -> Step {
        if self.stage == Stage::Finished {
            return Step::Done;
        }
        if data.is_empty() {
            return Step::Continue;
        }
        let Some(tls) = self.tls.as_mut() else {
            let fits = self.keep(ctx, data);
            return self.advance_within_budget(ctx, fits, out);
        };
        let mut plain = Vec::new();
        let state = tls.received(data, &mut plain, out);
        if let Stage::Tls(after) = self.stage
            && state == TlsState::Established
        {
            match after {
                AfterTls::Http => {
                    tls.send(&http_get(self.target), out);
                    self.stage = Stage::HttpHead;
                }
                AfterTls::PostgresStartup => {
                    tls.send(&postgres_startup(), out);
                    self.stage = Stage::PostgresMessage;
                }
                AfterTls::Nothing => return self.finished(),
            }
        }
        let step = if plain.is_empty() {
            Step::Continue
        } else {
            let fits = self.keep(ctx, &plain);
            self.advance_within_budget(ctx, fits, out)
        };
        match state {
            TlsState::Handshaking | TlsState::Established => step,
            TlsState::Closed | TlsState::Failed => self.finished(),
        }
    }

    /// What the conversation learned; call it when the dialogue is done,
    /// the server closed, or the session timed out.
    pub fn finish(self) -> Findings {
        Findings {
            greeting: self.greeting,
            reply: self.reply,
            hello: self.spoke,
            tls: self.tls.and_then(|tls| tls.info()),
        }
    }

    fn finished(&mut self) -> Step {
        self.stage = Stage::Finished;
        Step::Done
    }

    /// Sends a hello of `protocol`: from now on the server's bytes are its
    /// reply.
    fn speak(&mut self, protocol: Hello, out: &mut Vec<u8>, bytes: &[u8]) {
        self.spoke = Some(protocol);
        self.hello_sent = true;
        out.extend_from_slice(bytes);
    }

    /// Sends `bytes` within the conversation already started.
    fn say(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
    }

    fn start_tls(&mut self, ctx: &Context, after: AfterTls, out: &mut Vec<u8>) {
        // Plain text after the go-ahead is not TLS and not ours to read
        // (a man in the middle injecting commands would put it there).
        self.pending.clear();
        let mut client = match after {
            AfterTls::Http => TlsClient::new(&ctx.tls, self.target),
            AfterTls::Nothing | AfterTls::PostgresStartup => {
                TlsClient::upgrade(&ctx.tls, self.target)
            }
        };
        client.start(out);
        self.tls = Some(Box::new(client));
        self.stage = Stage::Tls(after);
    }

    /// Keeps what fits of `data` in the findings and the parser's queue;
    /// false if some of it did not fit.
    fn keep(&mut self, ctx: &Context, data: &[u8]) -> bool {
        let used = self.greeting.len() + self.reply.len();
        let room = ctx.max_bytes.saturating_sub(used);
        let kept = &data[..data.len().min(room)];
        if self.hello_sent {
            self.reply.extend_from_slice(kept);
        } else {
            self.greeting.extend_from_slice(kept);
        }
        self.pending.extend_from_slice(kept);
        kept.len() == data.len()
    }

    /// Parses what was kept; a full budget ends the dialogue whatever the
    /// parser thinks, since nothing more would be kept.
    fn advance_within_budget(&mut self, ctx: &Context, fits: bool, out: &mut Vec<u8>) -> Step {
        let step = self.advance(ctx, out);
        let full = self.greeting.len() + self.reply.len() >= ctx.max_bytes;
        if !fits || full {
            return self.finished();
        }
        step
    }

    /// Runs the stage's parser over `pending` as far as it goes.
    fn advance(&mut self, ctx: &Context, out: &mut Vec<u8>) -> Step {
        match self.stage {
            Stage::Finished => Step::Done,
            // Bytes before our opening are kept but not parsed.
            Stage::Unopened | Stage::Tls(_) => Step::Continue,
            Stage::UnknownGreeting => self.done_if(self.pending.contains(&b'\n')),
            Stage::HttpHead => {
                let found = end_of_headers(&self.pending, self.scanned);
                self.scanned = self.pending.len();
                self.done_if(found)
            }
            Stage::SshVersion => self.ssh_version(),
            Stage::FtpGreeting => match self.numbered_reply() {
                Reply::Incomplete => Step::Continue,
                Reply::Complete(_) | Reply::Malformed => self.finished(),
            },
            Stage::SmtpGreeting => match self.numbered_reply() {
                Reply::Incomplete => Step::Continue,
                Reply::Complete(220) => {
                    self.smtp_greeted = true;
                    self.speak(Hello::Smtp, out, SMTP_EHLO);
                    self.stage = Stage::SmtpEhlo;
                    self.advance(ctx, out)
                }
                Reply::Complete(_) | Reply::Malformed => self.finished(),
            },
            Stage::SmtpEhlo => match self.numbered_reply() {
                Reply::Incomplete => Step::Continue,
                // A slow server's greeting, after the EHLO we sent when
                // it stayed silent (`quiet`): the EHLO's answer follows.
                Reply::Complete(220) if !self.smtp_greeted => {
                    self.smtp_greeted = true;
                    self.advance(ctx, out)
                }
                Reply::Complete(250) if self.ehlo_offers_starttls() => {
                    self.say(out, SMTP_STARTTLS);
                    self.stage = Stage::SmtpStarttls;
                    self.advance(ctx, out)
                }
                Reply::Complete(_) | Reply::Malformed => self.finished(),
            },
            Stage::SmtpStarttls => match self.numbered_reply() {
                Reply::Incomplete => Step::Continue,
                Reply::Complete(220) => {
                    self.start_tls(ctx, AfterTls::Nothing, out);
                    Step::Continue
                }
                Reply::Complete(_) | Reply::Malformed => self.finished(),
            },
            Stage::Pop3Greeting => match self.next_line() {
                None => Step::Continue,
                Some(line) if line.starts_with(b"+OK") => {
                    self.speak(Hello::Pop3, out, POP3_STLS);
                    self.stage = Stage::Pop3Stls;
                    self.advance(ctx, out)
                }
                Some(_) => self.finished(),
            },
            Stage::Pop3Stls => match self.next_line() {
                None => Step::Continue,
                Some(line) if line.starts_with(b"+OK") => {
                    self.start_tls(ctx, AfterTls::Nothing, out);
                    Step::Continue
                }
                Some(_) => self.finished(),
            },
            Stage::ImapGreeting => match self.next_line() {
                None => Step::Continue,
                Some(line)
                    if starts_with_ignore_case(&line, b"* OK")
                        || starts_with_ignore_case(&line, b"* PREAUTH") =>
                {
                    self.speak(Hello::Imap, out, IMAP_STARTTLS);
                    self.stage = Stage::ImapStarttls;
                    self.advance(ctx, out)
                }
                Some(_) => self.finished(),
            },
            Stage::ImapStarttls => self.imap_starttls_answer(ctx, out),
            Stage::RedisReply => self.done_if(redis_value_complete(&self.pending)),
            Stage::MysqlGreeting => self.done_if(mysql_packet_complete(&self.pending)),
            Stage::PostgresSslAnswer => match self.pending.first() {
                None => Step::Continue,
                Some(b'S') => {
                    self.start_tls(ctx, AfterTls::PostgresStartup, out);
                    Step::Continue
                }
                Some(b'N') => {
                    self.pending.drain(..1);
                    self.say(out, &postgres_startup());
                    self.stage = Stage::PostgresMessage;
                    self.advance(ctx, out)
                }
                // A server that predates SSLRequest answers with an
                // ErrorResponse, which is as good a banner as any.
                Some(b'E') => {
                    self.stage = Stage::PostgresMessage;
                    self.advance(ctx, out)
                }
                Some(_) => self.finished(),
            },
            Stage::PostgresMessage => match postgres_message_complete(&self.pending) {
                None => Step::Continue,
                Some(_) => self.finished(),
            },
            Stage::MemcachedVersion => self.done_if(self.pending.contains(&b'\n')),
            Stage::VncVersion => {
                // "RFB xxx.yyy\n" is twelve bytes.
                self.done_if(self.pending.contains(&b'\n') || self.pending.len() >= 12)
            }
            Stage::RdpConfirm => self.rdp_confirm(),
            Stage::Telnet => self.telnet(out),
        }
    }

    fn done_if(&mut self, done: bool) -> Step {
        if done {
            self.finished()
        } else {
            Step::Continue
        }
    }

    /// Takes the next complete line out of `pending`, without its line
    /// end.
    fn next_line(&mut self) -> Option<Vec<u8>> {
        let end = self.pending.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    fn ssh_version(&mut self) -> Step {
        while let Some(line) = self.next_line() {
            if line.starts_with(b"SSH-") {
                return self.finished();
            }
            self.prelude_lines += 1;
            if self.prelude_lines >= MAX_PRELUDE_LINES {
                return self.finished();
            }
        }
        // A NUL is never part of SSH's text lines: this is something else.
        self.done_if(self.pending.contains(&0))
    }

    /// Reads the FTP/SMTP reply in `pending` line by line: the first line
    /// starts with a three-digit code, followed by '-' if more lines come;
    /// the reply ends at a line of the same code followed by a space (or
    /// by nothing).
    fn numbered_reply(&mut self) -> Reply {
        while let Some(line) = self.next_line() {
            let Some(code) = reply_code(&line) else {
                if self.reply_lines.is_empty() {
                    return Reply::Malformed;
                }
                // Free text inside a multi-line reply.
                self.reply_lines.push(line);
                continue;
            };
            let last = line.get(3).is_none_or(|&b| b == b' ');
            let first = self.reply_lines.first().and_then(|first| reply_code(first));
            self.reply_lines.push(line);
            if last && first.is_none_or(|first| first == code) {
                self.last_reply = std::mem::take(&mut self.reply_lines);
                return Reply::Complete(code);
            }
        }
        Reply::Incomplete
    }

    /// Whether the EHLO reply just read lists the STARTTLS keyword.
    fn ehlo_offers_starttls(&self) -> bool {
        self.last_reply.iter().any(|line| {
            line.get(4..)
                .is_some_and(|keyword| keyword.trim_ascii().eq_ignore_ascii_case(b"STARTTLS"))
        })
    }

    fn imap_starttls_answer(&mut self, ctx: &Context, out: &mut Vec<u8>) -> Step {
        while let Some(line) = self.next_line() {
            if starts_with_ignore_case(&line, b"a1 OK") {
                self.start_tls(ctx, AfterTls::Nothing, out);
                return Step::Continue;
            }
            if !line.starts_with(b"* ") {
                // a1 NO, a1 BAD, or something that is not IMAP.
                return self.finished();
            }
            self.prelude_lines += 1;
            if self.prelude_lines >= MAX_PRELUDE_LINES {
                return self.finished();
            }
        }
        Step::Continue
    }

    fn rdp_confirm(&mut self) -> Step {
        match self.pending.first() {
            None => Step::Continue,
            // Not TPKT version 3: not RDP's answer.
            Some(&version) if version != 3 => self.finished(),
            Some(_) => match self.pending.get(2..4) {
                None => Step::Continue,
                Some(length) => {
                    let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                    self.done_if(length < 4 || self.pending.len() >= length)
                }
            },
        }
    }

    /// Refuses every option the server asks for or offers (so it stops
    /// negotiating and shows its banner), and is done once the text ends
    /// in what looks like a prompt ("login: ", "> ", "# ", "$ ").
    fn telnet(&mut self, out: &mut Vec<u8>) -> Step {
        let mut at = 0;
        while at < self.pending.len() {
            let byte = self.pending[at];
            if byte != IAC {
                self.telnet_text(byte);
                at += 1;
                continue;
            }
            let Some(&verb) = self.pending.get(at + 1) else {
                break;
            };
            match verb {
                DO | DONT | WILL | WONT => {
                    let Some(&option) = self.pending.get(at + 2) else {
                        break;
                    };
                    let refusal = match verb {
                        DO => Some((0, WONT)),
                        WILL => Some((1, DONT)),
                        _ => None,
                    };
                    if let Some((kind, answer)) = refusal {
                        let (word, bit) = (usize::from(option / 64), option % 64);
                        if self.telnet.refused[kind][word] & (1 << bit) == 0 {
                            self.telnet.refused[kind][word] |= 1 << bit;
                            self.spoke = Some(Hello::Telnet);
                            out.extend_from_slice(&[IAC, answer, option]);
                        }
                    }
                    at += 3;
                }
                SB => {
                    // Subnegotiation runs to IAC SE; wait for all of it.
                    let body = &self.pending[at + 2..];
                    match body.windows(2).position(|pair| pair == [IAC, SE]) {
                        Some(end) => at += 2 + end + 2,
                        None => break,
                    }
                }
                IAC => {
                    self.telnet_text(IAC);
                    at += 2;
                }
                _ => at += 2,
            }
        }
        self.pending.drain(..at);
        let line = &self.telnet.line;
        let tail = line.trim_ascii_end();
        let prompt = self.telnet.text_seen
            && tail.len() < line.len()
            && matches!(tail.last(), Some(b':' | b'>' | b'#' | b'$'));
        self.done_if(prompt)
    }

    fn telnet_text(&mut self, byte: u8) {
        match byte {
            b'\n' | b'\r' => self.telnet.line.clear(),
            _ => {
                if byte.is_ascii_graphic() {
                    self.telnet.text_seen = true;
                }
                // Only the line's end matters for a prompt.
                if self.telnet.line.len() >= 256 {
                    self.telnet.line.drain(..128);
                }
                self.telnet.line.push(byte);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    Incomplete,
    Complete(u16),
    Malformed,
}

/// The three-digit code a reply line starts with, if it has one.
fn reply_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match line.get(3) {
        None | Some(b' ' | b'-') => Some(
            digits
                .iter()
                .fold(0, |code, &digit| code * 10 + u16::from(digit - b'0')),
        ),
        Some(_) => None,
    }
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Whether `data` holds the blank line ending HTTP headers, looking only
/// at what could not have been seen before `scanned` (a terminator may
/// straddle the old end, so step back three bytes). Bare "\n\n" counts too,
/// for servers that do not bother with "\r".
fn end_of_headers(data: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(3);
    let window = data.get(from..).unwrap_or_default();
    window.windows(4).any(|four| four == b"\r\n\r\n") || window.windows(2).any(|two| two == b"\n\n")
}

/// Whether `data` starts with a complete RESP value as far as a banner
/// needs it: the first line, and for a bulk string its whole body.
fn redis_value_complete(data: &[u8]) -> bool {
    let Some(end) = data.iter().position(|&b| b == b'\n') else {
        return false;
    };
    if data.first() != Some(&b'$') {
        return true;
    }
    let header = data[1..end].trim_ascii();
    let length = std::str::from_utf8(header)
        .ok()
        .and_then(|text| text.parse::<i64>().ok());
    match length {
        // "$-1" is a null; a bad length is not worth waiting on.
        None => true,
        Some(length) if length < 0 => true,
        Some(length) => {
            let body = usize::try_from(length).unwrap_or(usize::MAX);
            data.len() - (end + 1) >= body.saturating_add(2)
        }
    }
}

/// Whether `data` holds a whole MySQL packet (three-byte little-endian
/// length and a sequence byte, then the payload).
fn mysql_packet_complete(data: &[u8]) -> bool {
    let Some(header) = data.get(..4) else {
        return false;
    };
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    data.len() >= 4 + length
}

/// The type of the PostgreSQL backend message `data` starts with, once it
/// is complete (type byte, then a big-endian length that counts itself).
/// A length too small to be real counts as complete, to end the dialogue.
fn postgres_message_complete(data: &[u8]) -> Option<u8> {
    let header = data.get(..5)?;
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    (length < 4 || data.len() >= length.saturating_add(1)).then_some(header[0])
}

/// The HTTP request every HTTP dialogue sends.
fn http_get(target: IpAddr) -> Vec<u8> {
    let host = match target {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: synsweep\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A protocol 3.0 StartupMessage for user and database "synsweep": enough
/// for the server to answer with its authentication request or an error.
fn postgres_startup() -> Vec<u8> {
    let parameters: &[u8] = b"user\0synsweep\0database\0synsweep\0\0";
    let length = 4 + 4 + parameters.len();
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as u32).to_be_bytes());
    message.extend_from_slice(&0x0003_0000u32.to_be_bytes());
    message.extend_from_slice(parameters);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::{Ipv4Addr, Ipv6Addr};

    use rustls::ServerConnection;

    use crate::service::tls::lab;

    const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 192.0.2.10\r\nUser-Agent: synsweep\r\nAccept: */*\r\nConnection: close\r\n\r\n";

    /// Feeds `data` whole or a byte at a time. Byte by byte, the dialogue
    /// must not be done before the last byte: each transcript here ends
    /// exactly where the dialogue has what it wants.
    fn feed(d: &mut Dialogue, ctx: &Context, data: &[u8], bytewise: bool) -> (Vec<u8>, Step) {
        let mut out = Vec::new();
        if !bytewise {
            let step = d.received(ctx, data, &mut out);
            return (out, step);
        }
        let mut step = Step::Continue;
        for (at, &byte) in data.iter().enumerate() {
            assert_eq!(step, Step::Continue, "done before byte {at} of {data:?}");
            step = d.received(ctx, &[byte], &mut out);
        }
        (out, step)
    }

    /// Feeds until done, whatever is left over (TLS records after the
    /// handshake).
    fn feed_until_done(
        d: &mut Dialogue,
        ctx: &Context,
        data: &[u8],
        bytewise: bool,
    ) -> (Vec<u8>, Step) {
        let mut out = Vec::new();
        if !bytewise {
            let step = d.received(ctx, data, &mut out);
            return (out, step);
        }
        for &byte in data {
            if d.received(ctx, &[byte], &mut out) == Step::Done {
                return (out, Step::Done);
            }
        }
        (out, Step::Continue)
    }

    fn opened(ctx: &Context, hello: Option<Hello>) -> (Dialogue, Vec<u8>) {
        let mut d = Dialogue::new(ctx, hello, TARGET, 0);
        let mut out = Vec::new();
        assert_eq!(d.opening(ctx, &mut out), Step::Continue);
        (d, out)
    }

    /// Runs a TLS conversation between `d` and the lab server, starting
    /// with `to_server` (the ClientHello), until the dialogue is done or
    /// the exchange stalls.
    fn pump_tls(
        d: &mut Dialogue,
        ctx: &Context,
        server: &mut ServerConnection,
        mut to_server: Vec<u8>,
        app: &mut dyn FnMut(&[u8]) -> Vec<u8>,
        bytewise: bool,
    ) -> Step {
        assert_eq!(
            to_server.get(..2),
            Some(&[0x16, 0x03][..]),
            "a TLS handshake record"
        );
        for _ in 0..32 {
            let Some(to_client) = lab::serve(server, &to_server, app) else {
                return Step::Continue;
            };
            if to_client.is_empty() {
                return Step::Continue;
            }
            let (out, step) = feed_until_done(d, ctx, &to_client, bytewise);
            if step == Step::Done {
                return step;
            }
            to_server = out;
        }
        Step::Continue
    }

    fn tls_versions() -> [(&'static rustls::SupportedProtocolVersion, &'static str); 2] {
        [
            (&rustls::version::TLS12, "TLSv1.2"),
            (&rustls::version::TLS13, "TLSv1.3"),
        ]
    }

    #[test]
    fn http_sends_a_get_and_stops_at_the_end_of_headers() {
        let ctx = Context::default();
        let head = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n";
        for bytewise in [false, true] {
            let (mut d, out) = opened(&ctx, Some(Hello::Http));
            assert_eq!(out, GET);
            let (out, step) = feed(&mut d, &ctx, &head[..20], bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Continue));
            let (out, step) = feed(&mut d, &ctx, &head[20..], bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            // After Done, nothing more is read or sent.
            let mut out = Vec::new();
            assert_eq!(d.received(&ctx, b"hello", &mut out), Step::Done);
            assert_eq!(d.quiet(&ctx, &mut out), Step::Done);
            assert!(out.is_empty());
            let findings = d.finish();
            assert_eq!(findings.greeting, b"");
            assert_eq!(findings.reply, head);
            assert_eq!(findings.hello, Some(Hello::Http));
            assert_eq!(findings.tls, None);
        }
        // The body that came with the headers is kept.
        let (mut d, _) = opened(&ctx, Some(Hello::Http));
        let whole = [&head[..], b"hello"].concat();
        assert_eq!(feed(&mut d, &ctx, &whole, false).1, Step::Done);
        assert_eq!(d.finish().reply, whole);
    }

    #[test]
    fn http_host_header_brackets_ipv6() {
        let ctx = Context::default();
        let target = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));
        let mut d = Dialogue::new(&ctx, Some(Hello::Http), target, 80);
        let mut out = Vec::new();
        d.opening(&ctx, &mut out);
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: [2001:db8::10]\r\nUser-Agent: synsweep\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn the_budget_caps_what_is_kept_and_ends_the_dialogue() {
        let ctx = Context::new(16);
        let (mut d, _) = opened(&ctx, Some(Hello::Http));
        let (_, step) = feed(
            &mut d,
            &ctx,
            b"HTTP/1.1 200 OK\r\nServer: a-very-long-header-value",
            false,
        );
        assert_eq!(step, Step::Done);
        assert_eq!(d.finish().reply, b"HTTP/1.1 200 OK\r");
        // Greeting and reply share it.
        let (mut d, _) = opened(&ctx, Some(Hello::Smtp));
        let (out, _) = feed(&mut d, &ctx, b"220 mx ESMTP\r\n", false);
        assert_eq!(out, SMTP_EHLO);
        let (_, step) = feed(&mut d, &ctx, b"250-mx Hello\r\n", false);
        assert_eq!(step, Step::Done);
        let findings = d.finish();
        assert_eq!(findings.greeting, b"220 mx ESMTP\r\n");
        assert_eq!(findings.reply, b"25");
    }

    #[test]
    fn ssh_waits_for_the_version_line() {
        let ctx = Context::default();
        let banner = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
        for bytewise in [false, true] {
            let (mut d, out) = opened(&ctx, Some(Hello::Ssh));
            assert!(out.is_empty());
            let (out, step) = feed(&mut d, &ctx, banner, bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            let findings = d.finish();
            assert_eq!(findings.greeting, banner);
            assert_eq!(findings.hello, None);
        }
        // Text lines before the version line are allowed.
        let (mut d, _) = opened(&ctx, Some(Hello::Ssh));
        let chatty = b"Authorized use only\r\nSSH-2.0-dropbear_2022.83\r\n";
        assert_eq!(feed(&mut d, &ctx, chatty, true).1, Step::Done);
        assert_eq!(d.finish().greeting, chatty);
    }

    #[test]
    fn a_silent_ssh_server_gets_our_version_line() {
        let ctx = Context::default();
        let (mut d, _) = opened(&ctx, Some(Hello::Ssh));
        let mut out = Vec::new();
        assert_eq!(d.quiet(&ctx, &mut out), Step::Continue);
        assert_eq!(out, b"SSH-2.0-synsweep\r\n");
        let (_, step) = feed(&mut d, &ctx, b"SSH-2.0-Go\r\n", true);
        assert_eq!(step, Step::Done);
        let findings = d.finish();
        assert_eq!(findings.greeting, b"");
        assert_eq!(findings.reply, b"SSH-2.0-Go\r\n");
        assert_eq!(findings.hello, Some(Hello::Ssh));
    }

    #[test]
    fn ftp_reads_a_multi_line_greeting() {
        let ctx = Context::default();
        let greeting = b"220-Welcome to the lab FTP service.\r\n220-Uploads go to /incoming.\r\n Mind the quota.\r\n220 Ready.\r\n";
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Ftp));
            let (out, step) = feed(&mut d, &ctx, greeting, bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            assert_eq!(d.finish().greeting, greeting);
        }
        // Nothing to say to a silent FTP server: wait on for its greeting.
        let (mut d, _) = opened(&ctx, Some(Hello::Ftp));
        let mut out = Vec::new();
        assert_eq!(d.quiet(&ctx, &mut out), Step::Continue);
        assert!(out.is_empty());
        let (_, step) = feed(&mut d, &ctx, greeting, false);
        assert_eq!(step, Step::Done);
        assert_eq!(d.finish().hello, None);
    }

    const EXIM_GREETING: &[u8] =
        b"220 mail.lab.example ESMTP Exim 4.96 Mon, 02 Jun 2025 10:00:00 +0000\r\n";
    const EXIM_EHLO: &[u8] = b"250-mail.lab.example Hello synsweep.invalid [198.18.0.9]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 HELP\r\n";

    #[test]
    fn smtp_ehlo_then_starttls_then_the_certificate() {
        let ctx = Context::default();
        for (version, name) in tls_versions() {
            for bytewise in [false, true] {
                let (mut d, out) = opened(&ctx, Some(Hello::Smtp));
                assert!(out.is_empty());
                let (out, step) = feed(&mut d, &ctx, EXIM_GREETING, bytewise);
                assert_eq!((out.as_slice(), step), (SMTP_EHLO, Step::Continue));
                let (out, step) = feed(&mut d, &ctx, EXIM_EHLO, bytewise);
                assert_eq!(
                    (out.as_slice(), step),
                    (&b"STARTTLS\r\n"[..], Step::Continue)
                );
                let (client_hello, step) = feed(&mut d, &ctx, b"220 TLS go ahead\r\n", bytewise);
                assert_eq!(step, Step::Continue);
                let mut server = lab::server(version);
                let mut app = |_: &[u8]| Vec::new();
                let step = pump_tls(&mut d, &ctx, &mut server, client_hello, &mut app, bytewise);
                assert_eq!(step, Step::Done);
                let findings = d.finish();
                assert_eq!(findings.greeting, EXIM_GREETING);
                assert_eq!(
                    findings.reply,
                    [EXIM_EHLO, b"220 TLS go ahead\r\n"].concat()
                );
                assert_eq!(findings.hello, Some(Hello::Smtp));
                let tls = findings.tls.expect("TLS info");
                assert_eq!(tls.version, name);
                assert_eq!(tls.certs[0].subject, lab::SUBJECT);
            }
        }
    }

    /// A server too slow to greet within the hello wait gets our EHLO
    /// first; its greeting and the EHLO's answer then come together (seen
    /// with exim under load), and STARTTLS still follows.
    #[test]
    fn smtp_greeting_after_our_ehlo_still_leads_to_starttls() {
        let ctx = Context::default();
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Smtp));
            let mut out = Vec::new();
            assert_eq!(d.quiet(&ctx, &mut out), Step::Continue);
            assert_eq!(out, SMTP_EHLO);
            let both = [EXIM_GREETING, EXIM_EHLO].concat();
            let (out, step) = feed(&mut d, &ctx, &both, bytewise);
            assert_eq!(
                (out.as_slice(), step),
                (&b"STARTTLS\r\n"[..], Step::Continue)
            );
        }
    }

    #[test]
    fn smtp_without_starttls_ends_after_ehlo() {
        let ctx = Context::default();
        let ehlo = b"250-mx.lab.example\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n";
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Smtp));
            feed(
                &mut d,
                &ctx,
                b"220 mx.lab.example ESMTP Postfix\r\n",
                bytewise,
            );
            let (out, step) = feed(&mut d, &ctx, ehlo, bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            assert_eq!(d.finish().reply, ehlo);
        }
        // A refusal greeting ends it before EHLO.
        let (mut d, _) = opened(&ctx, Some(Hello::Smtp));
        let (out, step) = feed(&mut d, &ctx, b"554 No SMTP service here\r\n", false);
        assert_eq!((out.is_empty(), step), (true, Step::Done));
        assert_eq!(d.finish().hello, None);
        // A refused STARTTLS ends it too.
        let (mut d, _) = opened(&ctx, Some(Hello::Smtp));
        feed(&mut d, &ctx, EXIM_GREETING, false);
        feed(&mut d, &ctx, EXIM_EHLO, false);
        let (out, step) = feed(&mut d, &ctx, b"454 TLS not available\r\n", false);
        assert_eq!((out.is_empty(), step), (true, Step::Done));
        assert_eq!(d.finish().tls, None);
    }

    #[test]
    fn pop3_stls_then_the_certificate() {
        let ctx = Context::default();
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Pop3));
            let (out, step) = feed(&mut d, &ctx, b"+OK Dovecot (Debian) ready.\r\n", bytewise);
            assert_eq!((out.as_slice(), step), (&b"STLS\r\n"[..], Step::Continue));
            let (client_hello, _) = feed(
                &mut d,
                &ctx,
                b"+OK Begin TLS negotiation now.\r\n",
                bytewise,
            );
            let mut server = lab::server(&rustls::version::TLS13);
            let mut app = |_: &[u8]| Vec::new();
            assert_eq!(
                pump_tls(&mut d, &ctx, &mut server, client_hello, &mut app, bytewise),
                Step::Done
            );
            let findings = d.finish();
            assert_eq!(findings.greeting, b"+OK Dovecot (Debian) ready.\r\n");
            assert_eq!(findings.hello, Some(Hello::Pop3));
            assert!(findings.tls.is_some());
        }
        let (mut d, _) = opened(&ctx, Some(Hello::Pop3));
        let (out, step) = feed(
            &mut d,
            &ctx,
            b"-ERR [SYS/TEMP] Service unavailable\r\n",
            false,
        );
        assert_eq!((out.is_empty(), step), (true, Step::Done));
    }

    #[test]
    fn imap_starttls_then_the_certificate() {
        let ctx = Context::default();
        let greeting = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n";
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Imap));
            let (out, step) = feed(&mut d, &ctx, greeting, bytewise);
            assert_eq!(
                (out.as_slice(), step),
                (&b"a1 STARTTLS\r\n"[..], Step::Continue)
            );
            let (client_hello, _) = feed(
                &mut d,
                &ctx,
                b"a1 OK Begin TLS negotiation now.\r\n",
                bytewise,
            );
            let mut server = lab::server(&rustls::version::TLS12);
            let mut app = |_: &[u8]| Vec::new();
            assert_eq!(
                pump_tls(&mut d, &ctx, &mut server, client_hello, &mut app, bytewise),
                Step::Done
            );
            let findings = d.finish();
            assert_eq!(findings.greeting, greeting);
            assert_eq!(findings.reply, b"a1 OK Begin TLS negotiation now.\r\n");
            assert_eq!(findings.tls.expect("TLS info").version, "TLSv1.2");
        }
        let (mut d, _) = opened(&ctx, Some(Hello::Imap));
        feed(&mut d, &ctx, b"* OK IMAP4rev1 ready\r\n", false);
        let (out, step) = feed(&mut d, &ctx, b"* BYE shutting down\r\n", false);
        assert_eq!((out.is_empty(), step), (true, Step::Continue));
        let (out, step) = feed(&mut d, &ctx, b"a1 BAD unknown command\r\n", false);
        assert_eq!((out.is_empty(), step), (true, Step::Done));
    }

    #[test]
    fn https_reads_the_response_inside_tls() {
        let ctx = Context::default();
        let response = b"HTTP/1.1 200 OK\r\nServer: lab-httpd/2.0\r\nContent-Length: 0\r\n\r\n";
        for (version, name) in tls_versions() {
            for bytewise in [false, true] {
                let (mut d, client_hello) = opened(&ctx, Some(Hello::Tls));
                let mut server = lab::server(version);
                let mut requests = Vec::new();
                let mut app = |request: &[u8]| {
                    requests.extend_from_slice(request);
                    response.to_vec()
                };
                let step = pump_tls(&mut d, &ctx, &mut server, client_hello, &mut app, bytewise);
                assert_eq!(step, Step::Done);
                assert_eq!(requests, GET);
                let findings = d.finish();
                assert_eq!(findings.greeting, b"");
                assert_eq!(findings.reply, response);
                assert_eq!(findings.hello, Some(Hello::Tls));
                let tls = findings.tls.expect("TLS info");
                assert_eq!(tls.version, name);
                assert_eq!(tls.alpn.as_deref(), Some("http/1.1"));
                assert_eq!(tls.certs[0].issuer, lab::SUBJECT);
            }
        }
    }

    #[test]
    fn tls_to_a_plain_text_server_ends_without_info() {
        let ctx = Context::default();
        let (mut d, _) = opened(&ctx, Some(Hello::Tls));
        let (_, step) = feed(&mut d, &ctx, b"HTTP/1.1 400 Bad Request\r\n\r\n", false);
        assert_eq!(step, Step::Done);
        let findings = d.finish();
        assert_eq!(findings.tls, None);
        assert_eq!(findings.hello, Some(Hello::Tls));
        assert_eq!(findings.reply, b"");
    }

    #[test]
    fn redis_reads_the_whole_bulk_reply() {
        let ctx = Context::default();
        let body =
            "# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\nos:Linux 6.1.0 x86_64\r\n";
        let reply = format!("${}\r\n{body}\r\n", body.len());
        for bytewise in [false, true] {
            let (mut d, out) = opened(&ctx, Some(Hello::Redis));
            assert_eq!(out, b"*1\r\n$4\r\nINFO\r\n");
            let (out, step) = feed(&mut d, &ctx, reply.as_bytes(), bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            assert_eq!(d.finish().reply, reply.as_bytes());
        }
        for error in [
            &b"-NOAUTH Authentication required.\r\n"[..],
            b"-DENIED Redis is running in protected mode\r\n",
            b"$-1\r\n",
        ] {
            let (mut d, _) = opened(&ctx, Some(Hello::Redis));
            assert_eq!(feed(&mut d, &ctx, error, true).1, Step::Done);
        }
    }

    #[test]
    fn mysql_reads_the_handshake_packet() {
        let ctx = Context::default();
        let mut payload = vec![10u8];
        payload.extend_from_slice(b"8.0.36-0ubuntu0.22.04.1\0");
        payload.extend_from_slice(&[0x2a, 0, 0, 0]); // connection id
        payload.extend_from_slice(b"abcdefgh\0"); // first scramble part
        payload.extend_from_slice(&[0xff, 0xff, 0xff, 0x02, 0x00, 0xff, 0xdf, 0x15]);
        payload.extend_from_slice(&[0; 10]);
        payload.extend_from_slice(b"ijklmnopqrst\0caching_sha2_password\0");
        let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        packet.push(0); // sequence
        packet.extend_from_slice(&payload);
        for bytewise in [false, true] {
            let (mut d, out) = opened(&ctx, Some(Hello::Mysql));
            assert!(out.is_empty());
            let (out, step) = feed(&mut d, &ctx, &packet, bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            assert_eq!(d.finish().greeting, packet);
        }
    }

    const POSTGRES_STARTUP: &[u8] = b"\0\0\0\x29\0\x03\0\0user\0synsweep\0database\0synsweep\0\0";
    /// AuthenticationMD5Password with its salt.
    const POSTGRES_MD5: &[u8] = b"R\0\0\0\x0c\0\0\0\x05\x01\x02\x03\x04";

    #[test]
    fn postgres_without_tls_reads_the_auth_request() {
        let ctx = Context::default();
        for bytewise in [false, true] {
            let (mut d, out) = opened(&ctx, Some(Hello::Postgres));
            assert_eq!(out, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
            let (out, step) = feed(&mut d, &ctx, b"N", bytewise);
            assert_eq!((out.as_slice(), step), (POSTGRES_STARTUP, Step::Continue));
            let (out, step) = feed(&mut d, &ctx, POSTGRES_MD5, bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            let findings = d.finish();
            assert_eq!(findings.reply, [b"N", POSTGRES_MD5].concat());
            assert_eq!(findings.hello, Some(Hello::Postgres));
        }
        // An old server answers the SSLRequest with an error.
        let error = b"E\0\0\0\x18SFATAL\0C0A000\0Mold\0\0";
        let (mut d, _) = opened(&ctx, Some(Hello::Postgres));
        assert_eq!(feed(&mut d, &ctx, &error[..], true).1, Step::Done);
    }

    #[test]
    fn postgres_with_tls_sends_the_startup_inside() {
        let ctx = Context::default();
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Postgres));
            let (client_hello, step) = feed(&mut d, &ctx, b"S", bytewise);
            assert_eq!(step, Step::Continue);
            let mut server = lab::server(&rustls::version::TLS13);
            let mut startup = Vec::new();
            let mut app = |message: &[u8]| {
                startup.extend_from_slice(message);
                POSTGRES_MD5.to_vec()
            };
            assert_eq!(
                pump_tls(&mut d, &ctx, &mut server, client_hello, &mut app, bytewise),
                Step::Done
            );
            assert_eq!(startup, POSTGRES_STARTUP);
            let findings = d.finish();
            assert_eq!(findings.reply, [b"S", POSTGRES_MD5].concat());
            assert!(findings.tls.is_some());
        }
    }

    #[test]
    fn memcached_vnc_and_rdp_read_one_answer() {
        let ctx = Context::default();
        let confirm = [
            0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1f, 0x08,
            0x00, 0x02, 0x00, 0x00, 0x00,
        ];
        let cases: [(Hello, &[u8], &[u8]); 3] = [
            (Hello::Memcached, b"version\r\n", b"VERSION 1.6.21\r\n"),
            (Hello::Vnc, b"", b"RFB 003.008\n"),
            (Hello::Rdp, RDP_CONNECTION_REQUEST, &confirm),
        ];
        for (hello, hello_bytes, answer) in cases {
            for bytewise in [false, true] {
                let (mut d, out) = opened(&ctx, Some(hello));
                assert_eq!(out, hello_bytes, "{hello:?}");
                let (out, step) = feed(&mut d, &ctx, answer, bytewise);
                assert_eq!((out.is_empty(), step), (true, Step::Done), "{hello:?}");
                let findings = d.finish();
                assert_eq!(findings.banner().copied().collect::<Vec<u8>>(), answer);
            }
        }
        assert_eq!(RDP_CONNECTION_REQUEST.len(), 19);
    }

    #[test]
    fn telnet_refuses_options_and_stops_at_the_prompt() {
        let ctx = Context::default();
        let negotiation =
            b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27\xff\xfb\x03\xff\xfb\x01\xff\xfd\x18";
        let refusals = b"\xff\xfc\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27\xff\xfe\x03\xff\xfe\x01";
        let banner = b"\xff\xfa\x18\x01\xff\xf0\r\nUbuntu 22.04.4 LTS\r\nlab login: ";
        for bytewise in [false, true] {
            let (mut d, _) = opened(&ctx, Some(Hello::Telnet));
            let (out, step) = feed(&mut d, &ctx, negotiation, bytewise);
            assert_eq!((out.as_slice(), step), (&refusals[..], Step::Continue));
            let (out, step) = feed(&mut d, &ctx, banner, bytewise);
            assert_eq!((out.is_empty(), step), (true, Step::Done));
            let findings = d.finish();
            assert_eq!(findings.greeting, [&negotiation[..], banner].concat());
            assert_eq!(findings.reply, b"");
            assert_eq!(findings.hello, Some(Hello::Telnet));
        }
    }

    #[test]
    fn an_unknown_port_waits_then_tries_http() {
        let ctx = Context::default();
        for bytewise in [false, true] {
            let (mut d, out) = opened(&ctx, None);
            assert!(out.is_empty());
            let (_, step) = feed(&mut d, &ctx, b"+OK lab service ready\r\n", bytewise);
            assert_eq!(step, Step::Done);
            let findings = d.finish();
            assert_eq!(findings.greeting, b"+OK lab service ready\r\n");
            assert_eq!(findings.hello, None);
        }
        let (mut d, _) = opened(&ctx, None);
        let mut out = Vec::new();
        assert_eq!(d.quiet(&ctx, &mut out), Step::Continue);
        assert_eq!(out, GET);
        let (_, step) = feed(&mut d, &ctx, b"HTTP/1.0 404 Not Found\r\n\r\n", true);
        assert_eq!(step, Step::Done);
        let findings = d.finish();
        assert_eq!(findings.hello, Some(Hello::Http));
        assert_eq!(findings.reply, b"HTTP/1.0 404 Not Found\r\n\r\n");
        // A greeting without a line end, then silence: that is the banner.
        let (mut d, _) = opened(&ctx, None);
        feed(&mut d, &ctx, b"\x00\x01binary", false);
        let mut out = Vec::new();
        assert_eq!(d.quiet(&ctx, &mut out), Step::Done);
        assert!(out.is_empty());
    }

    /// A deterministic source of junk.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Pieces of real protocol mixed with noise, so junk reaches the deeper
    /// states of each dialogue, not only its first parser.
    const TOKENS: &[&[u8]] = &[
        b"220 ",
        b"220-",
        b"250-STARTTLS\r\n",
        b"250 ",
        b"+OK\r\n",
        b"* OK\r\n",
        b"a1 OK\r\n",
        b"\r\n",
        b"\n",
        b"SSH-",
        b"$",
        b"-1",
        b"99999999999999999999",
        b"\xff\xfd",
        b"\xff\xfa",
        b"\xff\xff",
        b"S",
        b"N",
        b"E\0\0\0",
        b"R",
        b"\x03\x00",
        b"\x16\x03\x03\x00",
        b"login: ",
        b"\0",
    ];

    #[test]
    fn hostile_bytes_never_panic_or_overflow_the_budget() {
        let hellos: Vec<Option<Hello>> = Hello::ALL.into_iter().map(Some).chain([None]).collect();
        for max_bytes in [0, 1, 7, 100, 4096] {
            let ctx = Context::new(max_bytes);
            for &hello in &hellos {
                for seed in 1..=30u64 {
                    let mut rng =
                        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ max_bytes as u64);
                    let mut d = Dialogue::new(&ctx, hello, TARGET, 1);
                    let mut out = Vec::new();
                    let mut step = d.opening(&ctx, &mut out);
                    let mut rounds = 0;
                    while step == Step::Continue && rounds < 400 {
                        rounds += 1;
                        let mut chunk = Vec::new();
                        for _ in 0..=rng.below(6) {
                            if rng.below(3) == 0 {
                                chunk.extend((0..rng.below(40)).map(|_| rng.next() as u8));
                            } else {
                                chunk.extend_from_slice(TOKENS[rng.below(TOKENS.len())]);
                            }
                        }
                        step = if rng.below(40) == 0 {
                            d.quiet(&ctx, &mut out)
                        } else {
                            d.received(&ctx, &chunk, &mut out)
                        };
                    }
                    if step == Step::Done {
                        let mut after = Vec::new();
                        assert_eq!(d.received(&ctx, b"more\r\n", &mut after), Step::Done);
                        assert_eq!(d.quiet(&ctx, &mut after), Step::Done);
                        assert_eq!(d.opening(&ctx, &mut after), Step::Done);
                        assert!(after.is_empty());
                    }
                    let findings = d.finish();
                    assert!(
                        findings.greeting.len() + findings.reply.len() <= max_bytes,
                        "{hello:?} seed {seed} kept more than {max_bytes}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_bytes_in_any_chunking_end_the_same_way() {
        // Chunking may move where a dialogue stops, never whether it
        // panics or how much it keeps.
        let ctx = Context::new(512);
        let mut rng = XorShift(0x5eed);
        for hello in Hello::ALL.into_iter().map(Some).chain([None]) {
            for _ in 0..20 {
                let stream: Vec<u8> = (0..rng.below(2000))
                    .map(|_| {
                        if rng.below(4) == 0 {
                            b'\n'
                        } else {
                            rng.next() as u8
                        }
                    })
                    .collect();
                for max_chunk in [1, 2, 3, 7, 64, 4096] {
                    let mut d = Dialogue::new(&ctx, hello, TARGET, 1);
                    let mut out = Vec::new();
                    d.opening(&ctx, &mut out);
                    for chunk in stream.chunks(max_chunk) {
                        if d.received(&ctx, chunk, &mut out) == Step::Done {
                            break;
                        }
                    }
                    let findings = d.finish();
                    assert!(findings.greeting.len() + findings.reply.len() <= 512);
                }
            }
        }
    }
}
