//! The hellos banner mode speaks, and which port gets which.
//! A port with no hello of its own waits for the server, then tries HTTP.

/// A protocol banner mode can speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hello {
    Http,
    /// TLS, then HTTP inside it (HTTPS).
    Tls,
    Ssh,
    Ftp,
    Smtp,
    Pop3,
    Imap,
    Redis,
    Mysql,
    Postgres,
    Memcached,
    Vnc,
    Rdp,
    Telnet,
}

impl Hello {
    pub const ALL: [Hello; 14] = [
        Hello::Http,
        Hello::Tls,
        Hello::Ssh,
        Hello::Ftp,
        Hello::Smtp,
        Hello::Pop3,
        Hello::Imap,
        Hello::Redis,
        Hello::Mysql,
        Hello::Postgres,
        Hello::Memcached,
        Hello::Vnc,
        Hello::Rdp,
        Hello::Telnet,
    ];

    /// The name `--hello` takes and output shows.
    pub fn name(&self) -> &'static str {
        match self {
            Hello::Http => "http",
            Hello::Tls => "tls",
            Hello::Ssh => "ssh",
            Hello::Ftp => "ftp",
            Hello::Smtp => "smtp",
            Hello::Pop3 => "pop3",
            Hello::Imap => "imap",
            Hello::Redis => "redis",
            Hello::Mysql => "mysql",
            Hello::Postgres => "postgres",
            Hello::Memcached => "memcached",
            Hello::Vnc => "vnc",
            Hello::Rdp => "rdp",
            Hello::Telnet => "telnet",
        }
    }

    pub fn from_name(s: &str) -> Option<Hello> {
        Hello::ALL.into_iter().find(|h| h.name() == s)
    }

    /// The server speaks first (we wait for its greeting before sending).
    pub fn server_first(&self) -> bool {
        matches!(
            self,
            Hello::Ssh
                | Hello::Ftp
                | Hello::Smtp
                | Hello::Pop3
                | Hello::Imap
                | Hello::Mysql
                | Hello::Vnc
                | Hello::Telnet
        )
    }
}

/// The well-known ports and the hello each gets before any `--hello`.
/// HTTPS-style ports (and the implicit-TLS mail ports) get `Tls`: the
/// handshake alone yields the certificate, and a server that is not HTTP
/// inside still shows its version and cipher.
const WELL_KNOWN: &[(Hello, &[u16])] = &[
    (Hello::Ftp, &[21]),
    (Hello::Ssh, &[22]),
    (Hello::Telnet, &[23]),
    (Hello::Smtp, &[25, 587, 2525]),
    (Hello::Http, &[80, 8000, 8008, 8080, 8888]),
    (Hello::Pop3, &[110]),
    (Hello::Imap, &[143]),
    (Hello::Tls, &[443, 465, 993, 995, 4443, 8443]),
    (Hello::Mysql, &[3306]),
    (Hello::Rdp, &[3389]),
    (Hello::Postgres, &[5432]),
    (Hello::Vnc, &[5900, 5901, 5902, 5903]),
    (Hello::Redis, &[6379]),
    (Hello::Memcached, &[11211]),
];

/// Which hello each TCP port gets: the well-known table, changed by
/// `--hello` options. Looked up once per connection, so it is a flat table
/// indexed by port rather than a map.
#[derive(Clone, PartialEq, Eq)]
pub struct HelloMap {
    /// 0 for a port with no hello of its own; otherwise 1 + the hello's
    /// index in `Hello::ALL`.
    by_port: Box<[u8; 65536]>,
}

impl std::fmt::Debug for HelloMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the ports that have a hello; 64 KiB of zeros helps nobody.
        let mut list = f.debug_map();
        for port in 0..=u16::MAX {
            if let Some(hello) = self.for_port(port) {
                list.entry(&port, &hello.name());
            }
        }
        list.finish()
    }
}

impl Default for HelloMap {
    fn default() -> HelloMap {
        HelloMap::new()
    }
}

impl HelloMap {
    /// The well-known table.
    pub fn new() -> HelloMap {
        let mut map = HelloMap::empty();
        for &(hello, ports) in WELL_KNOWN {
            for &port in ports {
                map.set(port, Some(hello));
            }
        }
        map
    }

    /// No port has a hello: every port is treated as unknown.
    pub fn empty() -> HelloMap {
        HelloMap {
            by_port: Box::new([0; 65536]),
        }
    }

    /// The hello for `port`, or `None` when the port is unknown (wait for
    /// the server to speak, then fall back to an HTTP GET).
    pub fn for_port(&self, port: u16) -> Option<Hello> {
        match self.by_port[usize::from(port)] {
            0 => None,
            code => Hello::ALL.get(usize::from(code) - 1).copied(),
        }
    }

    /// Gives `port` the hello `hello` (or none).
    pub fn set(&mut self, port: u16, hello: Option<Hello>) {
        self.by_port[usize::from(port)] = match hello {
            None => 0,
            Some(hello) => Hello::ALL
                .iter()
                .position(|h| *h == hello)
                .map_or(0, |index| index as u8 + 1),
        };
    }

