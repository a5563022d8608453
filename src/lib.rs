//! pam_crowd: a Linux PAM module that authenticates logins against Atlassian Crowd
//! and admits users by nested Crowd group membership.
//!
//! A login flows through: the exported hooks here → [`options`] → [`config`] →
//! [`login`] (the decision) → [`crowd`] (the REST client) → [`outcome`] (PAM code and
//! log line). Only this file and `ffi` touch libpam; the Crowd client is usable on its
//! own as a library.

pub mod cache;
pub mod config;
pub mod crowd;
mod ffi;
pub mod login;
pub mod offline;
pub mod options;
pub mod outcome;
pub mod pam_context;
pub mod policy;
pub mod ssh_keys;

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pam::constants::{PamFlag, PamResultCode};
use pam::module::{PamHandle, PamHooks};

use crate::outcome::{Denial, PamCode, Phase};
use crate::pam_context::{Level, PamContext};

struct PamCrowd;
pam::pam_hooks!(PamCrowd);

impl PamHooks for PamCrowd {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        hook(pamh, &args, Phase::Auth)
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        hook(pamh, &args, Phase::Account)
    }

    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        // Crowd grants no credentials to establish; authenticate's result stands.
        PamResultCode::PAM_SUCCESS
    }
}

/// Runs a hook's decision with panics caught here, so a bug denies this login with a
/// log line instead of aborting the whole PAM stack (or the process).
fn hook(pamh: &mut PamHandle, args: &[&CStr], phase: Phase) -> PamResultCode {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = catch_unwind(AssertUnwindSafe(|| {
        login::run(&mut ffi::RealPam(&mut *pamh), phase, &args)
    }))
    .unwrap_or_else(|_| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            ffi::RealPam(&mut *pamh).log(Level::Err, &format!("denied: {}", Denial::Panic))
        }));
        PamCode::SystemErr
    });
    ffi::to_pam(code)
}
