//! The HTTP side every Crowd protocol shares: one ureq agent (see `transport`), the
//! base URLs tried in order from the one that answered last, each given an equal
//! share of the time left before the deadline, and a trail of what each request did.
//! A protocol says only what its requests are and which answers are Crowd's.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use ureq::http::{HeaderMap, Response};
use ureq::{Body, RequestBuilder};

use super::settings::ClientSettings;
use super::url::BaseUrl;
use super::{CrowdError, Deadline, Failure, FailureKind, cookies, transport};

/// No Crowd answer this crate reads comes near this; a larger one is not Crowd's.
const MAX_BODY_BYTES: u64 = 4 << 20;
/// Size of each connection's read and write buffers: one TLS record.
const IO_BUFFER_BYTES: usize = 16 << 10;

#[derive(Clone, Copy)]
pub(super) enum Method {
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

/// One HTTP request below a base URL.
pub(super) struct Exchange<'a> {
    pub method: Method,
    /// Path below the base URL, including the protocol's own prefix.
    pub path: &'a str,
    /// What the trail calls the request (a REST path, a SOAP operation).
    pub label: &'a str,
    /// Query parameters: names, never secrets (passwords travel in bodies).
    pub query: &'a [(&'a str, &'a str)],
    /// Headers besides the agent's own.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
}

impl Exchange<'_> {
    /// `GET https://crowd/crowd /user username="alice"`, for the debug trail.
    fn describe(&self, base: &str) -> String {
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!(
            "{} {base} {} {}",
            self.method.as_str(),
            self.label,
            query.join(" ")
        )
    }
}

/// An HTTP answer a protocol accepted as Crowd's.
pub(super) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// How a protocol sorts an HTTP answer: Crowd's (to decode), or a failure of the URL
/// that gave it (to try the next).
pub(super) type Judge = fn(u16, Vec<u8>, &HeaderMap) -> Result<Answer, (FailureKind, String)>;

/// The connection side of a client bound to one deadline. The agent's connection
/// stays open between requests; clones share it.
#[derive(Clone)]
pub(super) struct Http {
    agent: ureq::Agent,
    urls: Vec<BaseUrl>,
    deadline: Cell<Deadline>,
    /// The URL that answered last: later requests start there.
    preferred: Cell<usize>,
    /// One line per request made, for debug logging.
    trail: RefCell<Vec<String>>,
    /// The cookies each URL set (Crowd's session), sent back to it alone.
    cookies: cookies::Jar,
}

impl Http {
    pub fn new(settings: &ClientSettings, deadline: Deadline) -> Result<Http, CrowdError> {
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
            .https_only(settings.urls.iter().all(BaseUrl::is_https))
            .user_agent(concat!("pam_crowd/", env!("CARGO_PKG_VERSION")))
            // ureq's 128 KiB buffers, zeroed for each connection (TCP and TLS layers
            // both), cost a fresh process more page faults than the whole TLS
            // handshake; Crowd's answers are read in chunks and its headers are small.
            .input_buffer_size(IO_BUFFER_BYTES)
            .output_buffer_size(IO_BUFFER_BYTES)
            .max_response_header_size(IO_BUFFER_BYTES)
            .build();
        Ok(Http {
            agent: transport::agent(config, settings.ca_file.as_deref())?,
            urls: settings.urls.clone(),
            deadline: Cell::new(deadline),
            preferred: Cell::new(0),
            trail: RefCell::new(Vec::new()),
            cookies: cookies::Jar::default(),
        })
    }

    /// Starts another call on the open connection: a new deadline, an empty trail.
    pub fn begin(&self, deadline: Deadline) {
        self.deadline.set(deadline);
        self.trail.borrow_mut().clear();
    }

    /// What each request did (URL, status or failure, time), oldest first.
    pub fn trail(&self) -> Vec<String> {
        self.trail.borrow().clone()
    }

    /// "The answer is not Crowd's", blamed on the URL that gave it.
    pub fn not_crowd(&self, detail: String) -> CrowdError {
        self.failure(FailureKind::NotCrowd, detail)
    }

