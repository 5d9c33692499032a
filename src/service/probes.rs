//! nmap's service probe database (`nmap-service-probes`), read at run time
//! and matched against what a banner session heard.
//!
//! The file is nmap's, not ours: we read whatever version is installed and
//! never ship any of it. Its regexes are Perl-style patterns over raw bytes,
//! so they run on PCRE2, the engine family nmap itself uses. There are some
//! 12,000 of them, and compiling them all costs seconds, so each compiles on
//! first use and stays cached; a cheap literal prefilter keeps most of them
//! from running (or compiling) at all for a given banner.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use pcre2::bytes::{Captures, Regex, RegexBuilder};

use super::hello::Hello;
use super::{Findings, IdMethod, ServiceId};

/// The transport a probe is sent over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// An inclusive port range of a `ports`, `sslports` or `Exclude` line;
/// `transport` is None when the line did not say (`Exclude 53` means both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub transport: Option<Transport>,
    pub first: u16,
    pub last: u16,
}

/// One `Probe` section of the file: what nmap would send and the
/// directives that go with it. Its match lines are kept private.
#[derive(Debug)]
pub struct Probe {
    pub transport: Transport,
    pub name: String,
    pub payload: Vec<u8>,
    /// `no-payload` (nmap sends nothing for such UDP probes unless asked).
    pub no_payload: bool,
    pub ports: Vec<PortRange>,
    pub ssl_ports: Vec<PortRange>,
    pub rarity: Option<u8>,
    pub total_wait_ms: Option<u32>,
    pub tcp_wrapped_ms: Option<u32>,
    /// Names from `fallback`, resolved into `fallbacks` once the whole file
    /// is read (a fallback may name a later probe).
    pub fallback_names: Vec<String>,
    /// 1-based line of the `Probe` directive.
    pub line: usize,
    fallbacks: Vec<usize>,
    rules: Vec<MatchRule>,
}

/// The probe whose answers nmap's file describes best for the reply to
/// each of our hellos. Looked up by name at load time, since line numbers
/// change with every nmap release; a hello missing here (or a name missing
/// from the installed file) is matched with the NULL probe's lines only.
const HELLO_PROBES: [(Hello, &str); 6] = [
    // Our HTTP hello is a GET of "/", as GetRequest's is.
    (Hello::Http, "GetRequest"),
    (Hello::Tls, "GetRequest"),
    // GetRequest's answers' reading for Redis's INFO is under this name.
    (Hello::Redis, "redis-server"),
    // We send `version`, nmap sends `stats`; its lines are the nearest.
    (Hello::Memcached, "Memcache"),
    // The reply holds the EHLO response, which is what `Hello` sends.
    (Hello::Smtp, "Hello"),
    // An X.224 connection request; its fallback is TerminalServer.
    (Hello::Rdp, "TerminalServerCookie"),
];

/// Longest a version field may grow after substitution: enough for any
/// honest banner, and a cap on what a hostile one puts into output.
const FIELD_MAX: usize = 256;

/// nmap's service probe database.
pub struct ServiceDb {
    origin: String,
    probes: Vec<Probe>,
    excluded: Vec<PortRange>,
    null_probe: Option<usize>,
    hello_probes: Vec<(Hello, usize)>,
}

impl fmt::Debug for ServiceDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceDb")
            .field("origin", &self.origin)
            .field("probes", &self.probes.len())
            .field("matches", &self.match_count())
            .finish()
    }
}

/// One `match` or `softmatch` line.
struct MatchRule {
    line: usize,
    soft: bool,
    service: String,
    pattern: String,
    caseless: bool,
    dotall: bool,
    prefilter: Prefilter,
    fields: VersionFields,
    /// Compiled on first use; Err holds PCRE2's complaint, and the rule is
    /// then skipped for good.
    regex: OnceLock<Result<Regex, String>>,
}

impl fmt::Debug for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchRule")
            .field("line", &self.line)
            .field("service", &self.service)
            .field("pattern", &self.pattern)
            .finish()
    }
}

impl MatchRule {
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                RegexBuilder::new()
                    .caseless(self.caseless)
                    .dotall(self.dotall)
                    .jit_if_available(true)
                    .build(&self.pattern)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .ok()
    }
}

#[derive(Debug, Default)]
struct VersionFields {
    product: Option<Template>,
    version: Option<Template>,
    info: Option<Template>,
    hostname: Option<Template>,
    ostype: Option<Template>,
    devicetype: Option<Template>,
    cpe: Vec<Template>,
}

/// A version field's text with its `$` substitutions, parsed at load so a
/// malformed helper is an error naming its line rather than a surprise at
/// match time.
#[derive(Debug, Default, PartialEq, Eq)]
struct Template(Vec<Piece>);

#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `$N`: the group, non-printable bytes escaped.
    Group(usize),
    /// `$P(N)`: the group's printable bytes only.
    Printable(usize),
    /// `$SUBST(N,"from","to")`.
    Subst {
        group: usize,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// `$I(N,">")` big-endian, `$I(N,"<")` little-endian unsigned integer.
    Int {
        group: usize,
        big_endian: bool,
    },
}

/// What a pattern's literal text says a subject must hold before the
/// regex can match: a cheap test that lets most rules skip PCRE entirely.
#[derive(Debug, Default, PartialEq, Eq)]
struct Prefilter {
    /// Bytes the subject must start with (the pattern is `^literal...`).
    prefix: Vec<u8>,
    /// Bytes the subject must hold somewhere (lowercased when caseless).
    inner: Vec<u8>,
    caseless: bool,
}

