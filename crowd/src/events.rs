//! Crowd's event API (REST 1.2 and later), what its own applications use to stay in
//! sync without re-listing the directory: `GET /event` gives the current token,
//! `GET /event/{token}` what changed since.
//!
//! A real server answers in one of three forms, all read here: XML (what Crowd's own
//! Java client asks for), or JSON whose events are either bare objects, told apart
//! by their keys, or wrapped by type (`{"userEvent": {...}}`), depending on the JSON
//! library the server runs.

use serde_json::Value;

use crate::decode::DecodeError;
use crate::{Attributes, User};

/// Elements beyond this in one answer: not Crowd's (roxmltree's own bound).
const MAX_NODES: u32 = 2_000_000;

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Added.
    Created,
    /// Changed.
    Updated,
    /// Removed.
    Deleted,
}

/// One change in Crowd's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A user created, changed or deleted; `stored` are the attributes set (all
    /// values of each), `deleted` the names of those removed. Few attribute changes
    /// are events (only `synch.*` ones, in Crowd's listener store; none in Data
    /// Center's timestamp store): a changed user is re-read, not patched.
    User {
        /// What happened.
        operation: Operation,
        /// The user as it is now (for a deletion, its name).
        user: User,
        /// Attributes set.
        stored: Attributes,
        /// Attributes removed.
        deleted: Vec<String>,
    },
    /// A group created, changed or deleted.
    Group {
        /// What happened.
        operation: Operation,
        /// The group.
        group: String,
        /// Attributes set.
        stored: Attributes,
        /// Attributes removed.
        deleted: Vec<String>,
    },
    /// A user added to or removed from groups, directly; `Updated`: `parents` is the
    /// complete set of the user's direct groups (Crowd's `EventTransformer` sends
    /// that when, say, a user left one directory but is still in another).
    UserMembership {
        /// Added, removed, or the complete set.
        operation: Operation,
        /// The user.
        user: String,
        /// The groups.
        parents: Vec<String>,
    },
    /// A group nested into or out of groups, or groups into or out of it; `Updated`:
    /// the complete sets.
    GroupMembership {
        /// Added, removed, or the complete sets.
        operation: Operation,
        /// The group.
        group: String,
        /// Groups it joined or left.
        parents: Vec<String>,
        /// Groups that joined or left it.
        children: Vec<String>,
    },
}

/// The start of incremental synchronisation (`GET /event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStart {
    /// The token of now: ask for the events since it later.
    Token(String),
    /// Crowd cannot offer events to this application (a directory it does not cache,
    /// access-based synchronisation filtering), does not guarantee them, or the server
    /// predates them: why, in words for the sync's report.
    Unavailable(String),
}

/// The events since a token, and the token to ask with next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBatch {
    /// The token of the last event given.
    pub token: String,
    /// The events, oldest first.
    pub events: Vec<Event>,
}

/// Reads `GET /event`'s answer. Only an explicit `incrementalSynchronisationAvailable`
/// true is a start: Crowd 2.3's answer has no such field, and Atlassian's own client
/// (`RestCrowdClient.getCurrentEventToken`) refuses it as "not guaranteed to be
/// available"; its test expects that refusal.
pub fn start(body: &[u8]) -> Result<EventStart, DecodeError> {
    let (token, available, _) = read(body)?;
    match (available, token) {
        (Some(true), Some(token)) => Ok(EventStart::Token(token)),
        (Some(true), None) => Err(DecodeError::Missing(
            "newEventToken (incremental synchronisation available, but no token)",
        )),
        (Some(false), _) => Ok(EventStart::Unavailable(
            "Crowd offers this application no events (incrementalSynchronisationAvailable \
             false: a directory Crowd does not cache, or access-based filtering)"
                .into(),
        )),
        (None, _) => Ok(EventStart::Unavailable(
            "Crowd does not guarantee incremental synchronisation (GET /event has no \
             incrementalSynchronisationAvailable: Crowd 2.x)"
                .into(),
        )),
    }
}

/// Reads `GET /event/{token}`'s answer.
pub fn batch(body: &[u8]) -> Result<EventBatch, DecodeError> {
    let (token, _, events) = read(body)?;
    Ok(EventBatch {
        token: token.ok_or(DecodeError::Missing("newEventToken"))?,
        events,
    })
}

