//! `pam_sm_authenticate`: the password, then the resolver's answer.

use super::call::{Call, log_cache_problems};
use crate::input::check_password;
use crate::outcome::{Decision, Subject, Verdict};
use crate::pam_context::PamContext;
use crate::password::expired_message;
use crate::resolver::crowd_name;

pub(super) fn authenticate<P: PamContext>(
    pam: &mut P,
    call: &Call,
    subject: &mut Subject,
) -> Decision {
    // Before the prompt: the host's own accounts are never asked for a Crowd password.
    let user = crowd_name(&call.config, &call.user)?;
    let password = check_password(pam.password()?)?;
    // The deadline starts on Crowd's first use, after the prompt: typing is not
    // Crowd's time.
    let mut resolver = call.resolver(pam);
    let result = resolver.authenticate(&user, &password, subject.rhost.as_deref());
    let problems = resolver.take_problems();
    // Kept whatever the answer: the account phase, or the next password attempt on
    // this handle, reuses the connection.
    call.finish(pam, resolver.into_connection(), true, subject);
    log_cache_problems(pam, &call.user, problems);
    let (granted, known) = result?;
    if known.password_expired() {
        pam.tell(true, &expired_message(&call.config));
    }
    call.remember(pam, user, known);
    Ok(Verdict::Granted(granted))
}
