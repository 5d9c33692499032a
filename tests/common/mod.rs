//! Shared by the integration tests: running the binary, and labs built by
//! scripts/lab.sh that are torn down when the test ends, pass or fail.

#![allow(dead_code)] // each test binary uses its own part of this

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub fn synsweep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synsweep"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn")
}

/// Runs `cmd` with `input` on its standard input.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().expect("output")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("synsweep-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Lab tests need root. Outside CI they skip, loudly; in CI (CI=true) a
/// missing privilege is a failure, never a silent pass.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{test}: lab tests must run as root in CI");
    }
    eprintln!("\n*** SKIPPED {test}: lab tests need root (they build network namespaces) ***\n");
    false
}

/// One lab test at a time: they measure exact results at high rates and
/// share two CPU cores.
static LAB_LOCK: Mutex<()> = Mutex::new(());

pub struct Lab {
    pub id: u32,
    pub info: BTreeMap<String, String>,
    _lock: MutexGuard<'static, ()>,
}

fn lab_script() -> PathBuf {
    repo_root().join("scripts/lab.sh")
}

impl Lab {
    /// Builds lab `id`, optionally with random loss both ways.
    pub fn up(id: u32, loss_percent: Option<u32>) -> Lab {
        Lab::up_with(id, loss_percent, &[])
    }

    /// Builds lab `id` with more `lab.sh up` options (`--services`).
    pub fn up_with(id: u32, loss_percent: Option<u32>, extra: &[&str]) -> Lab {
        let lock = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut cmd = Command::new("bash");
        cmd.arg(lab_script()).args(["up", "--id", &id.to_string()]);
        cmd.args(extra);
        if let Some(l) = loss_percent {
            cmd.args(["--loss", &l.to_string()]);
        }
        // From here on Drop tears the lab down, also if `up` half-failed.
        let mut lab = Lab {
            id,
            info: BTreeMap::new(),
            _lock: lock,
        };
        let o = run(&mut cmd);
        assert!(
            o.status.success(),
            "lab.sh up failed: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let o = run(Command::new("bash")
            .arg(lab_script())
            .args(["info", "--id", &id.to_string()]));
        assert!(o.status.success(), "lab.sh info failed: {}", stderr(&o));
        for line in stdout(&o).lines() {
            if let Some((k, v)) = line.split_once('=') {
                lab.info
                    .insert(k.to_string(), v.trim_matches(['"', '\'']).to_string());
            }
        }
        lab
    }

    pub fn get(&self, key: &str) -> &str {
        self.info
            .get(key)
            .unwrap_or_else(|| panic!("lab.sh info has no {key}: {:?}", self.info))
    }

    pub fn iface(&self) -> &str {
        self.get("LAB_IFACE")
    }

    pub fn block(&self) -> &str {
        self.get("LAB_BLOCK")
    }

    pub fn ports(&self) -> &str {
        self.get("LAB_PORTS")
    }

    pub fn block6(&self) -> &str {
        self.get("LAB_BLOCK6")
    }

    /// The first address of the IPv4 block.
    pub fn base4(&self) -> std::net::Ipv4Addr {
        self.block().split('/').next().unwrap().parse().unwrap()
    }

    /// The first address of the IPv6 block.
    pub fn base6(&self) -> std::net::Ipv6Addr {
        self.block6().split('/').next().unwrap().parse().unwrap()
    }

    /// The lab's IPv4 ground truth of a SYN scan that reports every
    /// state (silences included): (ip, port) -> (state, reason).
    pub fn truth(&self) -> Results {
        self.truth_of("4")
    }

    /// The SYN scan's ground truth of family `4`, `6` or `all`, silences
    /// included (what `--show all` reports); addresses in Rust's spelling
    /// (RFC 5952 for IPv6), as synsweep writes them.
    pub fn truth_of(&self, family: &str) -> Results {
        self.truth_for(&["--family", family, "--silent"])
    }

