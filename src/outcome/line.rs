//! The one syslog line per decision, and its reading (by `pam-crowd`'s tests and
//! anyone grepping the log).

use super::{Decision, PamCode, Phase, Verdict, code_of};

/// Who a call was about, for the log line.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The PAM user, once known.
    pub user: Option<String>,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST, when the application set it.
    pub rhost: Option<String>,
    /// When the call started asking Crowd, if it did: the log line says how long
    /// Crowd took, which the `timeout` bounds.
    pub asked_crowd: Option<std::time::Instant>,
}

/// The one syslog line for a decision. User-supplied text is quoted and escaped, so a
/// name cannot forge a second line; no password or secret is ever part of it.
///
/// `granted user=".." service=".." rhost="..": DETAIL`, `ignored ...: WHY` (another
/// module decides), or `denied ... code=PAM_X: WHY` (a new password required is one
/// of these: the login does not go on without it).
pub fn decision_line(subject: &Subject, decision: &Decision, phase: Phase) -> String {
    let user = subject.user.as_deref().unwrap_or("?");
    let rhost = subject.rhost.as_deref().unwrap_or("");
    let head = format!(
        "user={user:?} service={:?} rhost={rhost:?}",
        subject.service
    );
    let took = subject
        .asked_crowd
        .map(|t| format!(" [crowd {} ms]", t.elapsed().as_millis()))
        .unwrap_or_default();
    let code = code_of(decision, phase);
    match decision {
        // The detail may quote Crowd (why an offline grant was made): escaped too.
        Ok(Verdict::Granted(g)) => format!("granted {head}: {}{took}", printable(&g.detail)),
        Ok(Verdict::NotOurs(why)) => format!("ignored {head}: {}{took}", printable(why)),
        Ok(Verdict::NewPasswordRequired) => format!(
            "denied {head} code={}: the Crowd password has expired: a new one is required{took}",
            code.name()
        ),
        Err(d) => format!(
            "denied {head} code={}: {}{took}",
            code.name(),
            printable(&d.to_string())
        ),
    }
}

/// `text` with control characters escaped, so text from Crowd or the user cannot
/// break a log line in two or drive a terminal (`\e]0;...`, `\e[2J`), and with the
/// invisible characters that make one name look like another escaped too (`root\u{200b}`,
/// bidirectional overrides). Log lines, `pam-crowd`'s output and messages to the user
/// are all made printable by this one function.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || invisible(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Unicode's format characters that print as nothing or reorder what follows: soft
/// hyphen, Arabic letter mark, Mongolian vowel separator, zero-width spaces and
/// joiners, directional marks, embeddings, overrides and isolates, word joiner and
/// invisible operators, the byte order mark, and the interlinear annotation marks.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// A decision line read back: what tests assert on, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLine {
    /// `granted`, `ignored` or `denied`.
    pub verdict: String,
    /// The user, unescaped.
    pub user: String,
    /// The service.
    pub service: String,
    /// The remote host, empty when unset.
    pub rhost: String,
    /// The PAM code the line says the call returned.
    pub code: PamCode,
    /// Everything after the head: the detail or the reason, and the Crowd time.
    pub reason: String,
}

impl DecisionLine {
    /// Reads a line [`decision_line`] wrote; `None` for any other line.
    pub fn parse(line: &str) -> Option<DecisionLine> {
        let (verdict, rest) = line.split_once(' ')?;
        let (user, rest) = quoted(rest.strip_prefix("user=")?)?;
        let (service, rest) = quoted(rest.strip_prefix(" service=")?)?;
        let (rhost, rest) = quoted(rest.strip_prefix(" rhost=")?)?;
        let (code, reason) = match verdict {
            "granted" => (PamCode::Success, rest.strip_prefix(": ")?),
            "ignored" => (PamCode::Ignore, rest.strip_prefix(": ")?),
            "denied" => {
                let (code, reason) = rest.strip_prefix(" code=")?.split_once(": ")?;
                (PamCode::from_name(code)?, reason)
            }
            _ => return None,
        };
        Some(DecisionLine {
            verdict: verdict.to_owned(),
            user,
            service,
            rhost,
            code,
            reason: reason.to_owned(),
        })
    }
}

/// One `"..."` as Rust's `{:?}` writes it, unescaped; and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '0' => value.push('\0'),
                'u' => {
                    // \u{XXXX}
                    let mut hex = String::new();
                    for (_, c) in chars.by_ref() {
                        match c {
                            '{' => {}
                            '}' => break,
                            c => hex.push(c),
                        }
                    }
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}
