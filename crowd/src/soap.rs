//! [`Directory`] over Crowd's SecurityServer SOAP service (`{url}/services/SecurityServer`),
//! for servers that predate the REST API (2.1) or still offer SOAP (until 5.0).
//!
//! Every operation carries an application token from `authenticateApplication`, got
//! once per client (one PAM transaction) and renewed once when Crowd answers that it
//! is no longer valid. Crowd's faults become the same [`CrowdError`]s as REST's
//! answers, so nothing above this module knows which protocol spoke.
//!
//! What SOAP cannot say as REST does: group membership is the server's own answer to
//! `isGroupMember` / `findGroupMemberships` (nested only where the server resolves
//! nesting, see the README), and members of a group are `findGroupByName`'s list.

pub(super) mod xml;

use std::cell::RefCell;

use ureq::http::HeaderMap;
use zeroize::Zeroizing;

use self::xml::{AUTH_NS, ENTITY_NS, Element, Part, Reply};
use super::http::{self, Answer, Exchange, Http, Method, preview};
use super::settings::ClientSettings;
use super::{
    AdminDirectory, Attributes, CrowdError, Deadline, FailureKind, LoginDirectory, Reason, Session,
    SyncDirectory, User, UserDirectory,
};
use crate::Secret;

/// The service's path below a base URL.
const SERVICE: &str = "/services/SecurityServer";
/// Crowd's name for the client address among validation factors.
const REMOTE_ADDRESS: &str = "remote_address";

/// A Crowd SOAP client bound to one deadline; clones share its connection and token.
#[derive(Clone)]
pub struct SoapClient {
    http: Http,
    application: String,
    app_password: Secret,
    /// The application token, once Crowd gave one.
    token: RefCell<Option<Zeroizing<String>>>,
}

/// A Crowd fault other than an expired application token.
struct Fault {
    exception: String,
    message: String,
}

impl SoapClient {
    /// Builds a client whose every operation must finish by `deadline`.
    pub fn new(settings: &ClientSettings, deadline: Deadline) -> Result<SoapClient, CrowdError> {
        Ok(SoapClient {
            http: Http::new(settings, deadline)?,
            application: settings.application.clone(),
            app_password: settings.app_password.clone(),
            token: Default::default(),
        })
    }

    /// Starts another call on this client, its connection and its application token:
    /// a new deadline, an empty trail.
    pub fn begin(&self, deadline: Deadline) {
        self.http.begin(deadline);
    }

    /// What each request did (URL, operation, status or failure, time), oldest first.
    pub fn trail(&self) -> Vec<String> {
        self.http.trail()
    }

    /// Posts one envelope and reads the answer.
    fn post(&self, operation: &str, envelope: &[u8]) -> Result<Reply, CrowdError> {
        let exchange = Exchange {
            method: Method::Post,
            path: SERVICE,
            label: operation,
            query: &[],
            headers: &[
                ("Content-Type", "text/xml; charset=utf-8"),
                ("Accept", "text/xml"),
                ("SOAPAction", "\"\""),
            ],
            body: Some(envelope),
        };
        let answer = self.http.request(&exchange, judge)?;
        let reply = xml::reply(&answer.body).map_err(|e| {
            self.http.not_crowd(format!(
                "{operation}: the answer is not Crowd's ({e}; starts with {:?})",
                preview(&answer.body)
            ))
        })?;
        match reply {
            Reply::Response(r) if r.name != format!("{operation}Response") => {
                Err(self.http.not_crowd(format!(
                    "{operation}: answered with <{}>, not Crowd's response",
                    r.name
                )))
            }
            reply => Ok(reply),
        }
    }

