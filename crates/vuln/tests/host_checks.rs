//! Host checks on a built fixture tree (permissions are set here; git keeps no modes).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use palisade_event::Severity;
use palisade_vuln::host::{HostOptions, PackageExposure, check_host};
use palisade_vuln::scan::{Exposure, ExposureProbe};
use palisade_vuln::{Ecosystem, Package};

fn write(root: &Path, rel: &str, text: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0\n\
   1: 00000000:0017 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1235 1 0 100 0 0 10 0\n\
   2: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1236 1 0 100 0 0 10 0\n";

fn weak_host(root: &Path) {
    write(
        root,
        "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication no\n\
         Ciphers aes128-cbc,aes256-gcm@openssh.com\nMACs hmac-sha2-256,hmac-md5\nX11Forwarding yes\n\
         Match User backup\n  PermitEmptyPasswords yes\n",
        0o644,
    );
    // sshd takes the first value: the drop-in's `yes` wins over the main file's `no`.
    write(
        root,
        "etc/ssh/sshd_config.d/50-cloud.conf",
        "PasswordAuthentication yes\n",
        0o644,
    );
    write(root, "etc/ssh/ssh_host_ed25519_key", "KEY", 0o644);
    write(root, "etc/ssh/ssh_host_rsa_key", "KEY", 0o600);
    write(
        root,
        "etc/shadow",
        "root:$y$j9T$x:19000:0:99999:7:::\nguest::19000:0:99999:7:::\ndaemon:*:19000::::::\n",
        0o644,
    );
    write(
        root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n",
        0o644,
    );
    write(root, "home/alice/.ssh/id_ed25519", "KEY", 0o644);
    write(root, "home/alice/.ssh/id_ed25519.pub", "PUB", 0o644);
    write(root, "home/alice/.ssh/authorized_keys", "PUB", 0o666);
    write(root, "usr/bin/passwd", "bin", 0o4755);
    write(root, "usr/bin/backdoor", "bin", 0o4755);
    write(root, "tmp/.x/sh", "bin", 0o4755);
    fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    fs::set_permissions(
        root.join("usr/local/bin"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    write(root, "proc/net/tcp", TCP, 0o644);
}

#[test]
fn a_weak_host_shows_every_weakness() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    weak_host(root);
    let report = check_host(&HostOptions::new(root));
    let got: BTreeSet<(&str, String)> = report
        .findings
        .iter()
        .map(|f| (f.check, f.target.clone()))
        .collect();
    let has = |check: &str, target_end: &str| {
        got.iter()
            .any(|(c, t)| *c == check && t.ends_with(target_end))
    };
    assert!(has("ssh-permit-root-login", "sshd_config:2"), "{got:#?}");
    assert!(
        has("ssh-password-authentication", "50-cloud.conf:1"),
        "{got:#?}"
    );
    assert!(has("ssh-weak-ciphers", "sshd_config:4"));
    assert!(has("ssh-weak-macs", "sshd_config:5"));
    assert!(has("ssh-x11-forwarding", "sshd_config:6"));
    // Inside `Match`: not a global setting.
    assert!(!got.iter().any(|(c, _)| *c == "ssh-permit-empty-passwords"));
    assert!(has("ssh-key-permissions", "/etc/ssh/ssh_host_ed25519_key"));
    assert!(!has("ssh-key-permissions", "/etc/ssh/ssh_host_rsa_key"));
    assert!(has("ssh-key-permissions", "/home/alice/.ssh/id_ed25519"));
    assert!(has(
        "ssh-key-permissions",
        "/home/alice/.ssh/authorized_keys"
    ));
    assert!(has("file-permissions", "/etc/shadow"));
    assert!(has("account-empty-password", "/etc/shadow:2"));
    assert!(has("account-uid-zero", "/etc/passwd:2"));
    assert!(has("path-world-writable", "/usr/local/bin"));
    assert!(has("setid-unexpected", "/usr/bin/backdoor"));
    assert!(has("setid-unexpected", "/tmp/.x/sh"));
    assert!(!has("setid-unexpected", "/usr/bin/passwd"));
    assert!(has("listening-risky-service", "tcp/0.0.0.0:23"));
    assert!(has("listening-service", "tcp/0.0.0.0:22"));
    assert!(!got.iter().any(|(_, t)| t.contains("127.0.0.1")));
    assert!(has("firewall-missing", "/etc/nftables.conf"));
    // Severity order, highest first; shadow world-readable is critical.
    let sev: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    assert!(sev.windows(2).all(|w| w[0] >= w[1]));
    let shadow = report
        .findings
        .iter()
        .find(|f| f.check == "file-permissions")
        .unwrap();
    assert_eq!(shadow.severity, Severity::Critical);
    assert!(shadow.fix.contains("chmod"));
}

#[test]
fn a_hardened_host_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "etc/ssh/sshd_config",
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nCiphers aes256-gcm@openssh.com\n",
        0o644,
    );
    write(root, "etc/ssh/ssh_host_ed25519_key", "KEY", 0o600);
    write(
        root,
        "etc/shadow",
        "root:$y$j9T$x:19000:0:99999:7:::\n",
        0o640,
    );
    write(
        root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n",
        0o644,
    );
    write(root, "etc/ufw/ufw.conf", "# comment\nENABLED=yes\n", 0o644);
    write(root, "usr/bin/sudo", "bin", 0o4755);
    let report = check_host(&HostOptions::new(root));
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn running_and_listening_packages_are_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "proc/net/tcp", TCP, 0o644);
    fs::create_dir_all(root.join("proc/4242/fd")).unwrap();
    symlink("/usr/sbin/sshd", root.join("proc/4242/exe")).unwrap();
    symlink("socket:[1234]", root.join("proc/4242/fd/3")).unwrap();
    fs::create_dir_all(root.join("proc/77")).unwrap();
    symlink("/usr/bin/openssl (deleted)", root.join("proc/77/exe")).unwrap();
    write(
        root,
        "var/lib/dpkg/info/openssh-server.list",
        "/usr/sbin/sshd\n",
        0o644,
    );
    write(
        root,
        "var/lib/dpkg/info/openssl:amd64.list",
        "/usr/bin/openssl\n",
        0o644,
    );
    let probe = PackageExposure::read(root);
    let pkg = |name: &str| Package {
        ecosystem: Ecosystem::Debian,
        name: name.into(),
        version: "1".into(),
        release: None,
        binary: None,
        line: None,
    };
    assert_eq!(
        probe.exposure(
            &pkg("openssh"),
            &["openssh-server".into(), "openssh-client".into()]
        ),
        Some(Exposure::Listening(vec!["tcp/0.0.0.0:22".into()]))
    );
    assert_eq!(
        probe.exposure(&pkg("openssl"), &[]),
        Some(Exposure::Running(vec!["/usr/bin/openssl".into()]))
    );
    assert_eq!(probe.exposure(&pkg("bash"), &[]), None);
}
