//! Banner output under hostile servers, end to end without a network: banner
//! records whose bytes and strings are built to break formats go through the
//! library's result writer into a file of every format; the files must parse
//! (nmap's DTD for XML, masscan's lines for the list), and the CSV and NDJSON
//! must load into PostgreSQL (COPY, and jsonb) and SQLite (.import and
//! json_extract) row for row, every banner unescaping to the exact bytes the
//! server sent.

mod common;

use common::*;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use synsweep::domain::{Protocol, Reason, Record, State};
use synsweep::output::escape::unescape;
use synsweep::output::{Continue, EndInfo, FormatKind, OutputSpec, ResultWriter, RunInfo};
use synsweep::service::hello::Hello;
use synsweep::service::{Banner, CertSummary, Findings, IdMethod, ServiceId, TlsInfo};

const RECORDS: usize = 300;

/// Text a server could put in a certificate or a version string.
const HOSTILE_TEXT: &str = "Evil \"q\", 'x' <a>&amp; \\ \r\n\t\u{0}\u{1b}\u{7f}\u{85}\u{2028}\u{fffe} ]]> -- Ünï 日本 |\u{1}\u{2}";

/// A deterministic mix: closed ports without banners, random bytes, the
/// hostile strings, empty banners, and 4 KiB of every byte value; IPv4 and
/// IPv6.
fn records() -> Vec<Record> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut hostile_bytes = b"\x00\"',\r\n\\<&>\xff\xfe\x01\x02 \\x41 ".to_vec();
    hostile_bytes.extend_from_slice(HOSTILE_TEXT.as_bytes());
    (0..RECORDS)
        .map(|i| {
            let ip: IpAddr = if i % 2 == 0 {
                format!("198.18.{}.{}", i / 256, i % 256).parse().unwrap()
            } else {
                format!("2001:2::{i:x}").parse().unwrap()
            };
            let banner = match i % 5 {
                0 => None,
                1 => Some(Banner {
                    findings: Findings {
                        greeting: random(i * 37 % 4097),
                        hello: Some(Hello::Http),
                        ..Findings::default()
                    },
                    id: None,
                }),
                2 => Some(Banner {
                    findings: Findings {
                        greeting: hostile_bytes.clone(),
                        reply: random(i % 64),
                        hello: Some(Hello::Tls),
                        tls: Some(TlsInfo {
                            version: "TLSv1.3".into(),
                            cipher: "TLS13_AES_256_GCM_SHA384".into(),
                            alpn: Some(HOSTILE_TEXT.into()),
                            certs: vec![
                                CertSummary {
                                    subject: format!("CN={i}, O={HOSTILE_TEXT}"),
                                    issuer: HOSTILE_TEXT.into(),
                                    sans: vec![HOSTILE_TEXT.into(), "a.example".into()],
                                    not_before: "2026-11-30T00:00:00Z".into(),
                                    not_after: HOSTILE_TEXT.into(),
                                },
                                CertSummary::default(),
                            ],
                        }),
                    },
                    id: Some(ServiceId {
                        name: HOSTILE_TEXT.into(),
                        product: Some(format!("{HOSTILE_TEXT} {i}")),
                        version: Some(HOSTILE_TEXT.into()),
                        info: Some(HOSTILE_TEXT.into()),
                        hostname: Some(HOSTILE_TEXT.into()),
                        ostype: Some(HOSTILE_TEXT.into()),
                        devicetype: Some(HOSTILE_TEXT.into()),
                        cpe: vec![HOSTILE_TEXT.into(), "cpe:/a:x:y".into()],
                        tunnel: Some("ssl"),
                        method: IdMethod::Table,
                    }),
                }),
                3 => Some(Banner::default()),
                _ => Some(Banner {
                    findings: Findings {
                        greeting: every_byte.clone(),
                        ..Findings::default()
                    },
                    id: Some(ServiceId {
                        name: "ssh".into(),
                        product: Some("OpenSSH".into()),
                        method: IdMethod::Probed,
                        ..ServiceId::default()
                    }),
                }),
            };
            let open = banner.is_some();
            Record {
                ip,
                proto: Protocol::Tcp,
                port: 1000 + i as u16,
                state: if open { State::Open } else { State::Closed },
                reason: if open { Reason::SynAck } else { Reason::Reset },
                ttl: 64,
                ts: 1732240000 + i as u64,
                mac: None,
                banner: banner.map(Box::new),
                os: None,
            }
        })
        .collect()
}

/// What a record's fields must unescape to ("" where there is none).
struct Want {
    ip: String,
    port: u16,
    banner: Vec<u8>,
    subject: Vec<u8>,
    product: Vec<u8>,
}

