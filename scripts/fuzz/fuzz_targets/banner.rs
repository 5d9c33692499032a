//! Banner mode's hostile input: what a server sends, through a `Dialogue`
//! of any hello, `Identifier::identify` (nmap's real database when it is
//! installed, and the own matcher alone), and the record it ends up in,
//! rendered in every output format.
//!
//! Input: `HELLO MAX CHUNK...`.
//! - HELLO: `% 15`: 0 is an unknown port (`None`), 1-14 `Hello::ALL[n-1]`;
//!   `/ 15` odd: the target is an IPv6 address.
//! - MAX: `--banner-bytes`: under 0x80 the byte itself (0-127, budgets
//!   small enough to run out), else 4096 (the default).
//! - each CHUNK: a length byte L, then L bytes of the server's (fewer if
//!   the input ends): `received`; L = 0 is the hello wait passing in
//!   silence: `quiet`. `opening` comes first, as the session engine calls
//!   it right after the handshake.
//!
//! Asserted (`drive`): no panic; once a call returns `Done`, every later
//! call returns `Done` and sends nothing; the findings keep at most MAX
//! bytes (greeting + reply), and are exactly a prefix of what the server
//! sent before `Done` (a fuzzer cannot finish a TLS handshake, whose
//! Finished message needs the server's key, so no decrypted text can come
//! out of rustls: every kept byte is one the server sent in plain text).
//!
//! Then (`render`) the findings, identified, ride on an open TCP port's
//! record (`RunInfo::banners`), in each format:
//! - ndjson: exactly one line, a JSON object (serde_json) whose `banner`
//!   unescapes to greeting ++ reply and whose `service`, `product`,
//!   `version` unescape to the identification's;
//! - csv: exactly one line (no CR or LF inside, quoted or not), RFC 4180
//!   fields (quotes only around whole fields, doubled inside), as many as
//!   the banner header's 23 columns; `banner` and `product` unescape back;
//! - xml: one line of UTF-8 with no control character, no U+FFFE/U+FFFF;
//!   well formed as far as its grammar goes (elements balanced, every
//!   attribute `name="value"` with no `<` or `"` in the value and only
//!   XML's own entities); the banner script's `output` attribute,
//!   entities resolved, unescapes to greeting ++ reply;
//! - list: the open line and the banner line, printable ASCII but for the
//!   service word (Unicode kept, no control character); the banner line
//!   has seven space-separated fields, the seventh unescapes to greeting ++
//!   reply, the sixth to the service's name (or the hello's, or
//!   `unknown`);
//! - grepable: exactly one `Host:` line, its one tab the one nmap puts
//!   before `Ports:`, no other control character, seven `/`-separated port
//!   fields.
//!
//! With SYNSWEEP_FUZZ_IDS=1 in the environment each input's
//! identifications are printed to standard error ("id HELLO nmap=NAME/PRODUCT
//! own=NAME/PRODUCT", `-` for none), to see what a corpus reaches (with
//! `-runs=0`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use synsweep::domain::{Protocol, Reason, Record, State};
use synsweep::output::escape::unescape;
use synsweep::output::{FormatKind, RunInfo};
use synsweep::service::dialogue::{Context, Dialogue, Step};
use synsweep::service::hello::Hello;
use synsweep::service::identify::Identifier;
use synsweep::service::probes::ServiceDb;
use synsweep::service::{Banner, Findings, ServiceId};

const NMAP_DB: &str = "/usr/share/nmap/nmap-service-probes";

/// nmap's database, read once per process (None if it is not installed).
fn nmap_db() -> Option<Arc<ServiceDb>> {
    static DB: OnceLock<Option<Arc<ServiceDb>>> = OnceLock::new();
    DB.get_or_init(|| {
        let path = Path::new(NMAP_DB);
        if !path.exists() {
            eprintln!("banner target: {NMAP_DB} is missing: the own matcher only");
            return None;
        }
        Some(Arc::new(
            ServiceDb::load(path).expect("nmap's database loads"),
        ))
    })
    .clone()
}

/// One TLS context for the process (building one is the costly part of
/// `Context::new`); each input gets a copy with its own budget.
fn context(max_bytes: usize) -> Context {
    static BASE: OnceLock<Context> = OnceLock::new();
    let mut ctx = BASE.get_or_init(Context::default).clone();
    ctx.max_bytes = max_bytes;
    ctx
}

