//! `pam_sm_chauthtok`: a password change through Crowd, for Crowd's users only.

use super::call::{Call, log_cache_problems};
use crate::outcome::{AccountState, Decision, Denial, PasswordStep, Subject, Verdict};
use crate::pam_context::PamContext;
use crate::resolver::crowd_name;

pub(super) fn change<P: PamContext>(
    pam: &mut P,
    call: &Call,
    step: PasswordStep,
    subject: &mut Subject,
) -> Decision {
    // pam_unix changes the host's own passwords.
    let user = match crowd_name(&call.config, &call.user) {
        Ok(user) => user,
        Err(denial @ Denial::Account(AccountState::HostAccount(_))) => {
            return Ok(Verdict::NotOurs(denial.to_string()));
        }
        Err(denial) => return Err(denial),
    };
    let expired = call.known(pam).is_some_and(|k| k.password_expired());
    // sshd and login ask for a change of expired passwords only: not ours unless
    // Crowd said this one has expired.
    if step.only_expired && !expired {
        return Ok(Verdict::NotOurs(
            "only expired passwords are to be changed, and Crowd did not say this one is".into(),
        ));
    }
    let mut resolver = call.resolver(pam);
    let rules = call.rules(subject);
    let result = crate::password::change(pam, &mut resolver, &call.config, &user, &rules, step);
    let problems = resolver.take_problems();
    // The update reuses the preliminary check's connection; after it, none is needed.
    call.finish(pam, resolver.into_connection(), !step.update, subject);
    log_cache_problems(pam, &call.user, problems);
    result
}
