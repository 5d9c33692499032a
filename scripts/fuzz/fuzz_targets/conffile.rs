//! Configuration files and the whole command line.
//!
//! The input is UTF-8 text. `conffile::to_args` reads all of it as a
//! configuration file; every argument it makes is spelled as the option
//! table says. Then `cli::parse` gets an argument vector: the input up to
//! its first blank line, split on NUL and newline. What follows the blank
//! line, if anything, is written to `fuzz.conf` and read with
//! `-c fuzz.conf` ahead of the arguments (unless they hold `--resume`);
//! when that file alone makes a scan configuration, a checkpoint of it is
//! written to `fuzz.checkpoint` (by the real `Checkpoint::render`), so
//! `--resume fuzz.checkpoint` in the arguments resumes it.
//!
//! When the command line makes a scan, its `--echo` text, read back with
//! `-c`, gives the same effective configuration (the round trip the
//! project promises for `--echo`).
//!
//! Nothing is sent: `cli::parse` only builds a configuration. It does read
//! files named in the input (`-c`, `-iL`, `--excludefile`, `--resume`), so
//! inputs that could name a file elsewhere than the current directory are
//! skipped: every `/` must be followed by a digit (CIDR prefixes) and `..`
//! never appears. The files this target writes live in a directory of its
//! own under the temporary directory; the names `fuzz.conf` and
//! `fuzz.checkpoint` in the input stand for them.
//!
//! Any value written as a configuration line writes it
//! (`conffile::render_value`) reads back as itself (`parse_value`, and a
//! whole `output = ...` line through `parse_entries`), and the written
//! value is one line without control characters.
//!
//! With SYNSWEEP_FUZZ_VERBOSE=1 in the environment, each command line's
//! outcome is printed to standard error ("cli scan", "cli print", "cli
//! error: ..."), to see what a corpus reaches (e.g. with `-runs=0`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use synsweep::checkpoint::Checkpoint;
use synsweep::cli::{self, Command};
use synsweep::conffile::{self, OptionKind};

/// This process's own directory for the files it writes.
static SANDBOX: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("synsweep-fuzz-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the files the target writes");
    dir
});
static CONF: LazyLock<String> = LazyLock::new(|| in_sandbox("fuzz.conf"));
static CHECKPOINT: LazyLock<String> = LazyLock::new(|| in_sandbox("fuzz.checkpoint"));
static ECHO: LazyLock<String> = LazyLock::new(|| in_sandbox("echo.conf"));

fn in_sandbox(name: &str) -> String {
    SANDBOX
        .join(name)
        .to_str()
        .expect("a UTF-8 temporary directory")
        .to_string()
}

/// The input's names for the files written here, made their real paths.
fn real_paths(s: &str) -> String {
    s.replace("fuzz.checkpoint", &CHECKPOINT)
        .replace("fuzz.conf", &CONF)
}

static VERBOSE: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("SYNSWEEP_FUZZ_VERBOSE").is_some_and(|v| v == "1"));

/// Could `text` name a file outside the current directory?
fn escapes(text: &str) -> bool {
    let b = text.as_bytes();
    text.contains("..")
        || b.iter()
            .enumerate()
            .any(|(i, &c)| c == b'/' && !b.get(i + 1).is_some_and(u8::is_ascii_digit))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    config_text(text);
    for v in std::iter::once(text).chain(text.split(['\0', '\n'])) {
        values(v);
    }
    if escapes(text) {
        return;
    }
    let (args_part, conf_part) = match text.split_once("\n\n") {
        Some((a, c)) => (a, Some(c)),
        None => (text, None),
    };
    let mut argv: Vec<OsString> = vec!["synsweep".into()];
    if let Some(conf) = conf_part {
        std::fs::write(&*CONF, real_paths(conf)).expect("write fuzz.conf");
        write_checkpoint(conf);
        // A resume names its configuration itself (or says -c fuzz.conf).
        if !args_part.contains("--resume") {
            argv.extend(["-c".into(), CONF.as_str().into()]);
        }
    } else {
        let _ = std::fs::remove_file(&*CONF);
        let _ = std::fs::remove_file(&*CHECKPOINT);
    }
    argv.extend(
        args_part
            .split(['\0', '\n'])
            .filter(|a| !a.is_empty())
            .map(|a| OsString::from(real_paths(a))),
    );
    command_line(argv);
});

