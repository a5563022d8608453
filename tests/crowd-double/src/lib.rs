//! A Crowd double: a real HTTP or HTTPS server on 127.0.0.1 that answers Crowd's
//! REST API and its SecurityServer SOAP service from one [`Fixture`], records every
//! request, and misbehaves on demand ([`Fault`]). Used by the integration tests and
//! the demo.
//!
//! HTTPS uses a CA made at start-up; [`Double::ca_file`] is its PEM, for `ca_file`.

// Test support, built as a library: a broken fixture or a failed socket call should
// stop the test that caused it at once, so expect and panic are allowed here, not in
// the product. Every other workspace lint (function length included) holds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod directory;
mod events;
// libpam driven directly (pam_start_confdir and a conversation), for tests and the
// benchmark: its FFI is the reason for the unsafe code there.
#[allow(unsafe_code)]
pub mod pam_app;
mod soap;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;

pub use directory::{Fixture, Group, Request, User};
pub use events::{Change, Dialect, EventMode, EventStore, EventStyle};
pub use soap::fault_for as soap_fault_for;

/// The Crowd context path the double serves under.
pub const CONTEXT: &str = "/crowd";
const REST_BASE: &str = "/crowd/rest/usermanagement/1";
/// How long a hanging or idle connection is held at most, so no thread outlives a test
/// run by much even if a client never closes.
const HOLD_LIMIT: Duration = Duration::from_secs(120);

/// How the double speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP.
    Http,
    /// HTTPS with a certificate for `localhost` and 127.0.0.1 from the double's CA.
    Https,
    /// HTTPS with a certificate from the double's CA for another host name.
    HttpsWrongHost,
    /// HTTPS with a certificate for the right host from a CA nobody trusts.
    HttpsUntrustedCa,
    /// HTTPS with a certificate of the double's CA that expired in 2001.
    HttpsExpired,
}

/// A canned HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    /// An answer with a body and content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Canned {
        Canned {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How the double misbehaves, for every request until changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers as Crowd would.
    None,
    /// Answers this, whatever was asked.
    Respond(Canned),
    /// Reads the request and never answers.
    Hang,
    /// Reads the request and closes the connection.
    Close,
    /// Answers 200 with a body of this many bytes.
    Huge(usize),
    /// Answers normally, one byte at a time with this pause between bytes.
    Trickle(Duration),
    /// Sends the head and part of the body, then resets the connection (RST).
    ResetMidBody,
}

struct State {
    fixture: Fixture,
    fault: Fault,
    /// Faults for requests about one user (query `username`), over `fault`.
    user_faults: std::collections::BTreeMap<String, Fault>,
    requests: Vec<Request>,
    app: (String, String),
    /// SOAP application tokens given out and still valid, with the calls each made.
    soap_tokens: std::collections::BTreeMap<String, usize>,
    /// Those of them given to the read-only keys application.
    soap_read_only_tokens: std::collections::BTreeSet<String>,
    /// Tomcat sessions in which the REST filter checked the application.
    app_sessions: std::collections::BTreeSet<String>,
    /// Application checks made (requests that brought no known session).
    app_checks: usize,
    soap_tokens_issued: usize,
    /// Calls a SOAP application token is good for; `None`: unlimited.
    soap_token_uses: Option<usize>,
    /// Only SOAP is served: a Crowd before 2.1, which has no REST API.
    soap_only: bool,
    /// The event API: what changed since a token.
    events: events::EventLog,
}

/// A running double. Dropping it stops the server.
pub struct Double {
    addr: SocketAddr,
    transport: Transport,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    /// Every open connection's socket, so that stopping can end the blocked reads;
    /// a connection's thread removes its own on the way out.
    open: Arc<Mutex<std::collections::HashMap<usize, TcpStream>>>,
    ca_file: Option<PathBuf>,
    dir: PathBuf,
    accept_thread: Option<JoinHandle<()>>,
}

