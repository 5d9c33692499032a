//! Real scan output into real databases: a lab scan's CSV and NDJSON loaded
//! into PostgreSQL (a private cluster this test starts on a Unix socket and
//! stops) and into SQLite, then queried: the rows and the counts must be
//! exactly what the scan found.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;

type Row = (String, u16, String, String, u16, u64);

/// Rows of a CSV result file.
fn csv_rows(path: &Path) -> BTreeSet<Row> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].into(),
                f[1].parse().unwrap(),
                f[3].into(),
                f[4].into(),
                f[5].parse().unwrap(),
                f[6].parse().unwrap(),
            )
        })
        .collect()
}

/// Rows a query printed as `a|b|c|...` lines.
fn query_rows(text: &str) -> BTreeSet<Row> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 6, "row {l:?}");
            (
                f[0].into(),
                f[1].parse().unwrap(),
                f[2].into(),
                f[3].into(),
                f[4].parse().unwrap(),
                f[5].parse().unwrap(),
            )
        })
        .collect()
}

const SELECT: &str = "SELECT ip, port, state, reason, ttl, ts FROM results ORDER BY ip, port;";

#[test]
fn scan_output_loads_into_postgresql_and_sqlite_row_for_row() {
    if !require_root("scan_output_loads_into_postgresql_and_sqlite_row_for_row") {
        return;
    }
    let lab = Lab::up(10, None);
    let dir = temp_dir("db");
    let (csv, ndjson) = (dir.join("r.csv"), dir.join("r.ndjson"));
    for (path, format) in [(&csv, "csv"), (&ndjson, "ndjson")] {
        let o = run(lab.scan_all("100000", "1").args([
            "--format",
            format,
            "-o",
            path.to_str().unwrap(),
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let want = csv_rows(&csv);
    assert!(want.len() > 100_000, "a real scan: {} rows", want.len());
    assert!(want.iter().any(|r| r.0.contains(':')), "IPv6 rows too");
    // The two formats of the same lab agree (timestamps aside).
    let strip = |rows: &BTreeSet<Row>| {
        rows.iter()
            .map(|r| (r.0.clone(), r.1, r.2.clone(), r.3.clone(), r.4))
            .collect::<BTreeSet<_>>()
    };
    let count_by_state =
        |rows: &BTreeSet<Row>, s: &str| rows.iter().filter(|r| r.2 == s).count().to_string();

    // PostgreSQL: COPY the CSV, and the NDJSON through jsonb.
    let pg = Postgres::start();
    let schema = "CREATE TABLE results (ip inet, port integer, proto text, state text, reason text, ttl smallint, ts bigint, PRIMARY KEY (ip, port));";
    let out = pg.psql(&format!(
        "{schema}\n\\copy results FROM '{}' WITH (FORMAT csv, HEADER true)\nSELECT host(ip), port, state, reason, ttl, ts FROM results ORDER BY ip, port;",
        csv.display()
    ));
    assert!(query_rows(&out) == want, "PostgreSQL rows from CSV differ");
    let counts =
        pg.psql("SELECT state || '=' || count(*) FROM results GROUP BY state ORDER BY state;");
    assert_eq!(
        counts.lines().collect::<Vec<_>>(),
        ["closed", "filtered", "open"].map(|s| format!("{s}={}", count_by_state(&want, s)))
    );
    let out = pg.psql(&format!(
        "CREATE TABLE raw (doc jsonb);\n\\copy raw FROM '{}'\n\
         CREATE TABLE results2 AS SELECT (doc->>'ip')::inet AS ip, (doc->>'port')::int AS port, doc->>'state' AS state, \
         doc->>'reason' AS reason, (doc->>'ttl')::smallint AS ttl, (doc->>'ts')::bigint AS ts FROM raw;\n\
         SELECT host(ip), port, state, reason, ttl, ts FROM results2 ORDER BY ip, port;",
        ndjson.display()
    ));
    let from_json = query_rows(&out);
    assert_eq!(from_json.len(), want.len(), "every NDJSON line loaded once");
    assert!(
        strip(&from_json) == strip(&want),
        "PostgreSQL rows from NDJSON differ"
    );

    // SQLite: the CSV with .import, the NDJSON a line per row and json_extract.
    let db = dir.join("r.sqlite");
    let out = sqlite(
        &db,
        &format!(
            "CREATE TABLE results (ip TEXT, port INTEGER, proto TEXT, state TEXT, reason TEXT, ttl INTEGER, ts INTEGER, PRIMARY KEY (ip, port));\n\
             .import --csv --skip 1 {} results\n.mode list\n{SELECT}\n",
            csv.display()
        ),
    );
    assert!(query_rows(&out) == want, "SQLite rows from CSV differ");
    let out = sqlite(
        &db,
        &format!(
            "CREATE TABLE raw (doc TEXT);\n.mode ascii\n.separator \"\\037\" \"\\n\"\n.import {} raw\n.mode list\n\
             CREATE TABLE results2 AS SELECT json_extract(doc,'$.ip') AS ip, json_extract(doc,'$.port') AS port, \
             json_extract(doc,'$.state') AS state, json_extract(doc,'$.reason') AS reason, json_extract(doc,'$.ttl') AS ttl, \
             json_extract(doc,'$.ts') AS ts FROM raw;\n\
             SELECT ip, port, state, reason, ttl, ts FROM results2 ORDER BY ip, port;\n",
            ndjson.display()
        ),
    );
    let from_json = query_rows(&out);
    assert_eq!(from_json.len(), want.len());
    assert!(
        strip(&from_json) == strip(&want),
        "SQLite rows from NDJSON differ"
    );
    let counts = sqlite(
        &db,
        "SELECT state || '=' || count(*) FROM results GROUP BY state ORDER BY state;",
    );
    assert_eq!(
        counts.lines().collect::<Vec<_>>(),
        ["closed", "filtered", "open"].map(|s| format!("{s}={}", count_by_state(&want, s)))
    );
    // And the lab's truth is what went in.
    let truth = lab.truth_of("all");
    assert_eq!(want.len(), truth.len());
    drop(pg);
    std::fs::remove_dir_all(dir).unwrap();
}
