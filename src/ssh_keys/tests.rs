//! Unit tests of key validation, with keys made by ssh-keygen.
use super::*;

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILyCR/4ceoxV6CwtiKb7jih+2jm2t0tcBNDfnOqP/RZP alice@laptop";
const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDNY+6QVVa310pxI3WiJ4xR9wqjdCgXou8EHeoVyg+vhXMsQtMD6KfoJ/f69xC+MWg6GUxMcRBshLFkp91izdKk= alice@ci";
const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0sIpT2fEAcx00p8tg+AGPvDViAGhV8pXUWd5SazAT+tUdBI3j9jJwn+kOeiG+ooqUCCtrpRsDeteC2faMa7EHn3aAJnrJHQc/3jrUIsXowWryZqz3NdnQsHF93iHCCEZfr66ev4IbLHGVr4Bc7f/vNoHaM4hsyFxOKXXzfAe845YlqaqJJZ0t+YuHADHztqHNXK7Z1PWkynE8BqzWnMK4UT4REHEq/fG1GgFPxGDwHY23nBV9sVGJeXncdtC9GaacZpX5z9fTxojEJdX+z+G3pGxNem3wcMTpCETY45BwkdkU59HgV2R+J7WNsv9oLrbVo+YsCW+RMOGcT/T1l2fz";

#[test]
fn openssh_keys_are_accepted_and_fingerprinted_as_ssh_keygen_does() {
    let key = parse_key(ED25519).unwrap();
    assert_eq!(key.line, ED25519);
    assert_eq!(
        key.fingerprint,
        "SHA256:cADQvsQJJjceQhNEz6bfQcczXwWWc1b/3M+tn6nj4sc"
    );
    assert_eq!(parse_key(ECDSA).unwrap().line, ECDSA);
    let rsa = parse_key(&format!("  {RSA}\n")).unwrap();
    assert_eq!(rsa.line, RSA);
    assert_eq!(
        rsa.fingerprint,
        "SHA256:+DV13DWkd/gJw8k7A3CAY9K+Lgq7VkWbTDzpQ2NlJfQ"
    );
}

#[test]
fn anything_but_one_plain_key_is_refused() {
    let (_, body) = ED25519.split_once(' ').unwrap();
    let cases = [
        String::new(),
        "   ".into(),
        format!("command=\"/bin/sh\" {ED25519}"),
        format!("from=\"*\",no-pty {ED25519}"),
        format!("{ED25519}\n{RSA}"),
        format!("{ED25519} comment\rwith a return"),
        format!("ssh-rsa {body}"),
        "ssh-ed25519 AAAAnot-base64!!".into(),
        "ssh-ed25519".into(),
        "not a key at all".into(),
        "-----BEGIN OPENSSH PRIVATE KEY-----".into(),
        format!("{ED25519} {}", "x".repeat(9000)),
    ];
    for value in cases {
        assert!(parse_key(&value).is_err(), "accepted: {value:?}");
    }
}

#[test]
fn valid_keys_skip_the_bad_and_the_repeated() {
    let values: Vec<String> = [ED25519, "garbage", RSA, ED25519, ""]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (keys, skipped) = valid_keys(&values);
    assert_eq!(
        keys.iter().map(|k| k.line.as_str()).collect::<Vec<_>>(),
        vec![ED25519, RSA]
    );
    assert_eq!(
        skipped.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![1, 4]
    );
}
