//! `libnss_crowd.so.2`: glibc's NSS `passwd` and `group` lookups (and `initgroups`)
//! answered from the files `pam-crowd sync` writes to `/var/lib/pam_crowd`.
//!
//! It never talks to the network and reads no configuration: NSS runs inside every
//! process on the host, and a lookup must neither hang nor depend on Crowd. Every
//! lookup opens the files afresh, so a new sync is seen at once.
//!
//! `ffi` is the only unsafe code: it turns glibc's arguments into the plain calls of
//! [`lookup`] and copies the answers into the caller's buffer through [`pack`].

// The one file of unsafe code: the exported glibc NSS entry points.
#[allow(unsafe_code)]
mod ffi;
mod lookup;
mod pack;