/// `to_args` on the whole text: every argument is an option spelled as
/// the table has it, or a target.
fn config_text(text: &str) {
    let path = Path::new("fuzz.conf");
    let args = match conffile::to_args(text, path, &cli::option_kind) {
        Ok(a) => a,
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with("fuzz.conf:"), "{shown}");
            assert!(e.line >= 1 && e.line <= text.lines().count(), "{e:?}");
            return;
        }
    };
    let entries = conffile::parse_entries(text, path).expect("to_args read it");
    let mut last_line = 0;
    for (_, _, line) in &entries {
        assert!(*line > last_line);
        last_line = *line;
    }
    let is_target = |a: &String| {
        entries.iter().any(|(n, v, _)| {
            v == a && cli::option_kind(n.trim_start_matches("--")) == Some(OptionKind::Target)
        })
    };
    for a in args.iter().filter(|a| !is_target(a)) {
        let opt = a
            .strip_prefix("--")
            .unwrap_or_else(|| panic!("{a:?} is neither an option nor a target of the file"));
        match opt.split_once('=') {
            Some((name, value)) => {
                assert_eq!(cli::option_kind(name), Some(OptionKind::Value), "{a:?}");
                assert!(!value.is_empty(), "{a:?}");
            }
            None => assert_eq!(cli::option_kind(opt), Some(OptionKind::Switch), "{a:?}"),
        }
    }
    assert!(args.len() <= entries.len());
}

/// A value as a configuration line writes it reads back as itself.
fn values(v: &str) {
    let written = conffile::render_value(v);
    assert!(!written.chars().any(char::is_control), "{written:?}");
    assert_eq!(
        conffile::parse_value(&written).as_deref(),
        Ok(v),
        "{written:?}"
    );
    let line = format!("output = {written}");
    let entries = conffile::parse_entries(&line, Path::new("fuzz.conf"))
        .unwrap_or_else(|e| panic!("{line:?} does not read: {e}"));
    assert_eq!(
        entries,
        [("output".to_string(), v.to_string(), 1)],
        "{line:?}"
    );
}

/// When `conf` alone is a scan configuration, a checkpoint of it.
fn write_checkpoint(conf: &str) {
    let _ = std::fs::remove_file(&*CHECKPOINT);
    let Ok(Command::Scan(c)) = cli::parse(["synsweep", "-c", CONF.as_str()].map(OsString::from))
    else {
        return;
    };
    let cp = Checkpoint {
        config_hash: c.identity_hash,
        space_digest: c.space.digest(),
        position: conf.len() as u64 % c.space.size(),
        sent: conf.len() as u64,
        found: [1, 2, 3, 0, 0, 0, 4],
        config: c.effective.clone(),
    };
    std::fs::write(&*CHECKPOINT, cp.render()).expect("write fuzz.checkpoint");
}

fn command_line(argv: Vec<OsString>) {
    let parsed = cli::parse(argv.clone());
    if *VERBOSE {
        match &parsed {
            Ok(Command::Scan(c)) => eprintln!(
                "cli scan{}",
                if c.resume.is_some() { " (resumed)" } else { "" }
            ),
            Ok(Command::Print(_)) => eprintln!("cli print"),
            Err(e) => eprintln!("cli error: {e}"),
        }
    }
    let config = match parsed {
        Ok(Command::Scan(c)) => c,
        Ok(Command::Print(text)) => {
            assert!(!text.is_empty());
            return;
        }
        Err(e) => {
            // One line, naming the problem.
            assert!(!e.0.contains('\n'), "{e:?}");
            assert!(!e.0.is_empty());
            return;
        }
    };
    assert!(config.space.size() >= 1);
    assert!(config.tx_threads >= 1);
    // --echo, read back with -c, is the same configuration. A seed the user
    // did not choose is left out of the echo, so each run draws its own.
    // (First: after a `--`, an `--echo` at the end would be a target.)
    let mut echo_argv = argv;
    echo_argv.insert(1, "--echo".into());
    let text = match cli::parse(echo_argv) {
        Ok(Command::Print(t)) => t,
        other => panic!("--echo of a scan gave {other:?}"),
    };
    std::fs::write(&*ECHO, &text).expect("write echo.conf");
    let again = match cli::parse(["synsweep", "-c", ECHO.as_str()].map(OsString::from)) {
        Ok(Command::Scan(c)) => c,
        Ok(Command::Print(t)) => panic!("the echo read back printed {t:?}"),
        Err(e) => panic!("the echo does not read back: {e}\n{text}"),
    };
    let keep = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| config.seed_given || !l.starts_with("seed = "))
            .cloned()
            .collect()
    };
    assert_eq!(keep(&again.effective), keep(&config.effective), "{text}");
    if config.seed_given {
        assert_eq!(again.identity_hash, config.identity_hash);
    }
    assert_eq!(again.space.digest(), config.space.digest());
}