/// The application name and password the double accepts.
pub const APP_NAME: &str = "linux-hosts";
pub const APP_PASSWORD: &str = "app-secret-do-not-log";
/// A second application, read-only: it may look users up but change nothing, as the
/// README tells admins to make the one `ssh_keys_application` names. Crowd refuses an
/// application's writes without the directory permission with 403
/// APPLICATION_PERMISSION_DENIED (SOAP: ApplicationPermissionException).
pub const KEYS_APP_NAME: &str = "linux-hosts-keys";
pub const KEYS_APP_PASSWORD: &str = "keys-secret-do-not-log";

impl Double {
    /// Starts a double on 127.0.0.1 with an ephemeral port.
    pub fn start(fixture: Fixture, transport: Transport) -> Double {
        Double::start_on(fixture, transport, 0)
    }

    /// Starts a double on 127.0.0.1:`port` (0: any free port).
    pub fn start_on(fixture: Fixture, transport: Transport, port: u16) -> Double {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "crowd-double-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let (tls, ca_file) = match transport {
            Transport::Http => (None, None),
            _ => {
                let (config, ca_pem) = tls::server_config(transport);
                let ca_file = dir.join("ca.pem");
                std::fs::write(&ca_file, ca_pem).expect("write CA");
                (Some(Arc::new(config)), Some(ca_file))
            }
        };
        let state = Arc::new(Mutex::new(State {
            fixture,
            fault: Fault::None,
            user_faults: Default::default(),
            requests: Vec::new(),
            app: (APP_NAME.into(), APP_PASSWORD.into()),
            soap_tokens: Default::default(),
            soap_read_only_tokens: Default::default(),
            app_sessions: Default::default(),
            app_checks: 0,
            soap_tokens_issued: 0,
            soap_token_uses: None,
            soap_only: false,
            events: events::EventLog::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let accept_thread = {
            let (state, stop, connections) = (state.clone(), stop.clone(), connections.clone());
            let open = open.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // As Tomcat (Crowd's container) does: without it, a TLS session
                    // ticket and an answer written back to back wait for a delayed
                    // ACK, and every login costs 40 ms.
                    let _ = stream.set_nodelay(true);
                    let id = connections.fetch_add(1, Ordering::SeqCst);
                    if let Ok(clone) = stream.try_clone() {
                        open.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(id, clone);
                    }
                    let (state, stop, tls, open) =
                        (state.clone(), stop.clone(), tls.clone(), open.clone());
                    std::thread::spawn(move || {
                        serve(stream, tls, &state, &stop);
                        open.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    });
                }
            })
        };
        Double {
            addr,
            transport,
            state,
            stop,
            connections,
            open,
            ca_file,
            dir,
            accept_thread: Some(accept_thread),
        }
    }

    /// The base URL to configure: scheme, host, port and context path.
    pub fn url(&self) -> String {
        let scheme = if self.transport == Transport::Http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://localhost:{}{CONTEXT}", self.addr.port())
    }

    /// The base URL with the IP literal 127.0.0.1 instead of `localhost`: no name to
    /// resolve (the certificate names both).
    pub fn ip_url(&self) -> String {
        self.url().replacen("://localhost:", "://127.0.0.1:", 1)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The PEM file of the CA that signed the certificate (HTTPS only; for the
    /// untrusted-CA transport, a CA that did *not* sign it).
    /// The double's own temporary directory (its CA), removed when it is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Changes how the double answers from the next request on.
    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = fault;
    }

    /// Misbehaves this way for requests about `user` only.
    pub fn set_user_fault(&self, user: &str, fault: Fault) {
        self.lock().user_faults.insert(user.to_owned(), fault);
    }

    /// Replaces the directory.
    ///
    /// No event says what changed, so earlier event tokens expire (410), as Crowd's
    /// do when a directory is reconfigured: the next sync is a full one. Tests of
    /// incremental sync change the directory through [`Double::change`].
    pub fn set_fixture(&self, fixture: Fixture) {
        let mut s = self.lock();
        s.fixture = fixture;
        s.events.evict();
    }

    /// Every request answered or refused so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// How many requests were answered or refused so far.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Application checks Crowd made so far: REST requests that brought back no
    /// session cookie of an earlier check, and SOAP's `authenticateApplication`.
    pub fn app_checks(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.app_check || r.op() == "app-auth")
            .count()
    }

    /// What Crowd was asked, oldest first, as [`Request::op`] words.
    pub fn asked(&self) -> Vec<String> {
        self.lock()
            .requests
            .iter()
            .map(|r| r.op().to_owned())
            .collect()
    }

    /// Serves SOAP only, as a Crowd before 2.1 (the REST API answers 404).
    pub fn soap_only(&self) {
        self.lock().soap_only = true;
    }

    /// Makes every SOAP application token expire after `uses` calls, as Crowd's do
    /// after its session timeout (0: invalid at once).
    pub fn limit_app_tokens(&self, uses: usize) {
        self.lock().soap_token_uses = Some(uses);
    }

    /// TCP connections accepted so far (each costs the client a TLS handshake).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Changes the directory as an admin would in Crowd, recording the event.
    pub fn change(&self, change: Change) {
        let mut s = self.lock();
        let State {
            fixture, events, ..
        } = &mut *s;
        events.apply(fixture, &change);
    }

    /// How the event API words its answers.
    pub fn event_style(&self, style: EventStyle) {
        self.lock().events.style = style;
    }

    /// Whether the event API is offered.
    pub fn event_mode(&self, mode: EventMode) {
        self.lock().events.mode = mode;
    }

    /// Forgets the events so far: tokens from before expire (410).
    pub fn evict_events(&self) {
        self.lock().events.evict();
    }

    /// Which of Crowd's event stores the double runs (REAL-CROWD.md).
    pub fn event_store(&self, store: EventStore) {
        self.lock().events.store = store;
    }

    /// Which server's JSON the double speaks: Crowd 5's, 2.3's or 6.0.1's reference's.
    pub fn dialect(&self, dialect: Dialect) {
        self.lock().events.dialect = dialect;
    }

    /// Gives `n` events again before each token's, as a cluster's event store does.
    pub fn rewind_events(&self, n: usize) {
        self.lock().events.rewind = n;
    }

    /// A copy of the directory now.
    pub fn fixture(&self) -> Fixture {
        self.lock().fixture.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        // Blocked reads return end-of-file, and each connection's thread ends.
        for (_, socket) in self.open.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn serve(
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: &Mutex<State>,
    stop: &AtomicBool,
) {
    // No read timeout: a timeout inside TLS I/O is not worth its risks here; stopping
    // the double shuts the socket down instead (see `Drop`).
    let raw = tcp.try_clone();
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(config) => match rustls::ServerConnection::new(config) {
            Ok(conn) => Box::new(rustls::StreamOwned::new(conn, tcp)),
            Err(_) => return,
        },
    };
    let mut reader = BufReader::new(stream);
    let started = Instant::now();
    // Keep-alive: one request after another until the client closes or we stop.
    while !stop.load(Ordering::SeqCst) && started.elapsed() < HOLD_LIMIT {
        let (head, body) = match read_request(&mut reader, stop) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        let (mut request, authorized) = parse(&head, body, state);
        let fault = {
            let s = state.lock().unwrap_or_else(|p| p.into_inner());
            request
                .param("username")
                .and_then(|u| s.user_faults.get(u))
                .unwrap_or(&s.fault)
                .clone()
        };
        let canned = match &fault {
            Fault::Hang => {
                record(state, request);
                while !stop.load(Ordering::SeqCst) && started.elapsed() < HOLD_LIMIT {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Fault::Close => {
                record(state, request);
                if let Ok(raw) = &raw {
                    let _ = raw.shutdown(Shutdown::Both);
                }
                return;
            }
            Fault::ResetMidBody => {
                record(state, request);
                let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\": \"al";
                let stream = reader.get_mut();
                let _ = stream.write_all(head).and_then(|_| stream.flush());
                if let Ok(raw) = &raw {
                    reset(raw);
                }
                return;
            }
            Fault::Respond(c) => c.clone(),
            Fault::Huge(n) => Canned::new(200, "application/json", vec![b' '; *n]),
            Fault::None | Fault::Trickle(_) => crowd_answer(state, &mut request, authorized),
        };
        record(state, request);
        let bytes = render(&canned);
        let stream = reader.get_mut();
        let written = match fault {
            Fault::Trickle(pause) => bytes.iter().try_for_each(|b| {
                std::thread::sleep(pause);
                stream.write_all(&[*b]).and_then(|_| stream.flush())
            }),
            _ => stream.write_all(&bytes).and_then(|_| stream.flush()),
        };
        if written.is_err() {
            return;
        }
    }
}

/// Reads one request head and its body; `None` when the client closed.
fn read_request(
    reader: &mut BufReader<Box<dyn Stream>>,
    stop: &AtomicBool,
) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut head = Vec::new();
    let started = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) || started.elapsed() > HOLD_LIMIT || head.len() > 65536 {
            return Ok(None);
        }
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                head.extend_from_slice(&line);
                continue;
            }
            Err(e) => return Err(e),
        }
        head.extend_from_slice(&line);
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    if req.parse(&head).is_err() {
        return Ok(None);
    }
    let length = req
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
    let mut body = vec![0; length.min(16 << 20)];
    let mut filled = 0;
    while filled < body.len() {
        if stop.load(Ordering::SeqCst) || started.elapsed() > HOLD_LIMIT {
            return Ok(None);
        }
        match reader.read(&mut body[filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some((head, body)))
}

/// Decodes the request and checks the application's Basic credentials.
fn parse(head: &[u8], body: Vec<u8>, state: &Mutex<State>) -> (Request, bool) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let _ = req.parse(head);
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let authorization = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned())
        .unwrap_or_default();
    let app = state.lock().unwrap_or_else(|p| p.into_inner()).app.clone();
    let basic = |name: &str, password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
        )
    };
    let expected = basic(&app.0, &app.1);
    let read_only = authorization == basic(KEYS_APP_NAME, KEYS_APP_PASSWORD);
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    // The Tomcat session the client sent back, if any.
    let session_cookie = header("cookie").and_then(|cookies| {
        cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == "JSESSIONID")
            .map(|(_, value)| value.to_owned())
    });
    let wants_json = header("accept").is_some_and(|a| a.contains("application/json"));
    let request = Request {
        method: req.method.unwrap_or_default().to_owned(),
        path: path.strip_prefix(REST_BASE).unwrap_or(path).to_owned(),
        below_base: path.starts_with(REST_BASE),
        operation: None,
        query: query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k), form_decode(v))
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        read_only,
        session_cookie,
        app_check: false,
        wants_json,
    };
    let mut request = request;
    if request.method == "POST" && path == soap::SOAP_PATH {
        // SOAP: the operation and the names it is about, as a REST request has them.
        if let Some((operation, names)) = soap::describe(&request.body) {
            request.operation = Some(operation);
            request.query = names;
        }
    }
    let authorized = authorization == expected || read_only;
    (request, authorized)
}