type Read = (Option<String>, Option<bool>, Vec<Event>);

fn read(body: &[u8]) -> Result<Read, DecodeError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => xml::read(body),
        _ => json::read(body),
    }
}

fn operation(text: &str) -> Result<Operation, DecodeError> {
    match text {
        "CREATED" => Ok(Operation::Created),
        "UPDATED" => Ok(Operation::Updated),
        "DELETED" => Ok(Operation::Deleted),
        other => Err(DecodeError::UnknownOperation(other.to_owned())),
    }
}

mod json {
    use super::*;

    pub(super) fn read(body: &[u8]) -> Result<Read, DecodeError> {
        let root: Value = serde_json::from_slice(body).map_err(DecodeError::syntax)?;
        let token = root["newEventToken"].as_str().map(str::to_owned);
        let available = root["incrementalSynchronisationAvailable"].as_bool();
        let events = match &root["events"] {
            Value::Null => Vec::new(),
            Value::Array(list) => list.iter().map(event).collect::<Result<_, _>>()?,
            _ => return Err(DecodeError::Shape("events is not a list".into())),
        };
        Ok((token, available, events))
    }

    /// One event, bare or wrapped by its type.
    fn event(value: &Value) -> Result<Event, DecodeError> {
        const KINDS: [&str; 4] = [
            "userEvent",
            "groupEvent",
            "userMembershipEvent",
            "groupMembershipEvent",
        ];
        let (kind, e) = match value.as_object() {
            Some(map) if map.len() == 1 && KINDS.iter().any(|k| map.contains_key(*k)) => {
                let (kind, inner) = map
                    .iter()
                    .next()
                    .ok_or(DecodeError::Shape("an empty event".into()))?;
                (kind.as_str(), inner)
            }
            Some(map) if map.contains_key("childUser") => ("userMembershipEvent", value),
            Some(map) if map.contains_key("user") => ("userEvent", value),
            Some(map) if map.contains_key("parentGroups") || map.contains_key("childGroups") => {
                ("groupMembershipEvent", value)
            }
            Some(map) if map.contains_key("group") => ("groupEvent", value),
            _ => return Err(DecodeError::Shape(format!("not an event: {value}"))),
        };
        let operation = operation(
            e["operation"]
                .as_str()
                .ok_or(DecodeError::Missing("an event's operation"))?,
        )?;
        Ok(match kind {
            "userEvent" => Event::User {
                operation,
                user: user(&e["user"], operation)?,
                stored: attributes(&e["storedAttributes"], "storedAttributes")?,
                deleted: attributes(&e["deletedAttributes"], "deletedAttributes")?
                    .into_keys()
                    .collect(),
            },
            "groupEvent" => Event::Group {
                operation,
                group: name(&e["group"])?,
                stored: attributes(&e["storedAttributes"], "storedAttributes")?,
                deleted: attributes(&e["deletedAttributes"], "deletedAttributes")?
                    .into_keys()
                    .collect(),
            },
            "userMembershipEvent" => Event::UserMembership {
                operation,
                user: name(&e["childUser"])?,
                parents: groups(&e["parentGroups"], "parentGroups")?,
            },
            _ => Event::GroupMembership {
                operation,
                group: name(&e["group"])?,
                parents: groups(&e["parentGroups"], "parentGroups")?,
                children: groups(&e["childGroups"], "childGroups")?,
            },
        })
    }

    /// The event's user. A deletion is read from the name alone: the server builds
    /// it from a bare template, so any other field may be absent or default. A
    /// missing `active` elsewhere reads as active: the user is re-read anyway.
    fn user(entity: &Value, operation: Operation) -> Result<User, DecodeError> {
        let text = |key: &str| entity[key].as_str().map(str::to_owned);
        Ok(User {
            name: name(entity)?,
            active: match operation {
                Operation::Deleted => false,
                _ => entity["active"].as_bool().unwrap_or(true),
            },
            display_name: text("display-name"),
            email: text("email"),
            key: text("key"),
        })
    }

