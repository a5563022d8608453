//! A Crowd base URL, checked and parsed once: what the config accepts is what the
//! client connects to and what `pam-crowd check` resolves, parsed by the same HTTP
//! library, so the three can never read one URL three ways.

use std::fmt;

/// `https://host[:port][/context]`, or `http://` where allowed: no user, query or
/// fragment, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    text: String,
    https: bool,
    host: String,
    port: u16,
}

/// Why a base URL was refused. The words never quote the URL: a wrong one may carry
/// credentials (`https://user:secret@host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// `http://` without `allow_http`.
    PlainHttp,
    /// Neither `https://` nor `http://`.
    Scheme,
    /// No host after the scheme.
    NoHost,
    /// A user, a query, a fragment or a space.
    NotPlain,
    /// The HTTP library cannot read it.
    Invalid,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::PlainHttp => {
                "plain http: the application password would cross the network in clear; \
                 use https, or set allow_http = true for a test setup"
            }
            UrlError::Scheme => "must start with https://",
            UrlError::NoHost => "has no host",
            UrlError::NotPlain => {
                "must be a plain base URL (scheme, host, port, context path; no user, query or fragment)"
            }
            UrlError::Invalid => "not a valid URL",
        })
    }
}

impl std::error::Error for UrlError {}

impl BaseUrl {
    /// Checks `url` (surrounding spaces and a trailing slash ignored).
    pub fn parse(url: &str, allow_http: bool) -> Result<BaseUrl, UrlError> {
        let url = url.trim();
        let rest = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => rest,
            (None, Some(_)) if !allow_http => return Err(UrlError::PlainHttp),
            (None, Some(rest)) => rest,
            (None, None) => return Err(UrlError::Scheme),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(UrlError::NoHost);
        }
        if url.contains(['?', '#', ' ']) || authority.contains('@') {
            return Err(UrlError::NotPlain);
        }
        let text = url.trim_end_matches('/').to_owned();
        let uri = text
            .parse::<ureq::http::Uri>()
            .map_err(|_| UrlError::Invalid)?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or(UrlError::NoHost)?
            .trim_matches(['[', ']'])
            .to_owned();
        // The port as written: the HTTP library reads one above 65535 as none.
        let authority = uri.authority().map_or("", |a| a.as_str());
        let after_host = authority
            .rsplit_once(']')
            .map_or(authority, |(_, rest)| rest);
        let port = match after_host.rsplit_once(':') {
            None if https => 443,
            None => 80,
            Some((_, port)) => port.parse().map_err(|_| UrlError::Invalid)?,
        };
        Ok(BaseUrl {
            text,
            https,
            host,
            port,
        })
    }

    /// The URL as configured, without a trailing slash: requests append their path.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, an IP address without brackets or a name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when none is written.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl PartialEq<&str> for BaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_parsed_once() {
        let url = BaseUrl::parse(" https://crowd.example.com/crowd/ ", false).unwrap();
        assert_eq!(url.as_str(), "https://crowd.example.com/crowd");
        assert_eq!(
            (url.host(), url.port(), url.is_https()),
            ("crowd.example.com", 443, true)
        );
        let url = BaseUrl::parse("http://[::1]:8095/crowd", true).unwrap();
        assert_eq!(
            (url.host(), url.port(), url.is_https()),
            ("::1", 8095, false)
        );
        for (text, allow_http, error) in [
            ("http://crowd/crowd", false, UrlError::PlainHttp),
            ("crowd.example.com", false, UrlError::Scheme),
            ("ftp://crowd", true, UrlError::Scheme),
            ("https:///crowd", false, UrlError::NoHost),
            ("https://user:pw@crowd", false, UrlError::NotPlain),
            ("https://crowd/?x=1", false, UrlError::NotPlain),
            ("https://crowd:99999", false, UrlError::Invalid),
        ] {
            assert_eq!(BaseUrl::parse(text, allow_http), Err(error), "{text}");
        }
    }
}
