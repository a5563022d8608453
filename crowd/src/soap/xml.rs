//! SOAP 1.1 envelopes for Crowd's SecurityServer (document/literal, as in Crowd's
//! SOAP client guide). Requests are written by quick-xml, which escapes every value;
//! answers are read by roxmltree (DTDs refused, a node limit) into a small owned tree.
//!
//! The envelope, body and fault are matched by the SOAP namespace. Inside an answer,
//! elements are matched by local name: Crowd's SOAP stacks (XFire, then Axis/CXF)
//! qualify the same fields differently, and the operation's response element already
//! says whose answer it is.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use zeroize::Zeroizing;

/// SOAP 1.1's envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The SecurityServer's operations and their parameters (`in0`, `in1`...).
pub const SERVER_NS: &str = "urn:SecurityServer";
/// Crowd's authentication types: tokens, credentials, validation factors.
pub const AUTH_NS: &str = "http://authentication.integration.crowd.atlassian.com";
/// Crowd's SOAP entities: principals, groups, attributes.
pub const ENTITY_NS: &str = "http://soap.integration.crowd.atlassian.com";

/// No Crowd answer this crate reads has near this many nodes.
const MAX_NODES: u32 = 200_000;
/// Nor is nested this deep.
const MAX_DEPTH: usize = 32;

/// One element of a request.
pub struct Part<'a> {
    name: &'a str,
    /// The element's namespace, when it differs from its parent's.
    ns: Option<&'a str>,
    content: Content<'a>,
}

enum Content<'a> {
    Text(&'a str),
    Children(Vec<Part<'a>>),
    Nil,
}

impl<'a> Part<'a> {
    /// `<name>value</name>`, the value escaped.
    pub fn text(name: &'a str, value: &'a str) -> Part<'a> {
        Part {
            name,
            ns: None,
            content: Content::Text(value),
        }
    }

    /// `<name>children</name>`.
    pub fn parent(name: &'a str, children: Vec<Part<'a>>) -> Part<'a> {
        Part {
            name,
            ns: None,
            content: Content::Children(children),
        }
    }

    /// `<name xsi:nil="true"/>`.
    pub fn nil(name: &'a str) -> Part<'a> {
        Part {
            name,
            ns: None,
            content: Content::Nil,
        }
    }

    /// The same element under another name.
    pub fn named(mut self, name: &'a str) -> Part<'a> {
        self.name = name;
        self
    }

    /// The same element in namespace `ns`.
    pub fn ns(mut self, ns: &'a str) -> Part<'a> {
        self.ns = Some(ns);
        self
    }
}

/// The envelope calling `operation` with `args` (`in0`, `in1`...). The buffer is
/// wiped when dropped: arguments may hold a password.
pub fn envelope<'p, 'a: 'p>(
    operation: &str,
    args: impl IntoIterator<Item = &'p Part<'a>>,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    // Sized so that the writer rarely grows it, leaving no copies behind.
    let mut writer = Writer::new(Vec::with_capacity(16 << 10));
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("soap:Envelope")
        .with_attribute(("xmlns:soap", SOAP_ENV))
        .with_attribute(("xmlns:xsi", XSI))
        .write_inner_content(|w| {
            w.create_element("soap:Body").write_inner_content(|w| {
                w.create_element(operation)
                    .with_attribute(("xmlns", SERVER_NS))
                    .write_inner_content(|w| args.into_iter().try_for_each(|a| write_part(w, a)))?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(Zeroizing::new(writer.into_inner()))
}

fn write_part(w: &mut Writer<Vec<u8>>, part: &Part) -> std::io::Result<()> {
    if let Content::Text(value) = part.content {
        if !value.chars().all(is_xml_char) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("<{}> holds a character XML 1.0 cannot carry", part.name),
            ));
        }
    }
    let mut element = w.create_element(part.name);
    if let Some(ns) = part.ns {
        element = element.with_attribute(("xmlns", ns));
    }
    match &part.content {
        Content::Text(value) => element.write_text_content(BytesText::new(value))?,
        Content::Children(children) => {
            element.write_inner_content(|w| children.iter().try_for_each(|c| write_part(w, c)))?
        }
        Content::Nil => element.with_attribute(("xsi:nil", "true")).write_empty()?,
    };
    Ok(())
}

/// XML 1.0's `Char`: no escape can carry the other control characters.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// An element of an answer: local name, text, child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The texts of every child (an `ArrayOfString`'s strings).
    pub fn texts(&self) -> Vec<String> {
        self.children.iter().map(|c| c.text.clone()).collect()
    }
}

/// What a SOAP answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The body's element (`{operation}Response`).
    Response(Element),
    /// A fault: Crowd's exception, by the name of its detail element (or, without
    /// one, the class named by the fault string), and the fault string.
    Fault { exception: String, message: String },
}

/// Why an answer is not a SOAP envelope this client can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSoap {
    /// The body is not UTF-8.
    Encoding(std::str::Utf8Error),
    /// Not XML, a DTD, or over the node limit.
    Xml(roxmltree::Error),
    /// XML, but this element where the envelope should be.
    NotAnEnvelope(String),
    /// An envelope without a body, or with an empty one.
    NoBody,
    /// Nested deeper than any answer of Crowd's.
    TooDeep,
}