    /// The application token, asking Crowd for one when there is none or `renew`.
    fn app_token(&self, renew: bool) -> Result<Zeroizing<String>, CrowdError> {
        if !renew {
            if let Some(token) = self.token.borrow().as_ref() {
                return Ok(token.clone());
            }
        }
        let operation = "authenticateApplication";
        let context = [Part::parent(
            "in0",
            vec![
                Part::parent(
                    "credential",
                    vec![Part::text("credential", self.app_password.expose())],
                )
                .ns(AUTH_NS),
                Part::text("name", &self.application).ns(AUTH_NS),
                Part::nil("validationFactors").ns(AUTH_NS),
            ],
        )];
        let envelope = xml::envelope(operation, &context).map_err(encoding)?;
        match self.post(operation, &envelope)? {
            Reply::Response(r) => {
                let token = r
                    .child("out")
                    .and_then(|out| out.child_text("token"))
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        self.http
                            .not_crowd(format!("{operation}: no token in Crowd's answer"))
                    })?;
                let token = Zeroizing::new(token.to_owned());
                *self.token.borrow_mut() = Some(token.clone());
                Ok(token)
            }
            // Crowd failing, not refusing (a fault sent with 200, as some SOAP stacks
            // do; with 500 it never gets here, see `judge`).
            Reply::Fault { exception, message } if exception == "RemoteException" => {
                Err(self.refusal(Fault { exception, message }, Reason::UserNotFound))
            }
            Reply::Fault { exception, message } => Err(self.http.failure(
                FailureKind::ApplicationRejected,
                format!(
                    "Crowd refused the application's credentials ({exception}: {message}): check `application`, the password, and this host's address in Crowd"
                ),
            )),
        }
    }

    /// Calls `operation` with the application token as `in0`, then `args`. Crowd's
    /// faults are the inner error; an expired token is renewed once.
    fn call(&self, operation: &str, args: Vec<Part>) -> Result<Result<Element, Fault>, CrowdError> {
        for renew in [false, true] {
            let token = self.app_token(renew)?;
            let in0 = Part::parent(
                "in0",
                vec![
                    Part::text("name", &self.application).ns(AUTH_NS),
                    Part::text("token", &token).ns(AUTH_NS),
                ],
            );
            let envelope =
                xml::envelope(operation, std::iter::once(&in0).chain(&args)).map_err(encoding)?;
            match self.post(operation, &envelope)? {
                Reply::Response(r) => return Ok(Ok(r)),
                Reply::Fault { exception, .. }
                    if exception == "InvalidAuthorizationTokenException" && !renew => {}
                Reply::Fault { exception, message }
                    if exception == "InvalidAuthorizationTokenException" =>
                {
                    return Err(self.http.failure(
                        FailureKind::ApplicationRejected,
                        format!("{operation}: Crowd refused a fresh application token: {message}"),
                    ));
                }
                Reply::Fault { exception, message } => {
                    return Ok(Err(Fault { exception, message }));
                }
            }
        }
        Err(self.http.failure(
            FailureKind::ApplicationRejected,
            format!("{operation}: no application token"),
        ))
    }

    /// `operation`'s `out`, with Crowd's faults as errors (`not_found` for
    /// ObjectNotFoundException).
    fn out(
        &self,
        operation: &str,
        args: Vec<Part>,
        not_found: Reason,
    ) -> Result<Element, CrowdError> {
        match self.call(operation, args)? {
            Ok(response) => response.child("out").cloned().ok_or_else(|| {
                self.http
                    .not_crowd(format!("{operation}: no <out> in Crowd's answer"))
            }),
            Err(fault) => Err(self.refusal(fault, not_found)),
        }
    }

    /// An operation that answers nothing but may fault.
    fn act(&self, operation: &str, args: Vec<Part>, not_found: Reason) -> Result<(), CrowdError> {
        match self.call(operation, args)? {
            Ok(_) => Ok(()),
            Err(fault) => Err(self.refusal(fault, not_found)),
        }
    }

    /// An operation whose `out` is `true` or `false`.
    fn boolean(&self, operation: &str, args: Vec<Part>) -> Result<bool, CrowdError> {
        let out = self.out(operation, args, Reason::UserNotFound)?;
        match out.text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(self
                .http
                .not_crowd(format!("{operation}: {other:?} is not a boolean"))),
        }
    }

    /// Crowd's fault as the refusal REST gives for the same case: the same reason
    /// (what every decision reads), and the status REST would have answered with, for
    /// the log only. RemoteException is Crowd failing, not refusing: the server is
    /// unavailable.
    fn refusal(&self, fault: Fault, not_found: Reason) -> CrowdError {
        let (status, reason) = match fault.exception.as_str() {
            "InvalidAuthenticationException" => (400, Reason::InvalidUserAuthentication),
            "InactiveAccountException" => (400, Reason::InactiveAccount),
            "ExpiredCredentialException" => (400, Reason::ExpiredCredential),
            "ApplicationAccessDeniedException" => (400, Reason::ApplicationAccessDenied),
            "InvalidCredentialException" => (400, Reason::InvalidCredential),
            "ObjectNotFoundException" => (404, not_found),
            "InvalidTokenException" => (404, Reason::Other("INVALID_SSO_TOKEN".into())),
            "ApplicationPermissionException" => (403, Reason::ApplicationPermissionDenied),
            "RemoteException" => {
                return self.http.failure(
                    FailureKind::ServerError,
                    format!("server error (RemoteException: {})", fault.message),
                );
            }
            other => (400, Reason::Other(other.to_owned())),
        };
        CrowdError::Refused {
            status,
            reason,
            message: fault.message,
        }
    }

    /// `authenticatePrincipal`: a principal token for a right password.
    fn authenticate_principal(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<String, CrowdError> {
        let context = Part::parent(
            "in1",
            vec![
                Part::text("application", &self.application).ns(AUTH_NS),
                Part::parent("credential", vec![Part::text("credential", password)]).ns(AUTH_NS),
                Part::text("name", username).ns(AUTH_NS),
                validation_factors(remote_address).ns(AUTH_NS),
            ],
        );
        let out = self.out("authenticatePrincipal", vec![context], Reason::UserNotFound)?;
        Ok(out.text)
    }

    /// A principal (`findPrincipalByName` and kin) as a user and attributes.
    fn principal(&self, operation: &str, username: &str) -> Result<(User, Attributes), CrowdError> {
        let out = self.out(
            operation,
            vec![Part::text("in1", username)],
            Reason::UserNotFound,
        )?;
        principal_of(&out).ok_or_else(|| {
            self.http.not_crowd(format!(
                "{operation}: a principal without a name or active flag"
            ))
        })
    }
}