impl ServiceDb {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<ServiceDb, String> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| format!("{origin}: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
            format!("{origin}:{line}: not UTF-8 text")
        })?;
        ServiceDb::parse(&text, &origin)
    }

    /// Parses the text of a service probe file; `origin` names it in
    /// errors (`origin:LINE: what is wrong: the token`).
    pub fn parse(text: &str, origin: &str) -> Result<ServiceDb, String> {
        let mut probes: Vec<Probe> = Vec::new();
        let mut excluded = Vec::new();
        let mut fallback_lines = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let err = |what: &str, token: &str| format!("{origin}:{line}: {what}: {token}");
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (directive, rest) = split_word(trimmed);
            if directive == "Probe" {
                probes.push(parse_probe(rest, line).map_err(|(what, token)| err(what, &token))?);
                continue;
            }
            if directive == "Exclude" {
                excluded.extend(parse_ports(rest, true).map_err(|t| err("bad port", &t))?);
                continue;
            }
            let probe_index = probes.len().wrapping_sub(1);
            let Some(probe) = probes.last_mut() else {
                return Err(err("directive before any Probe", directive));
            };
            match directive {
                "match" | "softmatch" => {
                    let rule = parse_match(rest, directive == "softmatch", line)
                        .map_err(|(what, token)| err(what, &token))?;
                    probe.rules.push(rule);
                }
                "ports" => probe
                    .ports
                    .extend(parse_ports(rest, false).map_err(|t| err("bad port", &t))?),
                "sslports" => probe
                    .ssl_ports
                    .extend(parse_ports(rest, false).map_err(|t| err("bad port", &t))?),
                "rarity" => {
                    let rarity = rest
                        .parse::<u8>()
                        .ok()
                        .filter(|r| (1..=9).contains(r))
                        .ok_or_else(|| err("rarity not 1-9", rest))?;
                    probe.rarity = Some(rarity);
                }
                "totalwaitms" => {
                    probe.total_wait_ms =
                        Some(rest.parse().map_err(|_| err("bad milliseconds", rest))?);
                }
                "tcpwrappedms" => {
                    probe.tcp_wrapped_ms =
                        Some(rest.parse().map_err(|_| err("bad milliseconds", rest))?);
                }
                "fallback" => {
                    for name in rest.split(',').map(str::trim) {
                        if name.is_empty() {
                            return Err(err("empty fallback name", rest));
                        }
                        probe.fallback_names.push(name.to_string());
                        fallback_lines.push((probe_index, name.to_string(), line));
                    }
                }
                other => return Err(err("unknown directive", other)),
            }
        }
        // A fallback may name a later probe, and even one of the other
        // transport (nmap's TCP DNS probes fall back on their UDP twins'
        // lines); one of the same transport is preferred.
        for (at, name, line) in fallback_lines {
            let transport = probes[at].transport;
            let named = |p: &&Probe| p.name == name;
            let target = probes
                .iter()
                .position(|p| named(&p) && p.transport == transport)
                .or_else(|| probes.iter().position(|p| named(&p)))
                .ok_or_else(|| format!("{origin}:{line}: unknown fallback probe: {name}"))?;
            probes[at].fallbacks.push(target);
        }
        let find = |name: &str| {
            probes
                .iter()
                .position(|p| p.name == name && p.transport == Transport::Tcp)
        };
        let null_probe = find("NULL");
        let hello_probes = HELLO_PROBES
            .iter()
            .filter_map(|&(hello, name)| Some((hello, find(name)?)))
            .collect();
        Ok(ServiceDb {
            origin: origin.to_string(),
            probes,
            excluded,
            null_probe,
            hello_probes,
        })
    }

    /// Where the db was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// The ports of the `Exclude` line (nmap skips version detection there).
    pub fn excluded(&self) -> &[PortRange] {
        &self.excluded
    }

    /// Match and softmatch lines of all probes.
    pub fn match_count(&self) -> usize {
        self.probes.iter().map(|p| p.rules.len()).sum()
    }

    /// How many match lines PCRE2 has refused so far. Regexes compile
    /// lazily, so this grows as banners reach them; `compile_all` makes it
    /// final.
    pub fn skipped_regexes(&self) -> usize {
        self.rules()
            .filter(|r| matches!(r.regex.get(), Some(Err(_))))
            .count()
    }

    /// One line per refused regex so far: `FILE:LINE: regex rejected by
    /// PCRE2: its complaint`.
    pub fn regex_errors(&self) -> Vec<String> {
        self.rules()
            .filter_map(|r| match r.regex.get() {
                Some(Err(e)) => Some(format!(
                    "{}:{}: regex rejected by PCRE2: {e}",
                    self.origin, r.line
                )),
                _ => None,
            })
            .collect()
    }

    /// Compiles every regex now (for a check of the file, or to move the
    /// cost out of the first banners) and returns how many PCRE2 refused.
    pub fn compile_all(&self) -> usize {
        self.rules().for_each(|r| {
            r.regex();
        });
        self.skipped_regexes()
    }

    fn rules(&self) -> impl Iterator<Item = &MatchRule> {
        self.probes.iter().flat_map(|p| p.rules.iter())
    }

    /// What nmap's file says the service is; an unidentified TLS service is
    /// "ssl", as nmap calls it.
    pub fn identify(&self, f: &Findings) -> Option<ServiceId> {
        match self.lookup(f) {
            Some((id, _soft)) => Some(id),
            None => ssl_unidentified(f),
        }
    }

    /// The best match and whether it was only a softmatch.
    ///
    /// nmap's order, for a conversation of one hello: the NULL probe's
    /// lines on the greeting; then on the reply the lines of the probe
    /// nearest our hello, its fallbacks, and the NULL probe's. The first
    /// hard match wins; a softmatch is kept in case none follows.
    pub(crate) fn lookup(&self, f: &Findings) -> Option<(ServiceId, bool)> {
        let mut soft: Option<(&MatchRule, Captures<'_>)> = None;
        let mut hard = None;
        if !f.greeting.is_empty()
            && let Some(null) = self.null_probe
        {
            hard = self.run_probe(null, &Subject::new(&f.greeting), &mut soft);
        }
        if hard.is_none() && !f.reply.is_empty() {
            let reply = Subject::new(&f.reply);
            let mut order: Vec<usize> = Vec::with_capacity(4);
            let hello_probe = f.hello.and_then(|h| {
                self.hello_probes
                    .iter()
                    .find(|(hello, _)| *hello == h)
                    .map(|&(_, p)| p)
            });
            if let Some(p) = hello_probe {
                order.push(p);
                order.extend(&self.probes[p].fallbacks);
            }
            order.extend(self.null_probe);
            let mut tried: Vec<usize> = Vec::with_capacity(order.len());
            for p in order {
                if tried.contains(&p) {
                    continue;
                }
                tried.push(p);
                hard = self.run_probe(p, &reply, &mut soft);
                if hard.is_some() {
                    break;
                }
            }
        }
        let tunneled = tls_tunneled(f);
        if let Some((rule, caps)) = hard {
            return Some((service_id(rule, &caps, tunneled, false), false));
        }
        let (rule, caps) = soft?;
        Some((service_id(rule, &caps, tunneled, true), true))
    }

    /// The first hard match of probe `p`'s lines on `subject`; the first
    /// softmatch seen lands in `soft` if none is there yet.
    fn run_probe<'s>(
        &'s self,
        p: usize,
        subject: &Subject<'s>,
        soft: &mut Option<(&'s MatchRule, Captures<'s>)>,
    ) -> Option<(&'s MatchRule, Captures<'s>)> {
        for rule in &self.probes[p].rules {
            // A softmatch adds nothing once we hold one.
            if rule.soft && soft.is_some() {
                continue;
            }
            if !subject.may_match(&rule.prefilter) {
                continue;
            }
            let Some(regex) = rule.regex() else { continue };
            // A match error (PCRE2's limits on a hostile banner) is no match.
            let Ok(Some(caps)) = regex.captures(subject.bytes) else {
                continue;
            };
            if rule.soft {
                *soft = Some((rule, caps));
            } else {
                return Some((rule, caps));
            }
        }
        None
    }
}

/// Hellos whose TLS is negotiated inside the protocol (STARTTLS and
/// Postgres' SSLRequest): nmap names the protocol, not an ssl tunnel.
fn starts_tls_inside(hello: Option<Hello>) -> bool {
    matches!(
        hello,
        Some(Hello::Smtp | Hello::Pop3 | Hello::Imap | Hello::Postgres)
    )
}

/// The session spoke TLS from the first byte, so a match is "ssl/NAME".
pub(crate) fn tls_tunneled(f: &Findings) -> bool {
    f.tls.is_some() && !starts_tls_inside(f.hello)
}

/// nmap's answer for a TLS service whose inside nothing recognised.
pub(crate) fn ssl_unidentified(f: &Findings) -> Option<ServiceId> {
    tls_tunneled(f).then(|| ServiceId {
        name: "ssl".to_string(),
        method: IdMethod::Probed,
        ..ServiceId::default()
    })
}

fn service_id(rule: &MatchRule, caps: &Captures<'_>, tunneled: bool, soft: bool) -> ServiceId {
    // nmap's file names a few services "ssl/NAME" for answers that only a
    // TLS server gives; that is the tunnel, not the name.
    let (name, ssl_name) = match rule.service.strip_prefix("ssl/") {
        Some(inner) => (inner, true),
        None => (rule.service.as_str(), false),
    };
    let tunnel = (tunneled || ssl_name).then_some("ssl");
    if soft {
        // A softmatch says which protocol, not which product.
        return ServiceId {
            name: name.to_string(),
            tunnel,
            method: IdMethod::Probed,
            ..ServiceId::default()
        };
    }
    let render = |t: &Option<Template>| t.as_ref().and_then(|t| t.render(caps, false));
    let fields = &rule.fields;
    ServiceId {
        name: name.to_string(),
        product: render(&fields.product),
        version: render(&fields.version),
        info: render(&fields.info),
        hostname: render(&fields.hostname),
        ostype: render(&fields.ostype),
        devicetype: render(&fields.devicetype),
        cpe: cpe_names(&fields.cpe, caps),
        tunnel,
        method: IdMethod::Probed,
    }
}

