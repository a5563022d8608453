//! [`Directory`] over Crowd's REST API, on ureq with rustls: blocking, no async
//! runtime, one connection reused across the requests of one client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use serde_json::json;
use ureq::http::HeaderMap;
use zeroize::Zeroizing;

use super::decode::{self, DecodeError, GroupPage, Page, UserEntityPage, UserPage};
use super::events::{self, EventBatch, EventStart};
use super::http::{self, Answer, Exchange, Http, Method, preview};
use super::{
    AdminDirectory, Attributes, ClientSettings, CrowdError, Deadline, FailureKind, LoginDirectory,
    Reason, Session, SyncDirectory, User, UserDirectory,
};

/// Path of the user-management API below a base URL.
const API: &str = "/rest/usermanagement/1";
/// Crowd's page size for lists; a shorter page is the last.
const PAGE_SIZE: usize = 1000;
/// Bound on paging: 200 pages is 200,000 entries.
const MAX_PAGES: usize = 200;
/// Names asked for in one user search: a longer OR is a heavier query for Crowd's
/// database than the round trip it saves.
const NAMES_PER_SEARCH: usize = 100;

/// A Crowd REST client bound to one deadline. Its connection stays open between
/// requests, and between calls when the client is kept (see [`RestClient::begin`]);
/// clones share it.
#[derive(Clone)]
pub struct RestClient {
    http: Http,
    authorization: Zeroizing<String>,
    /// The server's user search ignored `expand=attributes` (Crowd 2.x): every user
    /// came back with an empty list. Learned once, kept for the client's life.
    search_without_attributes: Arc<AtomicBool>,
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
}