    /// `lab.sh truth` with `args` (`--scan TYPE`, `--family`, `--silent`,
    /// `--lan`): port lines as (ip, port) -> (state, reason), host lines
    /// ("IP up REASON") as (ip, 0) -> ("up", reason).
    pub fn truth_for(&self, args: &[&str]) -> Results {
        let o = run(Command::new("bash")
            .arg(lab_script())
            .args(["truth", "--id", &self.id.to_string()])
            .args(args));
        assert!(
            o.status.success(),
            "lab.sh truth {args:?} failed: {}",
            stderr(&o)
        );
        let mut t = BTreeMap::new();
        for line in stdout(&o).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (key, value) = match f[..] {
                [ip, "up", reason] => ((canonical_ip(ip), 0), ("up", reason)),
                [ip, port, state, reason] => {
                    ((canonical_ip(ip), port.parse().unwrap()), (state, reason))
                }
                _ => panic!("truth line {line:?}"),
            };
            let prev = t.insert(key, (value.0.to_string(), value.1.to_string()));
            assert!(prev.is_none(), "truth lists {line:?} twice");
        }
        assert!(!t.is_empty(), "lab.sh truth {args:?} is empty");
        t
    }

    /// A scan command aimed at this lab, on its veth and nowhere else.
    pub fn scan(&self) -> Command {
        let mut c = synsweep();
        c.args(["--interface", self.iface()]);
        c
    }

    /// A scan of the whole lab, both families, every port, every state
    /// reported; its truth is `truth_of("all")`.
    pub fn scan_all(&self, rate: &str, wait: &str) -> Command {
        let mut c = self.scan();
        c.args([
            self.block(),
            self.block6(),
            "-p",
            self.ports(),
            "--rate",
            rate,
            "--wait",
            wait,
            "--show",
            "all",
        ]);
        c
    }
}

/// What a lab test starts from: its lab, the lab's truth and a scratch
/// directory. `None` (after a loud notice) when not root outside CI.
pub fn lab_test(
    name: &str,
    lab_id: u32,
    loss_percent: Option<u32>,
) -> Option<(Lab, Results, PathBuf)> {
    if !require_root(name) {
        return None;
    }
    let lab = Lab::up(lab_id, loss_percent);
    let truth = lab.truth();
    Some((lab, truth, temp_dir(name)))
}

/// (ip, port) -> (state, reason)
pub type Results = BTreeMap<(String, u16), (String, String)>;

/// An address as Rust's `IpAddr` writes it.
pub fn canonical_ip(s: &str) -> String {
    s.parse::<std::net::IpAddr>()
        .unwrap_or_else(|_| panic!("not an address: {s:?}"))
        .to_string()
}

impl Drop for Lab {
    fn drop(&mut self) {
        let o = Command::new("bash")
            .arg(lab_script())
            .args(["down", "--id", &self.id.to_string()])
            .output();
        match o {
            Ok(o) if o.status.success() => {}
            other => eprintln!("lab.sh down --id {} failed: {other:?}", self.id),
        }
    }
}

/// Rows of a CSV result file of a TCP scan, header checked: (ip, port) ->
/// (state, reason), failing on any (ip, port) reported twice.
pub fn read_csv_results(path: &Path) -> BTreeMap<(String, u16), (String, String)> {
    read_csv_of(path)
        .into_iter()
        .map(|((ip, proto, port), v)| {
            assert_eq!(proto, "tcp", "{ip} {port}");
            ((ip, port), v)
        })
        .collect()
}

/// Rows of a CSV result file of any scan: (ip, proto, port) -> (state,
/// reason), failing on any (ip, proto, port) reported twice. A reply's TTL
/// is never 0; silence's and an ARP answer's always are.
pub fn read_csv_of(path: &Path) -> BTreeMap<(String, String, u16), (String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ip,port,proto,state,reason,ttl,ts"));
    let mut out = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 7, "csv line {line:?}");
        assert!(["tcp", "udp", "icmp"].contains(&f[2]), "{line}");
        let ttl: u8 = f[5].parse().expect("ttl");
        let no_ttl = f[4] == "no-response" || f[4] == "arp-response";
        assert_eq!(ttl == 0, no_ttl, "ttl of {line}");
        let ts: u64 = f[6].parse().expect("ts");
        assert!(ts > 1_700_000_000, "timestamp {ts}");
        assert_eq!(canonical_ip(f[0]), f[0], "address spelling: {line}");
        let prev = out.insert(
            (f[0].to_string(), f[2].to_string(), f[1].parse().unwrap()),
            (f[3].to_string(), f[4].to_string()),
        );
        assert!(prev.is_none(), "reported twice: {line}");
    }
    out
}

