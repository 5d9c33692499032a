//! What a banner says the service is: nmap's database when it is
//! installed, and the project's own small matcher for the protocols we
//! speak when it is not (or when nmap's lines only softmatch).
//!
//! The own matcher parses bytes by hand, without regexes, and names what
//! it finds with nmap's words (service names, product strings, CPE
//! vendors) so its answers read the same as `nmap -sV`'s.

use std::path::Path;

use super::hello::Hello;
use super::probes::{self, ServiceDb};
use super::{Findings, IdMethod, ServiceId};

/// Where nmap's service probe database usually lives.
pub fn default_path() -> &'static Path {
    probes::default_path()
}

/// Picks between nmap's database and the own matcher.
#[derive(Debug, Default)]
pub struct Identifier {
    db: Option<std::sync::Arc<ServiceDb>>,
}

impl Identifier {
    /// `db`: nmap's database, owned or shared (the configuration loads it
    /// once, to refuse a bad file before anything is sent).
    pub fn new(db: Option<impl Into<std::sync::Arc<ServiceDb>>>) -> Identifier {
        Identifier {
            db: db.map(Into::into),
        }
    }

    pub fn db(&self) -> Option<&ServiceDb> {
        self.db.as_deref()
    }

    /// nmap's answer if its lines match; else the own matcher's; else
    /// "ssl" for a TLS service nothing recognised; else None (the caller
    /// may fall back on the port's usual service).
    pub fn identify(&self, f: &Findings) -> Option<ServiceId> {
        match self.db.as_ref().and_then(|db| db.lookup(f)) {
            Some((id, false)) => Some(id),
            // A softmatch names the protocol only; the own matcher may know
            // the product (nmap learns it from probes we do not send).
            Some((soft, true)) => own(f).filter(|o| o.name == soft.name).or(Some(soft)),
            None => own(f).or_else(|| probes::ssl_unidentified(f)),
        }
    }
}

/// The own matcher: the protocols of our hellos, recognised by hand.
pub fn own(f: &Findings) -> Option<ServiceId> {
    let mut id = from_greeting(&f.greeting, f.hello).or_else(|| from_reply(&f.reply, f.hello))?;
    if probes::tls_tunneled(f) {
        id.tunnel = Some("ssl");
    }
    Some(id)
}

/// What a server says first.
fn from_greeting(g: &[u8], hello: Option<Hello>) -> Option<ServiceId> {
    if g.is_empty() {
        return None;
    }
    if g.starts_with(b"SSH-") {
        return Some(ssh(first_line(g)));
    }
    if g.starts_with(b"RFB ") {
        return vnc(g);
    }
    if g.len() >= 2 && g[0] == IAC && (WILL..=DONT).contains(&g[1]) {
        return Some(named("telnet"));
    }
    if let Some(id) = mysql(g) {
        return Some(id);
    }
    let line = first_line(g);
    if line.starts_with(b"220") {
        return ftp_or_smtp(g, hello);
    }
    if line.starts_with(b"+OK") {
        return Some(mail_reader("pop3", line, "Dovecot pop3d"));
    }
    if line.starts_with(b"* OK") {
        return Some(mail_reader("imap", line, "Dovecot imapd"));
    }
    None
}

/// What a server says after our hello.
fn from_reply(r: &[u8], hello: Option<Hello>) -> Option<ServiceId> {
    if r.is_empty() {
        return None;
    }
    if r.starts_with(b"HTTP/1.") || r.starts_with(b"HTTP/2") {
        return Some(http(r));
    }
    if r.starts_with(b"VERSION ") {
        return Some(memcached(first_line(r)));
    }
    if let Some(id) = redis(r, hello) {
        return Some(id);
    }
    if let Some(id) = postgres(r, hello) {
        return Some(id);
    }
    if is_x224_connection_confirm(r) {
        return Some(named("ms-wbt-server"));
    }
    None
}

const IAC: u8 = 0xff;
const WILL: u8 = 0xfb;
const DONT: u8 = 0xfe;

/// Longest field text taken from a banner.
const FIELD_MAX: usize = 128;

fn named(name: &str) -> ServiceId {
    ServiceId {
        name: name.to_string(),
        method: IdMethod::Probed,
        ..ServiceId::default()
    }
}

/// The first line, without its line ending.
fn first_line(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
    let line = &b[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Bytes that may stand in a version or product token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'~' | b':')
}