fn wants(records: &[Record]) -> Vec<Want> {
    let mut w: Vec<Want> = records
        .iter()
        .map(|r| {
            let b = r.banner.as_deref();
            Want {
                ip: r.ip.to_string(),
                port: r.port,
                banner: b.map_or(vec![], |b| b.findings.banner().copied().collect()),
                subject: b
                    .and_then(|b| b.findings.tls.as_ref())
                    .and_then(|t| t.certs.first())
                    .map_or(vec![], |c| c.subject.as_bytes().to_vec()),
                product: b
                    .and_then(|b| b.id.as_ref())
                    .and_then(|i| i.product.as_deref())
                    .map_or(vec![], |p| p.as_bytes().to_vec()),
            }
        })
        .collect();
    w.sort_by(|a, b| (a.port, &a.ip).cmp(&(b.port, &b.ip)));
    w
}

/// Rows printed as `ip US port US banner US subject US product` (US = the
/// ASCII unit separator, which no escaped value can hold), ordered by port,
/// must be `want`, every value unescaped.
fn check_rows(what: &str, out: &str, want: &[Want]) {
    let rows: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), want.len(), "{what}: one row per record");
    for (row, w) in rows.iter().zip(want) {
        let f: Vec<&str> = row.split('\x1f').collect();
        assert_eq!(f.len(), 5, "{what}: {row:?}");
        assert_eq!(
            (f[0], f[1]),
            (w.ip.as_str(), w.port.to_string().as_str()),
            "{what}"
        );
        let un = |s: &str| {
            unescape(s.as_bytes()).unwrap_or_else(|| panic!("{what}: not an escaped text: {s:?}"))
        };
        assert!(
            un(f[2]) == w.banner,
            "{what}: banner of {}:{} differs",
            w.ip,
            w.port
        );
        assert!(
            un(f[3]) == w.subject,
            "{what}: subject of {}:{} differs",
            w.ip,
            w.port
        );
        assert!(
            un(f[4]) == w.product,
            "{what}: product of {}:{} differs",
            w.ip,
            w.port
        );
    }
}

fn write_file(dir: &Path, format: FormatKind, records: &[Record]) -> PathBuf {
    let path = dir.join(format!("banners.{}", format.name()));
    let spec = OutputSpec {
        path: Some(path.clone()),
        format,
    };
    let run = RunInfo {
        start_unix: 1732240000,
        command_line: "synsweep 198.18.0.0/15 -p 1000-1299 --banners -oX \"x\" <&>".into(),
        banners: true,
        ..RunInfo::default()
    };
    let mut w = ResultWriter::create(&spec, run, Continue::Fresh).unwrap();
    w.start().unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    w.finish(&EndInfo::default()).unwrap();
    path
}

