//! The floor of a login: what any client must do to ask Crowd what pam_crowd asks,
//! on the same TLS stack (rustls with ring), and nothing more. One TCP connection,
//! one TLS handshake, HTTP/1.1 keep-alive: `POST /authentication`, then the user's
//! nested groups (`GET /user/group/nested`, one page), with Crowd's session cookie
//! from the first answer sent on the second, so Crowd checks the application once.
//! The same questions the module asks for a group rule, and nothing more.

// A measurement tool: a step that fails should stop the run loudly, so expect and
// panic are allowed here, not in the product; every other workspace lint holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Where Crowd's REST API lives below the double's address.
const API: &str = "/crowd/rest/usermanagement/1";

/// A minimal Crowd client. Build it once and call [`Floor::login`] many times (the
/// long-lived floor: TLS sessions resume, as the module's do in a long-lived process,
/// which stays loaded and keeps its TLS configuration), or once per process (the
/// fresh-process floor: a full handshake, as sshd's forked process makes).
pub struct Floor {
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    authorization: String,
}

/// What one login saw: the authentication status, the group list's status, and
/// whether the list holds one of the rule's groups.
#[derive(Debug, PartialEq, Eq)]
pub struct Answers {
    pub auth: u16,
    pub groups: u16,
    pub member: bool,
}

/// One answer: status, body, and the session cookie it set, if any.
struct Reply {
    status: u16,
    body: Vec<u8>,
    cookie: Option<String>,
}

impl Floor {
    /// A client trusting only `ca_file`, for Crowd at `addr` (an IP literal, as the
    /// module's benchmark configuration names it).
    pub fn new(ca_file: &Path, addr: SocketAddr, application: &str, password: &str) -> Floor {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file).expect("read CA file") {
            roots.add(cert.expect("CA certificate")).expect("add root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let credentials = format!("{application}:{password}");
        Floor {
            config: Arc::new(config),
            addr,
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
        }
    }

    /// One login over one new connection: authenticate, then one page of the user's
    /// nested groups, matched against `groups` as the module does (case-insensitively).
    pub fn login(&self, user: &str, password: &str, groups: &[&str]) -> std::io::Result<Answers> {
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let conn =
            ClientConnection::new(self.config.clone(), name).map_err(std::io::Error::other)?;
        let mut stream = BufReader::new(StreamOwned::new(conn, tcp));
        let user_q = utf8_percent_encode(user, NON_ALPHANUMERIC).to_string();
        let body = serde_json::json!({ "value": password }).to_string();
        let auth = self.exchange(
            &mut stream,
            "POST",
            &format!("/authentication?username={user_q}"),
            Some(&body),
            None,
        )?;
        let mut answers = Answers {
            auth: auth.status,
            groups: 0,
            member: false,
        };
        if auth.status != 200 {
            return Ok(answers);
        }
        let list = self.exchange(
            &mut stream,
            "GET",
            &format!("/user/group/nested?username={user_q}&start-index=0&max-results=1000"),
            None,
            auth.cookie.as_deref(),
        )?;
        answers.groups = list.status;
        let listed: serde_json::Value = serde_json::from_slice(&list.body).unwrap_or_default();
        answers.member = listed["groups"].as_array().is_some_and(|all| {
            all.iter().filter_map(|g| g["name"].as_str()).any(|name| {
                groups
                    .iter()
                    .any(|wanted| wanted.to_lowercase() == name.to_lowercase())
            })
        });
        Ok(answers)
    }

    /// One request and its answer on the open connection. With `cookie` (Crowd's
    /// session), Crowd does not check the application's credentials again.
    fn exchange<S: Read + Write>(
        &self,
        stream: &mut BufReader<S>,
        method: &str,
        target: &str,
        body: Option<&str>,
        cookie: Option<&str>,
    ) -> std::io::Result<Reply> {
        let mut request = format!(
            "{method} {API}{target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nAccept: application/json\r\n",
            self.addr, self.authorization
        );
        if let Some(cookie) = cookie {
            request.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        let inner = stream.get_mut();
        inner.write_all(request.as_bytes())?;
        inner.flush()?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read_until(b'\n', &mut head)? == 0 || head.len() > 65536 {
                return Err(std::io::Error::other("connection closed mid-answer"));
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        response.parse(&head).map_err(std::io::Error::other)?;
        let status = response.code.unwrap_or(0);
        let length = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0);
        let cookie = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("set-cookie"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let mut body = vec![0; length];
        stream.read_exact(&mut body)?;
        Ok(Reply {
            status,
            body,
            cookie,
        })
    }
}
