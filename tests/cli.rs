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
    // A service probe database with a pattern that never ends.
    let probes_file = dir.join("probes");
    std::fs::write(
        &probes_file,
        "Probe TCP NULL q||\nmatch ftp m|^220|\nmatch broken m|abc\n",
    )
    .unwrap();
    let probes = probes_file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["198.18.0.0/33", "-p", "80"], r#"synsweep: target: bad target "198.18.0.0/33": prefix length "33" is not a number 0-32"#.into()),
        (vec!["198.18.0.300", "-p", "80"], r#"synsweep: target: bad target "198.18.0.300": "198.18.0.300" is not an IPv4 or IPv6 address"#.into()),
        (vec!["198.18.0.9-198.18.0.1", "-p", "80"], "range starts at 198.18.0.9 after it ends at 198.18.0.1".into()),
        (vec!["198.18.0.0/24", "-p", "80-70"], r#"synsweep: --ports: bad port list "80-70": range starts at 80 after it ends at 70"#.into()),
        (vec!["198.18.0.0/24", "-p", "99999"], r#"--ports: bad port list "99999""#.into()),
        (vec!["198.18.0.0/24", "-p", "80", "--exclude", "x"], r#"--exclude: bad target "x""#.into()),
        (vec!["-iL", f, "-p", "80"], format!(r#"synsweep: {f}:4: bad target "198.18.1.0/33""#)),
        (vec!["198.18.0.0/24", "-p", "80", "--excludefile", "/nonexistent"], "synsweep: cannot read /nonexistent: No such file or directory".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--rate", "fast"], r#"--rate: "fast" is not a rate"#.into()),
        (vec!["-p", "80"], "synsweep: no targets given".into()),
        (vec!["198.18.0.0/24"], "synsweep: no ports given".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--banners", "--hello", "gopher:80"], r#"synsweep: --hello: "gopher" is not a hello: give http, tls"#.into()),
        (vec!["198.18.0.0/24", "-p", "80", "-sV", "--hello", "http:99999"], r#"synsweep: --hello: "99999" is not a port"#.into()),
        (vec!["198.18.0.0/24", "-p", "80", "--hello", "http:80"], "synsweep: --hello belongs to banner mode: add --banners (-sV)".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--banners", "-sF"], "synsweep: --banners: banner sessions start from SYN-ACKs".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--banners", "--banner-bytes", "0"], "synsweep: --banner-bytes: 0 is out of range: give 1-1048576".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--banners", "--service-probes", "/nonexistent"], "synsweep: --service-probes: /nonexistent: No such file".into()),
        (vec!["198.18.0.0/24", "-p", "80", "--banners", "--service-probes", probes], format!("synsweep: --service-probes: {probes}:3: unterminated pattern: m|abc")),
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
    // A connect scan starts each probe once, in the same order; its
    // retries follow timeouts, so they are not listed.
    let c = list(&[
        "198.18.0.0/28",
        "-p",
        "80,443",
        "--retries",
        "2",
        "--seed",
        "1",
        "--connect",
    ]);
    assert_eq!(c.len(), 32);
    assert_eq!(c[..], r[..32]);
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

/// `ip port` lines of a listing, as a set; fails on repeats within it.
fn probe_set(lines: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in lines {
        *m.entry(l.clone()).or_insert(0) += 1;
    }
    m
}

#[test]
fn shards_are_disjoint_and_cover_every_probe_with_exclusions_and_retries() {
    let base = [
        "198.18.0.0/22",
        "198.18.9.7",
        "-p",
        "22,80,443,1000-1009",
        "--exclude",
        "198.18.1.0/26,198.18.2.77",
        "--retries",
        "2",
        "--seed",
        "11",
    ];
    let whole = probe_set(&list(&base));
    assert!(
        whole.values().all(|&n| n == 3),
        "each probe three times (retries 2)"
    );
    for n in [1u32, 2, 3, 7] {
        let mut union = std::collections::BTreeMap::new();
        for i in 1..=n {
            let mut args = base.to_vec();
            let shard = format!("{i}/{n}");
            args.extend(["--shard", &shard]);
            let part = probe_set(&list(&args));
            assert!(!part.is_empty(), "shard {shard} is empty");
            for (probe, count) in part {
                assert_eq!(count, 3, "shard {shard}: {probe} not sent 3 times");
                assert!(
                    union.insert(probe.clone(), count).is_none(),
                    "{probe} in two shards of {n}"
                );
            }
        }
        assert_eq!(union, whole, "{n} shards do not add up to the whole");
    }
}

#[test]
fn bad_shard_specs_are_refused_by_name() {
    for (spec, want) in [
        (
            "0/3",
            r#"--shard: "0/3" counts from 0, but shards count from 1"#,
        ),
        ("4/3", r#"--shard: "4/3" names shard 4 of only 3"#),
        ("x/y", r#"--shard: "x/y" is not I/N"#),
        ("3", r#"--shard: "3" is not I/N"#),
        ("1/0", r#"--shard: "1/0" has no shards (N is 0)"#),
    ] {
        let o = run(synsweep().args([
            "198.18.0.0/24",
            "-p",
            "80",
            "--seed",
            "1",
            "--list-probes",
            "--shard",
            spec,
        ]));
        assert_eq!(o.status.code(), Some(2), "{spec}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains(want) && e.contains("give I/N with 1 <= I <= N"),
            "{spec}: {e}"
        );
    }
    let o = run(synsweep().args([
        "198.18.0.0/24",
        "-p",
        "80",
        "--list-probes",
        "--shard",
        "1/2",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--shard needs --seed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_files_and_echo_round_trip() {
    let dir = temp_dir("conf");
    let conf = dir.join("scan.conf");
    let targets = dir.join("t.txt");
    std::fs::write(&targets, "198.18.5.0/30\n").unwrap();
    std::fs::write(
        &conf,
        format!(
            "# a lab sweep\nrange = 198.18.4.0/24\nports = 80,22, 443\nexclude = 198.18.4.128/25\nseed = 5\nretries = 1\nrate = 2500\nshow = open,closed\nformat = csv\ninclude-file = {}\nno-default-excludes = false\n",
            targets.display()
        ),
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    // The file's options are the scan's: same probes as the command line.
    let from_file = list(&["-c", c]);
    let from_args = list(&[
        "198.18.4.0/24",
        "198.18.5.0/30",
        "-p",
        "22,80,443",
        "--exclude",
        "198.18.4.128/25",
        "--seed",
        "5",
        "--retries",
        "1",
        "--rate",
        "2500",
    ]);
    assert_eq!(from_file, from_args);
    // Later options override the file's.
    let o = run(synsweep().args(["-c", c, "--rate", "7000", "--echo"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let echo = stdout(&o);
    // A file stays a file: a hit list of millions is not copied into
    // every checkpoint.
    let include = format!("include-file = {}", targets.display());
    for line in [
        "range = 198.18.4.0/24",
        include.as_str(),
        "ports = 22,80,443",
        "exclude = 198.18.4.128/25",
        "seed = 5",
        "retries = 1",
        "rate = 7000",
        "show = open,closed",
        "format = csv",
    ] {
        assert!(
            echo.lines().any(|l| l == line),
            "{line:?} missing from:\n{echo}"
        );
    }
    // What --echo prints reads back to the same configuration.
    let echoed = dir.join("echoed.conf");
    std::fs::write(&echoed, &echo).unwrap();
    let again = stdout(&run(synsweep().args([
        "-c",
        echoed.to_str().unwrap(),
        "--echo",
    ])));
    assert_eq!(again, echo);
    assert_eq!(list(&["-c", echoed.to_str().unwrap()]), from_args);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_config_lines_and_checkpoints_are_one_line_errors_and_harm_no_output() {
    let dir = temp_dir("badconf");
    let out = dir.join("results.csv");
    std::fs::write(&out, "precious\n").unwrap();
    let o_arg = out.to_str().unwrap().to_string();
    let conf = dir.join("bad.conf");
    let cp = dir.join("scan.checkpoint");
    let cases: Vec<(String, String)> = vec![
        (
            "range = 198.18.0.0/24\nports 80\n".into(),
            "bad.conf:2: \"ports 80\" is not an option line".into(),
        ),
        (
            "range = 198.18.0.0/24\nports = 80\nspeed = 9\n".into(),
            "bad.conf:3: unknown option \"speed\"".into(),
        ),
        (
            "range = 198.18.0.0/33\nports = 80\n".into(),
            "bad target \"198.18.0.0/33\"".into(),
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&conf, text).unwrap();
        let o = run(synsweep().args(["-c", conf.to_str().unwrap(), "-o", &o_arg]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(&want), "{e}");
    }
    let o = run(synsweep().args(["-c", "/nonexistent/x.conf"]));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/x.conf"),
        "{}",
        stderr(&o)
    );

    // A real checkpoint to damage: make one with --echo's configuration.
    let good = synsweep::checkpoint::Checkpoint {
        config_hash: 1,
        space_digest: 2,
        position: 100,
        sent: 100,
        found: [1, 2, 3, 0, 0, 0, 0],
        config: vec![
            "range = 198.18.0.0/24".into(),
            "ports = 80".into(),
            "seed = 1".into(),
        ],
    }
    .render();
    let checkpoint_cases: Vec<(String, &str)> = vec![
        (good[..good.len() / 2].to_string(), "truncated"),
        (
            good.replace("position = 100", "position = 900"),
            "damaged: the checksum does not match",
        ),
        ("garbage\n".into(), "not a synsweep checkpoint"),
        (String::new(), "not a synsweep checkpoint"),
    ];
    for (text, want) in checkpoint_cases {
        std::fs::write(&cp, text).unwrap();
        let o = run(synsweep().args(["--resume", cp.to_str().unwrap(), "-o", &o_arg]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains(&format!("checkpoint {}: ", cp.display())) && e.contains(want),
            "{want}: {e}"
        );
    }
    // A sound checkpoint of another scan: refused, naming the difference.
    std::fs::write(&cp, good).unwrap();
    let o = run(synsweep().args([
        "--resume",
        cp.to_str().unwrap(),
        "198.18.0.0/24",
        "-p",
        "443",
        "--seed",
        "1",
        "-o",
        &o_arg,
    ]));
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("the checkpoint belongs to a different scan"),
        "{e}"
    );
    let o = run(synsweep().args(["--resume", "/nonexistent.checkpoint"]));
    assert!(
        stderr(&o).contains("checkpoint /nonexistent.checkpoint: cannot read it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    assert!(!dir.join("results.csv.partial").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn offline_runs_do_not_wait_for_replies_that_cannot_come() {
    // The default --wait is 10 s; offline nothing can answer, so the run
    // ends when its last frame is built.
    let started = std::time::Instant::now();
    let o = run(synsweep().args([
        "198.18.0.0/24",
        "2001:2::/120",
        "-p",
        "80",
        "--offline",
        "--rate",
        "max",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("sent      512 of 512 frames"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "an offline run waited {:?}",
        started.elapsed()
    );
    let o = run(synsweep().args(["198.18.0.0/24", "-p", "80", "--offline", "--echo"]));
    assert!(
        stdout(&o).lines().any(|l| l == "wait = 0"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn list_probes_walks_both_families_once() {
    let lines = list(&[
        "2001:2::1000/124",
        "198.18.0.0/28",
        "2001:2::1",
        "-p",
        "22,80",
        "--seed",
        "3",
    ]);
    assert_eq!(lines.len(), (16 + 16 + 1) * 2);
    let set = probe_set(&lines);
    assert_eq!(set.len(), lines.len());
    assert!(set.contains_key("2001:2::100f 80") && set.contains_key("198.18.0.15 22"));
    assert!(set.contains_key("2001:2::1 22"));
    // IPv6 exclusions, on the command line and from a file.
    let dir = temp_dir("list6");
    let ex = dir.join("ex6.txt");
    std::fs::write(&ex, "# tail of the block\n2001:2::1008-2001:2::100f\n").unwrap();
    let kept = list(&[
        "2001:2::1000/124",
        "-p",
        "80",
        "--exclude",
        "2001:2::1000/126",
        "--excludefile",
        ex.to_str().unwrap(),
    ]);
    let mut kept: Vec<&str> = kept.iter().map(|l| l.split(' ').next().unwrap()).collect();
    kept.sort_unstable();
    assert_eq!(
        kept,
        [
            "2001:2::1004",
            "2001:2::1005",
            "2001:2::1006",
            "2001:2::1007"
        ]
    );
    std::fs::remove_dir_all(dir).unwrap();
    // Interleaved, not one family after the other.
    let first_half_v6 = lines[..33].iter().filter(|l| l.contains(':')).count();
    assert!((8..=26).contains(&first_half_v6), "{first_half_v6} of 33");
}

/// The README's first two commands, as a fresh root-only Debian machine
/// runs them: no `sudo` in front (it is not installed there), and the
/// scripts themselves know to use sudo when a user runs them.
#[test]
fn readme_commands_work_without_sudo_and_scripts_use_it_only_when_needed() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands, ["scripts/demo.sh", "scripts/test.sh"], "{block}");
    for script in ["scripts/demo.sh", "scripts/test.sh"] {
        let text = std::fs::read_to_string(repo_root().join(script)).unwrap();
        assert!(text.contains("source scripts/common.sh"), "{script}");
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("sudo ")),
            "{script}"
        );
    }
    // Neither root nor sudo: a one-line reason, not "sudo: command not
    // found". (Where sudo is installed the script would rightly use it.)
    if is_root() && !std::path::Path::new("/usr/bin/sudo").exists() {
        let o = run(std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["env", "PATH=/usr/bin:/bin", "bash", "scripts/demo.sh"])
            .current_dir(repo_root()));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with("demo.sh: needs root") && e.contains("install sudo"),
            "{e}"
        );
    }
}

/// `--source-ip` ranges, blocks and lists, and `--source-mac`: a bad one is
/// one line naming it, exit 2, and no output file is touched.
#[test]
fn bad_source_addresses_and_macs_are_one_line_naming_them() {
    let dir = temp_dir("badsources");
    let out = dir.join("results.txt");
    std::fs::write(&out, "precious\n").unwrap();
    let cases: [(&[&str], &str); 9] = [
        (
            &["--source-ip", "198.19.255.9-198.19.255.1"],
            r#"synsweep: --source-ip: "198.19.255.9-198.19.255.1" runs backwards: give the lower address first"#,
        ),
        (
            &["--source-ip", "198.19.255.1-2001:2::1"],
            r#"synsweep: --source-ip: "198.19.255.1-2001:2::1" is not a source address: give an address, a range a-b, a CIDR block or a comma list of them"#,
        ),
        (
            &["--source-ip", "198.19.255.0/33"],
            r#"--source-ip: "198.19.255.0/33" is not a source address"#,
        ),
        (
            &["--source-ip", "198.19.255.1,eth0"],
            r#"--source-ip: "eth0" is not a source address"#,
        ),
        (
            &["--source-ip", "198.19.255.1-"],
            r#"--source-ip: "198.19.255.1-" is not a source address"#,
        ),
        (
            &["--source-ip", "198.19.0.0/23"],
            r#"synsweep: --source-ip: "198.19.0.0/23" makes 512 IPv4 source addresses: give at most 256 per family"#,
        ),
        (
            &[
                "--source-ip",
                "2001:2::/120",
                "--source-ip",
                "2001:2:0:1::1",
            ],
            r#"--source-ip: "2001:2:0:1::1" makes 257 IPv6 source addresses: give at most 256 per family"#,
        ),
        (
            &["--source-mac", "02:53:53:57:0d"],
            r#"synsweep: --source-mac: "02:53:53:57:0d" is not a MAC address (e.g. 02:00:5e:10:00:01)"#,
        ),
        (
            &["--banners", "--source-ip", "198.19.255.116/30"],
            "synsweep: --banners: give --source-ip one address per family",
        ),
    ];
    for (extra, want) in cases {
        let o = run(synsweep()
            .args(["198.18.0.0/24", "-p", "80"])
            .args(extra)
            .args(["-o", out.to_str().unwrap()]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{extra:?}: {e}");
        assert!(e.contains(want), "{extra:?}: {e}");
        assert!(o.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    }
    // The good forms are taken, and the effective configuration gives
    // them back merged.
    let o = run(synsweep().args([
        "198.18.0.0/24",
        "2001:2::/120",
        "-p",
        "80",
        "--offline",
        "--source-ip",
        "198.19.255.118-198.19.255.119,198.19.255.116/31",
        "--source-ip",
        "2001:2:0:ff0d::5000",
        "--source-mac",
        "02:53:53:57:0d:99",
        "--echo",
    ]));
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        text.contains(
            "source-ip = 198.19.255.116-198.19.255.119\nsource-ip = 2001:2:0:ff0d::5000\n"
        ),
        "{text}"
    );
    assert!(text.contains("source-mac = 02:53:53:57:0d:99\n"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Packet shaping's bad values: one line naming the option and what it
/// accepts, exit 2, the output untouched.
#[test]
fn bad_shaping_values_are_one_line_exit_2() {
    let dir = temp_dir("badshaping");
    let out = dir.join("results.txt");
    std::fs::write(&out, "precious\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--mtu", "0"],
            r#"synsweep: --mtu: "0" is not a fragment size: give a multiple of 8 from 8 to 1480"#,
        ),
        (
            &["--mtu", "12"],
            r#"synsweep: --mtu: "12" is not a fragment size: give a multiple of 8"#,
        ),
        (
            &["--mtu", "junk"],
            r#"synsweep: --mtu: "junk" is not a fragment size"#,
        ),
        (
            &["--mtu", "1488"],
            r#"synsweep: --mtu: "1488" is not a fragment size"#,
        ),
        (
            &["--data-length", "1401"],
            "synsweep: --data-length: 1401 is out of range: give 0-1400",
        ),
        (&["--data-length", "-3"], "unexpected argument '-3'"),
        (
            &["-f", "--banners"],
            "synsweep: -f/--mtu: banner mode's sessions are not fragmented",
        ),
        (
            &["--mtu", "16", "-sV"],
            "synsweep: -f/--mtu: banner mode's sessions are not fragmented",
        ),
        (&["-f", "--mtu", "16"], "--mtu"),
        (
            &["-ff", "2001:2::1"],
            "synsweep: -f/--mtu fragment IPv4 only",
        ),
    ];
    for (extra, want) in cases {
        let o = run(synsweep()
            .args(["198.18.0.0/24", "-p", "80"])
            .args(*extra)
            .args(["-o", out.to_str().unwrap()]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{extra:?}: {e}");
        assert!(e.contains(want), "{extra:?}: {e}");
        assert!(o.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// `-f` counts (`-ff` is 16 bytes), is written back as `--mtu`, and the
/// shaping options leave the probe list alone.
#[test]
fn shaping_options_echo_back_and_keep_the_probe_list() {
    let echo = |extra: &[&str]| {
        let o = run(synsweep()
            .args(["198.18.0.0/24", "-p", "80", "--seed", "7", "--echo"])
            .args(extra));
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        stdout(&o)
    };
    assert!(echo(&["-f"]).lines().any(|l| l == "mtu = 8"));
    assert!(echo(&["-ff"]).lines().any(|l| l == "mtu = 16"));
    assert!(echo(&["-f", "-f"]).lines().any(|l| l == "mtu = 16"));
    let e = echo(&["--mtu", "24", "--data-length", "30", "--badsum"]);
    for line in ["mtu = 24", "data-length = 30", "badsum = true"] {
        assert!(e.lines().any(|l| l == line), "{line}: {e}");
    }
    assert!(!echo(&[]).contains("mtu"));
    let plain = list(&["198.18.0.0/24", "-p", "22,80", "--seed", "3"]);
    let shaped = list(&[
        "198.18.0.0/24",
        "-p",
        "22,80",
        "--seed",
        "3",
        "-ff",
        "--data-length",
        "9",
        "--badsum",
    ]);
    assert_eq!(plain, shaped);
    assert_eq!(plain.len(), 512);
}

/// `--os-hints` reads SYN-ACKs: any scan that draws none is refused in one
/// line, exit 2, the output left alone; a SYN scan (with UDP beside it, or
/// banner mode) takes it.
#[test]
fn os_hints_need_a_syn_scan() {
    let dir = temp_dir("oshints");
    let out = dir.join("results.txt");
    std::fs::write(&out, "precious\n").unwrap();
    let want = "synsweep: --os-hints: hints are read from SYN-ACKs: use the SYN scan (-sS, the default), without --ping or --scanflags";
    for extra in [
        &["-p", "80", "-sA"][..],
        &["-p", "80", "-sF"],
        &["-p", "80", "-sU"],
        &["-p", "80", "--scanflags", "SYNFIN"],
        &["-sn"],
    ] {
        let o = run(synsweep()
            .args(["198.18.0.0/24", "--os-hints"])
            .args(extra)
            .args(["-o", out.to_str().unwrap()]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {e}");
        assert_eq!(e.trim_end(), want, "{extra:?}");
        assert!(o.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
        assert!(!dir.join("results.txt.partial").exists());
    }
    for extra in [&["-sS"][..], &["-sS", "-sU"], &["-sV"], &["-PE"]] {
        let o = run(synsweep()
            .args(["198.18.0.0/24", "-p", "80", "--os-hints", "--echo"])
            .args(extra));
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        assert!(
            stdout(&o).lines().any(|l| l == "os-hints = true"),
            "{extra:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Connect mode's own options: bad values and misplaced ones are one line,
/// exit 2, the output file untouched.
#[test]
fn connect_mode_bad_input_is_one_line_exit_2() {
    let dir = temp_dir("connect-badinput");
    let out = dir.join("results.txt");
    std::fs::write(&out, "precious\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-sT", "--max-inflight", "0"],
            "synsweep: --max-inflight: 0 is out of range: give 1-16777216",
        ),
        (
            vec!["--connect", "--max-inflight", "lots"],
            r#"synsweep: --max-inflight: "lots" is not a number"#,
        ),
        (
            vec!["--connect", "--max-inflight=-5"],
            r#"synsweep: --max-inflight: "-5" is not a number"#,
        ),
        (
            vec!["--max-inflight", "100"],
            "synsweep: --max-inflight belongs to connect mode: add --connect (-sT)",
        ),
        (
            vec!["-sT", "-sU"],
            "synsweep: --connect: a connect scan is a TCP scan of its own (-sT): leave out --scan udp",
        ),
        (
            vec!["-sT", "--scanflags", "SYNFIN"],
            "synsweep: --connect: a connect scan is a TCP scan of its own",
        ),
        (
            vec!["-sT", "--ping-first", "-PE"],
            "synsweep: --connect: connect mode scans ports only",
        ),
        (
            vec!["-sT", "--router-mac", "02:00:5e:10:00:01"],
            "synsweep: --connect: --router-mac shapes raw frames",
        ),
        (
            vec!["-sT", "--offline"],
            "synsweep: --connect: --offline shapes raw frames",
        ),
        (
            vec!["-sT", "-f"],
            "synsweep: --connect: --fragment shapes raw frames",
        ),
        (
            vec!["-sT", "--mtu", "16"],
            "synsweep: --connect: --mtu shapes raw frames",
        ),
        (
            vec!["-sT", "--badsum"],
            "synsweep: --connect: --badsum shapes raw frames",
        ),
        (
            vec!["-sT", "--data-length", "8"],
            "synsweep: --connect: --data-length shapes raw frames",
        ),
        (
            vec!["-sT", "--source-mac", "02:00:5e:10:00:01"],
            "synsweep: --connect: --source-mac shapes raw frames",
        ),
        (
            vec!["-sT", "--os-hints"],
            "synsweep: --connect: --os-hints reads the SYN-ACK's fields",
        ),
    ];
    for (args, want) in cases {
        let o = run(synsweep()
            .args(["198.18.0.0/24", "-p", "80"])
            .args(&args)
            .args(["-o", out.to_str().unwrap()]));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.starts_with(want), "{args:?}: {e}");
        assert!(o.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
        assert!(!dir.join("results.txt.partial").exists());
    }
    // -sT is --connect: the same effective configuration.
    let echo = |flag: &str| {
        let o = run(synsweep().args(["198.18.0.0/24", "-p", "80", flag, "--echo"]));
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(echo("-sT").contains("connect = true"));
    assert_eq!(echo("-sT"), echo("--connect"));
    std::fs::remove_dir_all(dir).unwrap();
}