/// The usual port of each hello (the dialogue does not look at it).
fn port_of(hello: Option<Hello>) -> u16 {
    match hello {
        None => 8888,
        Some(Hello::Http) => 80,
        Some(Hello::Tls) => 443,
        Some(Hello::Ssh) => 22,
        Some(Hello::Ftp) => 21,
        Some(Hello::Smtp) => 25,
        Some(Hello::Pop3) => 110,
        Some(Hello::Imap) => 143,
        Some(Hello::Redis) => 6379,
        Some(Hello::Mysql) => 3306,
        Some(Hello::Postgres) => 5432,
        Some(Hello::Memcached) => 11211,
        Some(Hello::Vnc) => 5900,
        Some(Hello::Rdp) => 3389,
        Some(Hello::Telnet) => 23,
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, max, rest @ ..] = data else {
        return;
    };
    let hello = match sel % 15 {
        0 => None,
        n => Some(Hello::ALL[usize::from(n - 1)]),
    };
    let target = if (sel / 15) % 2 == 1 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0x700, 0, 0, 0, 0x1000))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 112, 7))
    };
    let max_bytes = if *max < 0x80 { usize::from(*max) } else { 4096 };
    let findings = drive(hello, target, max_bytes, rest);

    let own = Identifier::new(None::<Arc<ServiceDb>>).identify(&findings);
    let ids = match nmap_db() {
        Some(db) => vec![Identifier::new(Some(db)).identify(&findings), own],
        None => vec![own],
    };
    if std::env::var_os("SYNSWEEP_FUZZ_IDS").is_some() {
        let name = |id: &Option<ServiceId>| {
            id.as_ref().map_or("-".to_string(), |i| {
                format!("{}/{}", i.name, i.product.as_deref().unwrap_or(""))
            })
        };
        let hello = hello.map_or("none", |h| h.name());
        let nmap = if ids.len() == 2 {
            name(&ids[0])
        } else {
            "(no db)".to_string()
        };
        eprintln!("id {hello} nmap={nmap} own={}", name(ids.last().unwrap()));
    }
    for id in ids {
        render(target, port_of(hello), &findings, id);
    }
});

/// Runs the dialogue over the chunks; checks the `Done` and budget rules.
fn drive(hello: Option<Hello>, target: IpAddr, max_bytes: usize, mut rest: &[u8]) -> Findings {
    let ctx = context(max_bytes);
    let mut d = Dialogue::new(&ctx, hello, target, port_of(hello));
    let mut out = Vec::new();
    let mut done = d.opening(&ctx, &mut out) == Step::Done;
    // What the server sent while the dialogue still listened.
    let mut heard = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        out.clear();
        let step = if len == 0 {
            d.quiet(&ctx, &mut out)
        } else {
            if !done {
                heard.extend_from_slice(chunk);
            }
            d.received(&ctx, chunk, &mut out)
        };
        if done {
            assert_eq!(step, Step::Done, "a call after Done went on");
            assert!(out.is_empty(), "a call after Done sent {out:?}");
        }
        done |= step == Step::Done;
    }
    if done {
        out.clear();
        assert_eq!(d.opening(&ctx, &mut out), Step::Done);
        assert_eq!(d.quiet(&ctx, &mut out), Step::Done);
        assert_eq!(d.received(&ctx, b"more\r\n", &mut out), Step::Done);
        assert!(out.is_empty(), "a call after Done sent {out:?}");
    }
    let f = d.finish();
    let kept: Vec<u8> = f.banner().copied().collect();
    assert!(
        kept.len() <= max_bytes,
        "kept {} bytes over a budget of {max_bytes}",
        kept.len()
    );
    assert!(
        heard.starts_with(&kept),
        "the findings are not what the server sent: kept {kept:?}, heard {heard:?}"
    );
    f
}

fn text_eq(escaped: &str, want: &str, what: &str) {
    assert_eq!(
        unescape(escaped.as_bytes()).as_deref(),
        Some(want.as_bytes()),
        "{what}: {escaped:?}"
    );
}

