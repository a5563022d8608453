//! The cookies one Crowd base URL set, sent back to it alone for the life of a
//! client. Crowd's REST filter checks the application's password (a slow hash on the
//! server) once per Tomcat session and remembers it there (`JSESSIONID`); a client
//! that returns the cookie costs Crowd one check per PAM transaction, per command and
//! per sync instead of one per request. A load balancer's affinity cookie comes back
//! the same way.
//!
//! Not ureq's cookie store: that feature brings about 45 crates (ICU through `idna`,
//! `url`, `time`) into sshd's address space for what is here one map per base URL
//! that never leaves memory. Cookies are never followed across URLs (redirects are
//! not followed), written anywhere or logged, and are wiped when the client goes.

use std::sync::{Arc, Mutex};

use ureq::http::HeaderMap;
use zeroize::Zeroizing;

/// More cookies than this from one server are not Crowd's session: the rest are
/// ignored.
const MAX_COOKIES: usize = 8;
/// A longer cookie is not a session id.
const MAX_COOKIE_BYTES: usize = 4096;

/// One URL's cookies: name and value.
type Cookies = Vec<(String, Zeroizing<String>)>;

/// The cookies of each base URL (by its index in the client's list). Clones share
/// them, as they share the connection.
#[derive(Clone, Default)]
pub(super) struct Jar(Arc<Mutex<Vec<Cookies>>>);

impl Jar {
    /// Keeps the `Set-Cookie`s of an answer from base URL `url`.
    pub fn keep(&self, url: usize, headers: &HeaderMap) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() <= url {
            all.resize_with(url + 1, Vec::new);
        }
        let cookies = &mut all[url];
        for header in headers.get_all("set-cookie") {
            let Ok(line) = header.to_str() else { continue };
            let Some((name, value, expired)) = parse(line) else {
                continue;
            };
            cookies.retain(|(n, _)| n != name);
            if !expired && cookies.len() < MAX_COOKIES {
                cookies.push((name.to_owned(), Zeroizing::new(value.to_owned())));
            }
        }
    }

    /// The `Cookie` header for base URL `url`, if it set any.
    pub fn header(&self, url: usize) -> Option<Zeroizing<String>> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let cookies = all.get(url).filter(|c| !c.is_empty())?;
        let mut header = Zeroizing::new(String::new());
        for (i, (name, value)) in cookies.iter().enumerate() {
            if i > 0 {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        Some(header)
    }
}

/// `NAME=VALUE; attributes...`: the name, the value, and whether it asks to be
/// removed (`Max-Age=0`). `None` for what is not a usable cookie.
fn parse(line: &str) -> Option<(&str, &str, bool)> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let (name, value) = (name.trim(), value.trim().trim_matches('"'));
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    };
    let value_ok = value.len() <= MAX_COOKIE_BYTES
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b",;\\\"".contains(&b));
    if !token(name) || !value_ok {
        return None;
    }
    let expired = parts.any(|a| {
        a.trim()
            .split_once('=')
            .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("max-age") && v.trim() == "0")
    });
    Some((name, value, expired))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("set-cookie", line.parse().unwrap());
        }
        map
    }

    #[test]
    fn each_url_gets_back_only_its_own_cookies() {
        let jar = Jar::default();
        assert!(jar.header(0).is_none());
        jar.keep(
            1,
            &headers(&[
                "JSESSIONID=ABC123; Path=/crowd; HttpOnly",
                "AWSALB=x1; Path=/",
            ]),
        );
        assert!(jar.header(0).is_none());
        assert_eq!(
            jar.header(1).as_deref().map(String::as_str),
            Some("JSESSIONID=ABC123; AWSALB=x1")
        );
        // A new session replaces the old; Max-Age=0 removes.
        jar.keep(
            1,
            &headers(&["JSESSIONID=DEF; Path=/crowd", "AWSALB=; Max-Age=0"]),
        );
        assert_eq!(
            jar.header(1).as_deref().map(String::as_str),
            Some("JSESSIONID=DEF")
        );
    }

    #[test]
    fn a_max_age_other_than_zero_keeps_the_cookie() {
        let jar = Jar::default();
        jar.keep(
            0,
            &headers(&["JSESSIONID=ABC; Path=/crowd; HttpOnly; Max-Age=1800"]),
        );
        assert_eq!(
            jar.header(0).as_deref().map(String::as_str),
            Some("JSESSIONID=ABC")
        );
        assert_eq!(parse("a=b; Max-Age=1800"), Some(("a", "b", false)));
        assert_eq!(parse("a=b; max-age = 0"), Some(("a", "b", true)));
        assert_eq!(parse("a=b; Expires=0"), Some(("a", "b", false)));
    }

    #[test]
    fn odd_cookies_are_ignored() {
        for line in ["noequals", "=value", "bad name=x", "a=b\u{7f}", "a=b,c"] {
            assert_eq!(parse(line).map(|p| p.0), None, "{line:?}");
        }
        let jar = Jar::default();
        let many: Vec<String> = (0..20).map(|i| format!("c{i}=v")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        jar.keep(0, &headers(&many));
        assert_eq!(
            jar.header(0).map(|h| h.matches('=').count()),
            Some(MAX_COOKIES)
        );
        let long = format!("JSESSIONID={}", "x".repeat(MAX_COOKIE_BYTES + 1));
        assert!(parse(&long).is_none());
    }
}
