//! The in-process PAM application lives in the double's crate, shared with its
//! `pam-login` binary.

pub use crowd_double::pam_app::*;
