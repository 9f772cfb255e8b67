//! Geolocation against the MaxMind test databases, ip-location-db and every broken file.

mod common;
use common::data;

use palisade_auth::Geo;
use std::net::IpAddr;
use std::sync::mpsc;
use std::time::Duration;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn city_country_and_asn_test_databases() {
    let Some(dir) = data("maxmind-test-db/test-data") else {
        return;
    };
    // Known records from source-data/GeoIP2-City-Test.json.
    let g = Geo::open(dir.join("GeoIP2-City-Test.mmdb")).unwrap();
    let i = g.lookup(ip("81.2.69.142")).unwrap();
    assert_eq!(i.country, Some(*b"GB"));
    assert!(i.precise);
    assert_eq!(i.city, Some("London"));
    let (la, lo) = i.coords.unwrap();
    assert!(
        (la - 51.5142).abs() < 0.01 && (lo + 0.0931).abs() < 0.01,
        "{la},{lo}"
    );
    let i = g.lookup(ip("89.160.20.128")).unwrap();
    assert_eq!((i.country, i.city), (Some(*b"SE"), Some("Linköping")));
    // No record: all empty, no error.
    let i = g.lookup(ip("10.0.0.1")).unwrap();
    assert_eq!((i.country, i.coords), (None, None));

    // Country database: a country, its centroid, marked imprecise.
    let g = Geo::open(dir.join("GeoLite2-Country-Test.mmdb")).unwrap();
    let i = g.lookup(ip("2.125.160.216")).unwrap();
    assert_eq!(i.country, Some(*b"GB"));
    assert!(!i.precise && i.coords.is_some());

    // ASN layered under City.
    let mut g = Geo::open(dir.join("GeoIP2-City-Test.mmdb")).unwrap();
    g.add(dir.join("GeoLite2-ASN-Test.mmdb")).unwrap();
    let i = g.lookup(ip("1.128.0.0")).unwrap();
    assert_eq!(i.asn, Some(1221)); // Telstra, source-data/GeoLite2-ASN-Test.json
    let i = g.lookup(ip("81.2.69.142")).unwrap();
    assert_eq!(i.country, Some(*b"GB"));
}

#[test]
fn ip_location_db_country_code_layout() {
    let Some(p) = data("geoip/ip-location-db/geo-whois-asn-country-ipv4.mmdb") else {
        return;
    };
    let g = Geo::open(&p).unwrap();
    let i = g.lookup(ip("8.8.8.8")).unwrap();
    assert_eq!(i.country, Some(*b"US"));
    assert!(!i.precise && i.coords.is_some());
    let i = g.lookup(ip("194.25.0.1")).unwrap();
    assert_eq!(i.country, Some(*b"DE"));
    // IPv6 in an IPv4-only database: an error or no record, never a panic.
    let _ = g.lookup(ip("2001:db8::1"));
}

#[test]
fn missing_file_error_names_it() {
    let e = Geo::open("/nonexistent/x.mmdb").unwrap_err().to_string();
    assert!(e.contains("/nonexistent/x.mmdb"), "{e}");
}

/// Every broken database: a clear error (naming the file) or a clean result, no panic, no hang.
#[test]
fn bad_databases_never_panic_or_hang() {
    let Some(bad) = data("maxmind-test-db/bad-data") else {
        return;
    };
    let test_data = data("maxmind-test-db/test-data").unwrap();
    let mut files: Vec<_> = walk(&bad);
    for n in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
        "MaxMind-DB-test-decoder.mmdb",
        "MaxMind-DB-test-nested.mmdb",
    ] {
        files.push(test_data.join(n));
    }
    assert!(files.len() >= 20, "{files:?}");
    let probes = [
        "1.1.1.1",
        "1.1.1.3",
        "81.2.69.142",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "2001:db8::1",
        "ffff::1",
        "::ffff:1.2.3.4",
    ];
    for f in files {
        let (tx, rx) = mpsc::channel();
        let name = f.display().to_string();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| match Geo::open(&f) {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(f.file_name().unwrap().to_str().unwrap()),
                        "{msg}"
                    );
                    format!("open error: {msg}")
                }
                Ok(g) => {
                    let mut out = String::from("opened;");
                    for p in probes {
                        match g.lookup(p.parse().unwrap()) {
                            Ok(_) => out.push_str(" ok"),
                            Err(e) => {
                                assert!(e.to_string().contains(".mmdb"), "{e}");
                                out.push_str(" err")
                            }
                        }
                    }
                    out
                }
            });
            let _ = tx.send(r.map_err(|_| ()));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(what)) => eprintln!("{name}: {what}"),
            Ok(Err(())) => panic!("{name}: panicked"),
            Err(_) => panic!("{name}: hung (> 10 s)"),
        }
    }
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "mmdb") {
            out.push(p);
        }
    }
    out.sort();
    out
}
