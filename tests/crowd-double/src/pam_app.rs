//! A minimal PAM application: the real libpam loads the module from a service
//! directory (`pam_start_confdir`, Linux-PAM >= 1.4), with a conversation that
//! answers every prompt with one password. Used in the test process (for what
//! pamtester cannot carry, and for many transactions or threads in one process) and
//! by the `pam-login` binary (one process per login, as sshd forks).

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_CONV_ERR: c_int = 19;
const PAM_RHOST: c_int = 4;

/// PAM result codes the tests expect (from `<security/_pam_types.h>`).
pub const SUCCESS: i32 = 0;
pub const SERVICE_ERR: i32 = 3;
pub const PERM_DENIED: i32 = 6;
pub const AUTH_ERR: i32 = 7;
pub const AUTHINFO_UNAVAIL: i32 = 9;
pub const USER_UNKNOWN: i32 = 10;

/// Answers every prompt with the password in `appdata` (a `CString`).
extern "C" fn answer(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0 || msg.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    let n = num_msg as usize;
    // SAFETY: libpam passes num_msg messages and frees the responses with free().
    unsafe {
        let password = &*(appdata as *const CString);
        let responses = libc::calloc(n, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
        if responses.is_null() {
            return PAM_CONV_ERR;
        }
        for i in 0..n {
            let m = &**msg.add(i);
            if m.msg_style == PAM_PROMPT_ECHO_OFF || m.msg_style == PAM_PROMPT_ECHO_ON {
                (*responses.add(i)).resp = libc::strdup(password.as_ptr());
            }
        }
        *resp = responses;
    }
    SUCCESS
}

/// What a transaction returned: authenticate's code, and acct_mgmt's when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub auth: Option<i32>,
    pub account: Option<i32>,
}

/// One PAM transaction for `user` (raw bytes, as an application may pass them) on
/// `service` in `confdir`: authenticate (answering with `password`) if `auth`, then
/// acct_mgmt if `account` and authenticate succeeded or was skipped.
pub fn transaction(
    confdir: &Path,
    service: &str,
    user: &[u8],
    password: &[u8],
    auth: bool,
    account: bool,
) -> Outcome {
    let service = CString::new(service).expect("service");
    let user = CString::new(user).expect("user without NUL (C strings cannot hold one)");
    let password = Box::new(CString::new(password).expect("password without NUL"));
    let confdir = CString::new(confdir.as_os_str().as_encoded_bytes()).expect("confdir");
    let conv = PamConv {
        conv: answer,
        appdata_ptr: &*password as *const CString as *mut c_void,
    };
    let rhost = CString::new("198.51.100.7").expect("rhost");
    let mut pamh: *mut c_void = std::ptr::null_mut();
    // SAFETY: all pointers outlive the transaction, which ends with pam_end below.
    unsafe {
        let rc = pam_start_confdir(
            service.as_ptr(),
            user.as_ptr(),
            &conv,
            confdir.as_ptr(),
            &mut pamh,
        );
        assert_eq!(rc, SUCCESS, "pam_start_confdir");
        pam_set_item(pamh, PAM_RHOST, rhost.as_ptr() as *const c_void);
        let mut outcome = Outcome {
            auth: None,
            account: None,
        };
        let mut last = SUCCESS;
        if auth {
            last = pam_authenticate(pamh, 0);
            outcome.auth = Some(last);
        }
        if account && last == SUCCESS {
            last = pam_acct_mgmt(pamh, 0);
            outcome.account = Some(last);
        }
        pam_end(pamh, last);
        // An application wipes the password it read (sshd does): what a memory scan
        // after pam_end finds is then the module's.
        let mut bytes = password.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        outcome
    }
}
