//! The decision of one PAM call: options → config → user → the phase → outcome, with
//! the one log line. Generic over [`PamContext`], so it runs in tests without libpam;
//! each phase is a file of its own, and what Crowd and the cache decide is the
//! [`Resolver`](crate::resolver::Resolver)'s; what a phase needs of the call is in
//! `call.rs`.

mod account;
mod auth;
mod call;
mod password;
mod session;

use call::Call;
#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::input::check_username;
use crate::options::Options;
use crate::outcome::{
    Decision, Denial, LocalFault, PamCode, Phase, Subject, Verdict, code_of, decision_line,
};
use crate::pam_context::{Level, PamContext};

/// Runs one hook: decides, logs the decision, returns the PAM code.
pub fn run<P: PamContext, S: AsRef<str>>(pam: &mut P, phase: Phase, args: &[S]) -> PamCode {
    let mut subject = Subject {
        user: None,
        service: pam.service(),
        rhost: pam.rhost(),
        asked_crowd: None,
    };
    let decision = decide(pam, phase, args, &mut subject);
    let code = code_of(&decision, phase);
    let level = match &decision {
        Ok(Verdict::Granted(g)) if g.offline => Level::Notice,
        Ok(Verdict::NewPasswordRequired) => Level::Notice,
        Ok(_) => Level::Info,
        Err(_) if matches!(code, PamCode::AuthinfoUnavail | PamCode::ServiceErr) => Level::Err,
        Err(_) => Level::Notice,
    };
    // The profile puts the session phase in every login's stack: with nothing to do
    // (create_home off, no local account) it says nothing, rather than a line per login.
    let nothing_to_do = phase == Phase::Session && matches!(decision, Ok(Verdict::NotOurs(_)));
    if !nothing_to_do {
        pam.log(level, &decision_line(&subject, &decision, phase));
    }
    code
}

fn decide<P: PamContext, S: AsRef<str>>(
    pam: &mut P,
    phase: Phase,
    args: &[S],
    subject: &mut Subject,
) -> Decision {
    // The user first, so that even a configuration error is logged with the user.
    let user = check_username(pam.user()?)?;
    subject.user = Some(user.clone());
    let options = Options::parse(args).map_err(|e| Denial::Local(LocalFault::Arguments(e)))?;
    let mut config =
        Config::load(&options.config_path).map_err(|e| Denial::Local(LocalFault::Config(e)))?;
    if let Some(local_users) = &options.local_users {
        config.local_users = local_users.clone();
    }
    let call = Call {
        user,
        options,
        config,
    };
    match phase {
        Phase::Session => session::open(&call),
        Phase::Auth => auth::authenticate(pam, &call, subject),
        Phase::Account => account::account(pam, &call, subject),
        Phase::Password(step) => password::change(pam, &call, step, subject),
    }
}
