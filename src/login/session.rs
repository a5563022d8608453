//! `pam_sm_open_session`: `[session] create_home`, the user's home made if missing
//! (see [`crate::home`]).

use super::call::Call;
use crate::home;
use crate::outcome::{Decision, Denial, Granted, LocalFault, Verdict};
use crate::resolver::crowd_name;

pub(super) fn open(call: &Call) -> Decision {
    let (config, user) = (&call.config, &call.user);
    if !config.session.create_home {
        return Ok(Verdict::NotOurs("[session] create_home is off".into()));
    }
    // The host's own accounts (root, system uids, local accounts local_users keeps)
    // have their homes; Crowd's data makes none for them. crowd_name looked the name
    // up as Owner::lookup does, so a uid below min_uid never gets this far.
    if let Err(denial) = crowd_name(config, user) {
        return Ok(Verdict::NotOurs(denial.to_string()));
    }
    let fault = |e: home::HomeError| Denial::Local(LocalFault::Home(e));
    let Some(owner) = home::Owner::lookup(user).map_err(fault)? else {
        return Ok(Verdict::NotOurs("no local account (passwd entry)".into()));
    };
    let made = home::ensure(&owner, &config.session).map_err(fault)?;
    Ok(Verdict::Granted(Granted::new(match made {
        home::Made::Created => format!("home {} created", owner.home.display()),
        home::Made::Existed => format!("home {} exists", owner.home.display()),
    })))
}
