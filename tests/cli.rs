//! The command line without privilege or network: bad input gives one line
//! and exit code 2 and never touches an output file; --list-probes shows
//! what a scan would send.

mod common;

use common::*;
use std::collections::BTreeSet;

fn list(args: &[&str]) -> Vec<String> {
    let o = run(synsweep().arg("--list-probes").args(args));
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o).lines().map(str::to_string).collect()
}

#[test]
fn bad_input_is_one_line_exit_2_and_leaves_output_alone() {
    let dir = temp_dir("badinput");
    let out = dir.join("results.txt");
    std::fs::write(&out, "precious\n").unwrap();
    let file = dir.join("targets.txt");
    std::fs::write(&file, "# lab\n198.18.0.1\n\n198.18.0.0/24 198.18.1.0/33\n").unwrap();
    let f = file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["198.18.0.0/33", "-p", "80"], r#"synsweep: target: bad target "198.18.0.0/33": prefix length "33" is not a number 0-32"#.into()),
        (vec!["198.18.0.300", "-p", "80"], r#"synsweep: target: bad target "198.18.0.300": "198.18.0.300" is not an IPv4 address"#.into()),
        (vec!["198.18.0.9-198.18.0.1", "-p", "80"], "range starts at 198.18.0.9 after it ends at 198.18.0.1".into()),
        (vec!["198.18.0.0/24", "-p", "80-70"], r#"synsweep: --ports: bad port list "80-70": range starts at 80 after it ends at 70"#.into()),
        (vec!["198.18.0.0/24", "-p", "99999"], r#"--ports: bad port list "99999""#.into()),
        (vec!["198.18.0.0/24", "-p", "80", "--exclude", "x"], r#"--exclude: bad target "x""#.into()),
        (vec!["-iL", f, "-p", "80"], format!(r#"synsweep: {f}:4: bad target "198.18.1.0/33""#)),
        (vec!["198.18.0.0/24", "-p", "80", "--excludefile", "/nonexistent"], "synsweep: cannot read /nonexistent: No such file or directory".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--rate", "fast"], r#"--rate: "fast" is not a rate"#.into()),
        (vec!["-p", "80"], "synsweep: no targets given".into()),
        (vec!["198.18.0.0/24"], "synsweep: no ports given".into()),
    ];
    for (args, want) in cases {
        let o = run(synsweep().args(&args).args(["-o", out.to_str().unwrap()]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains(&want), "{args:?}: {e}");
        assert!(o.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
        assert!(!dir.join("results.txt.partial").exists());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn list_probes_covers_every_probe_once_in_seeded_order() {
    let a = list(&[
        "198.18.4.0/22",
        "198.18.4.7",
        "-p",
        "22,80,8000-8003",
        "--seed",
        "9",
    ]);
    assert_eq!(a.len(), 1024 * 6);
    let unique: BTreeSet<&String> = a.iter().collect();
    assert_eq!(unique.len(), a.len());
    assert!(a.contains(&"198.18.7.255 8003".to_string()));
    // Same seed, same order; another seed, another order; same set.
    assert_eq!(
        a,
        list(&["198.18.4.0/22", "-p", "22,80,8000-8003", "--seed", "9"])
    );
    let b = list(&["198.18.4.0/22", "-p", "22,80,8000-8003", "--seed", "10"]);
    assert_ne!(a, b);
    assert_eq!(unique, b.iter().collect());
    // Not sequential: the first 64 probes touch many hosts and every port.
    let hosts: BTreeSet<&str> = a[..64]
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let ports: BTreeSet<&str> = a[..64]
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert!(hosts.len() > 50 && ports.len() == 6, "{hosts:?} {ports:?}");
}

#[test]
fn list_probes_shows_exclusions_reserved_blocks_and_retries() {
    let dir = temp_dir("listx");
    let ex = dir.join("exclude.txt");
    std::fs::write(
        &ex,
        "# skip these\n198.18.4.0/25\n198.18.4.200-198.18.4.255 # tail\n",
    )
    .unwrap();
    let lines = list(&[
        "198.18.4.0/24",
        "-p",
        "80",
        "--excludefile",
        ex.to_str().unwrap(),
        "--exclude",
        "198.18.4.128",
    ]);
    let ips: BTreeSet<u32> = lines
        .iter()
        .map(|l| {
            l.split(' ')
                .next()
                .unwrap()
                .rsplit('.')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(ips, (129..200).collect());

    // A wide target loses the reserved blocks inside it; named, one is kept.
    let wide = list(&["198.16.0.0/14", "-p", "1"]);
    assert_eq!(wide.len(), (1 << 18) - (1 << 17));
    assert!(
        !wide
            .iter()
            .any(|l| l.starts_with("198.18.") || l.starts_with("198.19."))
    );
    assert_eq!(list(&["198.18.0.0/16", "-p", "1"]).len(), 1 << 16);
    assert_eq!(
        list(&["198.16.0.0/14", "-p", "1", "--no-default-excludes"]).len(),
        1 << 18
    );

    // Retries repeat each probe, later in the order.
    let r = list(&[
        "198.18.0.0/28",
        "-p",
        "80,443",
        "--retries",
        "2",
        "--seed",
        "1",
    ]);
    assert_eq!(r.len(), 16 * 2 * 3);
    let unique: BTreeSet<&String> = r.iter().collect();
    assert_eq!(unique.len(), 32);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn list_probes_into_a_closed_pipe_is_a_quiet_end() {
    let mut child = synsweep()
        .args(["--list-probes", "198.18.0.0/16", "-p", "1-100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn help_lists_the_flags() {
    let o = run(synsweep().arg("--help"));
    assert!(o.status.success());
    let h = stdout(&o);
    for flag in [
        "--ports",
        "--rate",
        "--seed",
        "--retries",
        "--wait",
        "--show",
        "--format",
        "--exclude",
        "--excludefile",
        "--list-probes",
        "--interface",
        "--source-ip",
        "--router-mac",
    ] {
        assert!(h.contains(flag), "{flag} missing from --help");
    }
}
