//! `pam_sm_chauthtok`: a password change through Crowd, for Crowd's users only.

use super::{Call, log_cache_problems};
use crate::cache::Cache;
use crate::outcome::{AccountState, Decision, Denial, PasswordStep, Subject, Verdict};
use crate::pam_context::PamContext;
use crate::resolver::{Connect, Known};

pub(super) fn change<P: PamContext>(
    pam: &mut P,
    call: &Call,
    step: PasswordStep,
    subject: &mut Subject,
) -> Decision {
    // pam_unix changes the host's own passwords.
    match call.resolver().refuse_unasked(&call.user) {
        Err(host @ Denial::Account(AccountState::HostAccount(_))) => {
            return Ok(Verdict::NotOurs(host.to_string()));
        }
        other => other?,
    }
    let expired = matches!(
        call.known(pam),
        Some(Known::Crowd {
            password_expired: true,
            ..
        })
    );
    // sshd and login ask for a change of expired passwords only: not ours unless
    // Crowd said this one has expired.
    if step.only_expired && !expired {
        return Ok(Verdict::NotOurs(
            "only expired passwords are to be changed, and Crowd did not say this one is".into(),
        ));
    }
    let cache = Cache::open(&call.config).unwrap_or_else(|problem| {
        log_cache_problems(pam, &call.user, vec![problem]);
        None
    });
    let mut crowd = call.connection(pam);
    let result = crowd.crowd().and_then(|client| {
        crate::password::change(pam, client, &call.config, cache.as_ref(), &call.user, step)
    });
    // The update reuses the preliminary check's connection; after it, none is needed.
    call.finish(pam, crowd, !step.update, subject);
    result
}