/// The CPE names of a match as nmap reports them: one per part
/// (application, hardware, OS), a later one of a part replacing an
/// earlier, in that order; `nmap -sV` shows OpenSSH's Debian line with
/// only the last of its two OS names.
fn cpe_names(templates: &[Template], caps: &Captures<'_>) -> Vec<String> {
    let mut by_part: [Option<String>; 3] = [None, None, None];
    let mut other = Vec::new();
    for name in templates.iter().filter_map(|t| t.render(caps, true)) {
        let slot = match name.as_bytes().first() {
            Some(b'a') => 0,
            Some(b'h') => 1,
            Some(b'o') => 2,
            _ => {
                other.push(format!("cpe:/{name}"));
                continue;
            }
        };
        by_part[slot] = Some(format!("cpe:/{name}"));
    }
    by_part.into_iter().flatten().chain(other).collect()
}

/// A banner being matched, with the byte-pair sets its prefilter checks
/// built on first need (most banners fail on the prefix alone).
struct Subject<'s> {
    bytes: &'s [u8],
    pairs: OnceLock<Box<PairSet>>,
    pairs_folded: OnceLock<Box<PairSet>>,
}

/// Which adjacent byte pairs occur in a subject: one bit per pair. A
/// literal whose pairs are not all present cannot occur, which rules out
/// most rules of a 5,000-line probe without scanning the banner again.
struct PairSet([u64; 1024]);

impl PairSet {
    fn of(bytes: &[u8], fold: bool) -> Box<PairSet> {
        let mut set = Box::new(PairSet([0; 1024]));
        let norm = |b: u8| if fold { b.to_ascii_lowercase() } else { b };
        for w in bytes.windows(2) {
            let pair = (usize::from(norm(w[0])) << 8) | usize::from(norm(w[1]));
            set.0[pair >> 6] |= 1 << (pair & 63);
        }
        set
    }

    fn holds_all_pairs_of(&self, literal: &[u8]) -> bool {
        literal.windows(2).all(|w| {
            let pair = (usize::from(w[0]) << 8) | usize::from(w[1]);
            self.0[pair >> 6] & (1 << (pair & 63)) != 0
        })
    }
}

impl<'s> Subject<'s> {
    fn new(bytes: &'s [u8]) -> Subject<'s> {
        Subject {
            bytes,
            pairs: OnceLock::new(),
            pairs_folded: OnceLock::new(),
        }
    }

    fn may_match(&self, pre: &Prefilter) -> bool {
        let Some(head) = self.bytes.get(..pre.prefix.len()) else {
            return false;
        };
        let prefix_ok = if pre.caseless {
            head.eq_ignore_ascii_case(&pre.prefix)
        } else {
            head == pre.prefix.as_slice()
        };
        if !prefix_ok {
            return false;
        }
        if pre.inner.len() < 2 {
            return true;
        }
        if pre.inner.len() > self.bytes.len() {
            return false;
        }
        let set = if pre.caseless {
            self.pairs_folded
                .get_or_init(|| PairSet::of(self.bytes, true))
        } else {
            self.pairs.get_or_init(|| PairSet::of(self.bytes, false))
        };
        set.holds_all_pairs_of(&pre.inner)
    }
}

impl Template {
    /// The text with groups substituted; None when it comes out empty.
    fn render(&self, caps: &Captures<'_>, cpe: bool) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            let group = |n: usize| caps.get(n).map(|m| m.as_bytes()).unwrap_or(&[]);
            let captured: Vec<u8> = match piece {
                Piece::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Group(n) => group(*n).to_vec(),
                Piece::Printable(n) => group(*n)
                    .iter()
                    .copied()
                    .filter(|b| (0x20..0x7f).contains(b))
                    .collect(),
                Piece::Subst { group: n, from, to } => replace_all(group(*n), from, to),
                Piece::Int {
                    group: n,
                    big_endian,
                } => {
                    out.push_str(&bytes_to_uint(group(*n), *big_endian)?.to_string());
                    continue;
                }
            };
            if cpe {
                push_cpe_escaped(&mut out, &captured);
            } else {
                push_escaped(&mut out, &captured);
            }
        }
        if out.len() > FIELD_MAX {
            let mut end = FIELD_MAX;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Captured bytes go into every output format, so anything but printable
/// ASCII is written as `\xNN`.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// A CPE component: lowercase, spaces as underscores, and the characters
/// the CPE 2.2 URI form reserves percent-encoded, so a captured ":" cannot
/// shift the fields after it.
pub(crate) fn push_cpe_escaped(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b' ' => out.push('_'),
            b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@' | b'!' | b'$' | b'&' | b'\'' | b'('
            | b')' | b'*' | b'+' | b',' | b';' | b'=' | b'%' | b'<' | b'>' | b'"' => {
                out.push_str(&format!("%{b:02X}"))
            }
            0x21..0x7f => out.push(char::from(b.to_ascii_lowercase())),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// An unsigned integer of up to 8 bytes; None for an empty or wider group
/// (the field is then left out, not made up).
fn bytes_to_uint(bytes: &[u8], big_endian: bool) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let fold = |acc: u64, &b: &u8| (acc << 8) | u64::from(b);
    Some(if big_endian {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    })
}

/// The first whitespace-separated word and the rest, trimmed.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(at) => (&s[..at], s[at..].trim_start()),
        None => (s, ""),
    }
}

/// Parse error: what is wrong, and the token.
type LineError = (&'static str, String);

/// `TCP NAME q|payload| [no-payload]`.
fn parse_probe(rest: &str, line: usize) -> Result<Probe, LineError> {
    let (proto, rest) = split_word(rest);
    let transport = match proto {
        "TCP" => Transport::Tcp,
        "UDP" => Transport::Udp,
        _ => return Err(("protocol not TCP or UDP", proto.to_string())),
    };
    let (name, rest) = split_word(rest);
    if name.is_empty() {
        return Err(("probe without a name", rest.to_string()));
    }
    let Some(quoted) = rest.strip_prefix('q') else {
        return Err(("probe string not q<delim>...<delim>", rest.to_string()));
    };
    let (raw, after) = delimited(quoted).ok_or(("unterminated probe string", rest.to_string()))?;
    let payload = unescape_payload(raw).map_err(|t| ("bad escape in probe string", t))?;
    let no_payload = match after.trim() {
        "" => false,
        "no-payload" => true,
        other => return Err(("unknown probe option", other.to_string())),
    };
    Ok(Probe {
        transport,
        name: name.to_string(),
        payload,
        no_payload,
        ports: Vec::new(),
        ssl_ports: Vec::new(),
        rarity: None,
        total_wait_ms: None,
        tcp_wrapped_ms: None,
        fallback_names: Vec::new(),
        line,
        fallbacks: Vec::new(),
        rules: Vec::new(),
    })
}

/// `s` starts with a delimiter character: the text up to its next
/// occurrence, and what follows. nmap has no escape for the delimiter,
/// which is why lines pick one their text does not contain.
fn delimited(s: &str) -> Option<(&str, &str)> {
    let delim = s.chars().next()?;
    let body = &s[delim.len_utf8()..];
    let end = body.find(delim)?;
    Some((&body[..end], &body[end + delim.len_utf8()..]))
}

/// A probe string's C-style escapes.
fn unescape_payload(raw: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let escaped = bytes.next().ok_or_else(|| "\\".to_string())?;
        out.push(match escaped {
            b'\\' => b'\\',
            b'0' => 0,
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'x' => {
                let hex = [bytes.next(), bytes.next()];
                let [Some(hi), Some(lo)] = hex else {
                    return Err("\\x".to_string());
                };
                let digits = [hi, lo];
                let text = std::str::from_utf8(&digits).unwrap_or("");
                u8::from_str_radix(text, 16)
                    .map_err(|_| format!("\\x{}", String::from_utf8_lossy(&digits)))?
            }
            other => return Err(format!("\\{}", char::from(other))),
        });
    }
    Ok(out)
}

/// `80,443,8000-8010` (and with `allow_transport`, `T:` and `U:` groups
/// as `Exclude` takes them). Err holds the bad token.
fn parse_ports(list: &str, allow_transport: bool) -> Result<Vec<PortRange>, String> {
    let mut transport = None;
    let mut out = Vec::new();
    for token in list.split(',').map(str::trim) {
        let mut spec = token;
        if allow_transport {
            if let Some(r) = spec.strip_prefix("T:") {
                transport = Some(Transport::Tcp);
                spec = r;
            } else if let Some(r) = spec.strip_prefix("U:") {
                transport = Some(Transport::Udp);
                spec = r;
            }
        }
        let port = |s: &str| s.trim().parse::<u16>().map_err(|_| token.to_string());
        let (first, last) = match spec.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(spec)?, port(spec)?),
        };
        if first > last {
            return Err(token.to_string());
        }
        out.push(PortRange {
            transport,
            first,
            last,
        });
    }
    Ok(out)
}

