//! The PAM return codes this module gives: the one table of values and names.

/// One row per code: the value from `<security/_pam_types.h>`, and the macro name
/// admins know from PAM documentation.
const TABLE: [(PamCode, &str); 16] = [
    (PamCode::Success, "PAM_SUCCESS"),
    (PamCode::ServiceErr, "PAM_SERVICE_ERR"),
    (PamCode::SystemErr, "PAM_SYSTEM_ERR"),
    (PamCode::BufErr, "PAM_BUF_ERR"),
    (PamCode::PermDenied, "PAM_PERM_DENIED"),
    (PamCode::AuthErr, "PAM_AUTH_ERR"),
    (PamCode::AuthinfoUnavail, "PAM_AUTHINFO_UNAVAIL"),
    (PamCode::UserUnknown, "PAM_USER_UNKNOWN"),
    (PamCode::NewAuthtokReqd, "PAM_NEW_AUTHTOK_REQD"),
    (PamCode::AcctExpired, "PAM_ACCT_EXPIRED"),
    (PamCode::SessionErr, "PAM_SESSION_ERR"),
    (PamCode::CredErr, "PAM_CRED_ERR"),
    (PamCode::ConvErr, "PAM_CONV_ERR"),
    (PamCode::AuthtokErr, "PAM_AUTHTOK_ERR"),
    (PamCode::Ignore, "PAM_IGNORE"),
    (PamCode::Abort, "PAM_ABORT"),
];

/// The PAM return codes this module gives, and `PAM_CRED_ERR` (values from
/// `<security/_pam_types.h>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum PamCode {
    Success = 0,
    ServiceErr = 3,
    SystemErr = 4,
    BufErr = 5,
    PermDenied = 6,
    AuthErr = 7,
    AuthinfoUnavail = 9,
    UserUnknown = 10,
    NewAuthtokReqd = 12,
    AcctExpired = 13,
    SessionErr = 14,
    /// Never the module's (its setcred always succeeds): libpam's answer from another
    /// module, which tests read back through this table too.
    CredErr = 17,
    ConvErr = 19,
    AuthtokErr = 20,
    Ignore = 25,
    Abort = 26,
}

impl PamCode {
    /// The code for a raw value libpam returned; unknown values become `SystemErr`.
    pub fn from_raw(raw: i32) -> PamCode {
        TABLE
            .iter()
            .find(|(c, _)| *c as i32 == raw)
            .map_or(PamCode::SystemErr, |(c, _)| *c)
    }

    /// The macro name admins know from PAM documentation.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("PAM_SYSTEM_ERR", |(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_table_once() {
        for (code, name) in TABLE {
            assert_eq!(PamCode::from_raw(code as i32), code);
            assert_eq!(super::super::read_back::code_named(name), Some(code));
            assert_eq!(code.name(), name);
            assert_eq!(crate::ffi::to_pam(code) as i32, code as i32, "{name}");
        }
        assert_eq!(PamCode::from_raw(999), PamCode::SystemErr);
        assert_eq!(super::super::read_back::code_named("PAM_NOPE"), None);
    }
}