/// The record, in every format, checked by each format's rules.
fn render(ip: IpAddr, port: u16, f: &Findings, id: Option<ServiceId>) {
    let banner: Vec<u8> = f.banner().copied().collect();
    let record = Record {
        ip,
        proto: Protocol::Tcp,
        port,
        state: State::Open,
        reason: Reason::SynAck,
        ttl: 64,
        ts: 1_796_000_000,
        mac: None,
        banner: Some(Box::new(Banner {
            findings: f.clone(),
            id: id.clone(),
        })),
        os: None,
    };
    let run = RunInfo {
        banners: true,
        ..RunInfo::default()
    };
    for kind in FormatKind::ALL {
        let mut out = Vec::new();
        kind.formatter_for(&run).record(&mut out, &record);
        let text = String::from_utf8(out)
            .unwrap_or_else(|e| panic!("{} wrote no UTF-8: {e}", kind.name()));
        let body = text
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{} record without a final newline: {text:?}", kind.name()));
        match kind {
            FormatKind::Ndjson => check_ndjson(body, &banner, id.as_ref()),
            FormatKind::Csv => check_csv(body, &banner, id.as_ref()),
            FormatKind::Xml => check_xml(body, &banner),
            FormatKind::List => check_list(body, &banner, f, id.as_ref()),
            FormatKind::Grepable => check_grepable(body),
        }
    }
}

fn check_ndjson(body: &str, banner: &[u8], id: Option<&ServiceId>) {
    assert!(
        !body.contains(['\n', '\r']),
        "ndjson: not one line: {body:?}"
    );
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("ndjson: {e}: {body}"));
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("ndjson: not an object: {body}"));
    let s = |k: &str| o.get(k).and_then(|v| v.as_str());
    let b = s("banner").unwrap_or_else(|| panic!("ndjson: no banner: {body}"));
    assert_eq!(
        unescape(b.as_bytes()).as_deref(),
        Some(banner),
        "ndjson banner: {b:?}"
    );
    match id {
        Some(id) => {
            text_eq(
                s("service").expect("ndjson: service"),
                &id.name,
                "ndjson service",
            );
            for (k, v) in [("product", &id.product), ("version", &id.version)] {
                match (s(k), v) {
                    (Some(got), Some(want)) => text_eq(got, want, k),
                    (None, None) => {}
                    (got, want) => panic!("ndjson {k}: {got:?} for {want:?}"),
                }
            }
        }
        None => assert!(
            o.get("service").is_none(),
            "ndjson: a service with no id: {body}"
        ),
    }
}

/// RFC 4180 fields of one line (no line breaks inside), strictly: a quote
/// only opens a field or, doubled, stands for itself inside a quoted one.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => panic!("csv: unterminated quote: {line:?}"),
                }
            }
            assert!(
                matches!(chars.peek(), None | Some(',')),
                "csv: text after a closing quote: {line:?}"
            );
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                assert_ne!(c, '"', "csv: a quote inside an unquoted field: {line:?}");
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            None => return fields,
            Some(c) => unreachable!("{c}"),
        }
    }
}

fn check_csv(body: &str, banner: &[u8], id: Option<&ServiceId>) {
    assert!(!body.contains(['\n', '\r']), "csv: not one line: {body:?}");
    let fields = csv_fields(body);
    assert_eq!(fields.len(), 23, "csv: {} fields: {body:?}", fields.len());
    // ip,port,proto,state,reason,ttl,ts,service,product,version,info,cpe,
    // tunnel,method,hello,banner,...
    assert_eq!(
        unescape(fields[15].as_bytes()).as_deref(),
        Some(banner),
        "csv banner: {body:?}"
    );
    let product = id.and_then(|i| i.product.as_deref()).unwrap_or("");
    text_eq(&fields[8], product, "csv product");
    text_eq(
        &fields[7],
        id.map_or("", |i| i.name.as_str()),
        "csv service",
    );
}

/// Resolves XML's entities in an attribute value (the ones the writer
/// uses); panics on any other `&`.
fn xml_unentity(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (ent, c) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#xa;", '\n'),
        ]
        .into_iter()
        .find(|(e, _)| rest.starts_with(e))
        .unwrap_or_else(|| panic!("xml: a bare & in {v:?}"));
        out.push(c);
        rest = &rest[ent.len()..];
    }
    out.push_str(rest);
    out
}

