//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), as SBOMs name
//! components.

use crate::ecosystem::Ecosystem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: Vec<(String, String)>,
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Purl {
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.trim().strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split('#').next().unwrap_or(rest);
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (
                r,
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
                    .collect(),
            ),
            None => (rest, Vec::new()),
        };
        let (path, version) = match rest.rsplit_once('@') {
            Some((p, v)) if !p.is_empty() && !p.ends_with('/') => (p, Some(decode(v))),
            _ => (rest, None),
        };
        let (kind, path) = path.split_once('/')?;
        let path = path.trim_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((ns, n)) => (
                Some(ns.split('/').map(decode).collect::<Vec<_>>().join("/")),
                decode(n),
            ),
            None => (None, decode(path)),
        };
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Purl {
            kind: kind.to_ascii_lowercase(),
            namespace,
            name,
            version,
            qualifiers,
        })
    }

    fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The ecosystem, name as advisories spell it, and (for `deb`) the release.
    pub fn package(&self) -> Option<(Ecosystem, String, Option<String>)> {
        let joined = || match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        };
        Some(match self.kind.as_str() {
            "cargo" => (Ecosystem::CratesIo, self.name.clone(), None),
            "npm" => (Ecosystem::Npm, joined(), None),
            "pypi" => (Ecosystem::PyPI, self.name.clone(), None),
            "golang" => (Ecosystem::Go, joined(), None),
            "deb" => {
                let distro = self.qualifier("distro").unwrap_or("");
                let eco = if self.namespace.as_deref() == Some("ubuntu")
                    || distro.starts_with("ubuntu")
                {
                    Ecosystem::Ubuntu
                } else {
                    Ecosystem::Debian
                };
                // `distro=debian-12`; codenames (`bookworm`) carry no number and are left out.
                let release = distro
                    .rsplit_once('-')
                    .map(|(_, r)| r.to_owned())
                    .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()));
                // Debian advisories name source packages; syft records it as `upstream=`.
                let name = self
                    .qualifier("upstream")
                    .map(|u| u.split('@').next().unwrap_or(u).to_owned())
                    .unwrap_or_else(|| self.name.clone());
                (eco, name, release)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        let p = Purl::parse("pkg:npm/%40angular/core@12.0.0").unwrap();
        assert_eq!(p.package().unwrap().1, "@angular/core");
        assert_eq!(p.version.as_deref(), Some("12.0.0"));
        let g = Purl::parse("pkg:golang/github.com/gin-gonic/gin@v1.6.0").unwrap();
        assert_eq!(g.package().unwrap().1, "github.com/gin-gonic/gin");
        let d = Purl::parse(
            "pkg:deb/debian/libssl3@3.0.11-1?arch=amd64&distro=debian-12&upstream=openssl",
        )
        .unwrap();
        assert_eq!(
            d.package().unwrap(),
            (Ecosystem::Debian, "openssl".into(), Some("12".into()))
        );
        assert!(Purl::parse("pkg:").is_none());
        assert!(Purl::parse("nonsense").is_none());
        assert!(Purl::parse("pkg:maven/a/b@1").unwrap().package().is_none());
    }
}