/// Runs a scan with a hard time bound; a scan that hangs is killed and fails.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synsweep");
    wait_bounded(child, limit)
}

pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!("scan exceeded {limit:?}; stderr: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn sigint(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

pub fn diff(got: &Results, want: &Results) -> String {
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .take(10)
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, v)| want.get(*k) != Some(v))
        .take(10)
        .collect();
    format!(
        "got {} want {}; first missing/different: {missing:?}; first unexpected: {extra:?}",
        got.len(),
        want.len()
    )
}

/// Every result line of a CSV file, duplicates allowed (a resume may send a
/// few probes twice): (distinct results, duplicate lines).
pub fn read_csv_with_repeats(path: &std::path::Path) -> (Results, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ip,port,proto,state,reason,ttl,ts"));
    let mut out = Results::new();
    let mut repeats = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 7, "whole lines only: {line:?}");
        let key = (f[0].to_string(), f[1].parse().unwrap());
        let value = (f[3].to_string(), f[4].to_string());
        if let Some(prev) = out.insert(key, value.clone()) {
            assert_eq!(prev, value, "{line}: contradicts an earlier line");
            repeats += 1;
        }
    }
    assert_eq!(text.matches("ip,port,proto").count(), 1, "one header");
    (out, repeats)
}

/// A scan through loss, with retries: nothing it reports may be false (state
/// and reason as the truth has them), it finds at least 99.9% of the open
/// ports, and the retries' answers show as duplicates.
/// Through loss, silence may also stand for an answer that was lost: a
/// `no-response` line is false only where the truth has no such probe.
pub fn assert_lossy_results(got: &Results, truth: &Results, log: &str) {
    let false_lines: Vec<_> = got
        .iter()
        .filter(|(k, v)| match truth.get(*k) {
            Some(t) => t != *v && v.1 != "no-response",
            None => true,
        })
        .take(10)
        .collect();
    assert!(false_lines.is_empty(), "false results: {false_lines:?}");
    let open_truth = truth.values().filter(|(s, _)| s == "open").count();
    let open_got = got.values().filter(|(s, _)| s == "open").count();
    assert!(
        open_got * 1000 >= open_truth * 999,
        "found {open_got} of {open_truth} open ports"
    );
    assert!(log.contains("duplicate"), "{log}");
}

impl Lab {
    /// The first `n` hosts of each block, as one target list.
    pub fn first_hosts(&self, n: u32) -> String {
        let (b4, b6) = (self.base4(), self.base6());
        format!(
            "{}-{},{}-{}",
            b4,
            std::net::Ipv4Addr::from(u32::from(b4) + n - 1),
            b6,
            std::net::Ipv6Addr::from(u128::from(b6) + u128::from(n) - 1)
        )
    }

