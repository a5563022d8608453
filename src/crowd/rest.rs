//! [`Directory`] over Crowd's REST API, on ureq with rustls: blocking, no async
//! runtime, one connection reused across the requests of one client.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use ureq::http::Response;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Body, RequestBuilder};
use zeroize::Zeroizing;

use super::{CrowdError, Deadline, Directory, Reason, User};
use crate::config::{Config, Secret};

/// Path of the user-management API below a base URL.
const API: &str = "/rest/usermanagement/1";
/// No Crowd answer this crate reads comes near this; a larger one is not Crowd's.
const MAX_BODY_BYTES: u64 = 4 << 20;
/// Crowd's page size for group lists; a shorter page is the last.
const PAGE_SIZE: usize = 1000;
/// Bound on paging: 200 pages is 200,000 groups.
const MAX_PAGES: usize = 200;

/// What a [`RestClient`] needs to know; usually taken from a [`Config`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URLs, tried in order.
    pub urls: Vec<String>,
    /// Crowd application name.
    pub application: String,
    /// Crowd application password.
    pub app_password: Secret,
    /// PEM file of trusted roots; `None` for the system trust store.
    pub ca_file: Option<PathBuf>,
}

impl From<&Config> for ClientSettings {
    fn from(c: &Config) -> Self {
        ClientSettings {
            urls: c.urls.clone(),
            application: c.application.clone(),
            app_password: c.app_password.clone(),
            ca_file: c.ca_file.clone(),
        }
    }
}

/// A Crowd REST client bound to one deadline.
pub struct RestClient {
    agent: ureq::Agent,
    urls: Vec<String>,
    authorization: Zeroizing<String>,
    deadline: Deadline,
    /// The URL that answered last: later requests start there.
    preferred: Cell<usize>,
    /// One line per request made, for debug logging.
    trail: RefCell<Vec<String>>,
}

/// An HTTP answer that came from Crowd: a success, or an error with Crowd's JSON body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Why one attempt at one URL gave no answer.
enum AttemptError {
    /// Another URL may do better (connect failure, timeout, 5xx, 429, not Crowd).
    TryNext(String),
    /// Crowd answered, and another node would answer the same (401, 403).
    Final(String),
}

/// Crowd's error body: `{"reason": "...", "message": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    reason: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct GroupPage {
    groups: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
}

