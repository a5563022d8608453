//! The double's SecurityServer: Crowd's SOAP service at `/crowd/services/SecurityServer`,
//! answering from the same [`Fixture`] as the REST API, with the envelopes and faults
//! of Crowd's SOAP client guide. Requests are read with roxmltree; answers are
//! written with every value escaped by quick-xml.

use quick_xml::escape::escape;

use super::directory::{self, Fixture, User};
use super::{Canned, KEYS_APP_NAME, KEYS_APP_PASSWORD, Request, State};

pub const SOAP_PATH: &str = "/crowd/services/SecurityServer";
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const ENTITY_NS: &str = "http://soap.integration.crowd.atlassian.com";
const AUTH_NS: &str = "http://authentication.integration.crowd.atlassian.com";

/// A parsed request: the operation and its parameters' elements.
struct Call<'a, 'input> {
    operation: String,
    body: roxmltree::Node<'a, 'input>,
}

impl<'a, 'input> Call<'a, 'input> {
    /// Parameter `inN` (a direct child of the operation element).
    fn param(&self, name: &str) -> Option<roxmltree::Node<'a, 'input>> {
        self.body.children().find(|n| n.tag_name().name() == name)
    }

    /// The text of parameter `inN`.
    fn text(&self, name: &str) -> String {
        self.param(name).map(text_of).unwrap_or_default()
    }

    /// The text at a path of element names below parameter `inN`.
    fn deep(&self, param: &str, path: &[&str]) -> String {
        let mut node = self.param(param);
        for step in path {
            node = node.and_then(|n| n.children().find(|c| c.tag_name().name() == *step));
        }
        node.map(text_of).unwrap_or_default()
    }
}

