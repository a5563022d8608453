//! [`Directory`] over Crowd's REST API, on ureq with rustls: blocking, no async
//! runtime, one connection reused across the requests of one client.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde_json::json;
use ureq::http::Response;
use ureq::{Body, RequestBuilder};
use zeroize::Zeroizing;

use super::decode::{self, ErrorBody, GroupPage, Page, UserPage};
use super::transport;
use super::{
    Attributes, CrowdError, Deadline, Directory, Failure, FailureKind, Reason, Session, User,
};
use crate::config::{Config, Secret};

/// Path of the user-management API below a base URL.
const API: &str = "/rest/usermanagement/1";
/// No Crowd answer this crate reads comes near this; a larger one is not Crowd's.
const MAX_BODY_BYTES: u64 = 4 << 20;
/// Size of each connection's read and write buffers: one TLS record.
const IO_BUFFER_BYTES: usize = 16 << 10;
/// Crowd's page size for lists; a shorter page is the last.
const PAGE_SIZE: usize = 1000;
/// Bound on paging: 200 pages is 200,000 entries.
const MAX_PAGES: usize = 200;

/// What a [`RestClient`] needs to know; usually taken from a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A Crowd REST client bound to one deadline. Its connection stays open between
/// requests, and between calls when the client is kept (see [`RestClient::begin`]);
/// clones share it.
#[derive(Clone)]
pub struct RestClient {
    agent: ureq::Agent,
    urls: Vec<String>,
    authorization: Zeroizing<String>,
    deadline: Cell<Deadline>,
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

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request: method, path below the API base, query, JSON body.
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<&'a [u8]>,
}

impl<'a> Call<'a> {
    fn get(path: &'a str, query: &'a [(&'a str, &'a str)]) -> Call<'a> {
        Call {
            method: Method::Get,
            path,
            query,
            body: None,
        }
    }

    fn post(path: &'a str, query: &'a [(&'a str, &'a str)], body: &'a [u8]) -> Call<'a> {
        Call {
            method: Method::Post,
            path,
            query,
            body: Some(body),
        }
    }

    /// `GET https://crowd/crowd /user username="alice"`, for the debug trail. Query
    /// values are names, never secrets (passwords travel in bodies).
    fn describe(&self, base: &str) -> String {
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!(
            "{} {base} {} {}",
            self.method.as_str(),
            self.path,
            query.join(" ")
        )
    }
}