/// `SERVICE m<d>PATTERN<d>[is] [p/../ v/../ i/../ h/../ o/../ d/../ cpe:/../[a]]`.
fn parse_match(rest: &str, soft: bool, line: usize) -> Result<MatchRule, LineError> {
    let (service, rest) = split_word(rest);
    if service.is_empty() || rest.is_empty() {
        return Err(("match without service and pattern", rest.to_string()));
    }
    let Some(quoted) = rest.strip_prefix('m') else {
        return Err(("pattern not m<delim>...<delim>", split_word(rest).0.into()));
    };
    let (pattern, after) = delimited(quoted).ok_or(("unterminated pattern", rest.to_string()))?;
    let (flags, fields_text) = split_word(after);
    let (mut caseless, mut dotall) = (false, false);
    for flag in flags.chars() {
        match flag {
            'i' => caseless = true,
            's' => dotall = true,
            _ => return Err(("unknown pattern flag", flags.to_string())),
        }
    }
    let fields = parse_fields(fields_text)?;
    Ok(MatchRule {
        line,
        soft,
        service: service.to_string(),
        pattern: pattern.to_string(),
        caseless,
        dotall,
        prefilter: prefilter(pattern.as_bytes(), caseless),
        fields,
        regex: OnceLock::new(),
    })
}

/// The version fields after a pattern; each field letter is followed by a
/// delimiter of its own choosing.
fn parse_fields(mut text: &str) -> Result<VersionFields, LineError> {
    let mut fields = VersionFields::default();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(fields);
        }
        let token = || split_word(text).0.to_string();
        if let Some(quoted) = text.strip_prefix("cpe:") {
            let (body, after) = delimited(quoted).ok_or(("unterminated cpe field", token()))?;
            fields
                .cpe
                .push(parse_template(body).map_err(|t| ("bad substitution", t))?);
            // The `a` flag (nmap's "auto-generated") changes nothing here.
            text = after.strip_prefix('a').unwrap_or(after);
            if !text.is_empty() && !text.starts_with(char::is_whitespace) {
                return Err(("junk after cpe field", token()));
            }
            continue;
        }
        let mut chars = text.chars();
        let letter = chars.next().unwrap_or(' ');
        let slot = match letter {
            'p' => &mut fields.product,
            'v' => &mut fields.version,
            'i' => &mut fields.info,
            'h' => &mut fields.hostname,
            'o' => &mut fields.ostype,
            'd' => &mut fields.devicetype,
            _ => return Err(("unknown version field", token())),
        };
        let (body, after) =
            delimited(chars.as_str()).ok_or(("unterminated version field", token()))?;
        if slot.is_some() {
            return Err(("repeated version field", token()));
        }
        *slot = Some(parse_template(body).map_err(|t| ("bad substitution", t))?);
        if !after.is_empty() && !after.starts_with(char::is_whitespace) {
            return Err(("junk after version field", token()));
        }
        text = after;
    }
}

/// A field's text into pieces. A `$` that starts no known substitution is
/// kept as text, as a product name may hold one.
fn parse_template(body: &str) -> Result<Template, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = body;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let tail = &rest[at..];
        let parsed = parse_substitution(tail)?;
        match parsed {
            Some((piece, used)) => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(piece);
                rest = &tail[used..];
            }
            None => {
                text.push('$');
                rest = &tail[1..];
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(Template(pieces))
}

/// `tail` starts with `$`: the substitution there and the bytes it spans,
/// None when it is a plain `$`, Err naming a malformed helper call.
fn parse_substitution(tail: &str) -> Result<Option<(Piece, usize)>, String> {
    let after = &tail[1..];
    if let Some(d) = after.bytes().next().filter(|b| (b'1'..=b'9').contains(b)) {
        return Ok(Some((Piece::Group(usize::from(d - b'0')), 2)));
    }
    let (helper, open) = if after.starts_with("P(") {
        ("P", 2)
    } else if after.starts_with("SUBST(") {
        ("SUBST", 6)
    } else if after.starts_with("I(") {
        ("I", 2)
    } else {
        return Ok(None);
    };
    let bad = || tail.chars().take(40).collect::<String>();
    let args_text = &after[open..];
    let mut args = Vec::new();
    let mut rest = args_text;
    // Arguments are a group number and double-quoted strings (which may
    // hold commas and parentheses, so no split on them).
    loop {
        rest = rest.trim_start();
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(bad)?;
            args.push(&quoted[..end]);
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find([',', ')']).ok_or_else(bad)?;
            args.push(rest[..end].trim());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(')') {
            rest = r;
            break;
        } else {
            return Err(bad());
        }
    }
    let used = tail.len() - rest.len();
    let group = args
        .first()
        .and_then(|g| g.parse::<usize>().ok())
        .filter(|g| (1..=9).contains(g))
        .ok_or_else(bad)?;
    let piece = match (helper, args.len()) {
        ("P", 1) => Piece::Printable(group),
        ("SUBST", 3) => Piece::Subst {
            group,
            from: args[1].as_bytes().to_vec(),
            to: args[2].as_bytes().to_vec(),
        },
        ("I", 2) if args[1] == ">" || args[1] == "<" => Piece::Int {
            group,
            big_endian: args[1] == ">",
        },
        _ => return Err(bad()),
    };
    Ok(Some((piece, used)))
}

