//! The TLS client of banner mode: rustls driven by byte buffers alone, so
//! the user-space TCP sessions can feed it whatever the wire delivered and
//! send whatever it wants sent. It trusts every certificate, because a
//! scanner reports certificates rather than judging them, and it reads the
//! chain out for output (`TlsInfo`).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    WebPkiSupportedAlgorithms, ring, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ProtocolVersion, SignatureScheme,
};
use x509_parser::extensions::GeneralName;

use super::{CertSummary, TlsInfo};

/// The ciphertext one session may feed before we give up on it: far above
/// any real handshake (a long chain is a few tens of KiB) and the HTTP
/// headers after it, low enough that a server streaming records forever
/// cannot keep us decrypting.
const MAX_CIPHERTEXT: usize = 256 * 1024;

/// What every TLS session of a run shares: one rustls client configuration.
#[derive(Clone, Debug)]
pub struct TlsContext {
    /// HTTPS: offers ALPN "http/1.1".
    config: Arc<ClientConfig>,
    /// TLS inside another protocol (STARTTLS, PostgreSQL): no ALPN, since
    /// a server that checks it refuses a name it does not speak (exim
    /// 4.95+ ends the handshake on "http/1.1" with an alert).
    upgrade: Arc<ClientConfig>,
}

impl Default for TlsContext {
    fn default() -> TlsContext {
        TlsContext::new()
    }
}

impl TlsContext {
    /// TLS 1.2 and 1.3 over the ring provider, offering ALPN "http/1.1"
    /// for HTTPS only,
    /// with no session resumption (each target is seen once, and a cache
    /// keyed by address would only grow) and a verifier that accepts any
    /// certificate.
    pub fn new() -> TlsContext {
        let provider = Arc::new(ring::default_provider());
        let verifier = Arc::new(AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        });
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            // The ring provider carries suites for both versions, so this
            // cannot fail with the features we build rustls with.
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        let upgrade = Arc::new(config.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsContext {
            config: Arc::new(config),
            upgrade,
        }
    }
}

thread_local! {
    /// The chain the verifier was last shown on this thread. rustls keeps
    /// the server's chain to itself until the whole handshake has checked
    /// out (in TLS 1.2, until the key exchange signature verified), yet a
    /// handshake that fails after the Certificate message should still
    /// report the certificate. The verifier runs synchronously inside
    /// `process_new_packets`, so the client that called it picks the chain
    /// up from here right after.
    static SHOWN_CHAIN: RefCell<Option<Vec<CertificateDer<'static>>>> = const { RefCell::new(None) };
}

/// Accepts every certificate chain: no trust anchors, names or dates are
/// checked. Handshake signatures are still checked with the provider's own
/// functions, so a completed handshake means the server holds the key of
/// the certificate it showed (and a server sending a bad signature ends
/// the handshake, but its certificate is still reported).
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|cert| cert.clone().into_owned())
            .collect();
        SHOWN_CHAIN.with(|shown| *shown.borrow_mut() = Some(chain));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Where a TLS session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsState {
    /// The handshake is under way.
    Handshaking,
    /// The handshake completed: application data flows both ways.
    Established,
    /// The server closed the TLS session (close_notify).
    Closed,
    /// The session broke: a TLS error, garbage, or too much of it.
    Failed,
}

/// One TLS client session, sans-IO: ciphertext in through `received`,
/// ciphertext out through the `out` buffers, plaintext through `send` and
/// the `plain` buffer of `received`.
pub struct TlsClient {
    /// `None` only if rustls refused to start a session at all.
    conn: Option<ClientConnection>,
    state: TlsState,
    /// The chain as the verifier saw it (see `SHOWN_CHAIN`).
    chain: Vec<CertificateDer<'static>>,
    /// Ciphertext fed so far, against `MAX_CIPHERTEXT`.
    fed: usize,
    error: Option<String>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("state", &self.state)
            .field("certs", &self.chain.len())
            .field("fed", &self.fed)
            .field("error", &self.error)
            .finish()
    }
}

impl TlsClient {
    /// A client for the server at `target`. The server name is the bare
    /// address, so the ClientHello carries no SNI (rustls sends none for
    /// addresses) and servers answer with their default certificate.
    pub fn new(ctx: &TlsContext, target: IpAddr) -> TlsClient {
        TlsClient::with_config(&ctx.config, target)
    }