impl RestClient {
    /// Builds a client whose every operation must finish by `deadline`.
    pub fn new(settings: &ClientSettings, deadline: Deadline) -> Result<RestClient, CrowdError> {
        if settings.urls.is_empty() {
            return Err(CrowdError::Setup("no Crowd URL configured".into()));
        }
        let config = ureq::Agent::config_builder()
            // 4xx/5xx come back as responses, so Crowd's reason is kept.
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            // The environment of sshd or sudo is not ours to follow.
            .proxy(None)
            .https_only(settings.urls.iter().all(|u| u.starts_with("https://")))
            .user_agent(concat!("pam_crowd/", env!("CARGO_PKG_VERSION")))
            // ureq's 128 KiB buffers, zeroed for each connection (TCP and TLS layers
            // both), cost a fresh process more page faults than the whole TLS
            // handshake; Crowd's answers are read in chunks and its headers are small.
            .input_buffer_size(IO_BUFFER_BYTES)
            .output_buffer_size(IO_BUFFER_BYTES)
            .max_response_header_size(IO_BUFFER_BYTES)
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
            agent: transport::agent(config, settings.ca_file.as_deref())?,
            urls: settings.urls.clone(),
            authorization,
            deadline: Cell::new(deadline),
            preferred: Cell::new(0),
            trail: RefCell::new(Vec::new()),
        })
    }

    /// Starts another call on this client and its open connection: a new deadline,
    /// an empty trail.
    pub fn begin(&self, deadline: Deadline) {
        self.deadline.set(deadline);
        self.trail.borrow_mut().clear();
    }

    /// What each request did (URL, status or failure, time), oldest first.
    pub fn trail(&self) -> Vec<String> {
        self.trail.borrow().clone()
    }

    /// Sends one request, trying each URL in turn from the one that answered last.
    /// A URL gets an equal share of the time left, so a hanging one leaves time for
    /// the rest.
    fn request(&self, call: &Call) -> Result<Answer, CrowdError> {
        let n = self.urls.len();
        let first = self.preferred.get();
        let mut failures = Vec::new();
        for i in 0..n {
            let index = (first + i) % n;
            let base = &self.urls[index];
            let left = self.deadline.get().remaining();
            if left.is_zero() {
                failures.push(Failure {
                    url: base.clone(),
                    kind: FailureKind::Timeout,
                    detail: "no time left".into(),
                });
                break;
            }
            let budget = left / (n - i) as u32;
            let started = Instant::now();
            let outcome = self.attempt(base, call, budget);
            let elapsed = started.elapsed().as_millis();
            let what = call.describe(base);
            match outcome {
                Ok(answer) => {
                    self.note(format!("{what}: {} in {elapsed} ms", answer.status));
                    self.preferred.set(index);
                    return Ok(answer);
                }
                Err((kind, detail)) => {
                    self.note(format!("{what}: {detail} after {elapsed} ms"));
                    failures.push(Failure {
                        url: base.clone(),
                        kind,
                        detail,
                    });
                    if !kind.try_next() {
                        break;
                    }
                }
            }
        }
        Err(CrowdError::Unavailable(failures))
    }

    fn note(&self, line: String) {
        self.trail.borrow_mut().push(line);
    }

    fn attempt(
        &self,
        base: &str,
        call: &Call,
        budget: Duration,
    ) -> Result<Answer, (FailureKind, String)> {
        let url = format!("{base}{API}{}", call.path);
        let result = match call.method {
            Method::Get => self.prepare(self.agent.get(&url), call, budget).call(),
            Method::Delete => self.prepare(self.agent.delete(&url), call, budget).call(),
            Method::Post => self
                .prepare(self.agent.post(&url), call, budget)
                .header("Content-Type", "application/json")
                .send(call.body.unwrap_or_default()),
            Method::Put => self
                .prepare(self.agent.put(&url), call, budget)
                .header("Content-Type", "application/json")
                .send(call.body.unwrap_or_default()),
        };
        let mut response = result.map_err(|e| failure_of(&e))?;
        let status = response.status().as_u16();
        let body = read_body(&mut response)?;
        classify(status, body, &response)
    }

    fn prepare<B>(
        &self,
        request: RequestBuilder<B>,
        call: &Call,
        budget: Duration,
    ) -> RequestBuilder<B> {
        let mut request = request
            .header("Accept", "application/json")
            .header("Authorization", self.authorization.as_str());
        for (key, value) in call.query {
            // ureq percent-encodes query keys and values.
            request = request.query(*key, *value);
        }
        request.config().timeout_global(Some(budget)).build()
    }

    /// A request whose success is a JSON entity; Crowd's refusals become errors.
    fn fetch<T: DeserializeOwned>(&self, call: &Call) -> Result<T, CrowdError> {
        let answer = self.request(call)?;
        if !(200..300).contains(&answer.status) {
            return Err(refusal(&answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| {
            CrowdError::Unavailable(vec![Failure {
                url: self.urls[self.preferred.get()].clone(),
                kind: FailureKind::NotCrowd,
                detail: format!(
                    "{}: the answer is not Crowd's ({e}; starts with {:?})",
                    call.path,
                    preview(&answer.body)
                ),
            }])
        })
    }

    /// A request whose success has no entity (204); Crowd's refusals become errors.
    fn send(&self, call: &Call) -> Result<(), CrowdError> {
        let answer = self.request(call)?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(refusal(&answer))
        }
    }

    /// All pages of a list, `PAGE_SIZE` at a time until a short page.
    fn paged<P: Page>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<String>, CrowdError> {
        let mut names = Vec::new();
        let page_size = PAGE_SIZE.to_string();
        for _ in 0..MAX_PAGES {
            let start = names.len().to_string();
            let mut paged_query = query.to_vec();
            paged_query.push(("start-index", &start));
            paged_query.push(("max-results", &page_size));
            let page: P = self.fetch(&Call::get(path, &paged_query))?;
            let page = page.names();
            let last = page.len() < PAGE_SIZE;
            names.extend(page);
            if last {
                return Ok(names);
            }
        }
        Err(CrowdError::Unavailable(vec![Failure {
            url: self.urls[self.preferred.get()].clone(),
            kind: FailureKind::TooLarge,
            detail: format!("{path}: more than {} entries", MAX_PAGES * PAGE_SIZE),
        }]))
    }
}