/// Decodes a query component as a servlet container does: `+` is a space.
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Crowd's version header, on every answer of its REST API.
const CROWD_VERSION: &str = "5.1.4";

fn crowd_answer(state: &Mutex<State>, request: &mut Request, authorized: bool) -> Canned {
    let answer = rest_answer(state, request, authorized);
    if !request.below_base || request.operation.is_some() {
        return answer;
    }
    let answer = answer.header(
        "X-Embedded-Crowd-Version",
        &format!("Crowd/{CROWD_VERSION}"),
    );
    // Crowd's REST filter checks the application's password (a slow hash) unless the
    // request brings back the Tomcat session in which it did so before, and caches
    // the check in a new session otherwise ("clients wishing to take advantage of
    // this feature must support cookies"). Counted, so tests can assert how many.
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let known = request
        .session_cookie
        .as_ref()
        .is_some_and(|c| s.app_sessions.contains(c));
    if known || !authorized {
        return answer;
    }
    request.app_check = true;
    s.app_checks += 1;
    let session = format!("{:032X}", 0x5e55_1000_u64 + s.app_checks as u64);
    s.app_sessions.insert(session.clone());
    // Tomcat adds Max-Age when the webapp's session-config sets a cookie max-age:
    // every other session here has one, so a client dropping such cookies pays an
    // application check per request, and the counting tests see it.
    let max_age = match s.app_checks % 2 {
        0 => "; Max-Age=1800",
        _ => "",
    };
    answer.header(
        "Set-Cookie",
        &format!("JSESSIONID={session}; Path=/crowd; HttpOnly{max_age}"),
    )
}