    /// For TLS that another protocol started (STARTTLS): no ALPN.
    pub fn upgrade(ctx: &TlsContext, target: IpAddr) -> TlsClient {
        TlsClient::with_config(&ctx.upgrade, target)
    }

    fn with_config(config: &Arc<ClientConfig>, target: IpAddr) -> TlsClient {
        let name = ServerName::IpAddress(target.into());
        let (conn, state, error) = match ClientConnection::new(Arc::clone(config), name) {
            Ok(conn) => (Some(conn), TlsState::Handshaking, None),
            Err(error) => (None, TlsState::Failed, Some(error.to_string())),
        };
        TlsClient {
            conn,
            state,
            chain: Vec::new(),
            fed: 0,
            error,
        }
    }

    pub fn state(&self) -> TlsState {
        self.state
    }

    /// Why the session failed, if it did (rustls's words).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Appends the ClientHello to `out`.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
    }

    /// Feeds ciphertext from the server. Decrypted application data is
    /// appended to `plain`, and whatever TLS wants to send back (the rest
    /// of the handshake, alerts) to `out`. Any chunking of the stream gives
    /// the same result.
    pub fn received(&mut self, data: &[u8], plain: &mut Vec<u8>, out: &mut Vec<u8>) -> TlsState {
        if !matches!(self.state, TlsState::Handshaking | TlsState::Established) {
            return self.state;
        }
        self.fed = self.fed.saturating_add(data.len());
        if self.fed > MAX_CIPHERTEXT {
            self.fail("the server sent more TLS data than a banner needs".to_string());
            return self.state;
        }
        let mut rest = data;
        while !rest.is_empty() && self.is_live() {
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            match conn.read_tls(&mut rest) {
                // A non-empty slice never reads as end of stream; stop
                // rather than spin if it ever did.
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    self.fail(error.to_string());
                    break;
                }
            }
            SHOWN_CHAIN.with(|shown| shown.borrow_mut().take());
            let processed = conn.process_new_packets();
            if let Some(chain) = SHOWN_CHAIN.with(|shown| shown.borrow_mut().take()) {
                self.chain = chain;
            }
            match processed {
                Ok(_) => self.drain_plaintext(plain),
                Err(error) => self.fail(error.to_string()),
            }
        }
        if self.state == TlsState::Handshaking
            && self
                .conn
                .as_ref()
                .is_some_and(|conn| !conn.is_handshaking())
        {
            self.state = TlsState::Established;
        }
        // After a failure this sends rustls's alert, if it queued one.
        self.flush(out);
        self.state
    }

    /// Encrypts `data` as application data and appends the records to
    /// `out`. Before the handshake completes rustls holds the data back
    /// and sends it once it can.
    pub fn send(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if !self.is_live() {
            return;
        }
        if let Some(conn) = self.conn.as_mut()
            && let Err(error) = conn.writer().write_all(data)
        {
            self.fail(error.to_string());
        }
        self.flush(out);
    }

    /// What the handshake showed: `None` until the server's certificate
    /// has been seen. A handshake that failed after the Certificate still
    /// reports it, with the version and cipher if the ServerHello got that
    /// far.
    pub fn info(&self) -> Option<TlsInfo> {
        let conn = self.conn.as_ref()?;
        let chain = match conn.peer_certificates() {
            Some(chain) if !chain.is_empty() => chain,
            _ => &self.chain[..],
        };
        if chain.is_empty() {
            return None;
        }
        let version = match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|suite| {
                let suite = suite.suite();
                suite
                    .as_str()
                    .map_or_else(|| format!("{suite:?}"), str::to_string)
            })
            .unwrap_or_default();
        let alpn = conn
            .alpn_protocol()
            .map(|protocol| String::from_utf8_lossy(protocol).into_owned());
        Some(TlsInfo {
            version,
            cipher,
            alpn,
            certs: chain
                .iter()
                .filter_map(|cert| summarize_certificate(cert))
                .collect(),
        })
    }

    fn is_live(&self) -> bool {
        matches!(self.state, TlsState::Handshaking | TlsState::Established)
    }

    fn fail(&mut self, error: String) {
        self.state = TlsState::Failed;
        self.error.get_or_insert(error);
    }

    fn drain_plaintext(&mut self, plain: &mut Vec<u8>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut buffer = [0u8; 4096];
        loop {
            match conn.reader().read(&mut buffer) {
                Ok(0) => {
                    self.state = TlsState::Closed;
                    return;
                }
                Ok(n) => plain.extend_from_slice(&buffer[..n]),
                // Nothing more decrypted for now.
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error) => {
                    self.fail(error.to_string());
                    return;
                }
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while conn.wants_write() {
            match conn.write_tls(out) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) => {
                    self.fail(error.to_string());
                    return;
                }
            }
        }
    }
}

