//! The configuration parser: any text gives a Config or an error, never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // password_file makes the parser read a file; reading is not what is fuzzed here.
    if text.contains("password_file") {
        return;
    }
    if let Ok(config) = pam_crowd::config::Config::parse("/fuzz/pam_crowd.toml".as_ref(), text) {
        let _ = config.rules_for("sshd");
    }
});
