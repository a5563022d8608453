//! The one syslog line per decision, written for admins grepping the log (tests read
//! it back with `read_back.rs`).

use super::{Decision, Phase, Verdict, code_of};

/// The one line for a cache that could not be read or written: the decision stands,
/// but the next offline login may not find what it needs. The module, `pam-crowd`
/// and `authorized-keys` all write it so.
pub fn cache_problem_line(user: &str, problem: &crate::cache::CacheError) -> String {
    printable(&format!("cache problem user={user:?}: {problem}"))
}

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