/// One certificate as output shows it; `None` if it is not X.509 DER.
pub fn summarize_certificate(der: &[u8]) -> Option<CertSummary> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(extension)) = cert.subject_alternative_name() {
        for name in &extension.value.general_names {
            match name {
                GeneralName::DNSName(dns) => sans.push((*dns).to_string()),
                GeneralName::IPAddress(octets) => {
                    if let Some(address) = ip_from_octets(octets) {
                        sans.push(address.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    Some(CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: rfc3339_utc(validity.not_before.timestamp()),
        not_after: rfc3339_utc(validity.not_after.timestamp()),
    })
}

fn ip_from_octets(octets: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(octets).ok().map(IpAddr::from)
}

/// Seconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SSZ".
fn rfc3339_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = String::with_capacity(20);
    let _ = write!(
        text,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    text
}

/// The proleptic Gregorian date `days` after 1970-01-01. Counts in 400-year
/// eras that start on March 1st, so the leap day falls at the end of each
/// counted year and the month lengths follow a fixed pattern.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A TLS server in memory for tests: a self-signed lab certificate made
/// with the openssl command at test time, and a rustls server over it.
#[cfg(test)]
pub(crate) mod lab {
    use std::io::{Read, Write};
    use std::process::Command;
    use std::sync::{Arc, OnceLock};

    use rustls::crypto::ring;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::{ServerConfig, ServerConnection, SupportedProtocolVersion};

    pub(crate) const SUBJECT: &str = "CN=lab.synsweep.test, O=Synsweep Lab";

    struct LabCert {
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    }

    /// One key pair per test run: RSA key generation takes a while.
    fn lab_cert() -> &'static LabCert {
        static CERT: OnceLock<LabCert> = OnceLock::new();
        CERT.get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("synsweep-lab-cert-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
            let status = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                ])
                .args(["-subj", "/CN=lab.synsweep.test/O=Synsweep Lab"])
                .args([
                    "-addext",
                    "subjectAltName=DNS:lab.synsweep.test,IP:198.18.0.1",
                ])
                .arg("-keyout")
                .arg(&key_path)
                .arg("-out")
                .arg(&cert_path)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("the openssl command runs");
            assert!(status.success(), "openssl req failed");
            let cert = CertificateDer::from_pem_file(&cert_path).expect("cert PEM");
            let key = PrivateKeyDer::from_pem_file(&key_path).expect("key PEM");
            let _ = std::fs::remove_dir_all(&dir);
            LabCert { cert, key }
        })
    }

    /// A server speaking only `version`, offering ALPN "http/1.1".
    pub(crate) fn server(version: &'static SupportedProtocolVersion) -> ServerConnection {
        let lab = lab_cert();
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_protocol_versions(&[version])
            .expect("version")
            .with_no_client_auth()
            .with_single_cert(vec![lab.cert.clone()], lab.key.clone_key())
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        ServerConnection::new(Arc::new(config)).expect("server connection")
    }

    /// Feeds the client's bytes to `server` and returns the server's
    /// answer. Application data the server decrypts goes to `app`, whose
    /// answer (if any) the server sends back encrypted. `None` when the
    /// server rejected the bytes (its alert is lost; tests do not need it).
    pub(crate) fn serve(
        server: &mut ServerConnection,
        from_client: &[u8],
        app: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        let mut rest = from_client;
        while !rest.is_empty() {
            server.read_tls(&mut rest).ok()?;
            server.process_new_packets().ok()?;
            let mut plain = Vec::new();
            let _ = server.reader().read_to_end(&mut plain);
            if !plain.is_empty() {
                let answer = app(&plain);
                server.writer().write_all(&answer).ok()?;
            }
        }
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).ok()?;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv4Addr;

    const TARGET: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));

    /// Runs a handshake (and an exchange of `request` for the app's answer)
    /// between a `TlsClient` and the lab server; returns the client and the
    /// plaintext it received.
    fn converse(
        version: &'static rustls::SupportedProtocolVersion,
        request: &[u8],
        response: &[u8],
    ) -> (TlsClient, Vec<u8>) {
        let ctx = TlsContext::new();
        let mut server = lab::server(version);
        let mut client = TlsClient::new(&ctx, TARGET);
        let mut to_server = Vec::new();
        client.start(&mut to_server);
        assert!(!to_server.is_empty(), "a ClientHello");
        let mut plain = Vec::new();
        let mut requested = false;
        for _ in 0..16 {
            if client.state() == TlsState::Established && !requested {
                client.send(request, &mut to_server);
                requested = true;
            }
            if to_server.is_empty() {
                break;
            }
            let mut app = |_: &[u8]| response.to_vec();
            let to_client = lab::serve(&mut server, &to_server, &mut app).expect("server accepts");
            to_server.clear();
            client.received(&to_client, &mut plain, &mut to_server);
        }
        (client, plain)
    }

    fn check_lab_info(info: &TlsInfo, version: &str) {
        assert_eq!(info.version, version);
        assert!(!info.cipher.is_empty());
        assert!(
            info.cipher.starts_with(if version == "TLSv1.3" {
                "TLS13_"
            } else {
                "TLS_ECDHE_"
            }),
            "{}",
            info.cipher
        );
        assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(info.certs.len(), 1);
        let cert = &info.certs[0];
        assert!(
            cert.subject.contains("CN=lab.synsweep.test"),
            "{}",
            cert.subject
        );
        assert_eq!(cert.subject, lab::SUBJECT);
        assert_eq!(cert.issuer, cert.subject);
        assert!(
            cert.sans.iter().any(|san| san == "lab.synsweep.test"),
            "{:?}",
            cert.sans
        );
        assert!(
            cert.sans.iter().any(|san| san == "198.18.0.1"),
            "{:?}",
            cert.sans
        );
        for date in [&cert.not_before, &cert.not_after] {
            assert_eq!(date.len(), 20, "{date}");
            assert!(date.ends_with('Z') && &date[10..11] == "T", "{date}");
            assert!(
                date[..4].parse::<u32>().is_ok_and(|year| year >= 2024),
                "{date}"
            );
        }
        assert!(cert.not_before < cert.not_after);
    }

    #[test]
    fn tls13_handshake_reports_the_lab_certificate() {
        let (client, plain) = converse(&rustls::version::TLS13, b"ping", b"pong");
        assert_eq!(client.state(), TlsState::Established);
        assert_eq!(plain, b"pong");
        check_lab_info(&client.info().expect("info"), "TLSv1.3");
    }

    #[test]
    fn tls12_handshake_reports_the_lab_certificate() {
        let (client, plain) = converse(&rustls::version::TLS12, b"ping", b"pong");
        assert_eq!(client.state(), TlsState::Established);
        assert_eq!(plain, b"pong");
        check_lab_info(&client.info().expect("info"), "TLSv1.2");
    }

    #[test]
    fn garbage_fails_the_session_without_info() {
        let ctx = TlsContext::new();
        let mut client = TlsClient::new(&ctx, TARGET);
        let mut out = Vec::new();
        client.start(&mut out);
        let mut plain = Vec::new();
        let state = client.received(b"HTTP/1.1 400 Bad Request\r\n\r\n", &mut plain, &mut out);
        assert_eq!(state, TlsState::Failed);
        assert!(client.error().is_some());
        assert!(client.info().is_none());
        assert!(plain.is_empty());
        // Once failed, it stays failed and quiet.
        let mut more = Vec::new();
        assert_eq!(
            client.received(b"\x16\x03\x03", &mut plain, &mut more),
            TlsState::Failed
        );
        assert!(more.is_empty());
    }

    #[test]
    fn endless_ciphertext_is_cut_off() {
        let ctx = TlsContext::new();
        let mut client = TlsClient::new(&ctx, TARGET);
        let mut out = Vec::new();
        client.start(&mut out);
        // A handshake record header promising a record rustls waits for,
        // then filler: the cap ends it even if rustls kept waiting.
        let mut state = TlsState::Handshaking;
        let chunk = [0x16u8; 1024];
        for _ in 0..(MAX_CIPHERTEXT / chunk.len() + 2) {
            state = client.received(&chunk, &mut Vec::new(), &mut Vec::new());
            if state == TlsState::Failed {
                break;
            }
        }
        assert_eq!(state, TlsState::Failed);
    }

    #[test]
    fn certificate_summary_rejects_non_certificates() {
        assert!(summarize_certificate(b"").is_none());
        assert!(summarize_certificate(&[0x30, 0x82, 0xff, 0xff, 1, 2, 3]).is_none());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
