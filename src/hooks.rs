//! The exported PAM hooks: libpam calls `pam_sm_*`, each becomes one [`Phase`] of
//! [`crate::login::run`] with panics caught, so a bug denies one login instead of
//! aborting the PAM stack. Only this file and `ffi` touch libpam.

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pam::constants::{PAM_CHANGE_EXPIRED_AUTHTOK, PAM_SILENT, PamFlag, PamResultCode};
use pam::module::{PamHandle, PamHooks};

use crate::ffi;
use crate::login;
use crate::outcome::{Denial, LocalFault, PamCode, PasswordStep, Phase};

/// `PAM_UPDATE_AUTHTOK` (`<security/_pam_types.h>`), which pam-bindings lacks.
const PAM_UPDATE_AUTHTOK: PamFlag = 0x2000;
use crate::pam_context::{Level, PamContext};

struct PamCrowd;
// The exported `pam_sm_*` symbols (`#[no_mangle] extern "C"`), from pam-bindings.
#[allow(unsafe_code)]
mod exported {
    use super::PamCrowd;
    pam::pam_hooks!(PamCrowd);
}

impl PamHooks for PamCrowd {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        hook(pamh, &args, Phase::Auth, flags)
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        hook(pamh, &args, Phase::Account, flags)
    }

    fn sm_chauthtok(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        let step = PasswordStep {
            update: flags & PAM_UPDATE_AUTHTOK != 0,
            only_expired: flags & PAM_CHANGE_EXPIRED_AUTHTOK != 0,
        };
        hook(pamh, &args, Phase::Password(step), flags)
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        hook(pamh, &args, Phase::Session, flags)
    }

    fn sm_close_session(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        // Nothing was opened that needs closing.
        PamResultCode::PAM_SUCCESS
    }

    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        // Crowd grants no credentials to establish; authenticate's result stands.
        PamResultCode::PAM_SUCCESS
    }
}

/// Runs a hook's decision with panics caught here, so a bug denies this login with a
/// log line instead of aborting the whole PAM stack (or the process).
fn hook(pamh: &mut PamHandle, args: &[&CStr], phase: Phase, flags: PamFlag) -> PamResultCode {
    let silent = flags & PAM_SILENT != 0;
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = catch_unwind(AssertUnwindSafe(|| {
        let mut pam = ffi::RealPam {
            handle: &mut *pamh,
            silent,
        };
        login::run(&mut pam, phase, &args)
    }))
    .unwrap_or_else(|_| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let pam = ffi::RealPam {
                handle: &mut *pamh,
                silent,
            };
            pam.log(
                Level::Err,
                &format!("denied: {}", Denial::Local(LocalFault::Panic)),
            )
        }));
        PamCode::SystemErr
    });
    ffi::to_pam(code)
}