/// The literal text a pattern demands, found by a conservative walk of its
/// top level: runs of plain characters, with anything quantified, grouped,
/// classed or escaped into a non-literal ending a run. Where the walk meets
/// something it does not fully understand, it stops and keeps what it had;
/// a top-level `|` voids everything, since then no text is mandatory. The
/// walk may miss literals (the regex still runs) but must never claim one
/// the regex does not demand: a test holds it to that over nmap's file.
fn prefilter(pattern: &[u8], caseless: bool) -> Prefilter {
    if has_top_level_alternation(pattern).unwrap_or(true) {
        return Prefilter::default();
    }
    let mut walk = LiteralWalk {
        runs: Vec::new(),
        run: Vec::new(),
        first_run: pattern.first() == Some(&b'^'),
        prefix: Vec::new(),
        last_literal: false,
    };
    let mut i = usize::from(walk.first_run);
    while i < pattern.len() {
        let step = match pattern[i] {
            b'\\' => escape(pattern, i),
            b'.' | b'^' | b'$' => Some(Element::Other(1)),
            b'[' => class_end(pattern, i).map(|end| Element::Other(end + 1 - i)),
            b'(' => {
                // An inline option such as (?i) changes how later text
                // matches, and lookarounds are not text: only plain and
                // non-capturing groups are stepped over.
                let plain = pattern.get(i + 1) != Some(&b'?') || pattern.get(i + 2) == Some(&b':');
                group_end(pattern, i)
                    .filter(|_| plain)
                    .map(|end| Element::Other(end + 1 - i))
            }
            b'?' | b'*' | b'+' | b'{' => quantifier(pattern, i),
            b')' | b'|' => None,
            c => Some(Element::Literal(c, 1)),
        };
        let Some(step) = step else {
            // The unknown element may be a quantifier of the last byte.
            walk.run.pop();
            break;
        };
        i += match step {
            Element::Literal(b, len) => {
                walk.run.push(b);
                walk.last_literal = true;
                len
            }
            Element::Other(len) => {
                walk.end_run();
                len
            }
            Element::Quantifier { min_zero, len } => {
                if walk.last_literal && min_zero {
                    walk.run.pop();
                }
                walk.end_run();
                // A lazy or possessive suffix.
                len + usize::from(matches!(pattern.get(i + len), Some(b'?' | b'+')))
            }
        };
    }
    walk.end_run();
    let fold = |v: Vec<u8>| if caseless { v.to_ascii_lowercase() } else { v };
    let inner = walk
        .runs
        .into_iter()
        .max_by_key(Vec::len)
        .unwrap_or_default();
    Prefilter {
        prefix: fold(walk.prefix),
        inner: fold(inner),
        caseless,
    }
}

struct LiteralWalk {
    /// Finished runs of mandatory literal bytes.
    runs: Vec<Vec<u8>>,
    run: Vec<u8>,
    /// `run` began right after a leading `^`.
    first_run: bool,
    prefix: Vec<u8>,
    /// The element just walked was a literal byte (so a quantifier after
    /// it applies to the run's last byte).
    last_literal: bool,
}

impl LiteralWalk {
    fn end_run(&mut self) {
        if self.first_run {
            self.prefix = self.run.clone();
            self.first_run = false;
        }
        self.runs.push(std::mem::take(&mut self.run));
        self.last_literal = false;
    }
}

/// One element of a pattern's top level, with its length in the pattern.
enum Element {
    Literal(u8, usize),
    Other(usize),
    Quantifier { min_zero: bool, len: usize },
}

/// The escape at `at`: a literal byte, a one-character class or assertion
/// (not literal, but the walk goes on past it), or None for the escapes
/// that change how what follows reads (\Q, \K, back-references, octal...).
fn escape(pattern: &[u8], at: usize) -> Option<Element> {
    let e = *pattern.get(at + 1)?;
    let byte = match e {
        b'r' => b'\r',
        b'n' => b'\n',
        b't' => b'\t',
        b'f' => 0x0c,
        b'e' => 0x1b,
        b'a' => 0x07,
        b'0' if !pattern.get(at + 2).is_some_and(u8::is_ascii_digit) => 0,
        b'x' => {
            let hex = pattern.get(at + 2..at + 4)?;
            let text = std::str::from_utf8(hex).ok()?;
            let value = u8::from_str_radix(text, 16).ok()?;
            return Some(Element::Literal(value, 4));
        }
        b'd' | b'D' | b'w' | b'W' | b's' | b'S' | b'h' | b'H' | b'v' | b'V' | b'b' | b'B'
        | b'A' | b'z' | b'Z' | b'G' | b'R' | b'X' => return Some(Element::Other(2)),
        e if e.is_ascii_punctuation() || e == b' ' => e,
        _ => return None,
    };
    Some(Element::Literal(byte, 2))
}

/// Whether the pattern has a `|` outside every group; None when the walk
/// cannot tell (unbalanced, or \Q quoting that hides metacharacters).
fn has_top_level_alternation(pattern: &[u8]) -> Option<bool> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if pattern.get(i + 1) == Some(&b'Q') => return None,
            b'\\' => i += 1,
            b'[' => i = class_end(pattern, i)?,
            b'(' => depth += 1,
            b')' => depth = depth.checked_sub(1)?,
            b'|' if depth == 0 => return Some(true),
            _ => {}
        }
        i += 1;
    }
    Some(false)
}

/// The quantifier at `at`. None for a `{` that is not a quantifier
/// (PCRE2 then reads it literally, and this walk does not try to).
fn quantifier(pattern: &[u8], at: usize) -> Option<Element> {
    let (min_zero, len) = match pattern[at] {
        b'?' | b'*' => (true, 1),
        b'+' => (false, 1),
        _ => {
            let close = pattern[at..].iter().position(|&b| b == b'}')?;
            let inside = std::str::from_utf8(&pattern[at + 1..at + close]).ok()?;
            let (min, max) = match inside.split_once(',') {
                Some((min, max)) => (min, Some(max)),
                None => (inside, None),
            };
            let min: u32 = min.parse().ok()?;
            if let Some(max) = max.filter(|m| !m.is_empty()) {
                max.parse::<u32>().ok()?;
            }
            (min == 0, close + 1)
        }
    };
    Some(Element::Quantifier { min_zero, len })
}