/// The token at the start of `b` (version-like bytes only), or None.
fn token(b: &[u8]) -> Option<String> {
    let len = b.iter().take_while(|&&c| is_token_byte(c)).count();
    text(&b[..len])
}

/// Printable ASCII as a String, None when empty; longer input is cut.
fn text(b: &[u8]) -> Option<String> {
    let b = &b[..b.len().min(FIELD_MAX)];
    if b.is_empty() || !b.iter().all(|c| (0x20..0x7f).contains(c)) {
        return None;
    }
    Some(String::from_utf8_lossy(b).into_owned())
}

/// Where `needle` starts in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `cpe:/PART:VENDOR:PRODUCT[:VERSION]`, the version escaped as nmap does.
fn cpe(prefix: &str, version: Option<&str>) -> String {
    let mut out = format!("cpe:/{prefix}");
    if let Some(v) = version {
        out.push(':');
        probes::push_cpe_escaped(&mut out, v.as_bytes());
    }
    out
}

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`: protocol, software, comment.
fn ssh(line: &[u8]) -> ServiceId {
    let mut id = named("ssh");
    let rest = &line[4..];
    let Some(dash) = rest.iter().position(|&c| c == b'-') else {
        return id;
    };
    let protocol = token(&rest[..dash]);
    let ident = &rest[dash + 1..];
    let (software, comment) = match ident.iter().position(|&c| c == b' ') {
        Some(sp) => (&ident[..sp], Some(&ident[sp + 1..])),
        None => (ident, None),
    };
    let mut info_prefix = None;
    if let Some(version) = software.strip_prefix(b"OpenSSH_").and_then(token) {
        id.product = Some("OpenSSH".to_string());
        id.cpe.push(cpe("a:openbsd:openssh", Some(&version)));
        id.version = Some(version.clone());
        // Debian and Ubuntu put their package revision in the comment;
        // nmap shows it in the version ("9.2p1 Debian 2+deb12u3").
        for distro in ["Debian", "Ubuntu"] {
            let Some(package) = comment
                .and_then(|c| c.strip_prefix(distro.as_bytes()))
                .and_then(|c| c.strip_prefix(b"-"))
                .and_then(token)
            else {
                continue;
            };
            id.version = Some(format!("{version} {distro} {package}"));
            id.ostype = Some("Linux".to_string());
            id.cpe.push("cpe:/o:linux:linux_kernel".to_string());
            if distro == "Ubuntu" {
                info_prefix = Some("Ubuntu Linux; ");
            }
        }
    } else if let Some(version) = software.strip_prefix(b"dropbear_").and_then(token) {
        id.product = Some("Dropbear sshd".to_string());
        id.cpe
            .push(cpe("a:matt_johnston:dropbear_ssh_server", Some(&version)));
        id.version = Some(version);
    }
    if let Some(protocol) = protocol {
        id.info = Some(format!("{}protocol {protocol}", info_prefix.unwrap_or("")));
    }
    id
}

/// `RFB 003.008\n`: "protocol 3.8".
fn vnc(g: &[u8]) -> Option<ServiceId> {
    let version = g.get(4..11)?;
    let number = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u32>().ok();
    let (major, minor) = (number(&version[..3])?, number(&version[4..])?);
    if version[3] != b'.' {
        return None;
    }
    let mut id = named("vnc");
    id.product = Some("VNC".to_string());
    id.info = Some(format!("protocol {major}.{minor}"));
    Some(id)
}

/// The MySQL/MariaDB handshake packet: 3-byte length, sequence 0,
/// protocol 10, then the NUL-terminated server version.
fn mysql(g: &[u8]) -> Option<ServiceId> {
    let (header, body) = (g.get(..4)?, &g[4..]);
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if header[3] != 0 || length < 2 || body.first() != Some(&10) {
        return None;
    }
    let version_bytes = &body[1..];
    let end = version_bytes.iter().position(|&c| c == 0)?;
    let version = token(&version_bytes[..end]).filter(|v| v.len() == end)?;
    if !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut id = named("mysql");
    // nmap names MariaDB "MySQL" too, telling them apart by the CPE.
    id.product = Some("MySQL".to_string());
    let vendor = if version.contains("MariaDB") {
        "a:mariadb:mariadb"
    } else {
        "a:mysql:mysql"
    };
    id.cpe.push(cpe(vendor, Some(&version)));
    id.version = Some(version);
    Some(id)
}

/// A `220` greeting: FTP or SMTP, by what it says or else by our hello.
fn ftp_or_smtp(g: &[u8], hello: Option<Hello>) -> Option<ServiceId> {
    let line = first_line(g);
    let upper = line.to_ascii_uppercase();
    let says_smtp = find(&upper, b"SMTP").is_some();
    let says_ftp = find(&upper, b"FTP").is_some();
    if says_smtp || (!says_ftp && hello == Some(Hello::Smtp)) {
        return Some(smtp(line));
    }
    if says_ftp || hello == Some(Hello::Ftp) {
        return Some(ftp(line));
    }
    None
}

fn ftp(line: &[u8]) -> ServiceId {
    let mut id = named("ftp");
    if let Some(at) = find(line, b"vsFTPd ") {
        id.product = Some("vsftpd".to_string());
        id.ostype = Some("Unix".to_string());
        id.version = token(&line[at + 7..]);
        id.cpe.push(cpe("a:vsftpd:vsftpd", id.version.as_deref()));
    } else if let Some(at) = find(line, b"ProFTPD") {
        id.product = Some("ProFTPD".to_string());
        id.ostype = Some("Unix".to_string());
        id.version = line
            .get(at + 8..)
            .filter(|_| line.get(at + 7) == Some(&b' '))
            .and_then(token)
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
        id.cpe.push(cpe("a:proftpd:proftpd", id.version.as_deref()));
    }
    id
}

/// `220 HOST ESMTP Exim 4.96 ...` or `220 HOST ESMTP Postfix ...`.
fn smtp(line: &[u8]) -> ServiceId {
    let mut id = named("smtp");
    let host = || line.get(4..).and_then(token);
    if let Some(at) = find(line, b" ESMTP Exim ") {
        id.product = Some("Exim smtpd".to_string());
        id.version = token(&line[at + 12..]);
        id.hostname = host();
        id.cpe.push(cpe("a:exim:exim", id.version.as_deref()));
    } else if find(line, b" ESMTP Postfix").is_some() {
        id.product = Some("Postfix smtpd".to_string());
        id.hostname = host();
        id.cpe.push(cpe("a:postfix:postfix", None));
    }
    id
}

/// A POP3 or IMAP greeting; Dovecot says its name in it.
fn mail_reader(name: &str, line: &[u8], dovecot: &str) -> ServiceId {
    let mut id = named(name);
    if find(line, b"Dovecot").is_some() || find(line, b"dovecot").is_some() {
        id.product = Some(dovecot.to_string());
        id.cpe.push(cpe("a:dovecot:dovecot", None));
    }
    id
}

/// An HTTP response: the product from its Server header.
fn http(r: &[u8]) -> ServiceId {
    let mut id = named("http");
    let head_end = find(r, b"\r\n\r\n").unwrap_or(r.len());
    let server = r[..head_end]
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find_map(|l| {
            let colon = l.iter().position(|&c| c == b':')?;
            l[..colon]
                .eq_ignore_ascii_case(b"server")
                .then(|| l[colon + 1..].trim_ascii())
        });
    let Some(server) = server else { return id };
    let (name, rest) = match server.iter().position(|&c| c == b'/') {
        Some(slash) => (&server[..slash], Some(&server[slash + 1..])),
        None => (
            &server[..server
                .iter()
                .position(|&c| c == b' ')
                .unwrap_or(server.len())],
            None,
        ),
    };
    let version = rest.and_then(token);
    // The products nmap names differently from their Server token.
    let (product, vendor) = match name {
        b"nginx" => ("nginx".to_string(), Some("a:igor_sysoev:nginx")),
        b"Apache" => ("Apache httpd".to_string(), Some("a:apache:http_server")),
        b"lighttpd" => ("lighttpd".to_string(), Some("a:lighttpd:lighttpd")),
        other => match token(other) {
            Some(t) => (t, None),
            None => return id,
        },
    };
    if let Some(vendor) = vendor {
        id.cpe.push(cpe(vendor, version.as_deref()));
    }
    // Apache's comment ("(Debian)") is what nmap shows as extra info.
    if name == b"Apache"
        && let Some(rest) = rest
        && let Some(open) = rest.iter().position(|&c| c == b'(')
        && let Some(close) = rest[open..].iter().position(|&c| c == b')')
    {
        id.info = text(&rest[open..=open + close]);
    }
    id.product = Some(product);
    id.version = version;
    id
}

/// `VERSION 1.6.18`, memcached's answer to `version`.
fn memcached(line: &[u8]) -> ServiceId {
    let mut id = named("memcached");
    id.product = Some("Memcached".to_string());
    id.version = token(&line[8..]);
    id.cpe
        .push(cpe("a:memcached:memcached", id.version.as_deref()));
    id
}

/// Redis' INFO reply (a bulk string holding `redis_version:`), or its
/// refusal of INFO to a client that has not authenticated.
fn redis(r: &[u8], hello: Option<Hello>) -> Option<ServiceId> {
    let version = if r.starts_with(b"$") {
        let at = find(r, b"\nredis_version:")
            .or_else(|| find(r, b"redis_version:").filter(|&a| a == 0))?;
        let start = at + if r[at] == b'\n' { 15 } else { 14 };
        token(&r[start..])
    } else if hello == Some(Hello::Redis) && (r.starts_with(b"-NOAUTH") || r.starts_with(b"-ERR")) {
        None
    } else {
        return None;
    };
    let mut id = named("redis");
    id.product = Some("Redis key-value store".to_string());
    id.cpe.push(cpe("a:redislabs:redis", version.as_deref()));
    id.version = version;
    Some(id)
}

/// The answer to our SSLRequest ('S' or 'N') and then to the
/// StartupMessage: an 'R' (authentication) or 'E' (error) message with a
/// 4-byte big-endian length.
fn postgres(r: &[u8], hello: Option<Hello>) -> Option<ServiceId> {
    if hello != Some(Hello::Postgres) {
        return None;
    }
    let message = match r.first()? {
        b'S' | b'N' => &r[1..],
        _ => r,
    };
    let kind = *message.first()?;
    let length = u32::from_be_bytes(message.get(1..5)?.try_into().ok()?);
    if !matches!(kind, b'R' | b'E') || !(4..=65536).contains(&length) {
        return None;
    }
    let mut id = named("postgresql");
    id.product = Some("PostgreSQL DB".to_string());
    id.cpe.push(cpe("a:postgresql:postgresql", None));
    Some(id)
}

/// A TPKT (version 3) carrying an X.224 Connection Confirm (0xD0).
fn is_x224_connection_confirm(r: &[u8]) -> bool {
    r.len() >= 7 && r[0] == 3 && r[1] == 0 && r[5] & 0xf0 == 0xd0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::TlsInfo;
    use crate::service::probes::tests::{realistic_banners, reply};

    fn greeting(hello: Hello, bytes: &[u8]) -> Findings {
        Findings {
            greeting: bytes.to_vec(),
            hello: Some(hello),
            ..Findings::default()
        }
    }

    #[test]
    fn own_reads_the_lab_services_as_nmap_names_them() {
        let expect = |label: &str| -> (&str, Option<&str>, Option<&str>) {
            match label {
                "ssh" => ("ssh", Some("OpenSSH"), Some("9.2p1 Debian 2+deb12u3")),
                "http" | "https" => ("http", Some("nginx"), Some("1.22.1")),
                "ftp" => ("ftp", Some("vsftpd"), Some("3.0.3")),
                "smtp" => ("smtp", Some("Exim smtpd"), Some("4.96")),
                "pop3" => ("pop3", Some("Dovecot pop3d"), None),
                "imap" => ("imap", Some("Dovecot imapd"), None),
                "redis" => ("redis", Some("Redis key-value store"), Some("7.0.15")),
                "mysql" => (
                    "mysql",
                    Some("MySQL"),
                    Some("5.5.5-10.11.6-MariaDB-0+deb12u1"),
                ),
                "memcached" => ("memcached", Some("Memcached"), Some("1.6.18")),
                "postgresql" => ("postgresql", Some("PostgreSQL DB"), None),
                "vnc" => ("vnc", Some("VNC"), None),
                "ms-wbt-server" => ("ms-wbt-server", None, None),
                "telnet" => ("telnet", None, None),
                other => panic!("no expectation for {other}"),
            }
        };
        for (label, f) in realistic_banners() {
            let id = own(&f).unwrap_or_else(|| panic!("{label}: own found nothing"));
            eprintln!("{label:>14}: {id:?}");
            let (name, product, version) = expect(label);
            assert_eq!(id.name, name, "{label}");
            assert_eq!(id.product.as_deref(), product, "{label}");
            assert_eq!(id.version.as_deref(), version, "{label}");
            assert_eq!(id.tunnel, (label == "https").then_some("ssl"), "{label}");
        }
        let ssh = own(&realistic_banners()[0].1).unwrap();
        assert_eq!(ssh.info.as_deref(), Some("protocol 2.0"));
        assert_eq!(
            ssh.cpe,
            ["cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel"]
        );
        let vnc = own(&greeting(Hello::Vnc, b"RFB 003.008\n")).unwrap();
        assert_eq!(vnc.info.as_deref(), Some("protocol 3.8"));
    }

    /// Where nmap's file matched, the own matcher says the same; it tells
    /// products only from what the banner says, so RDP's and telnet's
    /// byte-exact fingerprints in nmap's file have no counterpart here.
    #[test]
    fn own_agrees_with_nmaps_database() {
        let Ok(db) = ServiceDb::load(default_path()) else {
            eprintln!(
                "!!! {} absent: comparison with nmap's database SKIPPED",
                default_path().display()
            );
            return;
        };
        for (label, f) in realistic_banners() {
            let (Some((theirs, soft)), Some(ours)) = (db.lookup(&f), own(&f)) else {
                continue;
            };
            assert_eq!(ours.name, theirs.name, "{label}");
            assert_eq!(ours.tunnel, theirs.tunnel, "{label}");
            if soft || matches!(label, "ms-wbt-server" | "telnet") {
                continue;
            }
            assert_eq!(ours.product, theirs.product, "{label}");
            assert_eq!(ours.version, theirs.version, "{label}");
            assert_eq!(ours.cpe, theirs.cpe, "{label}");
        }
    }

    #[test]
    fn identifier_prefers_nmap_then_own_then_ssl() {
        let text = "Probe TCP NULL q||\nsoftmatch pop3 m|^\\+OK |\nmatch zorkd m|^ZORK| p/Zork/\n";
        let db = ServiceDb::parse(text, "t.probes").unwrap();
        let with_db = Identifier::new(Some(db));
        let without = Identifier::new(None::<ServiceDb>);
        let zork = greeting(Hello::Ftp, b"ZORK\r\n");
        assert_eq!(with_db.identify(&zork).unwrap().name, "zorkd");
        assert_eq!(without.identify(&zork), None);
        // The db softmatches, the own matcher knows the product.
        let pop = greeting(Hello::Pop3, b"+OK Dovecot ready.\r\n");
        assert_eq!(
            with_db.identify(&pop).unwrap().product.as_deref(),
            Some("Dovecot pop3d")
        );
        let pop = greeting(Hello::Pop3, b"+OK hi\r\n");
        assert_eq!(with_db.identify(&pop).unwrap().name, "pop3");
        let ssh = greeting(Hello::Ssh, b"SSH-2.0-OpenSSH_9.6\r\n");
        assert_eq!(
            with_db.identify(&ssh).unwrap().product.as_deref(),
            Some("OpenSSH")
        );
        let mut tls = reply(Hello::Tls, b"\x00\x01 not http");
        tls.tls = Some(TlsInfo::default());
        let id = without.identify(&tls).unwrap();
        assert_eq!((id.name.as_str(), id.tunnel), ("ssl", None));
        assert_eq!(without.identify(&reply(Hello::Http, b"garbage")), None);
    }

    #[test]
    fn own_variants() {
        let id = own(&greeting(
            Hello::Ssh,
            b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n",
        ))
        .unwrap();
        assert_eq!(id.version.as_deref(), Some("8.9p1 Ubuntu 3ubuntu0.6"));
        assert_eq!(id.info.as_deref(), Some("Ubuntu Linux; protocol 2.0"));
        let id = own(&greeting(
            Hello::Ftp,
            b"220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.2]\r\n",
        ))
        .unwrap();
        assert_eq!(
            (id.product.as_deref(), id.version.as_deref()),
            (Some("ProFTPD"), Some("1.3.8"))
        );
        let id = own(&greeting(Hello::Ftp, b"220 Welcome\r\n")).unwrap();
        assert_eq!((id.name.as_str(), id.product), ("ftp", None));
        let id = own(&greeting(
            Hello::Smtp,
            b"220 mx.lab.test ESMTP Postfix (Debian/GNU)\r\n",
        ))
        .unwrap();
        assert_eq!(id.product.as_deref(), Some("Postfix smtpd"));
        assert_eq!(id.hostname.as_deref(), Some("mx.lab.test"));
        let id = own(&reply(
            Hello::Http,
            b"HTTP/1.1 403 Forbidden\r\nServer: Apache/2.4.57 (Debian)\r\n\r\n",
        ))
        .unwrap();
        assert_eq!(id.product.as_deref(), Some("Apache httpd"));
        assert_eq!(id.version.as_deref(), Some("2.4.57"));
        assert_eq!(id.info.as_deref(), Some("(Debian)"));
        let id = own(&reply(
            Hello::Http,
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        assert_eq!((id.name.as_str(), id.product), ("http", None));
        let id = own(&reply(
            Hello::Redis,
            b"-NOAUTH Authentication required.\r\n",
        ))
        .unwrap();
        assert_eq!((id.name.as_str(), id.version), ("redis", None));
        let id = own(&reply(
            Hello::Postgres,
            b"SR\x00\x00\x00\x08\x00\x00\x00\x00",
        ))
        .unwrap();
        assert_eq!(id.name, "postgresql");
        let mysql8 = b"\x4a\x00\x00\x00\x0a8.0.36\x00\x08\x00\x00\x00abcdefgh\x00";
        let id = own(&greeting(Hello::Mysql, mysql8)).unwrap();
        assert_eq!(id.cpe, ["cpe:/a:mysql:mysql:8.0.36"]);
        // STARTTLS is no tunnel.
        let mut f = greeting(Hello::Smtp, b"220 mx ESMTP Exim 4.96\r\n");
        f.tls = Some(TlsInfo::default());
        assert_eq!(own(&f).unwrap().tunnel, None);
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let prefixes: [&[u8]; 14] = [
            b"SSH-",
            b"SSH-2.0-OpenSSH_",
            b"RFB ",
            b"\xff\xfb",
            b"\x05\x00\x00\x00\x0a",
            b"220 ",
            b"+OK ",
            b"* OK ",
            b"HTTP/1.1 200 OK\r\nServer:",
            b"VERSION ",
            b"$12\r\nredis_version:",
            b"N",
            b"S",
            b"\x03\x00\x00\x13\x0e\xd0",
        ];
        // Far longer than any session keeps.
        let huge = vec![b'A'; 1 << 16];
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), vec![0; 64], huge.clone()];
        for p in prefixes {
            cases.push(p.to_vec());
            let mut long = p.to_vec();
            long.extend_from_slice(&huge);
            cases.push(long);
            for _ in 0..200 {
                let mut c = p.to_vec();
                c.extend((0..next() % 40).map(|_| next() as u8));
                cases.push(c.clone());
                // Truncated anywhere.
                c.truncate((next() % (c.len() as u64 + 1)) as usize);
                cases.push(c);
            }
        }
        let start = std::time::Instant::now();
        // nmap's lines too, on the cases short enough to run them all.
        if let Ok(db) = ServiceDb::load(default_path()) {
            let with_db = Identifier::new(Some(db));
            for (i, case) in cases.iter().filter(|c| c.len() < 4096).enumerate() {
                let hello = Hello::ALL[i % Hello::ALL.len()];
                let _ = with_db.identify(&greeting(hello, case));
                let _ = with_db.identify(&reply(hello, case));
            }
        }
        eprintln!(
            "{} cases through nmap's lines: {:?}",
            cases.len(),
            start.elapsed()
        );
        let start = std::time::Instant::now();
        let identifier = Identifier::new(None::<ServiceDb>);
        for case in &cases {
            for hello in Hello::ALL {
                let mut g = greeting(hello, case);
                let _ = identifier.identify(&g);
                g.reply = g.greeting.clone();
                g.greeting.clear();
                g.tls = Some(TlsInfo::default());
                if let Some(id) = identifier.identify(&g) {
                    let fields = [&id.product, &id.version, &id.info, &id.hostname];
                    for field in fields.into_iter().flatten() {
                        assert!(field.len() <= 2 * FIELD_MAX, "{field}");
                        assert!(
                            field.bytes().all(|b| (0x20..0x7f).contains(&b)),
                            "{field:?}"
                        );
                    }
                }
            }
        }
        eprintln!(
            "{} cases through the own matcher, every hello: {:?}",
            cases.len(),
            start.elapsed()
        );
    }
}
