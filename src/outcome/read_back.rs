//! Reading a decision line back, field by field: what the unit tests and the libpam
//! suite (`tests/pam/harness`, which includes this file) assert on. Test code only:
//! it is not built into pam_crowd.so.

use super::PamCode;

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
                (code_named(code)?, reason)
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

/// A PAM code by its C name (`PAM_AUTH_ERR`), as a decision line writes it: libpam's
/// codes are the small numbers below 40.
pub(super) fn code_named(name: &str) -> Option<PamCode> {
    (0..40)
        .map(PamCode::from_raw)
        .find(|code| code.name() == name)
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