fn rest_answer(state: &Mutex<State>, request: &Request, authorized: bool) -> Canned {
    if request.method == "POST" && request.path == soap::SOAP_PATH {
        // SOAP authenticates the application inside the envelope, not with Basic.
        return soap::answer(
            &mut state.lock().unwrap_or_else(|p| p.into_inner()),
            request,
        );
    }
    if !request.below_base || state.lock().unwrap_or_else(|p| p.into_inner()).soap_only {
        // Another context path (or a Crowd without REST): the servlet container's page.
        return tomcat_404();
    }
    if !authorized {
        return Canned::new(
            401,
            "text/plain;charset=UTF-8",
            "Application failed to authenticate",
        )
        .header("WWW-Authenticate", "BASIC realm=\"Crowd REST Service\"");
    }
    if request.method == "GET" {
        let s = state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((status, kind, body)) = s.events.answer(&request.path, !request.wants_json) {
            return Canned::new(status, kind, body);
        }
    }
    if !request.wants_json {
        // Without `Accept: application/json`, Crowd's resources answer XML.
        return Canned::new(
            200,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><entity/>",
        );
    }
    let writes = matches!(request.method.as_str(), "PUT" | "DELETE")
        || (request.method == "POST" && request.path.starts_with("/user"));
    if request.read_only && writes {
        return Canned::new(
            403,
            "application/json",
            serde_json::json!({
                "reason": "APPLICATION_PERMISSION_DENIED",
                "message": "Application does not have permission to update user attributes",
            })
            .to_string(),
        );
    }
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let dialect = s.events.dialect;
    match directory::answer(&mut s.fixture, request, dialect) {
        (404, serde_json::Value::Null) => tomcat_404(),
        (204, _) => Canned::new(204, "application/json", ""),
        (status, mut json) => {
            if dialect == Dialect::Singular {
                events::singular(&mut json);
            }
            Canned::new(status, "application/json", json.to_string())
        }
    }
}

