//! The hellos banner mode speaks, and which port gets which.
//! (Helper A fills in the per-port table and `--hello` parsing.)

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

/// (stub until helper A's table lands)
#[derive(Clone, Debug, Default)]
pub struct HelloMap;

impl HelloMap {
    pub fn add(&mut self, _spec: &str) -> Result<(), String> {
        Ok(())
    }

    pub fn for_port(&self, port: u16) -> Option<Hello> {
        match port {
            22 => Some(Hello::Ssh),
            80 => Some(Hello::Http),
            _ => None,
        }
    }
}