impl RestClient {
    /// Builds a client whose every operation must finish by `deadline`.
    pub fn new(settings: &ClientSettings, deadline: Deadline) -> Result<RestClient, CrowdError> {
        if settings.urls.is_empty() {
            return Err(CrowdError::Setup("no Crowd URL configured".into()));
        }
        let roots = trust_roots(settings.ca_file.as_ref())?;
        let config = ureq::Agent::config_builder()
            // 4xx/5xx come back as responses, so Crowd's reason is kept.
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            // The environment of sshd or sudo is not ours to follow.
            .proxy(None)
            .https_only(settings.urls.iter().all(|u| u.starts_with("https://")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .user_agent(concat!("pam_crowd/", env!("CARGO_PKG_VERSION")))
            .build();
        let credentials = Zeroizing::new(format!(
            "{}:{}",
            settings.application,
            settings.app_password.expose()
        ));
        let authorization = Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes())
        ));
        Ok(RestClient {
            agent: ureq::Agent::new_with_config(config),
            urls: settings.urls.clone(),
            authorization,
            deadline,
            preferred: Cell::new(0),
            trail: RefCell::new(Vec::new()),
        })
    }

    /// Moves the deadline, for a client reused across PAM calls of one transaction.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    /// What each request did (URL, status or failure, time), oldest first.
    pub fn trail(&self) -> Vec<String> {
        self.trail.borrow().clone()
    }

    /// Sends one request, trying each URL in turn from the one that answered last.
    /// A URL gets an equal share of the time left, so a hanging one leaves time for
    /// the rest.
    fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, CrowdError> {
        let n = self.urls.len();
        let first = self.preferred.get();
        let mut failures = Vec::new();
        for i in 0..n {
            let index = (first + i) % n;
            let base = &self.urls[index];
            let left = self.deadline.remaining();
            if left.is_zero() {
                failures.push(format!("{base}: no time left"));
                break;
            }
            let budget = left / (n - i) as u32;
            let started = Instant::now();
            let outcome = self.attempt(method, base, path, query, body, budget);
            let elapsed = started.elapsed().as_millis();
            let what = describe_request(method, base, path, query);
            match outcome {
                Ok(answer) => {
                    self.note(format!("{what}: {} in {elapsed} ms", answer.status));
                    self.preferred.set(index);
                    return Ok(answer);
                }
                Err(AttemptError::TryNext(why)) => {
                    self.note(format!("{what}: {why} after {elapsed} ms"));
                    failures.push(format!("{base}: {why}"));
                }
                Err(AttemptError::Final(why)) => {
                    self.note(format!("{what}: {why} after {elapsed} ms"));
                    return Err(CrowdError::Unavailable(format!("{base}: {why}")));
                }
            }
        }
        Err(CrowdError::Unavailable(failures.join("; ")))
    }

    fn note(&self, line: String) {
        self.trail.borrow_mut().push(line);
    }

    fn attempt(
        &self,
        method: Method,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
        budget: Duration,
    ) -> Result<Answer, AttemptError> {
        let url = format!("{base}{API}{path}");
        let result = match method {
            Method::Get => self.prepare(self.agent.get(&url), query, budget).call(),
            Method::Post => self
                .prepare(self.agent.post(&url), query, budget)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or_default()),
        };
        let mut response = result.map_err(|e| AttemptError::TryNext(describe(&e)))?;
        let status = response.status().as_u16();
        let body = read_body(&mut response)?;
        classify(status, body, &response)
    }

    fn prepare<B>(
        &self,
        request: RequestBuilder<B>,
        query: &[(&str, &str)],
        budget: Duration,
    ) -> RequestBuilder<B> {
        let mut request = request
            .header("Accept", "application/json")
            .header("Authorization", self.authorization.as_str());
        for (key, value) in query {
            // ureq percent-encodes query keys and values.
            request = request.query(*key, *value);
        }
        request.config().timeout_global(Some(budget)).build()
    }

    /// A request that expects a JSON entity on success and maps Crowd's refusals.
    fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<T, CrowdError> {
        let answer = self.request(method, path, query, body)?;
        if !(200..300).contains(&answer.status) {
            return Err(refusal(&answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| {
            CrowdError::Unavailable(format!(
                "{path}: the answer is not Crowd's ({e}; starts with {:?})",
                preview(&answer.body)
            ))
        })
    }
}

impl Directory for RestClient {
    fn authenticate(&self, username: &str, password: &str) -> Result<User, CrowdError> {
        let body = Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({ "value": password }))
                .map_err(|e| CrowdError::Setup(format!("cannot encode the request: {e}")))?,
        );
        self.fetch(
            Method::Post,
            "/authentication",
            &[("username", username)],
            Some(&body),
        )
    }

    fn user(&self, username: &str) -> Result<User, CrowdError> {
        self.fetch(Method::Get, "/user", &[("username", username)], None)
    }

    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError> {
        let query = [("groupname", group), ("username", username)];
        let answer = self.request(Method::Get, "/group/user/nested", &query, None)?;
        if (200..300).contains(&answer.status) {
            return Ok(true);
        }
        match refusal(&answer) {
            CrowdError::Refused {
                reason: Reason::MembershipNotFound | Reason::GroupNotFound,
                ..
            } => Ok(false),
            other => Err(other),
        }
    }

    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        let mut groups = Vec::new();
        let page_size = PAGE_SIZE.to_string();
        for _ in 0..MAX_PAGES {
            let start = groups.len().to_string();
            let page: GroupPage = self.fetch(
                Method::Get,
                "/user/group/nested",
                &[
                    ("username", username),
                    ("start-index", &start),
                    ("max-results", &page_size),
                ],
                None,
            )?;
            let short = page.groups.len() < PAGE_SIZE;
            groups.extend(page.groups.into_iter().map(|g| g.name));
            if short {
                return Ok(groups);
            }
        }
        Err(CrowdError::Unavailable(format!(
            "{username} is in more than {} groups",
            MAX_PAGES * PAGE_SIZE
        )))
    }
}

