//! What answers on an open port: the conversations banner mode holds with
//! it (`hello`, `dialogue`, `tls`), and what the bytes it got back say the
//! service is (`probes` reads nmap's service probe database; `identify`
//! holds the project's own small matcher and picks between them).
//!
//! Everything here is sans-IO: the user-space TCP sessions of banner mode
//! (`probe::session`) move bytes between the wire and a `Dialogue`, and the
//! output side asks `identify` what the `Findings` mean. Nothing here knows
//! of frames, threads or timers.

pub mod dialogue;
pub mod hello;
pub mod identify;
pub mod probes;
pub mod tls;

/// What one banner session learned from the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// What the server said before we sent anything (its greeting).
    pub greeting: Vec<u8>,
    /// What it said after our first hello, in plain text (for a TLS
    /// session, the decrypted application data).
    pub reply: Vec<u8>,
    /// The protocol of the hello we spoke, if we sent one.
    pub hello: Option<hello::Hello>,
    /// What TLS told us, if a handshake got as far as the certificate.
    pub tls: Option<TlsInfo>,
}

impl Findings {
    /// Everything the server said in plain text, greeting first: the
    /// banner as output shows it (truncated there, escaped per format).
    pub fn banner(&self) -> impl Iterator<Item = &u8> {
        self.greeting.iter().chain(self.reply.iter())
    }
}

/// A banner session's result, riding on the open port's record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Banner {
    pub findings: Findings,
    /// Filled in on the output side, which matches service probes.
    pub id: Option<ServiceId>,
}

/// The TLS session's parameters and the server's certificate chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// "TLSv1.2" or "TLSv1.3".
    pub version: String,
    /// IANA name, e.g. "TLS13_AES_256_GCM_SHA384" as rustls names it.
    pub cipher: String,
    pub alpn: Option<String>,
    /// Leaf first.
    pub certs: Vec<CertSummary>,
}

/// One certificate of the chain, as people read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertSummary {
    /// Its attributes in certificate order, as openssl prints them, e.g.
    /// "CN=lab.synsweep.test, O=Synsweep Lab".
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub sans: Vec<String>,
    /// RFC 3339 UTC, e.g. "2026-11-30T00:00:00Z".
    pub not_before: String,
    pub not_after: String,
}

/// What the service is, as nmap's `-sV` says it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceId {
    /// nmap's service name ("ssh", "http", "smtp"...).
    pub name: String,
    pub product: Option<String>,
    pub version: Option<String>,
    /// nmap's `i/.../` (extra info).
    pub info: Option<String>,
    pub hostname: Option<String>,
    pub ostype: Option<String>,
    pub devicetype: Option<String>,
    /// CPE names, e.g. "cpe:/a:openbsd:openssh:9.2p1".
    pub cpe: Vec<String>,
    /// "ssl" when the service was reached through TLS (nmap's `tunnel`).
    pub tunnel: Option<&'static str>,
    /// Where the answer came from.
    pub method: IdMethod,
}

/// nmap XML's `method` of a `<service>`: "probed" when a probe's answer
/// matched, "table" when only the port's usual service is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdMethod {
    #[default]
    Probed,
    Table,
}

impl IdMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            IdMethod::Probed => "probed",
            IdMethod::Table => "table",
        }
    }
}