/// The JSON body of Crowd's validation factors: the client's address, when known.
fn validation_factors(remote_address: Option<&str>) -> serde_json::Value {
    let factors: Vec<serde_json::Value> = remote_address
        .map(|a| json!({ "name": "remote_address", "value": a }))
        .into_iter()
        .collect();
    json!({ "validationFactors": factors })
}

/// A JSON body that may hold a password: wiped when dropped.
fn secret_body(value: &serde_json::Value) -> Result<Zeroizing<Vec<u8>>, CrowdError> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|e| CrowdError::Setup(format!("cannot encode the request: {e}")))
}

/// `/session/TOKEN`, the token encoded as one path segment.
fn session_path(token: &str) -> String {
    format!("/session/{}", utf8_percent_encode(token, NON_ALPHANUMERIC))
}

impl Directory for RestClient {
    fn ping(&self) -> Result<(), CrowdError> {
        self.fetch::<serde_json::Value>(&Call::get("/config/cookie", &[]))
            .map(|_| ())
    }

    fn authenticate(&self, username: &str, password: &str) -> Result<User, CrowdError> {
        let body = secret_body(&json!({ "value": password }))?;
        self.fetch(&Call::post(
            "/authentication",
            &[("username", username)],
            &body,
        ))
    }

    fn user(&self, username: &str) -> Result<User, CrowdError> {
        self.fetch(&Call::get("/user", &[("username", username)]))
    }

    fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<GroupPage>("/user/group/direct", &[("username", username)])
    }

    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<GroupPage>("/user/group/nested", &[("username", username)])
    }

    fn nested_group_members(&self, group: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<UserPage>("/group/user/nested", &[("groupname", group)])
    }

    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError> {
        let query = [("groupname", group), ("username", username)];
        let answer = self.request(&Call::get("/group/user/nested", &query))?;
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

    fn create_session(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        let body = secret_body(&json!({
            "username": username,
            "password": password,
            "validation-factors": validation_factors(remote_address),
        }))?;
        self.fetch(&Call::post("/session", &[], &body))
    }

    fn validate_session(
        &self,
        token: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        let body = secret_body(&validation_factors(remote_address))?;
        self.fetch(&Call::post(&session_path(token), &[], &body))
    }

    fn terminate_session(&self, token: &str) -> Result<(), CrowdError> {
        let path = session_path(token);
        self.send(&Call {
            method: Method::Delete,
            path: &path,
            query: &[],
            body: None,
        })
    }

    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError> {
        let query = [("username", username), ("expand", "attributes")];
        self.fetch::<decode::UserWithAttributes>(&Call::get("/user", &query))
            .map(decode::UserWithAttributes::split)
    }

    fn store_user_attribute(
        &self,
        username: &str,
        name: &str,
        values: &[String],
    ) -> Result<(), CrowdError> {
        let body = serde_json::to_vec(&json!({
            "attributes": [{ "name": name, "values": values }],
        }))
        .map_err(|e| CrowdError::Setup(format!("cannot encode the request: {e}")))?;
        self.send(&Call::post(
            "/user/attribute",
            &[("username", username)],
            &body,
        ))
    }

    fn set_password(&self, username: &str, new_password: &str) -> Result<(), CrowdError> {
        let body = secret_body(&json!({ "value": new_password }))?;
        self.send(&Call {
            method: Method::Put,
            path: "/user/password",
            query: &[("username", username)],
            body: Some(&body),
        })
    }

    fn remove_user_attribute(&self, username: &str, name: &str) -> Result<(), CrowdError> {
        self.send(&Call {
            method: Method::Delete,
            path: "/user/attribute",
            query: &[("username", username), ("attributename", name)],
            body: None,
        })
    }
}

