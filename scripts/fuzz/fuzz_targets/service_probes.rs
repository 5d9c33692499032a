//! `ServiceDb::parse`: the reader of nmap-service-probes files
//! (`--service-probes FILE`, nmap's own file by default), on any text.
//!
//! Input: the bytes, as UTF-8 (lossily: `ServiceDb::load` refuses a file
//! that is not UTF-8 before parsing it).
//!
//! Asserted: `parse` returns, never panics. An error is one line (no `\n`)
//! that starts with the origin and a line number of the text
//! (`fuzz:LINE: ...`). A database it accepts is used: every regex is
//! compiled (`compile_all`, PCRE2 refusals counted, not fatal), and the
//! input's own bytes, as a greeting and as the reply to each hello, are
//! identified, through `ServiceDb::identify` and through an `Identifier`
//! holding the database, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use synsweep::service::Findings;
use synsweep::service::hello::Hello;
use synsweep::service::identify::Identifier;
use synsweep::service::probes::ServiceDb;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let db = match ServiceDb::parse(&text, "fuzz") {
        Ok(db) => db,
        Err(e) => {
            assert!(!e.contains('\n'), "an error of several lines: {e:?}");
            let line = e
                .strip_prefix("fuzz:")
                .and_then(|r| r.split_once(':'))
                .and_then(|(n, _)| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("an error without fuzz:LINE: {e:?}"));
            let lines = text.lines().count();
            assert!(
                (1..=lines).contains(&line),
                "line {line} of a text of {lines}: {e:?}"
            );
            return;
        }
    };
    let _ = db.compile_all();
    let _ = db.regex_errors();
    let db = Arc::new(db);
    let identifier = Identifier::new(Some(Arc::clone(&db)));
    // The bytes as a greeting (NULL probe), then as each hello's reply.
    let hellos = std::iter::once(None).chain(Hello::ALL.into_iter().map(Some));
    for (i, hello) in hellos.enumerate() {
        let f = Findings {
            greeting: if i == 0 { data.to_vec() } else { Vec::new() },
            reply: if i == 0 { Vec::new() } else { data.to_vec() },
            hello,
            tls: None,
        };
        let _ = db.identify(&f);
        let _ = identifier.identify(&f);
    }
});