    fn name(entity: &Value) -> Result<String, DecodeError> {
        entity["name"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DecodeError::Shape(format!("an entity without a name: {entity}")))
    }

    /// The list in `{"groups": [...]}`, or `{"group": [...]}` (Crowd 6.0.1's
    /// reference); absent: none. A container with neither names its field.
    fn groups(list: &Value, field: &str) -> Result<Vec<String>, DecodeError> {
        list_of(list, field, "groups", "group")?
            .iter()
            .map(name)
            .collect()
    }

    fn list_of<'v>(
        container: &'v Value,
        field: &str,
        plural: &str,
        singular: &str,
    ) -> Result<&'v [Value], DecodeError> {
        if container.is_null() {
            return Ok(&[]);
        }
        match (&container[plural], &container[singular]) {
            (Value::Array(list), _) | (Value::Null, Value::Array(list)) => Ok(list),
            _ => Err(DecodeError::Shape(format!(
                "{field} holds neither a {plural:?} nor a {singular:?} list: {container}"
            ))),
        }
    }

    fn attributes(list: &Value, field: &str) -> Result<Attributes, DecodeError> {
        let mut out = Attributes::new();
        for attribute in list_of(list, field, "attributes", "attribute")? {
            if let Some(name) = attribute["name"].as_str() {
                let values = attribute["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                out.insert(name.to_owned(), values);
            }
        }
        Ok(out)
    }
}

mod xml {
    use roxmltree::{Document, Node, ParsingOptions};

    use super::*;