#[test]
fn hostile_banners_keep_every_format_whole() {
    let dir = temp_dir("banner-formats");
    let records = records();
    let with_banner = records.iter().filter(|r| r.banner.is_some()).count();

    let xml = write_file(&dir, FormatKind::Xml, &records);
    let o = run(Command::new("xmllint")
        .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
        .arg(&xml));
    assert!(o.status.success(), "xmllint: {}", stderr(&o));
    let text = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(text.matches("<script id=\"banner\"").count(), with_banner);

    // The list: an open line, then its banner line, each one line.
    let list = std::fs::read_to_string(write_file(&dir, FormatKind::List, &records)).unwrap();
    let banners: Vec<Vec<u8>> = list
        .lines()
        .filter(|l| l.starts_with("banner "))
        .map(|l| {
            // The service word keeps a name's Unicode; the banner is ASCII.
            assert!(!l.chars().any(char::is_control), "{l:?}");
            let banner = l.splitn(7, ' ').nth(6).unwrap();
            assert!(banner.bytes().all(|b| (0x20..0x7f).contains(&b)), "{l:?}");
            unescape(banner.as_bytes()).unwrap()
        })
        .collect();
    let want: Vec<Vec<u8>> = records
        .iter()
        .filter_map(|r| r.banner.as_ref())
        .map(|b| b.findings.banner().copied().collect())
        .collect();
    assert!(banners == want, "list banners differ");
    assert_eq!(list.lines().count(), 2 + records.len() + with_banner);

    // Grepable: one line per record, seven fields in every port entry.
    let grep = std::fs::read_to_string(write_file(&dir, FormatKind::Grepable, &records)).unwrap();
    let hosts: Vec<&str> = grep.lines().filter(|l| l.starts_with("Host: ")).collect();
    assert_eq!(hosts.len(), records.len());
    for l in hosts {
        let ports = l.split_once("\tPorts: ").unwrap().1;
        assert_eq!(ports.matches('/').count(), 7, "{l:?}");
        assert!(!ports.contains(',') && !ports.contains('\t'), "{l:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every column of a banner run's CSV, as text (ports as integers).
const CSV_TABLE: &str = "(ip TEXT, port INTEGER, proto TEXT, state TEXT, reason TEXT, ttl INTEGER, ts INTEGER, \
     service TEXT, product TEXT, version TEXT, info TEXT, cpe TEXT, tunnel TEXT, method TEXT, hello TEXT, banner TEXT, \
     tls_version TEXT, tls_cipher TEXT, cert_subject TEXT, cert_issuer TEXT, cert_sans TEXT, cert_not_before TEXT, \
     cert_not_after TEXT)";

#[test]
fn hostile_banners_load_into_postgresql_and_sqlite_row_for_row() {
    if !require_root("hostile_banners_load_into_postgresql_and_sqlite_row_for_row") {
        return;
    }
    let dir = temp_dir("banner-db");
    let records = records();
    let want = wants(&records);
    let csv = write_file(&dir, FormatKind::Csv, &records);
    let ndjson = write_file(&dir, FormatKind::Ndjson, &records);

    // PostgreSQL: COPY the CSV as it is.
    let pg = Postgres::start();
    let out = pg.psql_fields(&format!(
        "CREATE TABLE results {CSV_TABLE};\n\
         \\copy results FROM '{}' WITH (FORMAT csv, HEADER true)\n\
         SELECT ip, port, coalesce(banner, ''), coalesce(cert_subject, ''), coalesce(product, '') FROM results ORDER BY port, ip;",
        csv.display()
    ), "\x1f");
    check_rows("PostgreSQL from CSV", &out, &want);
    // NDJSON through jsonb. COPY's text format would read the JSON's own
    // backslashes as escapes, so each line is taken as one CSV field whose
    // quote and delimiter are bytes no line can hold.
    let out = pg.psql_fields(&format!(
        "CREATE TABLE raw (doc jsonb);\n\
         \\copy raw FROM '{}' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')\n\
         SELECT doc->>'ip', doc->>'port', coalesce(doc->>'banner', ''), coalesce(doc->>'cert_subject', ''), \
         coalesce(doc->>'product', '') FROM raw ORDER BY (doc->>'port')::int, doc->>'ip';",
        ndjson.display()
    ), "\x1f");
    check_rows("PostgreSQL from NDJSON", &out, &want);
    let counts = pg.psql_fields(
        "SELECT count(*), count(*) FILTER (WHERE doc ? 'banner'), count(*) FILTER (WHERE doc->'cert_chain' = '2') FROM raw;", "\x1f");
    let with_banner = records.iter().filter(|r| r.banner.is_some()).count();
    let with_certs = records
        .iter()
        .filter_map(|r| r.banner.as_ref()?.findings.tls.as_ref())
        .filter(|t| t.certs.len() == 2)
        .count();
    assert_eq!(
        counts.trim(),
        format!("{}\x1f{with_banner}\x1f{with_certs}", records.len())
    );
    drop(pg);

    // SQLite: the CSV with .import, the NDJSON a line per row and json_extract.
    let db = dir.join("banners.sqlite");
    let out = sqlite(
        &db,
        &format!(
            "CREATE TABLE results {CSV_TABLE};\n\
             .import --csv --skip 1 {} results\n.mode list\n.separator \"\\037\"\n\
             SELECT ip, port, banner, cert_subject, product FROM results ORDER BY port, ip;\n",
            csv.display()
        ),
    );
    check_rows("SQLite from CSV", &out, &want);
    let out = sqlite(
        &db,
        &format!(
            "CREATE TABLE raw (doc TEXT);\n.mode ascii\n.separator \"\\037\" \"\\n\"\n.import {} raw\n\
             .mode list\n.separator \"\\037\"\n\
             SELECT json_extract(doc,'$.ip'), json_extract(doc,'$.port'), coalesce(json_extract(doc,'$.banner'), ''), \
             coalesce(json_extract(doc,'$.cert_subject'), ''), coalesce(json_extract(doc,'$.product'), '') \
             FROM raw ORDER BY json_extract(doc,'$.port'), json_extract(doc,'$.ip');\n",
            ndjson.display()
        ),
    );
    check_rows("SQLite from NDJSON", &out, &want);
    std::fs::remove_dir_all(dir).unwrap();
}
