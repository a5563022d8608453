//! Every decoder of Crowd's answers: any bytes, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_crowd::crowd::{Reason, decode, events};

fuzz_target!(|data: &[u8]| {
    let _ = decode::crowd_error(data);
    let _ = decode::user(data);
    let _ = decode::session(data);
    let _ = decode::group_names(data);
    let _ = decode::user_names(data);
    let _ = decode::soap_reply(data);
    let _ = decode::user_with_attributes(data);
    let _ = decode::users_with_attributes(data);
    let _ = decode::group_attributes(data);
    let _ = decode::is_xml(data);
    let _ = events::start(data);
    let _ = events::batch(data);
    let _ = Reason::parse(&String::from_utf8_lossy(data));
});