/// Checks the one-line XML fragment's grammar; returns the banner
/// script's `output`, entities resolved.
fn check_xml(body: &str, banner: &[u8]) {
    assert!(
        !body
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}')),
        "xml: a control character: {body:?}"
    );
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.');
    let mut stack: Vec<&str> = Vec::new();
    let mut banner_output = None;
    let mut rest = body;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            panic!("xml: text after the last element: {rest:?}");
        };
        let text = &rest[..lt];
        assert!(!text.contains('>'), "xml: '>' in text: {body:?}");
        let _ = xml_unentity(text);
        rest = &rest[lt + 1..];
        if let Some(r) = rest.strip_prefix('/') {
            let end = r
                .find('>')
                .unwrap_or_else(|| panic!("xml: open end tag: {body:?}"));
            let name = &r[..end];
            assert_eq!(
                stack.pop(),
                Some(name),
                "xml: unbalanced </{name}>: {body:?}"
            );
            rest = &r[end + 1..];
            continue;
        }
        let n = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
        let name = &rest[..n];
        assert!(!name.is_empty(), "xml: '<' without a name: {body:?}");
        rest = &rest[n..];
        let mut attrs = Vec::new();
        loop {
            if let Some(r) = rest.strip_prefix("/>") {
                rest = r;
                break;
            }
            if let Some(r) = rest.strip_prefix('>') {
                rest = r;
                stack.push(name);
                break;
            }
            let r = rest.strip_prefix(' ').unwrap_or_else(|| {
                panic!("xml: no space before an attribute in <{name}: {body:?}")
            });
            let eq = r
                .find("=\"")
                .unwrap_or_else(|| panic!("xml: attribute without =\": {body:?}"));
            let key = &r[..eq];
            assert!(
                !key.is_empty() && key.chars().all(name_char),
                "xml: attribute {key:?}: {body:?}"
            );
            let r = &r[eq + 2..];
            let close = r
                .find('"')
                .unwrap_or_else(|| panic!("xml: unclosed attribute {key}: {body:?}"));
            let value = &r[..close];
            assert!(
                !value.contains('<'),
                "xml: '<' in attribute {key}: {body:?}"
            );
            assert!(
                attrs.iter().all(|(k, _)| *k != key),
                "xml: attribute {key} twice: {body:?}"
            );
            attrs.push((key, xml_unentity(value)));
            rest = &r[close + 1..];
        }
        if name == "script" && attrs.iter().any(|(k, v)| *k == "id" && v == "banner") {
            assert!(banner_output.is_none(), "xml: two banner scripts: {body:?}");
            banner_output = attrs
                .into_iter()
                .find(|(k, _)| *k == "output")
                .map(|(_, v)| v);
        }
    }
    assert!(stack.is_empty(), "xml: unclosed {stack:?}: {body:?}");
    let out = banner_output.unwrap_or_else(|| panic!("xml: no banner script: {body:?}"));
    assert_eq!(
        unescape(out.as_bytes()).as_deref(),
        Some(banner),
        "xml banner: {out:?}"
    );
}

fn check_list(body: &str, banner: &[u8], f: &Findings, id: Option<&ServiceId>) {
    let lines: Vec<&str> = body.split('\n').collect();
    assert_eq!(
        lines.len(),
        2,
        "list: not an open line and a banner line: {body:?}"
    );
    assert!(lines[0].starts_with("open tcp "), "list: {body:?}");
    assert!(
        lines[0].bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "list: {body:?}"
    );
    let line = lines[1];
    assert!(
        !line.chars().any(char::is_control),
        "list: a control character: {line:?}"
    );
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert_eq!(fields.len(), 7, "list: {line:?}");
    assert_eq!(fields[0], "banner", "list: {line:?}");
    assert!(
        fields[6].bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "list: banner not printable ASCII: {line:?}"
    );
    assert_eq!(
        unescape(fields[6].as_bytes()).as_deref(),
        Some(banner),
        "list banner: {line:?}"
    );
    let name = match (id, f.hello) {
        (Some(id), _) if !id.name.is_empty() => id.name.as_str(),
        (Some(_), _) => "unknown",
        (None, Some(h)) => h.name(),
        (None, None) => "unknown",
    };
    text_eq(fields[5], name, "list service word");
}

fn check_grepable(body: &str) {
    assert!(body.starts_with("Host: "), "grepable: {body:?}");
    assert_eq!(body.matches('\t').count(), 1, "grepable: tabs: {body:?}");
    assert!(
        !body.chars().any(|c| c.is_control() && c != '\t'),
        "grepable: a control character: {body:?}"
    );
    let (_, ports) = body
        .split_once("\tPorts: ")
        .unwrap_or_else(|| panic!("grepable: no Ports: {body:?}"));
    assert_eq!(
        ports.split('/').count(),
        8,
        "grepable: port fields: {body:?}"
    );
}
