//! Crowd's JSON answers (and, for the fuzz targets, its SOAP envelopes), decoded:
//! plain functions over bytes, shared by the client and the fuzz targets (`fuzz/`).
//! Unknown fields are ignored; missing required ones are errors, which the client
//! reports as "not Crowd's answer".

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Attributes, Reason, Session, User};

/// Why an answer could not be read as what was asked for: one type for Crowd's
/// entities and its event stream, so callers tell the kinds apart by variant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not well-formed JSON or XML, or not the entity's shape: the parser's words.
    Syntax(String),
    /// A field the answer must have is missing (`newEventToken`, an event's
    /// `operation`, a user read with `expand=attributes` without `attributes`).
    Missing(&'static str),
    /// A field holds something else than it should: what, and what it held.
    Shape(String),
    /// An event operation Crowd does not define.
    UnknownOperation(String),
}

impl DecodeError {
    /// The parser's own error, as [`DecodeError::Syntax`].
    pub fn syntax(e: impl std::fmt::Display) -> DecodeError {
        DecodeError::Syntax(e.to_string())
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Syntax(words) | DecodeError::Shape(words) => f.write_str(words),
            DecodeError::Missing(field) => write!(f, "no {field} in the answer"),
            DecodeError::UnknownOperation(op) => write!(f, "unknown operation {op:?}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Crowd's error body: `{"reason": "...", "message": "..."}`.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// A page of a list: `{"groups": [{"name": ...}]}` or `{"users": [...]}`. Crowd 6.0.1's
/// REST reference shows the lists singular (`{"group": [...]}`, `{"user": [...]}`),
/// every older capture plural: both are read.
pub(crate) trait Page: DeserializeOwned {
    type Item;
    fn items(self) -> Vec<Self::Item>;
}

#[derive(Deserialize)]
pub(crate) struct Named {
    name: String,
}

#[derive(Deserialize)]
pub(crate) struct GroupPage {
    #[serde(alias = "group")]
    groups: Vec<Named>,
}

impl Page for GroupPage {
    type Item = String;
    fn items(self) -> Vec<String> {
        self.groups.into_iter().map(|g| g.name).collect()
    }
}

#[derive(Deserialize)]
pub(crate) struct UserPage {
    #[serde(alias = "user")]
    users: Vec<Named>,
}

impl Page for UserPage {
    type Item = String;
    fn items(self) -> Vec<String> {
        self.users.into_iter().map(|u| u.name).collect()
    }
}

/// A page of users listed with `expand=user,attributes`.
#[derive(Deserialize)]
pub(crate) struct UserEntityPage {
    #[serde(alias = "user")]
    users: Vec<UserWithAttributes>,
}

impl Page for UserEntityPage {
    type Item = (User, Attributes);
    fn items(self) -> Vec<(User, Attributes)> {
        self.users
            .into_iter()
            .map(UserWithAttributes::split)
            .collect()
    }
}

/// Crowd's reason and message, if `body` is Crowd's error body: JSON, or the XML
/// `<error><reason>..</reason><message>..</message></error>` a server answers when it
/// ignores `Accept` (a Crowd 2.6 recording shows it) or a proxy asked for XML.
pub fn crowd_error(body: &[u8]) -> Option<(Reason, String)> {
    let error = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .or_else(|| xml_error(body))?;
    Some((
        Reason::parse(&error.reason),
        error.message.unwrap_or_default(),
    ))
}

/// Crowd's error body in XML.
fn xml_error(body: &[u8]) -> Option<ErrorBody> {
    let text = std::str::from_utf8(body).ok()?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "error" {
        return None;
    }
    let text_of = |name: &str| {
        root.children()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    Some(ErrorBody {
        reason: text_of("reason")?,
        message: text_of("message"),
    })
}

/// Whether `body` is XML (not an HTML page): what a server ignoring `Accept`, or a
/// proxy, sends to a request for JSON.
pub fn is_xml(body: &[u8]) -> bool {
    let start: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(64)
        .map(u8::to_ascii_lowercase)
        .collect();
    let html = start.starts_with(b"<html")
        || start.starts_with(b"<!doctype html")
        || body.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"));
    start.starts_with(b"<") && !html
}

/// A user entity.
pub fn user(body: &[u8]) -> Result<User, serde_json::Error> {
    serde_json::from_slice(body)
}

/// An SSO session entity.
pub fn session(body: &[u8]) -> Result<Session, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The names in one page of a group list.
pub fn group_names(body: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    serde_json::from_slice::<GroupPage>(body).map(Page::items)
}

/// The names in one page of a user list.
pub fn user_names(body: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    serde_json::from_slice::<UserPage>(body).map(Page::items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowd_shapes_decode_and_others_do_not() {
        assert_eq!(
            crowd_error(br#"{"reason":"USER_NOT_FOUND","message":"no"}"#),
            Some((Reason::UserNotFound, "no".into()))
        );
        assert_eq!(crowd_error(b"<html>"), None);
        let u = user(br#"{"name":"alice","active":true,"extra":{"x":1}}"#).unwrap();
        assert_eq!((u.name.as_str(), u.active), ("alice", true));
        assert!(user(br#"{"name":"alice"}"#).is_err(), "active is required");
        assert_eq!(
            group_names(br#"{"groups":[{"name":"a"},{"name":"b"}]}"#).unwrap(),
            ["a", "b"]
        );
        assert!(group_names(br#"{"users":[]}"#).is_err());
        assert_eq!(user_names(br#"{"users":[{"name":"u"}]}"#).unwrap(), ["u"]);
        let s = session(br#"{"token":"t","user":{"name":"alice"}}"#).unwrap();
        assert_eq!(s.user.as_deref(), Some("alice"));
    }
}

/// A user entity with `expand=attributes`: `{..., "attributes": {"attributes":
/// [{"name": N, "values": [...]}]}}` (Crowd 6.0.1's reference: `"attribute": [...]`).
/// No `attributes` at all: the server did not expand them (Crowd 2.x's search).
#[derive(Deserialize)]
pub(crate) struct UserWithAttributes {
    #[serde(flatten)]
    user: User,
    #[serde(default)]
    attributes: Option<AttributeList>,
}

/// An attribute list, plural or singular. One with neither list is a shape not
/// understood: an error naming the field, never an empty list.
#[derive(Deserialize, Default)]
#[serde(try_from = "RawAttributeList")]
struct AttributeList {
    attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
struct RawAttributeList {
    #[serde(default)]
    attributes: Option<Vec<Attribute>>,
    #[serde(default)]
    attribute: Option<Vec<Attribute>>,
}

impl TryFrom<RawAttributeList> for AttributeList {
    type Error = DecodeError;
    fn try_from(raw: RawAttributeList) -> Result<AttributeList, DecodeError> {
        match (raw.attributes, raw.attribute) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Ok(AttributeList { attributes: a })
            }
            (Some(attributes), None) | (None, Some(attributes)) => Ok(AttributeList { attributes }),
            (None, None) => Err(DecodeError::Shape(
                "`attributes` holds neither an `attributes` nor an `attribute` list".into(),
            )),
        }
    }
}

#[derive(Deserialize)]
struct Attribute {
    name: String,
    #[serde(default)]
    values: Vec<String>,
}

impl UserWithAttributes {
    pub(crate) fn split(self) -> (User, Attributes) {
        (self.user, self.attributes.unwrap_or_default().into_map())
    }

    /// [`UserWithAttributes::split`] for an answer that must carry attributes.
    pub(crate) fn expanded(self) -> Result<(User, Attributes), DecodeError> {
        match self.attributes {
            Some(list) => Ok((self.user, list.into_map())),
            None => Err(DecodeError::Missing(
                "`attributes` (a user read with expand=attributes)",
            )),
        }
    }
}

impl AttributeList {
    fn into_map(self) -> Attributes {
        self.attributes
            .into_iter()
            .map(|a| (a.name, a.values))
            .collect()
    }
}

/// A group with `expand=attributes`.
#[derive(Deserialize)]
pub(crate) struct GroupWithAttributes {
    attributes: AttributeList,
}

impl GroupWithAttributes {
    pub(crate) fn attributes(self) -> Attributes {
        self.attributes.into_map()
    }
}

pub use super::soap::xml::NotSoap;

/// A SOAP answer: the name of its response element, or of the fault's exception.
pub fn soap_reply(body: &[u8]) -> Result<String, NotSoap> {
    use super::soap::xml::{self, Reply};
    xml::reply(body).map(|reply| match reply {
        Reply::Response(element) => element.name,
        Reply::Fault { exception, .. } => exception,
    })
}

/// A user entity with its attributes.
pub fn user_with_attributes(body: &[u8]) -> Result<(User, Attributes), DecodeError> {
    serde_json::from_slice::<UserWithAttributes>(body)
        .map_err(DecodeError::syntax)?
        .expanded()
}

/// One page of users listed with their attributes (`/search`, member lists).
pub fn users_with_attributes(body: &[u8]) -> Result<Vec<(User, Attributes)>, serde_json::Error> {
    serde_json::from_slice::<UserEntityPage>(body).map(Page::items)
}

/// A group's attributes (`GET /group?expand=attributes`).
pub fn group_attributes(body: &[u8]) -> Result<Attributes, serde_json::Error> {
    serde_json::from_slice::<GroupWithAttributes>(body).map(GroupWithAttributes::attributes)
}