/// Closes with a TCP reset rather than a clean close: SO_LINGER on, zero seconds.
#[allow(unsafe_code)]
fn reset(socket: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = socket.shutdown(Shutdown::Both);
}

fn tomcat_404() -> Canned {
    Canned::new(
        404,
        "text/html",
        "<html><body><h1>HTTP Status 404 - Not Found</h1></body></html>",
    )
}

fn record(state: &Mutex<State>, request: Request) {
    state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .requests
        .push(request);
}

fn render(c: &Canned) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} Double\r\n", c.status);
    for (k, v) in &c.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", c.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&c.body);
    bytes
}

mod tls {
    use super::Transport;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA cert");
        (params, key, cert.pem())
    }

    /// The server's TLS config and the PEM of the CA to give the client.
    pub fn server_config(transport: Transport) -> (rustls::ServerConfig, String) {
        let (ca_params, ca_key, ca_pem) = ca("crowd-double test CA");
        let names = match transport {
            Transport::HttpsWrongHost => vec!["wrong.example.org".to_string()],
            _ => vec!["localhost".to_string(), "127.0.0.1".to_string()],
        };
        let mut params = CertificateParams::new(names).expect("leaf params");
        if transport == Transport::HttpsExpired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let leaf = if transport == Transport::HttpsUntrustedCa {
            let (other_params, other_key, _) = ca("crowd-double untrusted CA");
            params
                .signed_by(&key, &Issuer::from_params(&other_params, &other_key))
                .expect("leaf cert")
        } else {
            params
                .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
                .expect("leaf cert")
        };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        (config, ca_pem)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_decoding_is_servlet_like() {
        assert_eq!(super::form_decode("a+b%2Bc%26d%C3%BC"), "a b+c&dü");
    }
}