/// A principal's name, active flag and attributes.
fn principal_of(out: &Element) -> Option<(User, Attributes)> {
    let name = out.child_text("name").filter(|n| !n.is_empty())?.to_owned();
    let active = match out.child_text("active")?.trim() {
        "true" => true,
        "false" => false,
        _ => return None,
    };
    let attributes = attributes_of(out);
    let first = |key: &str| attributes.get(key).and_then(|v| v.first()).cloned();
    let user = User {
        name,
        active,
        display_name: first("displayName"),
        email: first("mail"),
        key: None,
    };
    Some((user, attributes))
}

/// The `<attributes>` of a principal or group: name → values.
fn attributes_of(out: &Element) -> Attributes {
    out.child("attributes")
        .map(|list| {
            list.children
                .iter()
                .filter_map(|a| {
                    let name = a.child_text("name")?.to_owned();
                    let values = a.child("values").map(Element::texts).unwrap_or_default();
                    Some((name, values))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `<validationFactors>` holding the client's address, when known.
fn validation_factors(remote_address: Option<&str>) -> Part<'_> {
    let factors = remote_address
        .map(|address| {
            Part::parent(
                "ValidationFactor",
                vec![
                    Part::text("name", REMOTE_ADDRESS),
                    Part::text("value", address),
                ],
            )
        })
        .into_iter()
        .collect();
    Part::parent("validationFactors", factors)
}

/// A request that cannot be written: a value XML cannot carry (a password with a
/// control character) is refused as unsendable; anything else is a bug of ours.
fn encoding(e: std::io::Error) -> CrowdError {
    if e.kind() == std::io::ErrorKind::InvalidInput {
        return CrowdError::Refused {
            status: 400,
            reason: Reason::Other("NOT_SENDABLE_OVER_SOAP".into()),
            message: format!("not sent: {e}"),
        };
    }
    CrowdError::Setup(format!("cannot encode the request: {e}"))
}

/// Sorts an HTTP answer: SOAP answers success with 200 and faults with 500, so a 500
/// carrying a SOAP fault is Crowd's answer, and any other is the server failing. A
/// RemoteException is Crowd failing too (its directory down, say): the next URL is
/// tried, as for REST's 5xx.
fn judge(status: u16, body: Vec<u8>, headers: &HeaderMap) -> Result<Answer, (FailureKind, String)> {
    if let Some(failure) = http::redirect_or_rate_limit(status, headers) {
        return Err(failure);
    }
    match status {
        200 => Ok(Answer { status, body }),
        500 => match xml::reply(&body) {
            Ok(Reply::Fault { exception, message }) if exception == "RemoteException" => Err((
                FailureKind::ServerError,
                format!("server error (RemoteException: {message})"),
            )),
            Ok(Reply::Fault { .. }) => Ok(Answer { status, body }),
            _ => Err((FailureKind::ServerError, "server error (500)".into())),
        },
        501..=599 => Err((FailureKind::ServerError, format!("server error ({status})"))),
        401 => Err((
            FailureKind::ApplicationRejected,
            "the server refused the request (401)".into(),
        )),
        403 => Err((
            FailureKind::AddressRejected,
            "the server refused this host (403)".into(),
        )),
        _ => Err((
            FailureKind::NotCrowd,
            format!(
                "answered {status} without Crowd's error body (starts with {:?}): is the url's context path right, and does this Crowd offer SOAP (removed in Crowd 5.0)?",
                preview(&body)
            ),
        )),
    }
}

impl UserDirectory for SoapClient {
    fn user(&self, username: &str) -> Result<User, CrowdError> {
        self.principal("findPrincipalByName", username)
            .map(|(user, _)| user)
    }

    /// The server's `findGroupMemberships`: the same list as [`Self::nested_groups`].
    fn user_attributes(&self, username: &str) -> Result<(User, Attributes), CrowdError> {
        self.principal("findPrincipalWithAttributesByName", username)
    }
}

impl LoginDirectory for SoapClient {
    fn authenticate(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<User, CrowdError> {
        let token =
            Zeroizing::new(self.authenticate_principal(username, password, remote_address)?);
        let user = self.user(username);
        // Best effort: the token expires on its own if this fails.
        let _ = self.terminate_session(&token);
        user
    }

    fn nested_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        let out = self.out(
            "findGroupMemberships",
            vec![Part::text("in1", username)],
            Reason::UserNotFound,
        )?;
        Ok(out.texts())
    }

    /// `findGroupByName`'s members: the users the server lists in the group.
    fn is_nested_member(&self, username: &str, group: &str) -> Result<bool, CrowdError> {
        self.boolean(
            "isGroupMember",
            vec![Part::text("in1", group), Part::text("in2", username)],
        )
    }

    fn set_password(&self, username: &str, new_password: &str) -> Result<(), CrowdError> {
        let credential = Part::parent(
            "in2",
            vec![
                Part::text("credential", new_password).ns(AUTH_NS),
                Part::text("encryptedCredential", "false").ns(AUTH_NS),
            ],
        );
        self.act(
            "updatePrincipalCredential",
            vec![Part::text("in1", username), credential],
            Reason::UserNotFound,
        )
    }
}

impl SyncDirectory for SoapClient {
    fn nested_group_members(&self, group: &str) -> Result<Vec<String>, CrowdError> {
        let out = self.out(
            "findGroupByName",
            vec![Part::text("in1", group)],
            Reason::GroupNotFound,
        )?;
        Ok(out.child("members").map(Element::texts).unwrap_or_default())
    }

    /// `findGroupWithAttributesByName` (Crowd 2.0 and later).
    fn group_attributes(&self, group: &str) -> Result<Attributes, CrowdError> {
        let out = self.out(
            "findGroupWithAttributesByName",
            vec![Part::text("in1", group)],
            Reason::GroupNotFound,
        )?;
        Ok(attributes_of(&out))
    }
}

impl AdminDirectory for SoapClient {
    fn ping(&self) -> Result<(), CrowdError> {
        self.app_token(true).map(|_| ())
    }

    /// `authenticatePrincipal`, then `findPrincipalByName` for the canonical name and
    /// active flag. The principal token Crowd opens is closed again at once: a login
    /// leaves no SSO session behind.
    fn direct_groups(&self, username: &str) -> Result<Vec<String>, CrowdError> {
        self.nested_groups(username)
    }

    fn create_session(
        &self,
        username: &str,
        password: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        let token = self.authenticate_principal(username, password, remote_address)?;
        Ok(Session {
            token,
            user: Some(username.to_owned()),
            created: None,
            expires: None,
        })
    }

    fn validate_session(
        &self,
        token: &str,
        remote_address: Option<&str>,
    ) -> Result<Session, CrowdError> {
        let factors = validation_factors(remote_address).named("in2");
        let valid = self.boolean(
            "isValidPrincipalToken",
            vec![Part::text("in1", token), factors],
        )?;
        if !valid {
            return Err(CrowdError::Refused {
                status: 404,
                reason: Reason::Other("INVALID_SSO_TOKEN".into()),
                message: "the token is not valid (expired, ended, or for another address)".into(),
            });
        }
        let out = self.out(
            "findPrincipalByToken",
            vec![Part::text("in1", token)],
            Reason::Other("INVALID_SSO_TOKEN".into()),
        )?;
        Ok(Session {
            token: token.to_owned(),
            user: principal_of(&out).map(|(user, _)| user.name),
            created: None,
            expires: None,
        })
    }

    fn terminate_session(&self, token: &str) -> Result<(), CrowdError> {
        self.act(
            "invalidatePrincipalToken",
            vec![Part::text("in1", token)],
            Reason::Other("INVALID_SSO_TOKEN".into()),
        )
    }

    /// `findPrincipalWithAttributesByName` (Crowd 2.0 and later: before, custom
    /// attributes are not served over SOAP).
    fn store_user_attribute(
        &self,
        username: &str,
        name: &str,
        values: &[String],
    ) -> Result<(), CrowdError> {
        let strings = values
            .iter()
            .map(|v| Part::text("string", v).ns(xml::SERVER_NS))
            .collect();
        let attribute = Part::parent(
            "in2",
            vec![
                Part::text("name", name).ns(ENTITY_NS),
                Part::parent("values", strings).ns(ENTITY_NS),
            ],
        );
        self.act(
            "updatePrincipalAttribute",
            vec![Part::text("in1", username), attribute],
            Reason::UserNotFound,
        )
    }

    fn remove_user_attribute(&self, username: &str, name: &str) -> Result<(), CrowdError> {
        self.act(
            "removeAttributeFromPrincipal",
            vec![Part::text("in1", username), Part::text("in2", name)],
            Reason::UserNotFound,
        )
    }
}
