//! User-agent anomalies: automation clients and impossible browser versions.

/// Substrings (lower case) of clients that are not an interactive browser.
const AUTOMATION: &[&str] = &[
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "libwww-perl",
    "scrapy",
    "selenium",
    "puppeteer",
    "playwright",
    "node-fetch",
    "java/",
    "hydra",
];

/// Browser tokens whose major version is checked against the policy's maximum.
const VERSIONED: &[&str] = &["Chrome/", "Firefox/", "Edg/", "OPR/", "CriOS/", "FxiOS/"];

fn find_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What is wrong with a user agent, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UaFinding {
    Automation(&'static str),
    ImpossibleVersion { token: &'static str, major: u64 },
    Empty,
}

/// Checks a user agent without allocating.
pub fn check(ua: &str, max_major: u32) -> Option<UaFinding> {
    let ua = ua.trim();
    if ua.is_empty() {
        return Some(UaFinding::Empty);
    }
    let b = ua.as_bytes();
    for n in AUTOMATION {
        if find_ci(b, n.as_bytes()) {
            return Some(UaFinding::Automation(n));
        }
    }
    for token in VERSIONED {
        let mut rest = ua;
        while let Some(i) = rest.find(token) {
            rest = &rest[i + token.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).take(12);
            let mut major: u64 = 0;
            let mut any = false;
            for d in digits {
                major = major * 10 + u64::from(d - b'0');
                any = true;
            }
            if any && (major > u64::from(max_major) || major == 0) {
                return Some(UaFinding::ImpossibleVersion { token, major });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(check(chrome, 200), None);
        assert_eq!(
            check(&chrome.replace("Chrome/131", "HeadlessChrome/131"), 200),
            Some(UaFinding::Automation("headlesschrome"))
        );
        assert_eq!(
            check("python-requests/2.31.0", 200),
            Some(UaFinding::Automation("python-requests"))
        );
        assert_eq!(
            check("curl/8.5.0", 200),
            Some(UaFinding::Automation("curl/"))
        );
        assert_eq!(
            check(&chrome.replace("Chrome/131", "Chrome/999"), 200),
            Some(UaFinding::ImpossibleVersion {
                token: "Chrome/",
                major: 999
            })
        );
        assert_eq!(check("  ", 200), Some(UaFinding::Empty));
        let ff = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(check(ff, 200), None);
        assert!(check("Chrome/99999999999999999999999", 200).is_some());
    }
}