impl std::fmt::Display for NotSoap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotSoap::Encoding(e) => write!(f, "not UTF-8: {e}"),
            NotSoap::Xml(e) => e.fmt(f),
            NotSoap::NotAnEnvelope(name) => {
                write!(f, "<{name}> where a SOAP envelope should be")
            }
            NotSoap::NoBody => f.write_str("no SOAP body, or an empty one"),
            NotSoap::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} elements"),
        }
    }
}

impl std::error::Error for NotSoap {}

/// Reads a SOAP answer.
pub fn reply(body: &[u8]) -> Result<Reply, NotSoap> {
    let text = std::str::from_utf8(body).map_err(NotSoap::Encoding)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(NotSoap::Xml)?;
    let envelope = doc.root_element();
    if !is_soap(envelope, "Envelope") {
        return Err(NotSoap::NotAnEnvelope(
            envelope.tag_name().name().to_owned(),
        ));
    }
    let body = elements(envelope)
        .find(|n| is_soap(*n, "Body"))
        .ok_or(NotSoap::NoBody)?;
    let content = elements(body).next().ok_or(NotSoap::NoBody)?;
    if !is_soap(content, "Fault") {
        return owned(content, 0).map(Reply::Response);
    }
    let fault = owned(content, 0)?;
    let message = fault.child_text("faultstring").unwrap_or_default().trim();
    let exception = match fault.child("detail").and_then(|d| d.children.first()) {
        Some(detail) => detail.name.clone(),
        None => exception_in(message).unwrap_or_default().to_owned(),
    };
    Ok(Reply::Fault {
        exception,
        message: message.to_owned(),
    })
}

/// `InvalidAuthenticationException` in a fault string such as
/// `Fault: com.atlassian.crowd.integration.exception.InvalidAuthenticationException`.
fn exception_in(message: &str) -> Option<&str> {
    message
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter_map(|word| word.rsplit('.').next())
        .find(|name| name.ends_with("Exception"))
}

fn is_soap(node: roxmltree::Node, name: &str) -> bool {
    node.tag_name().name() == name && node.tag_name().namespace() == Some(SOAP_ENV)
}

fn elements<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> {
    node.children().filter(|n| n.is_element())
}

fn owned(node: roxmltree::Node, depth: usize) -> Result<Element, NotSoap> {
    if depth > MAX_DEPTH {
        return Err(NotSoap::TooDeep);
    }
    let text: Cow<str> = node
        .children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    Ok(Element {
        name: node.tag_name().name().to_owned(),
        text: text.into_owned(),
        children: elements(node)
            .map(|c| owned(c, depth + 1))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_read_back() {
        let odd = "a&b<c>\"d'e]]>";
        let body = envelope(
            "findPrincipalByName",
            &[
                Part::parent("in0", vec![Part::text("token", "t").ns(AUTH_NS)]),
                Part::text("in1", odd),
                Part::nil("in2"),
            ],
        )
        .expect("write");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(!text.contains(odd), "{text}");
        let doc = roxmltree::Document::parse(&text).expect("well-formed");
        assert!(
            envelope("x", &[Part::text("in1", "a\u{1}b")]).is_err(),
            "a control character is refused, not sent"
        );
        let op = doc
            .descendants()
            .find(|n| n.has_tag_name((SERVER_NS, "findPrincipalByName")))
            .expect("operation in its namespace");
        let in1 = op.children().find(|n| n.has_tag_name("in1")).expect("in1");
        assert_eq!(in1.text(), Some(odd));
        assert!(
            doc.descendants()
                .any(|n| n.has_tag_name((AUTH_NS, "token")))
        );
    }

    fn wrap(inner: &str) -> Vec<u8> {
        format!(
            "<soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body>{inner}</soap:Body></soap:Envelope>"
        )
        .into_bytes()
    }

    #[test]
    fn faults_are_named_by_their_detail_or_their_string() {
        let detailed = wrap(
            "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>nope</faultstring>\
             <detail><InvalidAuthenticationException xmlns=\"urn:SecurityServer\"/></detail></soap:Fault>",
        );
        assert_eq!(
            reply(&detailed),
            Ok(Reply::Fault {
                exception: "InvalidAuthenticationException".into(),
                message: "nope".into()
            })
        );
        let bare = wrap(
            "<soap:Fault><faultstring>Fault: com.atlassian.crowd.integration.exception.ObjectNotFoundException</faultstring></soap:Fault>",
        );
        assert!(
            matches!(reply(&bare), Ok(Reply::Fault { exception, .. }) if exception == "ObjectNotFoundException")
        );
    }

    #[test]
    fn answers_that_are_not_soap_are_refused() {
        for body in [
            &b"<html><body>Tomcat</body></html>"[..],
            b"{\"reason\":\"x\"}",
            b"",
            b"<soap:Envelope xmlns:soap=\"urn:other\"><soap:Body/></soap:Envelope>",
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>",
            b"\xff\xfe",
        ] {
            assert!(reply(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let deep = wrap(&format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)));
        assert!(reply(&deep).is_err());
        let out = wrap(
            "<isGroupMemberResponse xmlns=\"urn:SecurityServer\"><out>true</out></isGroupMemberResponse>",
        );
        match reply(&out) {
            Ok(Reply::Response(r)) => {
                assert_eq!(r.name, "isGroupMemberResponse");
                assert_eq!(r.child_text("out"), Some("true"));
            }
            other => panic!("{other:?}"),
        }
    }
}