    /// The host's offset in its block (IPv4 or IPv6).
    pub fn offset(&self, ip: &str) -> u128 {
        match ip.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(a) => {
                u128::from(u32::from(a).wrapping_sub(u32::from(self.base4())))
            }
            std::net::IpAddr::V6(a) => u128::from(a).wrapping_sub(u128::from(self.base6())),
        }
    }

    /// `results` of the hosts of offset below `n` only.
    pub fn within(&self, results: &Results, n: u128) -> Results {
        results
            .iter()
            .filter(|((ip, _), _)| self.offset(ip) < n)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// (address, port) -> (state, reason) from nmap's XML.
pub fn nmap_results(xml: &str) -> Results {
    assert!(!xml.contains("<extraports"), "nmap collapsed ports: {xml}");
    let mut out = Results::new();
    let mut addr = String::new();
    let mut port = None;
    for part in xml.split('<') {
        let attr = |name: &str| -> String {
            let start = part
                .find(&format!(" {name}=\""))
                .unwrap_or_else(|| panic!("{name} in <{part}"))
                + name.len()
                + 3;
            part[start..].split('"').next().unwrap().to_string()
        };
        if part.starts_with("address ") && !part.contains("addrtype=\"mac\"") {
            addr = canonical_ip(&attr("addr"));
        } else if part.starts_with("port ") {
            port = Some(attr("portid").parse::<u16>().unwrap());
        } else if part.starts_with("state ") && part.contains("reason=") {
            let p = port.take().expect("a port before its state");
            out.insert((addr.clone(), p), (attr("state"), attr("reason")));
        }
    }
    out
}

/// Starts `cmd` (output discarded), kills it with SIGKILL after `at` (no
/// handler runs), and reaps it.
pub fn kill_9_after(cmd: &mut Command, at: Duration) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn synsweep");
    std::thread::sleep(at);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Resumes the scan of `checkpoint` at 100,000 probes a second, bounded.
pub fn resume(checkpoint: &Path) -> Output {
    run_bounded(
        synsweep().args(["--resume", checkpoint.to_str().unwrap(), "--rate", "100000"]),
        Duration::from_secs(60),
    )
}

/// nmap's XML report of `args` against `hosts`, on the lab's veth.
pub fn nmap<S: AsRef<std::ffi::OsStr>>(
    lab: &Lab,
    family: &str,
    args: &[&str],
    hosts: &[S],
) -> String {
    let mut cmd = Command::new("nmap");
    if family == "6" {
        cmd.arg("-6");
    }
    cmd.args(["-n", "--reason", "-e", lab.iface(), "-T4"])
        .args([
            "--max-retries",
            "2",
            "--max-rtt-timeout",
            "300ms",
            "-oX",
            "-",
        ])
        .args(args)
        .args(hosts);
    let o = run(&mut cmd);
    assert!(o.status.success(), "nmap {args:?}: {}", stderr(&o));
    stdout(&o)
}

pub fn pg_bin(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server is installed (scripts/deps.sh test)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join(name).exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql"))
        .join(name)
}

/// A throwaway PostgreSQL cluster: no TCP, a Unix socket in its own
/// directory; stopped and deleted on drop, also when the test fails.
pub struct Postgres {
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    fn as_postgres(cmd: &Path) -> Command {
        // The server refuses to run as root.
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    }

    pub fn start() -> Postgres {
        let dir = temp_dir("pg");
        let pg = Postgres {
            port: 54000 + (std::process::id() % 1000) as u16,
            dir,
        };
        let o = run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&pg.dir));
        assert!(o.status.success(), "{}", stderr(&o));
        let data = pg.dir.join("data");
        let o = run(Self::as_postgres(&pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        assert!(o.status.success(), "initdb: {}", stderr(&o));
        let opts = format!(
            "-k {} -p {} -c listen_addresses=''",
            pg.dir.display(),
            pg.port
        );
        let o = run(Self::as_postgres(&pg_bin("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(pg.dir.join("log"))
            .arg("start"));
        assert!(
            o.status.success(),
            "pg_ctl start: {}{}",
            stdout(&o),
            stderr(&o)
        );
        pg
    }

    /// Runs SQL (psql meta-commands allowed); returns unaligned rows,
    /// fields separated by `|`.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_fields(sql, "|")
    }

    /// The same, fields separated by `separator`.
    pub fn psql_fields(&self, sql: &str, separator: &str) -> String {
        let mut psql = Command::new("psql");
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            separator,
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-h",
        ])
        .arg(&self.dir)
        .args(["-p", &self.port.to_string(), "-d", "postgres"]);
        let o = run_with_input(&mut psql, sql);
        assert!(o.status.success(), "psql failed: {}\n{sql}", stderr(&o));
        stdout(&o)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Self::as_postgres(&pg_bin("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn sqlite(db: &Path, script: &str) -> String {
    let o = run_with_input(Command::new("sqlite3").arg(db), script);
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "sqlite3: {}\n{script}",
        stderr(&o)
    );
    stdout(&o)
}