    /// A failure of the URL that answered last.
    pub fn failure(&self, kind: FailureKind, detail: String) -> CrowdError {
        CrowdError::Unavailable(vec![Failure {
            url: self.urls[self.preferred.get() % self.urls.len()].to_string(),
            kind,
            detail,
        }])
    }

    /// Sends one request, trying each URL in turn from the one that answered last.
    /// A URL gets an equal share of the time left, so a hanging one leaves time for
    /// the rest.
    pub fn request(&self, exchange: &Exchange, judge: Judge) -> Result<Answer, CrowdError> {
        let n = self.urls.len();
        let first = self.preferred.get();
        let mut failures = Vec::new();
        for i in 0..n {
            let index = (first + i) % n;
            let base = &self.urls[index];
            let left = self.deadline.get().remaining();
            if left.is_zero() {
                failures.push(Failure {
                    url: base.to_string(),
                    kind: FailureKind::Timeout,
                    detail: "no time left".into(),
                });
                break;
            }
            let budget = left / (n - i) as u32;
            let started = Instant::now();
            let outcome = self.attempt(index, exchange, budget, judge);
            let elapsed = started.elapsed().as_millis();
            let what = exchange.describe(base.as_str());
            match outcome {
                Ok(answer) => {
                    self.note(format!("{what}: {} in {elapsed} ms", answer.status));
                    self.preferred.set(index);
                    return Ok(answer);
                }
                Err((kind, detail)) => {
                    self.note(format!("{what}: {detail} after {elapsed} ms"));
                    failures.push(Failure {
                        url: base.to_string(),
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
        index: usize,
        exchange: &Exchange,
        budget: Duration,
        judge: Judge,
    ) -> Result<Answer, (FailureKind, String)> {
        let url = format!("{}{}", self.urls[index].as_str(), exchange.path);
        let cookie = self.cookies.header(index);
        let cookie = cookie.as_deref().map(String::as_str);
        let result = match exchange.method {
            Method::Get => prepare(self.agent.get(&url), exchange, cookie, budget).call(),
            Method::Delete => prepare(self.agent.delete(&url), exchange, cookie, budget).call(),
            Method::Post => prepare(self.agent.post(&url), exchange, cookie, budget)
                .send(exchange.body.unwrap_or_default()),
            Method::Put => prepare(self.agent.put(&url), exchange, cookie, budget)
                .send(exchange.body.unwrap_or_default()),
        };
        let mut response = result.map_err(|e| failure_of(&e))?;
        self.cookies.keep(index, response.headers());
        let status = response.status().as_u16();
        let body = read_body(&mut response)?;
        judge(status, body, response.headers())
    }
}

fn prepare<B>(
    request: RequestBuilder<B>,
    exchange: &Exchange,
    cookie: Option<&str>,
    budget: Duration,
) -> RequestBuilder<B> {
    let mut request = request;
    for (name, value) in exchange.headers {
        request = request.header(*name, *value);
    }
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    for (key, value) in exchange.query {
        // ureq percent-encodes query keys and values.
        request = request.query(*key, *value);
    }
    request.config().timeout_global(Some(budget)).build()
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

/// The failures any protocol's answer can be, whatever its body: a redirect (never
/// followed) and rate limiting.
pub(super) fn redirect_or_rate_limit(
    status: u16,
    headers: &HeaderMap,
) -> Option<(FailureKind, String)> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match status {
        300..=399 => Some((
            FailureKind::Redirect,
            format!(
                "redirect ({status}) to {:?}, not followed: is the url's scheme or context path right?",
                header("location").unwrap_or_default()
            ),
        )),
        429 => Some((
            FailureKind::RateLimited,
            match header("retry-after") {
                Some(after) => format!("rate limited (429, Retry-After: {after})"),
                None => "rate limited (429)".into(),
            },
        )),
        _ => None,
    }
}

/// A short, printable start of a body, for log lines.
pub(super) fn preview(body: &[u8]) -> String {
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