/// The system trust store: the CA bundle of the distribution, first found wins.
/// Fixed paths, never `SSL_CERT_FILE` and the like: under sudo the environment is the
/// invoking user's, who must not choose whom the module trusts.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // Fedora, RHEL
    "/etc/pki/tls/certs/ca-bundle.crt",   // older RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
];

/// The roots to trust: `ca_file` alone when given, else the system store.
fn trust_roots(ca_file: Option<&PathBuf>) -> Result<RootCerts, CrowdError> {
    let certs: Vec<Certificate<'static>> = match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                CrowdError::Setup(format!("cannot read ca_file {}: {e}", path.display()))
            })?;
            ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect()
        }
        None => SYSTEM_CA_BUNDLES
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .map(|bundle| rustls_native_certs::load_certs_from_paths(Some(bundle), None).certs)
            .unwrap_or_default()
            .into_iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect(),
    };
    if certs.is_empty() {
        let from = ca_file.map_or("the system trust store".to_string(), |p| {
            p.display().to_string()
        });
        return Err(CrowdError::Setup(format!("no certificates in {from}")));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

fn read_body(response: &mut Response<Body>) -> Result<Vec<u8>, AttemptError> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => {
                AttemptError::TryNext(format!("answer larger than {MAX_BODY_BYTES} bytes"))
            }
            e => AttemptError::TryNext(format!("reading the answer: {}", describe(&e))),
        })
}

/// Sorts an HTTP answer into Crowd's answer, a reason to try the next URL, or a stop.
fn classify(status: u16, body: Vec<u8>, response: &Response<Body>) -> Result<Answer, AttemptError> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let crowd_error = serde_json::from_slice::<ErrorBody>(&body).ok();
    match status {
        200..=299 => Ok(Answer { status, body }),
        300..=399 => Err(AttemptError::TryNext(format!(
            "redirect ({status}) to {:?}, not followed: is the url's scheme or context path right?",
            header("location").unwrap_or_default()
        ))),
        429 => Err(AttemptError::TryNext(match header("retry-after") {
            Some(after) => format!("rate limited (429, Retry-After: {after})"),
            None => "rate limited (429)".into(),
        })),
        500..=599 => Err(AttemptError::TryNext(match crowd_error {
            Some(e) => format!("server error ({status} {})", e.reason),
            None => format!("server error ({status})"),
        })),
        401 => Err(AttemptError::Final(
            "Crowd refused the application's credentials (401): check `application` and the password"
                .into(),
        )),
        _ if crowd_error.is_some() => Ok(Answer { status, body }),
        403 => Err(AttemptError::Final(
            "Crowd refused this application or host (403): is this host's address allowed for the application?"
                .into(),
        )),
        _ => Err(AttemptError::TryNext(format!(
            "answered {status} without Crowd's error body (starts with {:?}): is the url's context path right?",
            preview(&body)
        ))),
    }
}

/// Crowd's refusal in an error answer.
fn refusal(answer: &Answer) -> CrowdError {
    match serde_json::from_slice::<ErrorBody>(&answer.body) {
        Ok(e) => CrowdError::Refused {
            status: answer.status,
            reason: Reason::parse(&e.reason),
            message: e.message.unwrap_or_default(),
        },
        Err(_) => CrowdError::Unavailable(format!(
            "unexpected answer {} (starts with {:?})",
            answer.status,
            preview(&answer.body)
        )),
    }
}

/// A short, printable start of a body, for log lines.
fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(40)])
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// `GET https://crowd/crowd /user?username=alice`, for the debug trail. Query values
/// are names, never secrets (the password travels in the body).
fn describe_request(method: Method, base: &str, path: &str, query: &[(&str, &str)]) -> String {
    let verb = match method {
        Method::Get => "GET",
        Method::Post => "POST",
    };
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{verb} {base} {path} {}", query.join(" "))
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        other => other.to_string(),
    }
}