    pub(super) fn read(body: &[u8]) -> Result<Read, DecodeError> {
        let text = std::str::from_utf8(body).map_err(DecodeError::syntax)?;
        let options = ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_NODES,
            ..ParsingOptions::default()
        };
        let doc = Document::parse_with_options(text, options).map_err(DecodeError::syntax)?;
        let root = doc.root_element();
        if root.tag_name().name() != "events" {
            return Err(DecodeError::Shape(format!(
                "<{}> where <events> should be",
                root.tag_name().name()
            )));
        }
        let token = root.attribute("newEventToken").map(str::to_owned);
        let available = root
            .attribute("incrementalSynchronisationAvailable")
            .map(|a| a == "true");
        let events = elements(root).map(event).collect::<Result<_, _>>()?;
        Ok((token, available, events))
    }

    fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
        node.children().filter(Node::is_element)
    }

    fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
        elements(node).find(|n| n.tag_name().name() == name)
    }

    fn text(node: Node, name: &str) -> Option<String> {
        child(node, name).and_then(|n| n.text()).map(str::to_owned)
    }

    fn event(e: Node) -> Result<Event, DecodeError> {
        let operation =
            operation(&text(e, "operation").ok_or(DecodeError::Missing("an event's operation"))?)?;
        Ok(match e.tag_name().name() {
            "userEvent" => Event::User {
                operation,
                user: user(
                    child(e, "user").ok_or(DecodeError::Missing("a user event's user"))?,
                    operation,
                )?,
                stored: attributes(child(e, "storedAttributes")),
                deleted: attributes(child(e, "deletedAttributes"))
                    .into_keys()
                    .collect(),
            },
            "groupEvent" => Event::Group {
                operation,
                group: name(
                    child(e, "group").ok_or(DecodeError::Missing("a group event's group"))?,
                )?,
                stored: attributes(child(e, "storedAttributes")),
                deleted: attributes(child(e, "deletedAttributes"))
                    .into_keys()
                    .collect(),
            },
            "userMembershipEvent" => Event::UserMembership {
                operation,
                user: name(
                    child(e, "childUser")
                        .ok_or(DecodeError::Missing("a membership event's user"))?,
                )?,
                parents: groups(child(e, "parentGroups"))?,
            },
            "groupMembershipEvent" => Event::GroupMembership {
                operation,
                group: name(
                    child(e, "group").ok_or(DecodeError::Missing("a membership event's group"))?,
                )?,
                parents: groups(child(e, "parentGroups"))?,
                children: groups(child(e, "childGroups"))?,
            },
            other => return Err(DecodeError::Shape(format!("<{other}> is not an event"))),
        })
    }

    fn name(entity: Node) -> Result<String, DecodeError> {
        entity
            .attribute("name")
            .map(str::to_owned)
            .or_else(|| text(entity, "name"))
            .ok_or_else(|| {
                DecodeError::Shape(format!("<{}> without a name", entity.tag_name().name()))
            })
    }

    /// As in JSON: a deletion by name alone. JAXB writes the key as an element.
    fn user(entity: Node, operation: Operation) -> Result<User, DecodeError> {
        Ok(User {
            name: name(entity)?,
            active: match (operation, text(entity, "active")) {
                (Operation::Deleted, _) => false,
                (_, Some(active)) => active == "true",
                (_, None) => true,
            },
            display_name: text(entity, "display-name"),
            email: text(entity, "email"),
            key: text(entity, "key").or_else(|| entity.attribute("key").map(str::to_owned)),
        })
    }

    fn groups(list: Option<Node>) -> Result<Vec<String>, DecodeError> {
        list.map(|l| elements(l).map(name).collect())
            .unwrap_or(Ok(Vec::new()))
    }

    fn attributes(list: Option<Node>) -> Attributes {
        let mut out = Attributes::new();
        for attribute in list.into_iter().flat_map(elements) {
            if let Some(name) = attribute.attribute("name") {
                let values = child(attribute, "values")
                    .into_iter()
                    .flat_map(elements)
                    .filter_map(|v| v.text().map(str::to_owned))
                    .collect();
                out.insert(name.to_owned(), values);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice_joined() -> Event {
        Event::UserMembership {
            operation: Operation::Created,
            user: "alice".into(),
            parents: vec!["linux-users".into()],
        }
    }

    #[test]
    fn the_three_forms_read_alike() {
        let bare = br#"{"newEventToken":"t2","events":[
            {"operation":"CREATED","childUser":{"name":"alice"},"parentGroups":{"groups":[{"name":"linux-users"}]}},
            {"operation":"UPDATED","user":{"name":"bob","active":false},
             "storedAttributes":{"attributes":[{"name":"loginShell","values":["/bin/zsh"]}]},
             "deletedAttributes":{"attributes":[{"name":"gecos"}]}},
            {"operation":"DELETED","group":{"name":"old"},"parentGroups":{"groups":[{"name":"linux-users"}]},"childGroups":{"groups":[]}},
            {"operation":"UPDATED","group":{"name":"linux-users"}}]}"#;
        let wrapped = br#"{"newEventToken":"t2","events":[
            {"userMembershipEvent":{"operation":"CREATED","childUser":{"name":"alice"},"parentGroups":{"groups":[{"name":"linux-users"}]}}},
            {"userEvent":{"operation":"UPDATED","user":{"name":"bob","active":false},
             "storedAttributes":{"attributes":[{"name":"loginShell","values":["/bin/zsh"]}]},
             "deletedAttributes":{"attributes":[{"name":"gecos"}]}}},
            {"groupMembershipEvent":{"operation":"DELETED","group":{"name":"old"},"parentGroups":{"groups":[{"name":"linux-users"}]}}},
            {"groupEvent":{"operation":"UPDATED","group":{"name":"linux-users"}}}]}"#;
        let xml = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <events newEventToken="t2">
              <userMembershipEvent><operation>CREATED</operation><childUser name="alice"/>
                <parentGroups><group name="linux-users"/></parentGroups></userMembershipEvent>
              <userEvent><operation>UPDATED</operation><user name="bob"><active>false</active></user>
                <storedAttributes><attribute name="loginShell"><values><value>/bin/zsh</value></values></attribute></storedAttributes>
                <deletedAttributes><attribute name="gecos"/></deletedAttributes></userEvent>
              <groupMembershipEvent><operation>DELETED</operation><group name="old"/>
                <parentGroups><group name="linux-users"/></parentGroups></groupMembershipEvent>
              <groupEvent><operation>UPDATED</operation><group name="linux-users"/></groupEvent>
            </events>"#;
        let want = batch(bare).unwrap();
        assert_eq!(want.token, "t2");
        assert_eq!(want.events.len(), 4);
        assert_eq!(want.events[0], alice_joined());
        match &want.events[1] {
            Event::User {
                user,
                stored,
                deleted,
                ..
            } => {
                assert!(!user.active);
                assert_eq!(stored["loginShell"], vec!["/bin/zsh".to_string()]);
                assert_eq!(deleted, &vec!["gecos".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&want.events[2], Event::GroupMembership { children, .. } if children.is_empty())
        );
        assert!(matches!(&want.events[3], Event::Group { group, .. } if group == "linux-users"));
        assert_eq!(batch(wrapped).unwrap(), want);
        assert_eq!(batch(xml).unwrap(), want);
    }

    #[test]
    fn the_start_says_whether_events_are_available() {
        assert_eq!(
            start(br#"{"newEventToken":"t1","incrementalSynchronisationAvailable":true}"#),
            Ok(EventStart::Token("t1".into()))
        );
        assert!(matches!(
            start(br#"{"incrementalSynchronisationAvailable":false}"#),
            Ok(EventStart::Unavailable(why)) if why.contains("false")
        ));
        assert_eq!(
            start(br#"<events newEventToken="t1" incrementalSynchronisationAvailable="true"/>"#),
            Ok(EventStart::Token("t1".into()))
        );
        // RestCrowdClientTest (JIRA 5.1.1's bundled source): a token without the flag
        // is refused as "not guaranteed", in XML and in JSON.
        for body in [
            &br#"<events newEventToken="1234:12"/>"#[..],
            br#"{"newEventToken":"1234:12"}"#,
        ] {
            assert!(matches!(
                start(body),
                Ok(EventStart::Unavailable(why)) if why.contains("not guarantee")
            ));
        }
    }

    #[test]
    fn a_deletion_is_read_from_the_name_alone_and_keys_from_elements() {
        let json = br#"{"newEventToken":"t","events":[
            {"operation":"DELETED","user":{"name":"gone"}},
            {"operation":"UPDATED","user":{"name":"bob","key":"1:{b}"}},
            {"operation":"UPDATED","childUser":{"name":"bob"},"parentGroups":{"group":[{"name":"a"},{"name":"b"}]}}]}"#;
        let xml = br#"<events newEventToken="t">
            <userEvent><operation>DELETED</operation><user name="gone"/></userEvent>
            <userEvent><operation>UPDATED</operation><user name="bob"><key>1:{b}</key></user></userEvent>
            <userMembershipEvent><operation>UPDATED</operation><childUser name="bob"/>
              <parentGroups><group name="a"/><group name="b"/></parentGroups></userMembershipEvent>
            </events>"#;
        for body in [&json[..], xml] {
            let events = batch(body).unwrap().events;
            assert!(matches!(&events[0],
                Event::User { operation: Operation::Deleted, user, .. } if user.name == "gone" && !user.active));
            assert!(matches!(&events[1],
                Event::User { user, .. } if user.key.as_deref() == Some("1:{b}") && user.active));
            assert!(matches!(&events[2],
                Event::UserMembership { operation: Operation::Updated, parents, .. } if parents == &["a", "b"]));
        }
    }

    #[test]
    fn a_list_of_an_unknown_shape_names_its_field() {
        let body = br#"{"newEventToken":"t","events":[
            {"operation":"CREATED","childUser":{"name":"bob"},"parentGroups":{"members":[{"name":"a"}]}}]}"#;
        let error = batch(body).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Shape(words) if words.contains("parentGroups")),
            "{error}"
        );
        let body = br#"{"newEventToken":"t","events":[{"operation":"UPDATED","user":{"name":"bob"},
            "storedAttributes":{"attrs":[]}}]}"#;
        assert!(matches!(
            batch(body).unwrap_err(),
            DecodeError::Shape(words) if words.contains("storedAttributes")
        ));
    }

    #[test]
    fn what_is_not_an_event_answer_is_refused() {
        for body in [
            &b"<html>login</html>"[..],
            b"{\"events\":[{\"operation\":\"CREATED\"}]}",
            b"{\"newEventToken\":\"t\",\"events\":[{\"operation\":\"MOVED\",\"user\":{\"name\":\"a\",\"active\":true}}]}",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><events/>",
            b"not json",
        ] {
            assert!(batch(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
