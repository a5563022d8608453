//! Crowd's JSON answers (and, for the fuzz targets, its SOAP envelopes), decoded:
//! plain functions over bytes, shared by the client and the fuzz targets (`fuzz/`).
//! Unknown fields are ignored; missing required ones are errors, which the client
//! reports as "not Crowd's answer".

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Attributes, Reason, Session, User};

/// Crowd's error body: `{"reason": "...", "message": "..."}`.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// A page of a list: `{"groups": [{"name": ...}]}` or `{"users": [...]}`.
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

/// Crowd's reason and message, if `body` is Crowd's error body.
pub fn crowd_error(body: &[u8]) -> Option<(Reason, String)> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|e| (Reason::parse(&e.reason), e.message.unwrap_or_default()))
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
/// [{"name": N, "values": [...]}]}}`.
#[derive(Deserialize)]
pub(crate) struct UserWithAttributes {
    #[serde(flatten)]
    user: User,
    #[serde(default)]
    attributes: AttributeList,
}

#[derive(Deserialize, Default)]
struct AttributeList {
    #[serde(default)]
    attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
struct Attribute {
    name: String,
    #[serde(default)]
    values: Vec<String>,
}

impl UserWithAttributes {
    pub(crate) fn split(self) -> (User, Attributes) {
        (self.user, self.attributes.into_map())
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
    #[serde(default)]
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
pub fn user_with_attributes(body: &[u8]) -> Result<(User, Attributes), serde_json::Error> {
    serde_json::from_slice::<UserWithAttributes>(body).map(UserWithAttributes::split)
}