impl RestClient {
    /// Builds a client whose every operation must finish by `deadline`.
    pub fn new(settings: &ClientSettings, deadline: Deadline) -> Result<RestClient, CrowdError> {
        // Built in buffers of their final size, each wiped when dropped: growing a
        // String (or a temporary base64 one) would leave copies in freed memory.
        let secret = settings.app_password.expose();
        let mut credentials = Zeroizing::new(String::with_capacity(
            settings.application.len() + 1 + secret.len(),
        ));
        credentials.push_str(&settings.application);
        credentials.push(':');
        credentials.push_str(secret);
        let mut authorization =
            Zeroizing::new(String::with_capacity(6 + credentials.len().div_ceil(3) * 4));
        authorization.push_str("Basic ");
        base64::engine::general_purpose::STANDARD
            .encode_string(credentials.as_bytes(), &mut authorization);
        Ok(RestClient {
            http: Http::new(settings, deadline)?,
            authorization,
            search_without_attributes: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Starts another call on this client and its open connection: a new deadline,
    /// an empty trail.
    pub fn begin(&self, deadline: Deadline) {
        self.http.begin(deadline);
    }

    /// What each request did (URL, status or failure, time), oldest first.
    pub fn trail(&self) -> Vec<String> {
        self.http.trail()
    }

    /// Sends one request to the user-management API.
    fn request(&self, call: &Call) -> Result<Answer, CrowdError> {
        self.request_judged(call, classify)
    }

    /// [`RestClient::request`] with another judge of the answer.
    fn request_judged(&self, call: &Call, judge: http::Judge) -> Result<Answer, CrowdError> {
        let path = format!("{API}{}", call.path);
        let mut headers = vec![
            ("Accept", "application/json"),
            ("Authorization", self.authorization.as_str()),
        ];
        if call.body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let exchange = Exchange {
            method: call.method,
            path: &path,
            label: call.path,
            query: call.query,
            headers: &headers,
            body: call.body,
        };
        self.http.request(&exchange, judge)
    }

    /// An event answer, read by `read`; anything else is not Crowd's.
    fn events_answer<T>(
        &self,
        path: &str,
        answer: &Answer,
        read: fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T, CrowdError> {
        read(&answer.body).map_err(|e| {
            self.http.not_crowd(format!(
                "{path}: not Crowd's events ({e}; starts with {:?})",
                preview(&answer.body)
            ))
        })
    }

    /// A request whose success is a JSON entity; Crowd's refusals become errors.
    fn fetch<T: DeserializeOwned>(&self, call: &Call) -> Result<T, CrowdError> {
        self.fetch_with(call, |body| {
            serde_json::from_slice(body).map_err(DecodeError::syntax)
        })
    }

    /// [`RestClient::fetch`], the entity read by `decode`.
    fn fetch_with<T>(
        &self,
        call: &Call,
        decode: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T, CrowdError> {
        let answer = self.request(call)?;
        if !(200..300).contains(&answer.status) {
            return Err(refusal(&answer));
        }
        decode(&answer.body).map_err(|e| self.not_understood(call.path, &answer, e))
    }

    /// An answer whose shape is not what was asked for: XML where JSON was asked for
    /// is said so, with the field serde names otherwise.
    fn not_understood(&self, path: &str, answer: &Answer, e: impl std::fmt::Display) -> CrowdError {
        let start = preview(&answer.body);
        self.http.not_crowd(match decode::is_xml(&answer.body) {
            true => format!(
                "{path}: answered XML where JSON was asked for (a proxy, or a server \
                 ignoring Accept; starts with {start:?})"
            ),
            false => format!("{path}: the answer is not Crowd's ({e}; starts with {start:?})"),
        })
    }

    /// The search's users with their attributes, one page at a time; `None` when the
    /// server ignores the expansion (remembered: see `search_without_attributes`).
    /// A real user read with attributes always has internal ones
    /// (`requiresPasswordChange`), so a page whose users all have none was not expanded.
    fn search_users(
        &self,
        restriction: &str,
    ) -> Result<Option<Vec<(User, Attributes)>>, CrowdError> {
        if self.search_without_attributes.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let found = self.paged_call::<UserEntityPage>(
            "/search",
            &[("entity-type", "user"), ("expand", "user,attributes")],
            Some(restriction.as_bytes()),
        )?;
        if !found.is_empty() && found.iter().all(|(_, attributes)| attributes.is_empty()) {
            self.search_without_attributes
                .store(true, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(found))
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
    ) -> Result<Vec<P::Item>, CrowdError> {
        self.paged_call::<P>(path, query, None)
    }

    /// [`RestClient::paged`], each page a `POST` of `body` when one is given.
    fn paged_call<P: Page>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Vec<P::Item>, CrowdError> {
        let mut names = Vec::new();
        let page_size = PAGE_SIZE.to_string();
        for _ in 0..MAX_PAGES {
            let start = names.len().to_string();
            let mut paged_query = query.to_vec();
            paged_query.push(("start-index", &start));
            paged_query.push(("max-results", &page_size));
            let call = match body {
                Some(body) => Call::post(path, &paged_query, body),
                None => Call::get(path, &paged_query),
            };
            let page: P = self.fetch(&call)?;
            let page = page.items();
            let last = page.len() < PAGE_SIZE;
            names.extend(page);
            if last {
                return Ok(names);
            }
        }
        Err(self.http.failure(
            FailureKind::TooLarge,
            format!("{path}: more than {} entries", MAX_PAGES * PAGE_SIZE),
        ))
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

/// A JSON body that may hold a password: wiped when dropped. Serialised from borrowed
/// values (no `serde_json::Value` holding a copy of the password) into a buffer large
/// enough from the start, so that no reallocation leaves a copy behind in freed memory.
fn secret_body(
    value: &impl serde::Serialize,
    secret: &str,
) -> Result<Zeroizing<Vec<u8>>, CrowdError> {
    // JSON escapes a byte into at most six (`\u001f`); the rest is names and factors.
    let mut body = Zeroizing::new(Vec::with_capacity(secret.len() * 6 + 1024));
    serde_json::to_writer(&mut *body, value)
        .map_err(|e| CrowdError::Setup(format!("cannot encode the request: {e}")))?;
    Ok(body)
}

/// `{"value": PASSWORD}`, Crowd's password entity.
#[derive(serde::Serialize)]
struct PasswordEntity<'a> {
    value: &'a str,
}

/// Crowd's authentication-context entity, for a new SSO session.
#[derive(serde::Serialize)]
struct AuthenticationContext<'a> {
    username: &'a str,
    password: &'a str,
    #[serde(rename = "validation-factors")]
    validation_factors: serde_json::Value,
}

/// `/session/TOKEN`, the token encoded as one path segment.
fn session_path(token: &str) -> String {
    format!("/session/{}", utf8_percent_encode(token, NON_ALPHANUMERIC))
}

impl UserDirectory for RestClient {
    fn user(&self, username: &str) -> Result<User, CrowdError> {
        self.fetch(&Call::get("/user", &[("username", username)]))
    }

    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError> {
        let query = [("username", username), ("expand", "attributes")];
        self.fetch_with(&Call::get("/user", &query), decode::user_with_attributes)
    }
}

impl LoginDirectory for RestClient {
    fn authenticate(
        &self,
        username: &str,
        password: &str,
        _remote_address: Option<&str>,
    ) -> Result<User, CrowdError> {
        let body = secret_body(&PasswordEntity { value: password }, password)?;
        self.fetch(&Call::post(
            "/authentication",
            &[("username", username)],
            &body,
        ))
    }

    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<GroupPage>("/user/group/nested", &[("username", username)])
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

    fn set_password(&self, username: &str, new_password: &str) -> Result<(), CrowdError> {
        let body = secret_body(
            &PasswordEntity {
                value: new_password,
            },
            new_password,
        )?;
        self.send(&Call {
            method: Method::Put,
            path: "/user/password",
            query: &[("username", username)],
            body: Some(&body),
        })
    }
}

impl SyncDirectory for RestClient {
    fn nested_group_members(&self, group: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<UserPage>("/group/user/nested", &[("groupname", group)])
    }

    fn nested_child_groups(&self, group: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<GroupPage>("/group/child-group/nested", &[("groupname", group)])
    }

    fn event_start(&self) -> Result<EventStart, CrowdError> {
        let answer = self.request_judged(&Call::get("/event", &[]), classify_events)?;
        match answer.status {
            200..=299 => self.events_answer("/event", &answer, events::start),
            404 => Ok(EventStart::Unavailable(
                "the server has no event API (GET /event: 404, before REST API 1.2)".into(),
            )),
            _ => match refusal(&answer) {
                CrowdError::Refused {
                    reason: Reason::IncrementalSyncNotAvailable,
                    message,
                    ..
                } => Ok(EventStart::Unavailable(format!(
                    "Crowd: INCREMENTAL_SYNC_NOT_AVAILABLE ({message})"
                ))),
                other => Err(other),
            },
        }
    }

    fn events_since(&self, token: &str) -> Result<EventBatch, CrowdError> {
        let path = format!("/event/{}", utf8_percent_encode(token, NON_ALPHANUMERIC));
        let answer = self.request_judged(&Call::get(&path, &[]), classify_events)?;
        match answer.status {
            200..=299 => self.events_answer("/event/{token}", &answer, events::batch),
            404 => Err(CrowdError::Refused {
                status: 404,
                reason: Reason::IncrementalSyncNotAvailable,
                message: "the server has no event API".into(),
            }),
            _ => Err(refusal(&answer)),
        }
    }

    fn nested_group_users(&self, group: &str) -> Result<Vec<(User, Attributes)>, CrowdError> {
        let members = self.nested_group_members(group)?;
        match self.active_users_with_attributes()? {
            Some(all) => Ok(super::UserIndex::new(all).members(&members)),
            None => self.users_with_attributes(&members),
        }
    }

    /// Crowd's user search, as its own Java client pages it for users with attributes
    /// (`POST /search?entity-type=user&expand=user,attributes`), restricted to active
    /// users: about one request per thousand users. `None` from a server whose search
    /// ignores the expansion (Crowd 2.x).
    fn active_users_with_attributes(&self) -> Result<Option<Vec<(User, Attributes)>>, CrowdError> {
        let active = json!({
            "restriction-type": "property-search-restriction",
            "property": { "name": "active", "type": "BOOLEAN" },
            "match-mode": "EXACTLY_MATCHES",
            "value": "true",
        })
        .to_string();
        self.search_users(&active)
    }

    /// The search restricted to the names (an OR of exact name matches,
    /// `NAMES_PER_SEARCH` at a time); each user in turn where the search ignores the
    /// expansion.
    fn users_with_attributes(
        &self,
        names: &[String],
    ) -> Result<Vec<(User, Attributes)>, CrowdError> {
        let mut found = Vec::new();
        for chunk in names.chunks(NAMES_PER_SEARCH) {
            let by_name: Vec<serde_json::Value> = chunk
                .iter()
                .map(|name| {
                    json!({
                        "restriction-type": "property-search-restriction",
                        "property": { "name": "name", "type": "STRING" },
                        "match-mode": "EXACTLY_MATCHES",
                        "value": name,
                    })
                })
                .collect();
            let any = json!({
                "restriction-type": "boolean-search-restriction",
                "boolean-logic": "or",
                "restrictions": by_name,
            })
            .to_string();
            match self.search_users(&any)? {
                Some(users) => found.extend(users),
                None => found.extend(super::each_user_with_attributes(self, chunk)?),
            }
        }
        Ok(found)
    }

    fn group_attributes(&self, group: &str) -> Result<Attributes, CrowdError> {
        let query = [("groupname", group), ("expand", "attributes")];
        self.fetch::<decode::GroupWithAttributes>(&Call::get("/group", &query))
            .map(decode::GroupWithAttributes::attributes)
    }
}

impl AdminDirectory for RestClient {
    fn ping(&self) -> Result<(), CrowdError> {
        self.fetch::<serde_json::Value>(&Call::get("/config/cookie", &[]))
            .map(|_| ())
    }

    /// REST's authentication resource takes no validation factors.
    fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        self.paged::<GroupPage>("/user/group/direct", &[("username", username)])
    }

    fn create_session(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        let context = AuthenticationContext {
            username,
            password,
            validation_factors: validation_factors(remote_address),
        };
        let body = secret_body(&context, password)?;
        self.fetch(&Call::post("/session", &[], &body))
    }

    fn validate_session(
        &self,
        token: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        let body = secret_body(&validation_factors(remote_address), "")?;
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

    /// The group's nested members, each with the attributes Crowd's search gives.
    /// Not the member list's own `expand=user,attributes`: Crowd builds those users
    /// without attributes and answers empty lists.
    fn remove_user_attribute(&self, username: &str, name: &str) -> Result<(), CrowdError> {
        self.send(&Call {
            method: Method::Delete,
            path: "/user/attribute",
            query: &[("username", username), ("attributename", name)],
            body: None,
        })
    }
}

/// Sorts an HTTP answer into Crowd's answer or a failure of this URL.
fn classify(
    status: u16,
    body: Vec<u8>,
    headers: &HeaderMap,
) -> Result<Answer, (FailureKind, String)> {
    if let Some(failure) = http::redirect_or_rate_limit(status, headers) {
        return Err(failure);
    }
    let crowd_error = decode::crowd_error(&body);
    match status {
        200..=299 => Ok(Answer { status, body }),
        500..=599 => Err((
            FailureKind::ServerError,
            match crowd_error {
                Some((reason, _)) => format!("server error ({status} {})", reason.as_str()),
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
        _ if decode::is_xml(&body) => Err((
            FailureKind::NotCrowd,
            format!(
                "answered {status} in XML where JSON was asked for, without Crowd's error \
                 (a proxy, or a server ignoring Accept; starts with {:?})",
                preview(&body)
            ),
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

/// [`classify`], except that a 404 without Crowd's error body passes: on the event
/// resources it means a server before REST API 1.2, not a wrong context path.
fn classify_events(
    status: u16,
    body: Vec<u8>,
    headers: &HeaderMap,
) -> Result<Answer, (FailureKind, String)> {
    match status {
        404 => Ok(Answer { status, body }),
        _ => classify(status, body, headers),
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