    /// Applies one `--hello PROTOCOL:PORTS` value, e.g.
    /// `http:8000,9000-9010`. Either the whole value applies or, on an
    /// error, none of it; the error is one line naming the bad part.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let Some((name, ports)) = spec.split_once(':') else {
            return Err(format!(
                "\"{spec}\" is not PROTOCOL:PORTS: give e.g. http:8000,9000-9010"
            ));
        };
        let name = name.trim();
        let Some(hello) = Hello::from_name(&name.to_ascii_lowercase()) else {
            let names: Vec<&str> = Hello::ALL.iter().map(Hello::name).collect();
            return Err(format!(
                "\"{name}\" is not a hello: give {}",
                names.join(", ")
            ));
        };
        let mut ranges = Vec::new();
        for token in ports.split(',') {
            ranges.push(parse_port_range(token.trim())?);
        }
        for (first, last) in ranges {
            for port in first..=last {
                self.set(port, Some(hello));
            }
        }
        Ok(())
    }
}

/// One PORTS token: a port or a range `A-B`, within 1-65535.
fn parse_port_range(token: &str) -> Result<(u16, u16), String> {
    let port = |text: &str| -> Result<u16, String> {
        match text.trim().parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(format!(
                "\"{token}\" is not a port: give ports 1-65535 or ranges like 9000-9010, separated by commas"
            )),
        }
    };
    match token.split_once('-') {
        None => {
            let single = port(token)?;
            Ok((single, single))
        }
        Some((first, last)) => {
            let (first, last) = (port(first)?, port(last)?);
            if first > last {
                return Err(format!(
                    "\"{token}\" is not a port range: its first port is above its last"
                ));
            }
            Ok((first, last))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ports_get_their_hellos() {
        let map = HelloMap::new();
        assert_eq!(map.for_port(21), Some(Hello::Ftp));
        assert_eq!(map.for_port(22), Some(Hello::Ssh));
        assert_eq!(map.for_port(23), Some(Hello::Telnet));
        for port in [25, 587, 2525] {
            assert_eq!(map.for_port(port), Some(Hello::Smtp));
        }
        for port in [80, 8000, 8080, 8008, 8888] {
            assert_eq!(map.for_port(port), Some(Hello::Http));
        }
        assert_eq!(map.for_port(110), Some(Hello::Pop3));
        assert_eq!(map.for_port(143), Some(Hello::Imap));
        for port in [443, 8443, 4443, 465, 993, 995] {
            assert_eq!(map.for_port(port), Some(Hello::Tls));
        }
        assert_eq!(map.for_port(3306), Some(Hello::Mysql));
        assert_eq!(map.for_port(3389), Some(Hello::Rdp));
        assert_eq!(map.for_port(5432), Some(Hello::Postgres));
        for port in 5900..=5903 {
            assert_eq!(map.for_port(port), Some(Hello::Vnc));
        }
        assert_eq!(map.for_port(6379), Some(Hello::Redis));
        assert_eq!(map.for_port(11211), Some(Hello::Memcached));
        for port in [0, 1, 24, 5904, 9999, 65535] {
            assert_eq!(map.for_port(port), None);
        }
    }

    #[test]
    fn every_hello_round_trips_through_the_table() {
        let mut map = HelloMap::empty();
        for (i, hello) in Hello::ALL.into_iter().enumerate() {
            map.set(1000 + i as u16, Some(hello));
        }
        for (i, hello) in Hello::ALL.into_iter().enumerate() {
            assert_eq!(map.for_port(1000 + i as u16), Some(hello));
        }
        map.set(1000, None);
        assert_eq!(map.for_port(1000), None);
    }

    #[test]
    fn add_applies_ports_and_ranges() {
        let mut map = HelloMap::new();
        map.add("http:8000,9000-9010").unwrap();
        assert_eq!(map.for_port(8000), Some(Hello::Http));
        for port in 9000..=9010 {
            assert_eq!(map.for_port(port), Some(Hello::Http));
        }
        assert_eq!(map.for_port(8999), None);
        assert_eq!(map.for_port(9011), None);
        map.add("tls:4444").unwrap();
        assert_eq!(map.for_port(4444), Some(Hello::Tls));
        // A later --hello overrides the table.
        map.add("SSH: 80 , 1-2").unwrap();
        assert_eq!(map.for_port(80), Some(Hello::Ssh));
        assert_eq!(map.for_port(1), Some(Hello::Ssh));
        assert_eq!(map.for_port(2), Some(Hello::Ssh));
        map.add("redis:65535").unwrap();
        assert_eq!(map.for_port(65535), Some(Hello::Redis));
    }

    #[test]
    fn add_rejects_bad_values_whole() {
        let mut map = HelloMap::new();
        let before = map.clone();
        let error = map.add("gopher:70").unwrap_err();
        assert!(
            error.starts_with("\"gopher\" is not a hello: give http, tls, ssh"),
            "{error}"
        );
        for bad in [
            "http",
            "http:",
            "http:0",
            "http:65536",
            "http:80,x",
            "http:9010-9000",
            "http:80,,81",
            "http:-5",
            "http:1-2-3",
            ":80",
        ] {
            let error = map.add(bad).unwrap_err();
            assert!(!error.contains('\n'), "{error}");
        }
        assert!(map.add("http:9010-9000").unwrap_err().contains("9010-9000"));
        assert!(map.add("http:80,99999").unwrap_err().contains("\"99999\""));
        // "http:81,0" must not have applied 81.
        let _ = map.add("http:81,0");
        assert_eq!(map, before);
    }
}
