//! `pam_sm_acct_mgmt`: the rules of the service, decided by the resolver with what
//! authenticate learned.

use super::call::{Call, log_cache_problems};
use crate::outcome::{Decision, Subject};
use crate::pam_context::PamContext;
use crate::resolver::crowd_name;

pub(super) fn account<P: PamContext>(pam: &mut P, call: &Call, subject: &mut Subject) -> Decision {
    // A name authenticate checked in this transaction, under the same rules, is not
    // looked up again: the host's account lookups (NSS) are most of the module's
    // own time in a login (BENCHMARKS.md, "Where the time goes").
    let (user, known) = match call.known_name(pam) {
        Some((user, known)) => (user, Some(known)),
        None => (crowd_name(&call.config, &call.user)?, None),
    };
    let rules = call.rules(subject);
    let mut resolver = call.resolver(pam);
    let result = resolver.account(&user, known.as_ref(), &rules);
    let problems = resolver.take_problems();
    // Crowd's part of the login is over: close the connection now rather than hold
    // it for the whole session (sshd ends the transaction at logout).
    call.finish(pam, resolver.into_connection(), false, subject);
    log_cache_problems(pam, &call.user, problems);
    result
}
