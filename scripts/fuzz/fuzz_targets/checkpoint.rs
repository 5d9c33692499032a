//! Checkpoint files: `Checkpoint::parse`, then `render`.
//!
//! The input is read twice: as it is, and "re-sealed", that is with a
//! checksum line over it appended (the one `render` writes), so that
//! mutated bodies get past the checksum into the field parser. Whenever a
//! parse succeeds:
//!
//! - `render` then `parse` gives the same `Checkpoint`, and rendering
//!   that again gives the same text;
//! - a text cut anywhere inside its checksum line (after its first byte,
//!   before its final newline) is refused.
//!
//! The input also becomes checkpoints of its own, whose configuration
//! lines are `output = ` and each NUL-separated piece of the input (a
//! saved configuration holds the user's file names):
//!
//! - written as the scanner writes them (`conffile::render_value`), the
//!   checkpoint renders and parses back to itself, and its configuration
//!   read the way `--resume` reads it (`conffile::to_args`) gives back
//!   every piece;
//! - written raw, it parses back to itself when no line holds a carriage
//!   return (and is refused when one does: no checkpoint holds one). Raw
//!   lines holding a newline are not checked: they are no one line.
//!
//! The re-sealing key is the scanner's; start-up checks it against a
//! checkpoint `render` wrote, so a change of key fails loudly here.

#![no_main]

use libfuzzer_sys::fuzz_target;
use siphasher::sip::SipHasher24;
use std::path::Path;
use std::sync::Once;
use synsweep::checkpoint::Checkpoint;
use synsweep::cli;
use synsweep::conffile;

const CHECKSUM_KEY: (u64, u64) = (0x7379_6e73_7765_6570, 0x6368_6563_6b70_7431);

fn checksum(text: &str) -> u64 {
    SipHasher24::new_with_keys(CHECKSUM_KEY.0, CHECKSUM_KEY.1).hash(text.as_bytes())
}

static KEY_CHECKED: Once = Once::new();

fn check_key() {
    KEY_CHECKED.call_once(|| {
        let cp = Checkpoint {
            config_hash: 1,
            space_digest: 2,
            position: 3,
            sent: 4,
            found: [5, 6, 7, 8, 9, 10, 11],
            config: vec!["range = 198.18.112.0/20".into()],
        };
        let text = cp.render();
        let (body, last) = text[..text.len() - 1].rsplit_once('\n').unwrap();
        assert_eq!(
            last,
            format!("checksum = {:016x}", checksum(&format!("{body}\n"))),
            "the scanner's checksum key changed: update CHECKSUM_KEY here"
        );
    });
}

fuzz_target!(|data: &[u8]| {
    check_key();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.checkpoint");
    one(text, path);
    let mut body = text.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let sealed = format!("{body}checksum = {:016x}\n", checksum(&body));
    one(&sealed, path);
    rendered(text, path);
});

/// Checkpoints made from the input, rendered and parsed back.
fn rendered(text: &str, path: &Path) {
    let h = checksum(text);
    let pieces: Vec<&str> = text.split('\0').collect();
    let mut cp = Checkpoint {
        config_hash: h,
        space_digest: h.rotate_left(17),
        position: h >> 3,
        sent: text.len() as u64,
        found: [h & 0xff, h >> 60, 0, 1, u64::MAX, h, h >> 32],
        config: pieces
            .iter()
            .map(|v| format!("output = {}", conffile::render_value(v)))
            .collect(),
    };
    // As the scanner writes them: back whole, and so are the values.
    let rendered = cp.render();
    let again = Checkpoint::parse(&rendered, path)
        .unwrap_or_else(|e| panic!("a rendered checkpoint does not parse: {e}\n{rendered:?}"));
    assert_eq!(again, cp, "{rendered:?}");
    if pieces.iter().all(|v| !v.is_empty()) {
        let args = conffile::to_args(&again.config.join("\n"), path, &cli::option_kind)
            .unwrap_or_else(|e| panic!("the saved configuration does not read back: {e}"));
        let want: Vec<String> = pieces.iter().map(|v| format!("--output={v}")).collect();
        assert_eq!(args, want);
    }
    // Raw.
    cp.config = pieces.iter().map(|v| format!("output = {v}")).collect();
    if cp.config.iter().any(|l| l.contains('\n')) {
        return;
    }
    let rendered = cp.render();
    let again = Checkpoint::parse(&rendered, path);
    if cp.config.iter().any(|l| l.contains('\r')) {
        assert!(
            again.is_err(),
            "a carriage return was accepted: {rendered:?}"
        );
    } else {
        let again = again
            .unwrap_or_else(|e| panic!("a rendered checkpoint does not parse: {e}\n{rendered:?}"));
        assert_eq!(again, cp, "{rendered:?}");
    }
}

fn one(text: &str, path: &Path) {
    let cp = match Checkpoint::parse(text, path) {
        Ok(cp) => cp,
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("checkpoint fuzz.checkpoint: "), "{shown}");
            return;
        }
    };
    assert!(!cp.config.is_empty());
    assert!(
        !cp.config.iter().any(|l| l.contains(['\r', '\n'])),
        "{cp:?}"
    );
    let rendered = cp.render();
    let again = Checkpoint::parse(&rendered, path)
        .unwrap_or_else(|e| panic!("its own rendering does not parse: {e}\n{rendered}"));
    assert_eq!(
        again, cp,
        "parse(render(parse(text))) differs\n{text:?}\n{rendered:?}"
    );
    assert_eq!(again.render(), rendered);
    // Cut inside the checksum line: never accepted. (Cut just before it,
    // the text may well be another valid checkpoint: a configuration line
    // may itself read "checksum = ..." and be right about what precedes it.)
    let last_start = rendered[..rendered.len() - 1].rfind('\n').unwrap() + 1;
    for cut in last_start + 1..rendered.len() - 1 {
        assert!(
            Checkpoint::parse(&rendered[..cut], path).is_err(),
            "accepted cut at {cut}: {:?}",
            &rendered[..cut]
        );
    }
}
