//! `pam_sm_acct_mgmt`: the rules of the service, decided by the resolver with what
//! authenticate learned.

use super::{Call, log_cache_problems};
use crate::outcome::{Decision, Subject};
use crate::pam_context::PamContext;
use crate::resolver::crowd_name;

pub(super) fn account<P: PamContext>(pam: &mut P, call: &Call, subject: &mut Subject) -> Decision {
    let user = crowd_name(&call.config, &call.user)?;
    let rules = call.rules(subject);
    let known = call.known(pam);
    let mut resolver = call.resolver(pam);
    let result = resolver.account(&user, known.as_ref(), &rules);
    let problems = resolver.take_problems();
    // Crowd's part of the login is over: close the connection now rather than hold
    // it for the whole session (sshd ends the transaction at logout).
    call.finish(pam, resolver.into_connection(), false, subject);
    log_cache_problems(pam, &call.user, problems);
    result
}