fn text_of(node: roxmltree::Node) -> String {
    node.children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// The operation and the names a SOAP request is about, for the request log and the
/// per-user faults: `(operation, [("username", ..), ("groupname", ..), ("token", ..)])`.
pub fn describe(body: &str) -> Option<(String, Vec<(String, String)>)> {
    let doc = roxmltree::Document::parse(body).ok()?;
    with_call(&doc, |call| {
        let names: &[(&str, &str)] = match call.operation.as_str() {
            "isGroupMember" => &[("groupname", "in1"), ("username", "in2")],
            "findGroupByName" | "findGroupWithAttributesByName" => &[("groupname", "in1")],
            "isValidPrincipalToken" | "findPrincipalByToken" | "invalidatePrincipalToken" => {
                &[("token", "in1")]
            }
            "authenticateApplication" => &[],
            _ => &[("username", "in1")],
        };
        let mut query: Vec<(String, String)> = names
            .iter()
            .map(|(key, param)| (key.to_string(), call.text(param)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if call.operation == "authenticatePrincipal" {
            query.push(("username".into(), call.deep("in1", &["name"])));
        }
        Some((call.operation.clone(), query))
    })?
}

fn with_call<T>(doc: &roxmltree::Document, f: impl FnOnce(&Call) -> T) -> Option<T> {
    let envelope = doc.root_element();
    if !envelope.has_tag_name((SOAP_ENV, "Envelope")) {
        return None;
    }
    let body = envelope
        .children()
        .find(|n| n.has_tag_name((SOAP_ENV, "Body")))?;
    let op = body.children().find(|n| n.is_element())?;
    if op.tag_name().namespace() != Some("urn:SecurityServer") {
        return None;
    }
    Some(f(&Call {
        operation: op.tag_name().name().to_owned(),
        body: op,
    }))
}

/// Crowd's SOAP answer to `req`.
pub(crate) fn answer(state: &mut State, req: &Request) -> Canned {
    let Ok(doc) = roxmltree::Document::parse(&req.body) else {
        return fault(
            "soap:Client",
            "XMLStreamException",
            "could not parse the request",
        );
    };
    with_call(&doc, |call| dispatch(state, call))
        .unwrap_or_else(|| fault("soap:Client", "SOAPFaultException", "not a SOAP request"))
}

fn dispatch(state: &mut State, call: &Call) -> Canned {
    if call.operation == "authenticateApplication" {
        return authenticate_application(state, call);
    }
    if let Err(refused) = authorize(state, call) {
        return refused;
    }
    operation(&mut state.fixture, call)
}

/// `authenticateApplication`: the main application's or the keys application's
/// credentials buy a token; the keys application's may only read.
fn authenticate_application(state: &mut State, call: &Call) -> Canned {
    let name = call.deep("in0", &["name"]);
    let password = call.deep("in0", &["credential", "credential"]);
    let read_only = (name.as_str(), password.as_str()) == (KEYS_APP_NAME, KEYS_APP_PASSWORD);
    if (name.clone(), password) != state.app && !read_only {
        return fault(
            "soap:Server",
            "InvalidAuthenticationException",
            "Application failed to authenticate",
        );
    }
    state.soap_tokens_issued += 1;
    let token = format!("app-token-{}", state.soap_tokens_issued);
    state.soap_tokens.insert(token.clone(), 0);
    if read_only {
        state.soap_read_only_tokens.insert(token.clone());
    }
    response(
        &call.operation,
        &format!(
            "<out><name xmlns=\"{AUTH_NS}\">{}</name><token xmlns=\"{AUTH_NS}\">{}</token></out>",
            escape(&name),
            escape(&token)
        ),
    )
}

/// The call's application token: known, not used up, and allowed to write if the
/// operation writes.
fn authorize(state: &mut State, call: &Call) -> Result<(), Canned> {
    let token = call.deep("in0", &["token"]);
    let limit = state.soap_token_uses;
    let valid = match state.soap_tokens.get_mut(&token) {
        Some(used) if limit.is_none_or(|l| *used < l) => {
            *used += 1;
            true
        }
        _ => false,
    };
    if !valid {
        return Err(fault(
            "soap:Server",
            "InvalidAuthorizationTokenException",
            "Application token is not valid",
        ));
    }
    let writes = matches!(
        call.operation.as_str(),
        "updatePrincipalCredential" | "updatePrincipalAttribute" | "removeAttributeFromPrincipal"
    );
    if writes && state.soap_read_only_tokens.contains(&token) {
        return Err(fault(
            "soap:Server",
            "ApplicationPermissionException",
            "Application does not have permission to update user attributes",
        ));
    }
    Ok(())
}

/// An authorized call's answer from the directory.
fn operation(fixture: &mut Fixture, call: &Call) -> Canned {
    let op = call.operation.as_str();
    let in1 = call.text("in1");
    let done = |result: Result<(), directory::Refusal>| match result {
        Ok(()) => response(op, ""),
        Err(reason) => refusal(&reason),
    };
    match op {
        "authenticatePrincipal" => authenticate_principal(fixture, call),
        "findPrincipalByName" | "findPrincipalWithAttributesByName" => match fixture.find(&in1) {
            Some(user) => response(op, &principal(user)),
            None => not_found(&format!("User <{in1}> does not exist")),
        },
        "findGroupMemberships" => match fixture.find(&in1) {
            Some(user) => response(op, &strings(&fixture.nested_groups(&user.name.clone()))),
            None => not_found(&format!("User <{in1}> does not exist")),
        },
        "isGroupMember" => {
            let user = call.text("in2");
            let member = match (fixture.group_name(&in1), fixture.find(&user)) {
                (Some(group), Some(user)) => fixture.nested_members(group).contains(&user.name),
                _ => false,
            };
            response(op, &format!("<out>{member}</out>"))
        }
        "findGroupByName" | "findGroupWithAttributesByName" => group(fixture, call),
        "isValidPrincipalToken" => {
            let remote = remote_address(call, "in2");
            let valid = matches!(fixture.sessions.get(&in1), Some((_, bound)) if bound.is_none() || *bound == remote);
            response(op, &format!("<out>{valid}</out>"))
        }
        "findPrincipalByToken" => {
            let user = fixture
                .sessions
                .get(&in1)
                .and_then(|(name, _)| fixture.find(name));
            match user {
                Some(user) => response(op, &principal(user)),
                None => fault("soap:Server", "InvalidTokenException", "Token is not valid"),
            }
        }
        // Ending a session Crowd does not know is no error: the same token manager
        // answers REST's DELETE with 204 either way (REAL-CROWD.md).
        "invalidatePrincipalToken" => {
            fixture.sessions.remove(&in1);
            response(op, "")
        }
        "updatePrincipalCredential" => {
            let password = call.deep("in2", &["credential"]);
            done(directory::set_password(fixture, &in1, Some(&password)))
        }
        "updatePrincipalAttribute" => {
            let name = call.deep("in2", &["name"]);
            let values = call
                .param("in2")
                .and_then(|a| a.children().find(|c| c.tag_name().name() == "values"))
                .map(|v| {
                    v.children()
                        .filter(|c| c.is_element())
                        .map(text_of)
                        .collect()
                })
                .unwrap_or_default();
            done(directory::set_attribute(fixture, &in1, &name, Some(values)))
        }
        "removeAttributeFromPrincipal" => done(directory::set_attribute(
            fixture,
            &in1,
            &call.text("in2"),
            None,
        )),
        _ => fault(
            "soap:Client",
            "SOAPFaultException",
            &format!("Invalid operation: {op}"),
        ),
    }
}

/// `authenticatePrincipal`: a session token, bound to the remote address if given.
fn authenticate_principal(fixture: &mut Fixture, call: &Call) -> Canned {
    let name = call.deep("in1", &["name"]);
    let password = call.deep("in1", &["credential", "credential"]);
    let remote = remote_address(call, "in1");
    match directory::check_password(fixture, &name, Some(&password)) {
        Ok(user) => {
            let token = format!("tok/{}+{}", fixture.sessions.len() + 1, user.name);
            fixture.sessions.insert(token.clone(), (user.name, remote));
            response(&call.operation, &format!("<out>{}</out>", escape(&token)))
        }
        Err(reason) => refusal(&reason),
    }
}

/// `findGroupByName` (a SOAPGroup lists the group's own, direct, user members) and
/// `findGroupWithAttributesByName` (its attributes).
fn group(fixture: &Fixture, call: &Call) -> Canned {
    let in1 = call.text("in1");
    let Some(group) = fixture.group_name(&in1).cloned() else {
        return not_found(&format!("Group <{in1}> does not exist"));
    };
    let (field, content) = if call.operation == "findGroupByName" {
        ("members", string_items(&fixture.groups[&group].users))
    } else {
        (
            "attributes",
            soap_attributes(&fixture.groups[&group].attributes),
        )
    };
    response(
        &call.operation,
        &format!(
            "<out><{field} xmlns=\"{ENTITY_NS}\">{content}</{field}><name xmlns=\"{ENTITY_NS}\">{}</name></out>",
            escape(&group)
        ),
    )
}

/// The `remote_address` validation factor below parameter `param`.
fn remote_address(call: &Call, param: &str) -> Option<String> {
    let root = call.param(param)?;
    root.descendants()
        .filter(|n| n.tag_name().name() == "ValidationFactor")
        .find(|f| {
            f.children()
                .any(|c| c.tag_name().name() == "name" && text_of(c) == "remote_address")
        })
        .and_then(|f| f.children().find(|c| c.tag_name().name() == "value"))
        .map(text_of)
}

fn refusal(refused: &directory::Refusal) -> Canned {
    fault_for(&refused.reason, &refused.message)
}

/// The SOAP fault Crowd's SecurityServer throws where REST answers `reason`: for
/// canned answers in tests that run over both protocols. A reason without a SOAP
/// counterpart names the exception itself.
pub fn fault_for(reason: &str, message: &str) -> Canned {
    let exception = match reason {
        "USER_NOT_FOUND" | "GROUP_NOT_FOUND" => "ObjectNotFoundException",
        "INVALID_USER_AUTHENTICATION" => "InvalidAuthenticationException",
        "INACTIVE_ACCOUNT" => "InactiveAccountException",
        "EXPIRED_CREDENTIAL" => "ExpiredCredentialException",
        "INVALID_CREDENTIAL" => "InvalidCredentialException",
        "APPLICATION_ACCESS_DENIED" => "ApplicationAccessDeniedException",
        "APPLICATION_PERMISSION_DENIED" => "ApplicationPermissionException",
        "OPERATION_FAILED" => "RemoteException",
        other => other,
    };
    fault("soap:Server", exception, message)
}

/// The password a SOAP request carries (`authenticatePrincipal`,
/// `updatePrincipalCredential`), if any.
pub fn password_in(body: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(body).ok()?;
    with_call(&doc, |call| match call.operation.as_str() {
        "authenticatePrincipal" => Some(call.deep("in1", &["credential", "credential"])),
        "updatePrincipalCredential" => Some(call.deep("in2", &["credential"])),
        _ => None,
    })?
}

fn not_found(message: &str) -> Canned {
    fault("soap:Server", "ObjectNotFoundException", message)
}

/// `<SOAPAttribute>`s of a principal or group.
fn soap_attributes<'a>(
    attributes: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>,
) -> String {
    attributes
        .into_iter()
        .map(|(name, values)| {
            let values: String = values
                .iter()
                .map(|v| {
                    format!(
                        "<ns1:string xmlns:ns1=\"urn:SecurityServer\">{}</ns1:string>",
                        escape(v)
                    )
                })
                .collect();
            format!(
                "<SOAPAttribute><name>{}</name><values>{values}</values></SOAPAttribute>",
                escape(name)
            )
        })
        .collect()
}

fn principal(user: &User) -> String {
    let mut attributes: Vec<(String, Vec<String>)> = vec![
        ("displayName".into(), vec![format!("{} Test", user.name)]),
        ("mail".into(), vec![format!("{}@example.com", user.name)]),
        ("requiresPasswordChange".into(), vec!["false".into()]),
    ];
    attributes.extend(user.attributes.clone());
    let attributes = soap_attributes(attributes.iter().map(|(n, v)| (n, v)));
    format!(
        "<out><ID xmlns=\"{ENTITY_NS}\">-1</ID><active xmlns=\"{ENTITY_NS}\">{}</active>\
         <attributes xmlns=\"{ENTITY_NS}\">{attributes}</attributes>\
         <conception xmlns=\"{ENTITY_NS}\">2007-01-17T11:58:11+11:00</conception>\
         <description xmlns=\"{ENTITY_NS}\" xsi:nil=\"true\"/>\
         <directoryID xmlns=\"{ENTITY_NS}\">1</directoryID>\
         <name xmlns=\"{ENTITY_NS}\">{}</name></out>",
        user.active,
        escape(&user.name)
    )
}

fn string_items(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("<string>{}</string>", escape(s)))
        .collect()
}

fn strings(items: &[String]) -> String {
    format!("<out>{}</out>", string_items(items))
}

fn envelope(inner: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_ENV}\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soap:Body>{inner}</soap:Body></soap:Envelope>"
    )
}

fn response(op: &str, out: &str) -> Canned {
    Canned::new(
        200,
        "text/xml; charset=utf-8",
        envelope(&format!(
            "<{op}Response xmlns=\"urn:SecurityServer\">{out}</{op}Response>"
        )),
    )
}

/// A fault as Crowd (XFire) sends it: HTTP 500, the exception named in the detail.
fn fault(code: &str, exception: &str, message: &str) -> Canned {
    Canned::new(
        500,
        "text/xml; charset=utf-8",
        envelope(&format!(
            "<soap:Fault><faultcode>{code}</faultcode><faultstring>{}</faultstring>\
             <detail><{exception} xmlns=\"urn:SecurityServer\"/></detail></soap:Fault>",
            escape(message)
        )),
    )
}