/// Index of the `]` closing the class opened at `at`.
fn class_end(pattern: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    if pattern.get(i) == Some(&b'^') {
        i += 1;
    }
    // A `]` first in the class is a member.
    if pattern.get(i) == Some(&b']') {
        i += 1;
    }
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => i += 2,
            b'[' if pattern.get(i + 1) == Some(&b':') => {
                let close = pattern[i + 2..].windows(2).position(|w| w == b":]")?;
                i += close + 4;
            }
            b']' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Index of the `)` closing the group opened at `at`.
fn group_end(pattern: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' => i += 1,
            b'[' => i = class_end(pattern, i)?,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// nmap's own database, where Debian's and upstream's packages put it.
pub fn default_path() -> &'static Path {
    Path::new("/usr/share/nmap/nmap-service-probes")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::service::TlsInfo;
    use std::time::Instant;

    /// Made-up services in nmap's format, one of each directive and quirk.
    const SAMPLE: &str = r#"# A made-up probe file for the parser's tests.
Exclude T:9100-9102,U:53

Probe TCP NULL q||
totalwaitms 5000
tcpwrappedms 2000
match zorkd m|^ZORK v([\d.]+) ready\r\n| p/Zork daemon/ v/$1/ cpe:/a:zorkco:zorkd:$1/
match blipd m=^BLIP\|(\w+)\|= p|Blip server| i/node $1/ h/$1/ o/Plan9/ d/toaster/ cpe:|a:blip:blipd| cpe:/o:plan9:plan9/a
softmatch quuxd m|^QUUX |
match quuxd m|^QUUX (\d+) (.+)\n|s p/Quux/ v/$P(2)/ i/build $1/
match shout m|^hello world|i p/Caseless/
match dots m|^A.B|s p/Dotall/
match verd m|^VER (\S+)\r\n| p/Ver/ v/$SUBST(1,"_",".")/ i#raw $1#
match bind m|^\x01\x02(..)(..)|s p/Bin/ v/$I(1,">")/ i/$I(2,"<")/
match webby m|^HTTP/1\.[01] \d+.*\r\nServer: Webby/([\d.]+)|s p/Webby httpd/ v/$1/
match spacey m|^SPACE (.+)\r\n| p/Spacey/ cpe:/a:spacey:spacey:$1/

##############################NEXT PROBE##############################
Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80,8000-8010
sslports 443
fallback Later
match http m|^HTTP/1\.1 200 OK\r\nServer: Tiny/(\d+)| p/Tiny httpd/ v/$1/

Probe TCP Later q|PING\x00\xff\\|
rarity 9
match pongd m|^PONG!| p/Pong daemon/

Probe UDP Echo q|\r\n| no-payload
match echo m|.| p/Echo/
"#;

    fn sample() -> ServiceDb {
        match ServiceDb::parse(SAMPLE, "sample.probes") {
            Ok(db) => db,
            Err(e) => panic!("{e}"),
        }
    }

    fn greeting(bytes: &[u8]) -> Findings {
        Findings {
            greeting: bytes.to_vec(),
            ..Findings::default()
        }
    }

    pub(crate) fn reply(hello: Hello, bytes: &[u8]) -> Findings {
        Findings {
            reply: bytes.to_vec(),
            hello: Some(hello),
            ..Findings::default()
        }
    }

    fn parse_err(text: &str) -> String {
        match ServiceDb::parse(text, "t.probes") {
            Ok(_) => panic!("parsed: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn one_db_serves_many_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<ServiceDb>();
    }

    #[test]
    fn reads_every_directive() {
        let db = sample();
        assert_eq!(db.probes().len(), 4);
        assert_eq!(db.match_count(), 13);
        let null = &db.probes()[0];
        assert_eq!((null.name.as_str(), null.line), ("NULL", 4));
        assert_eq!(null.total_wait_ms, Some(5000));
        assert_eq!(null.tcp_wrapped_ms, Some(2000));
        assert!(null.payload.is_empty());
        let get = &db.probes()[1];
        assert_eq!(get.rarity, Some(1));
        assert_eq!(get.payload, b"GET / HTTP/1.0\r\n\r\n");
        let range = |first, last| PortRange {
            transport: None,
            first,
            last,
        };
        assert_eq!(get.ports, vec![range(80, 80), range(8000, 8010)]);
        assert_eq!(get.ssl_ports, vec![range(443, 443)]);
        assert_eq!(get.fallback_names, vec!["Later".to_string()]);
        assert_eq!(get.fallbacks, vec![2]);
        assert_eq!(db.probes()[2].payload, b"PING\x00\xff\\");
        let echo = &db.probes()[3];
        assert_eq!(echo.transport, Transport::Udp);
        assert!(echo.no_payload);
        assert_eq!(
            db.excluded(),
            &[
                PortRange {
                    transport: Some(Transport::Tcp),
                    first: 9100,
                    last: 9102
                },
                PortRange {
                    transport: Some(Transport::Udp),
                    first: 53,
                    last: 53
                }
            ]
        );
    }

    #[test]
    fn substitutes_groups_into_fields_and_cpe() {
        let id = sample()
            .identify(&greeting(b"ZORK v2.4.1 ready\r\n"))
            .unwrap();
        assert_eq!(id.name, "zorkd");
        assert_eq!(id.product.as_deref(), Some("Zork daemon"));
        assert_eq!(id.version.as_deref(), Some("2.4.1"));
        assert_eq!(id.cpe, vec!["cpe:/a:zorkco:zorkd:2.4.1"]);
        assert_eq!(id.method, IdMethod::Probed);
        assert_eq!(id.tunnel, None);
    }

    #[test]
    fn any_delimiter_and_the_cpe_a_flag() {
        let id = sample().identify(&greeting(b"BLIP|alpha|")).unwrap();
        assert_eq!(id.name, "blipd");
        assert_eq!(id.product.as_deref(), Some("Blip server"));
        assert_eq!(id.info.as_deref(), Some("node alpha"));
        assert_eq!(id.hostname.as_deref(), Some("alpha"));
        assert_eq!(id.ostype.as_deref(), Some("Plan9"));
        assert_eq!(id.devicetype.as_deref(), Some("toaster"));
        assert_eq!(id.cpe, vec!["cpe:/a:blip:blipd", "cpe:/o:plan9:plan9"]);
        // One name per part, the last of a part winning, as nmap reports.
        let text = "Probe TCP NULL q||\nmatch x m|^x| cpe:/o:first/ cpe:/h:box/ cpe:/a:app/ cpe:/o:last/a\n";
        let db = ServiceDb::parse(text, "t.probes").unwrap();
        let id = db.identify(&greeting(b"x")).unwrap();
        assert_eq!(id.cpe, vec!["cpe:/a:app", "cpe:/h:box", "cpe:/o:last"]);
    }

    #[test]
    fn helpers_printable_subst_and_int() {
        let db = sample();
        let id = db.identify(&greeting(b"QUUX 77 be\x01ta\n")).unwrap();
        assert_eq!(id.version.as_deref(), Some("beta"));
        assert_eq!(id.info.as_deref(), Some("build 77"));
        let id = db.identify(&greeting(b"VER 1_2_3\x7f\r\n")).unwrap();
        assert_eq!(id.version.as_deref(), Some("1.2.3\\x7f"));
        // A plain $1 keeps the bytes, escaped, and the field's own
        // delimiter (#) may be any character.
        assert_eq!(id.info.as_deref(), Some("raw 1_2_3\\x7f"));
        let id = db.identify(&greeting(b"\x01\x02\x01\x00\x01\x00")).unwrap();
        assert_eq!(id.product.as_deref(), Some("Bin"));
        assert_eq!(id.version.as_deref(), Some("256"));
        assert_eq!(id.info.as_deref(), Some("1"));
        let id = db.identify(&greeting(b"SPACE Big Box: 2\r\n")).unwrap();
        assert_eq!(id.cpe, vec!["cpe:/a:spacey:spacey:big_box%3A_2"]);
    }

    #[test]
    fn flags_caseless_and_dotall() {
        let db = sample();
        assert_eq!(
            db.identify(&greeting(b"HeLLo WORLD")).unwrap().name,
            "shout"
        );
        assert_eq!(db.identify(&greeting(b"A\nB")).unwrap().name, "dots");
    }

    #[test]
    fn a_later_match_beats_an_earlier_softmatch() {
        let db = sample();
        let id = db.identify(&greeting(b"QUUX 1 x\n")).unwrap();
        assert_eq!(id.product.as_deref(), Some("Quux"));
        // Only the softmatch fits: the name, nothing more.
        let id = db.identify(&greeting(b"QUUX ?")).unwrap();
        assert_eq!(id.name, "quuxd");
        assert_eq!(id.product, None);
        assert_eq!(
            db.lookup(&greeting(b"QUUX ?")).map(|(_, soft)| soft),
            Some(true)
        );
    }

    #[test]
    fn reply_tries_the_hellos_probe_then_fallbacks_then_null() {
        let db = sample();
        let id = db
            .identify(&reply(
                Hello::Http,
                b"HTTP/1.1 200 OK\r\nServer: Tiny/3\r\n",
            ))
            .unwrap();
        assert_eq!(
            (id.name.as_str(), id.version.as_deref()),
            ("http", Some("3"))
        );
        assert_eq!(
            db.identify(&reply(Hello::Http, b"PONG! hi")).unwrap().name,
            "pongd"
        );
        let webby = b"HTTP/1.0 404 Nope\r\nDate: x\r\nServer: Webby/1.5\r\n\r\n";
        assert_eq!(
            db.identify(&reply(Hello::Http, webby)).unwrap().name,
            "webby"
        );
        // A hello without a probe of its own still gets the NULL lines.
        assert_eq!(
            db.identify(&reply(Hello::Redis, b"ZORK v1 ready\r\n"))
                .unwrap()
                .name,
            "zorkd"
        );
        // The fallback belongs to GetRequest, not to every hello.
        assert_eq!(db.identify(&reply(Hello::Redis, b"PONG!")), None);
        assert_eq!(db.identify(&reply(Hello::Redis, b"nothing known")), None);
    }

    #[test]
    fn tls_sessions_are_ssl_tunnels_or_plain_ssl() {
        let db = sample();
        let mut f = reply(Hello::Tls, b"HTTP/1.1 200 OK\r\nServer: Tiny/9\r\n");
        f.tls = Some(TlsInfo::default());
        let id = db.identify(&f).unwrap();
        assert_eq!((id.name.as_str(), id.tunnel), ("http", Some("ssl")));
        f.reply = b"\x00garbage".to_vec();
        let id = db.identify(&f).unwrap();
        assert_eq!((id.name.as_str(), id.tunnel), ("ssl", None));
        // STARTTLS is the protocol's own business, not a tunnel.
        let mut f = greeting(b"ZORK v1 ready\r\n");
        f.hello = Some(Hello::Smtp);
        f.tls = Some(TlsInfo::default());
        assert_eq!(db.identify(&f).unwrap().tunnel, None);
    }

    #[test]
    fn errors_name_file_line_and_token() {
        assert_eq!(
            parse_err("# c\nmatch x m|^a|\n"),
            "t.probes:2: directive before any Probe: match"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nmatch x m|^abc\n"),
            "t.probes:2: unterminated pattern: m|^abc"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nmatch x ^abc\n"),
            "t.probes:2: pattern not m<delim>...<delim>: ^abc"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nmatch x m|a|q\n"),
            "t.probes:2: unknown pattern flag: q"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nmatch x m|a| z/oops/\n"),
            "t.probes:2: unknown version field: z/oops/"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nmatch x m|a| p/open\n"),
            "t.probes:2: unterminated version field: p/open"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nmatch x m|(a)| v/$SUBST(1,\"a\")/\n"),
            "t.probes:2: bad substitution: $SUBST(1,\"a\")"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nrarity 12\n"),
            "t.probes:2: rarity not 1-9: 12"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nports 80,9x\n"),
            "t.probes:2: bad port: 9x"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nfallback Nowhere\n"),
            "t.probes:2: unknown fallback probe: Nowhere"
        );
        assert_eq!(
            parse_err("Probe TCP NULL q||\nfrobnicate 1\n"),
            "t.probes:2: unknown directive: frobnicate"
        );
        assert_eq!(
            parse_err("Probe SCTP X q||\n"),
            "t.probes:1: protocol not TCP or UDP: SCTP"
        );
        assert_eq!(
            parse_err("Probe TCP X q|\\q|\n"),
            "t.probes:1: bad escape in probe string: \\q"
        );
        assert_eq!(
            parse_err("Probe TCP X q|ab\n"),
            "t.probes:1: unterminated probe string: q|ab"
        );
    }

    #[test]
    fn a_regex_pcre2_refuses_is_skipped_and_counted() {
        let text =
            "Probe TCP NULL q||\nmatch broken m|^abc(| p/Broken/\nmatch fine m|^abc| p/Fine/\n";
        let db = ServiceDb::parse(text, "t.probes").unwrap();
        assert_eq!(db.skipped_regexes(), 0, "nothing compiled yet");
        let id = db.identify(&greeting(b"abc(")).unwrap();
        assert_eq!(id.name, "fine");
        assert_eq!(db.skipped_regexes(), 1);
        assert_eq!(db.compile_all(), 1);
        let errors = db.regex_errors();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("t.probes:2: regex rejected by PCRE2: "),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn prefilter_reads_only_mandatory_literals() {
        let pf = |p: &str, caseless| {
            let f = prefilter(p.as_bytes(), caseless);
            (
                String::from_utf8_lossy(&f.prefix).into_owned(),
                String::from_utf8_lossy(&f.inner).into_owned(),
            )
        };
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(pf(r"^SSH-([\d.]+)-OpenSSH_", false), s("SSH-", "-OpenSSH_"));
        assert_eq!(
            pf(r"^HTTP/1\.[01] \d+.*\r\nServer: nginx/", false),
            s("HTTP/1.", "\r\nServer: nginx/")
        );
        assert_eq!(pf(r"^abc?d", false), s("ab", "ab"));
        assert_eq!(pf(r"^abc+d", false), s("abc", "abc"));
        assert_eq!(pf(r"^ab{0,3}cdef", false), s("a", "cdef"));
        assert_eq!(pf(r"^ab{2}cdef", false), s("ab", "cdef"));
        assert_eq!(pf(r"^a\x41b\0c", false), s("aAb\0c", "aAb\0c"));
        assert_eq!(pf(r"^ABC", true), s("abc", "abc"));
        assert_eq!(pf(r"^abc|xyz", false), s("", ""));
        assert_eq!(pf(r"^(?:x|y)abc(z)?q", false), s("", "abc"));
        assert_eq!(pf(r"^ab(?i)cd", false), s("a", "a"));
        assert_eq!(pf(r"^ab\Qc|d\E", false), s("", ""));
        assert_eq!(pf(r"^ab\1cd", false), s("a", "a"));
        assert_eq!(pf(r"^a[]|]bc", false), s("a", "bc"));
        assert_eq!(pf(r"no anchor here", false), s("", "no anchor here"));
        assert_eq!(pf(r"^x{y", false), s("", ""));
        assert_eq!(pf(r"^\012", false), s("", ""));
    }

    /// Real nmap data: the installed file, when there is one.
    fn real_db() -> Option<ServiceDb> {
        let path = default_path();
        if !path.exists() {
            eprintln!(
                "!!! {} absent: tests with nmap's real database SKIPPED",
                path.display()
            );
            return None;
        }
        let start = Instant::now();
        let db = ServiceDb::load(path).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "loaded {}: {} probes, {} match lines, in {:?}",
            db.origin(),
            db.probes().len(),
            db.match_count(),
            start.elapsed()
        );
        Some(db)
    }

    /// Banners as the servers of the lab (Debian 12) send them, written out
    /// by hand.
    pub(crate) fn realistic_banners() -> Vec<(&'static str, Findings)> {
        let server_first = |hello, bytes: &[u8]| Findings {
            greeting: bytes.to_vec(),
            hello: Some(hello),
            ..Findings::default()
        };
        let after_hello = |hello, bytes: &[u8]| Findings {
            reply: bytes.to_vec(),
            hello: Some(hello),
            ..Findings::default()
        };
        let mut mariadb = b"\x57\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00".to_vec();
        mariadb.extend_from_slice(b"\x21\x00\x00\x00G1+ZoTe<\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00o|K1PW\\SnFwT\x00mysql_native_password\x00");
        let nginx = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 615\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6592000-267\"\r\nAccept-Ranges: bytes\r\n\r\n<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n";
        let mut tls = after_hello(Hello::Tls, nginx);
        tls.tls = Some(TlsInfo {
            version: "TLSv1.3".into(),
            ..TlsInfo::default()
        });
        vec![
            ("ssh", server_first(Hello::Ssh, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")),
            ("http", after_hello(Hello::Http, nginx)),
            ("https", tls),
            ("ftp", server_first(Hello::Ftp, b"220 (vsFTPd 3.0.3)\r\n")),
            (
                "smtp",
                Findings {
                    greeting: b"220 mail.lab.test ESMTP Exim 4.96 Mon, 01 Jan 2024 00:00:00 +0000\r\n".to_vec(),
                    reply: b"250-mail.lab.test Hello synsweep [10.0.0.1]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 HELP\r\n220 TLS go ahead\r\n".to_vec(),
                    hello: Some(Hello::Smtp),
                    tls: None,
                },
            ),
            (
                "pop3",
                Findings {
                    greeting: b"+OK Dovecot (Debian) ready.\r\n".to_vec(),
                    reply: b"+OK Begin TLS negotiation now.\r\n".to_vec(),
                    hello: Some(Hello::Pop3),
                    tls: None,
                },
            ),
            (
                "imap",
                Findings {
                    greeting: b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n".to_vec(),
                    reply: b"a1 OK Begin TLS negotiation now.\r\n".to_vec(),
                    hello: Some(Hello::Imap),
                    tls: None,
                },
            ),
            (
                "redis",
                after_hello(
                    Hello::Redis,
                    b"$3929\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:c8b0ec6f0c4f8b3e\r\nredis_mode:standalone\r\nos:Linux 6.1.0-18-amd64 x86_64\r\narch_bits:64\r\n",
                ),
            ),
            ("mysql", server_first(Hello::Mysql, &mariadb)),
            ("memcached", after_hello(Hello::Memcached, b"VERSION 1.6.18\r\n")),
            (
                "postgresql",
                after_hello(Hello::Postgres, b"NR\x00\x00\x00\x0c\x00\x00\x00\x05\x01\x02\x03\x04"),
            ),
            ("vnc", server_first(Hello::Vnc, b"RFB 003.008\n")),
            (
                "ms-wbt-server",
                after_hello(Hello::Rdp, b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00"),
            ),
            ("telnet", server_first(Hello::Telnet, b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27")),
        ]
    }

    #[test]
    fn real_database_names_the_lab_services() {
        let Some(db) = real_db() else { return };
        // What nmap 7.93's file says of these; memcached's `version`,
        // Postgres' startup and telnet's option bytes have no line there.
        // Dovecot's greetings only softmatch: nmap itself names the product
        // from the answer to a second probe (GenericLines, GetRequest) that
        // a one-hello conversation does not send; `identify::own` does.
        let expected: &[(&str, &str, Option<&str>, Option<&str>)] = &[
            (
                "ssh",
                "ssh",
                Some("OpenSSH"),
                Some("9.2p1 Debian 2+deb12u3"),
            ),
            ("http", "http", Some("nginx"), Some("1.22.1")),
            ("https", "http", Some("nginx"), Some("1.22.1")),
            ("ftp", "ftp", Some("vsftpd"), Some("3.0.3")),
            ("smtp", "smtp", Some("Exim smtpd"), Some("4.96")),
            ("pop3", "pop3", None, None),
            ("imap", "imap", None, None),
            (
                "redis",
                "redis",
                Some("Redis key-value store"),
                Some("7.0.15"),
            ),
            (
                "mysql",
                "mysql",
                Some("MySQL"),
                Some("5.5.5-10.11.6-MariaDB-0+deb12u1"),
            ),
            ("vnc", "vnc", Some("VNC"), None),
            (
                "ms-wbt-server",
                "ms-wbt-server",
                Some("Microsoft Terminal Services"),
                None,
            ),
        ];
        for (label, f) in realistic_banners() {
            let start = Instant::now();
            let id = db.identify(&f);
            eprintln!(
                "{label:>14}: {:?} ({:?}, first use compiles)",
                id,
                start.elapsed()
            );
            let Some(&(_, name, product, version)) = expected.iter().find(|e| e.0 == label) else {
                continue;
            };
            let id = id.unwrap_or_else(|| panic!("{label}: no match"));
            // As nmap 7.93's -sV printed them for these very bytes.
            let cpe: &[&str] = match label {
                "ssh" => &["cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel"],
                "mysql" => &["cpe:/a:mariadb:mariadb:5.5.5-10.11.6-mariadb-0%2Bdeb12u1"],
                _ => &[],
            };
            if !cpe.is_empty() {
                assert_eq!(id.cpe, cpe, "{label}");
            }
            assert_eq!(id.name, name, "{label}");
            assert_eq!(id.product.as_deref(), product, "{label}");
            if version.is_some() {
                assert_eq!(id.version.as_deref(), version, "{label}");
            }
        }
    }

    /// Varied banners: the realistic ones, mangled and unrelated ones.
    fn synthetic_banners(n: usize) -> Vec<Findings> {
        let base = realistic_banners();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..n)
            .map(|i| {
                let (_, mut f) = base[i % base.len()].clone();
                match i % 5 {
                    // A different version number.
                    1 => {
                        let target = if f.greeting.is_empty() {
                            &mut f.reply
                        } else {
                            &mut f.greeting
                        };
                        for b in target.iter_mut().filter(|b| b.is_ascii_digit()) {
                            *b = b'0' + (next() % 10) as u8;
                        }
                    }
                    // Random bytes.
                    2 => {
                        let len = (next() % 300) as usize;
                        f.greeting = (0..len).map(|_| next() as u8).collect();
                        f.reply.clear();
                    }
                    // An unknown text service.
                    3 => {
                        f.greeting =
                            format!("220 unknown-{} service ready\r\n", next() % 1000).into_bytes();
                        f.reply.clear();
                    }
                    _ => {}
                }
                f
            })
            .collect()
    }

    #[test]
    fn real_database_timings() {
        let Some(db) = real_db() else { return };
        let banners = synthetic_banners(1000);
        let start = Instant::now();
        let hits = banners.iter().filter(|f| db.identify(f).is_some()).count();
        eprintln!(
            "first pass, 1000 banners (compiling as they go): {:?}, {hits} identified",
            start.elapsed()
        );
        let start = Instant::now();
        let hits = banners.iter().filter(|f| db.identify(f).is_some()).count();
        eprintln!(
            "second pass, 1000 banners: {:?}, {hits} identified",
            start.elapsed()
        );
        let start = Instant::now();
        let skipped = db.compile_all();
        eprintln!(
            "compile_all of the rest: {:?}; {skipped} regexes PCRE2 refuses:",
            start.elapsed()
        );
        for e in db.regex_errors() {
            eprintln!("  {e}");
        }
    }

    /// The prefilter may only skip a rule its regex would not match: run
    /// every rule of nmap's file with and without it on varied banners.
    #[test]
    fn real_database_prefilter_never_hides_a_match() {
        let Some(db) = real_db() else { return };
        let mut subjects: Vec<Vec<u8>> = synthetic_banners(60)
            .into_iter()
            .flat_map(|f| [f.greeting, f.reply])
            .filter(|s| !s.is_empty())
            .collect();
        subjects.extend([
            b"HTTP/1.0 200 OK\r\nserver: NGINX\r\n\r\n".to_vec(),
            b"220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.2]\r\n".to_vec(),
            b"220 mail ESMTP Postfix (Debian/GNU)\r\n".to_vec(),
            b"SSH-1.99-Cisco-1.25\r\n".to_vec(),
        ]);
        let mut checked = 0;
        for rule in db.rules() {
            let Some(regex) = rule.regex() else { continue };
            for s in &subjects {
                if !Subject::new(s).may_match(&rule.prefilter) {
                    checked += 1;
                    assert!(
                        !regex.is_match(s).unwrap_or(false),
                        "line {} skipped wrongly on {:?}; prefilter {:?}",
                        rule.line,
                        String::from_utf8_lossy(s),
                        rule.prefilter
                    );
                }
            }
        }
        eprintln!("{checked} prefilter rejections confirmed by PCRE2");
    }
}