fn read_body(response: &mut Response<Body>) -> Result<Vec<u8>, (FailureKind, String)> {
    response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => (
                FailureKind::TooLarge,
                format!("answer larger than {MAX_BODY_BYTES} bytes"),
            ),
            e => {
                let (kind, detail) = failure_of(&e);
                (kind, format!("reading the answer: {detail}"))
            }
        })
}

/// Sorts an HTTP answer into Crowd's answer or a failure of this URL.
fn classify(
    status: u16,
    body: Vec<u8>,
    response: &Response<Body>,
) -> Result<Answer, (FailureKind, String)> {
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
        300..=399 => Err((
            FailureKind::Redirect,
            format!(
                "redirect ({status}) to {:?}, not followed: is the url's scheme or context path right?",
                header("location").unwrap_or_default()
            ),
        )),
        429 => Err((
            FailureKind::RateLimited,
            match header("retry-after") {
                Some(after) => format!("rate limited (429, Retry-After: {after})"),
                None => "rate limited (429)".into(),
            },
        )),
        500..=599 => Err((
            FailureKind::ServerError,
            match crowd_error {
                Some(e) => format!("server error ({status} {})", e.reason),
                None => format!("server error ({status})"),
            },
        )),
        401 => Err((
            FailureKind::ApplicationRejected,
            "Crowd refused the application's credentials (401): check `application` and the password"
                .into(),
        )),
        _ if crowd_error.is_some() => Ok(Answer { status, body }),
        403 => Err((
            FailureKind::AddressRejected,
            "Crowd refused this application or host (403): is this host's address allowed for the application?"
                .into(),
        )),
        _ => Err((
            FailureKind::NotCrowd,
            format!(
                "answered {status} without Crowd's error body (starts with {:?}): is the url's context path right?",
                preview(&body)
            ),
        )),
    }
}

/// Crowd's refusal in an error answer.
fn refusal(answer: &Answer) -> CrowdError {
    match decode::crowd_error(&answer.body) {
        Some((reason, message)) => CrowdError::Refused {
            status: answer.status,
            reason,
            message,
        },
        // `classify` passes only 2xx and answers with Crowd's error body on.
        None => CrowdError::Refused {
            status: answer.status,
            reason: Reason::Other(format!("HTTP {}", answer.status)),
            message: preview(&answer.body),
        },
    }
}

/// A short, printable start of a body, for log lines.
fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(40)])
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// The kind and words of a transport failure.
fn failure_of(e: &ureq::Error) -> (FailureKind, String) {
    match e {
        ureq::Error::Timeout(_) => (FailureKind::Timeout, "timed out".into()),
        ureq::Error::HostNotFound => (FailureKind::Connect, "host not found".into()),
        // rustls reports certificate problems as invalid data on the stream.
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            (FailureKind::Tls, format!("TLS handshake failed: {io}"))
        }
        ureq::Error::Io(io) => (FailureKind::Connect, format!("connection failed: {io}")),
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => {
            (FailureKind::Tls, format!("TLS failed: {e}"))
        }
        other => (FailureKind::Connect, other.to_string()),
    }
}
