use super::denial::Refusal;
use super::read_back::DecisionLine;
use super::*;
use crate::crowd::{CrowdError, Reason};
use crate::policy::Access;

fn refused(reason: &str) -> Denial {
    Denial::refused(Reason::parse(reason))
}

fn offline(refusal: OfflineRefusal) -> Denial {
    Denial::Offline(Offline {
        crowd: CrowdError::Unavailable(vec![]),
        cache: Some(refusal),
    })
}

fn change(update: bool) -> Phase {
    Phase::Password(PasswordStep {
        update,
        only_expired: false,
    })
}

#[test]
fn crowd_reasons_map_to_the_documented_codes() {
    use PamCode::*;
    use Phase::*;
    let cases = [
        ("INVALID_USER_AUTHENTICATION", Auth, AuthErr),
        ("EXPIRED_CREDENTIAL", Auth, AuthErr),
        ("INACTIVE_ACCOUNT", Auth, AuthErr),
        ("APPLICATION_ACCESS_DENIED", Auth, AuthErr),
        ("SOMETHING_NEW", Auth, AuthErr),
        ("USER_NOT_FOUND", Auth, UserUnknown),
        ("USER_NOT_FOUND", Account, UserUnknown),
        ("INACTIVE_ACCOUNT", Account, AcctExpired),
        ("SOMETHING_NEW", Account, PermDenied),
        ("INVALID_CREDENTIAL", change(true), AuthtokErr),
        ("APPLICATION_PERMISSION_DENIED", change(true), PermDenied),
        ("INVALID_USER_AUTHENTICATION", change(false), AuthErr),
    ];
    for (reason, phase, want) in cases {
        assert_eq!(refused(reason).code(phase), want, "{reason} in {phase:?}");
    }
}

/// One of each kind of denial, with the exact code it gives in each phase: auth,
/// account, a password change's preliminary check, its update, and the session.
fn every_denial() -> Vec<(Denial, [PamCode; 5])> {
    use PamCode::*;
    vec![
        (
            Denial::Input(BadInput::Username("x".into())),
            [UserUnknown; 5],
        ),
        (Denial::Input(BadInput::EmptyPassword), [AuthErr; 5]),
        (Denial::Input(BadInput::Password("x".into())), [AuthErr; 5]),
        (
            refused("X"),
            [AuthErr, PermDenied, AuthErr, AuthErr, AuthErr],
        ),
        (refused("USER_NOT_FOUND"), [UserUnknown; 5]),
        (
            Denial::from(CrowdError::Unavailable(vec![])),
            [AuthinfoUnavail; 5],
        ),
        (Denial::from(CrowdError::Setup("x".into())), [ServiceErr; 5]),
        (
            Denial::Account(AccountState::NameMismatch {
                canonical: "x".into(),
                case_only: false,
            }),
            [AuthErr, UserUnknown, AuthErr, AuthErr, AuthErr],
        ),
        (
            Denial::Account(AccountState::Inactive),
            [AuthErr, AcctExpired, AuthErr, AuthErr, AuthErr],
        ),
        (
            Denial::Account(AccountState::Access(Access::NotInAllowGroups(vec![]))),
            [PermDenied; 5],
        ),
        (
            Denial::Account(AccountState::HostAccount("x".into())),
            [UserUnknown; 5],
        ),
        (
            Denial::Account(AccountState::GoneFromCrowd("x".into())),
            [PermDenied; 5],
        ),
        (
            offline(OfflineRefusal::NotCached("x".into())),
            [AuthinfoUnavail; 5],
        ),
        (offline(OfflineRefusal::WrongPassword), [AuthErr; 5]),
        (
            offline(OfflineRefusal::Locked { failures: 3 }),
            [AuthErr; 5],
        ),
        (
            offline(OfflineRefusal::Access(Access::NobodyAllowed)),
            [PermDenied; 5],
        ),
        (
            Denial::Local(LocalFault::Arguments(crate::options::UnknownArgument(
                "x".into(),
            ))),
            [ServiceErr; 5],
        ),
        (
            Denial::Local(LocalFault::Client("x".into())),
            [ServiceErr; 5],
        ),
        (
            Denial::Local(LocalFault::Pam {
                what: "x",
                code: PamCode::ConvErr,
            }),
            [ConvErr; 5],
        ),
        (
            Denial::Local(LocalFault::Home(crate::home::HomeError::BadPath {
                home: "x".into(),
            })),
            [SessionErr; 5],
        ),
        (Denial::Local(LocalFault::Panic), [SystemErr; 5]),
    ]
}

#[test]
fn every_denial_gives_its_exact_code_in_every_phase() {
    let phases = [
        Phase::Auth,
        Phase::Account,
        change(false),
        change(true),
        Phase::Session,
    ];
    for (d, codes) in every_denial() {
        for (phase, want) in phases.into_iter().zip(codes) {
            let code = d.code(phase);
            assert_eq!(code, want, "{d:?} in {phase:?}");
            assert!(
                ![PamCode::Success, PamCode::Ignore].contains(&code),
                "{d:?} in {phase:?}"
            );
        }
    }
}

#[test]
fn crowd_errors_land_in_their_family() {
    assert_eq!(
        Denial::from(CrowdError::Refused {
            status: 403,
            reason: Reason::ApplicationPermissionDenied,
            message: "m".into()
        }),
        Denial::Refused(Refusal {
            reason: Reason::ApplicationPermissionDenied,
            message: "m".into()
        })
    );
    let down = Denial::from(CrowdError::Unavailable(vec![]));
    assert_eq!(down.unanswered(), Some(&CrowdError::Unavailable(vec![])));
    assert_eq!(down.code(Phase::Account), PamCode::AuthinfoUnavail);
    assert!(matches!(
        Denial::from(CrowdError::Setup("x".into())),
        Denial::Local(LocalFault::Client(_))
    ));
}

#[test]
fn offline_refusals_keep_nothing_cached_apart_from_a_wrong_password() {
    use PamCode::*;
    for phase in [Phase::Auth, Phase::Account] {
        assert_eq!(
            offline(OfflineRefusal::NotCached("x".into())).code(phase),
            AuthinfoUnavail
        );
        assert_eq!(offline(OfflineRefusal::WrongPassword).code(phase), AuthErr);
        assert_eq!(
            offline(OfflineRefusal::Locked { failures: 3 }).code(phase),
            AuthErr
        );
        assert_eq!(
            offline(OfflineRefusal::Access(Access::InDenyGroup("d".into()))).code(phase),
            PermDenied
        );
    }
    let line = offline(OfflineRefusal::WrongPassword).to_string();
    assert!(line.starts_with("offline: "), "{line}");
    assert!(line.contains("Crowd unavailable"), "{line}");
}

#[test]
fn phase_dependent_codes() {
    let m = Denial::Account(AccountState::NameMismatch {
        canonical: "alice".into(),
        case_only: true,
    });
    assert_eq!(m.code(Phase::Auth), PamCode::AuthErr);
    assert_eq!(m.code(Phase::Account), PamCode::UserUnknown);
    let inactive = Denial::Account(AccountState::Inactive);
    assert_eq!(inactive.code(Phase::Account), PamCode::AcctExpired);
    assert_eq!(inactive.code(Phase::Auth), PamCode::AuthErr);
}

#[test]
fn verdicts_have_their_codes() {
    assert_eq!(Verdict::Granted(Granted::new("x")).code(), PamCode::Success);
    assert_eq!(Verdict::NotOurs("x".into()).code(), PamCode::Ignore);
    assert_eq!(Verdict::NewPasswordRequired.code(), PamCode::NewAuthtokReqd);
}

#[test]
fn a_grant_quoting_crowd_is_one_line_too() {
    let granted = Granted {
        detail: "checked offline (Crowd: 503 down\ngranted user=\"root\")".into(),
        offline: true,
    };
    let line = decision_line(
        &Subject::default(),
        &Ok(Verdict::Granted(granted)),
        Phase::Auth,
    );
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("down\\ngranted"), "{line}");
}

#[test]
fn log_line_escapes_user_supplied_text() {
    let subject = Subject {
        user: Some("eve\ngranted user=\"root\"".into()),
        service: "sshd".into(),
        rhost: Some("10.0.0.1".into()),
        asked_crowd: None,
    };
    let line = decision_line(
        &subject,
        &Err(Denial::Input(BadInput::EmptyPassword)),
        Phase::Auth,
    );
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.starts_with("denied user=\"eve\\ngranted user=\\\"root\\\"\""),
        "{line}"
    );
    assert!(
        line.contains("service=\"sshd\" rhost=\"10.0.0.1\" code=PAM_AUTH_ERR"),
        "{line}"
    );
    let parsed = DecisionLine::parse(&line).unwrap();
    assert_eq!(parsed.user, "eve\ngranted user=\"root\"");
    assert_eq!(parsed.code, PamCode::AuthErr);
    assert_eq!(parsed.reason, "empty password, Crowd not asked");
}

#[test]
fn every_line_reads_back_with_its_code() {
    let subject = Subject {
        user: Some("al\"ice\u{7f}ü".into()),
        service: "sshd".into(),
        rhost: None,
        asked_crowd: None,
    };
    let mut decisions: Vec<Decision> = every_denial().into_iter().map(|(d, _)| Err(d)).collect();
    decisions.push(Ok(Verdict::Granted(Granted::new("ok"))));
    decisions.push(Ok(Verdict::NotOurs("not ours".into())));
    decisions.push(Ok(Verdict::NewPasswordRequired));
    for decision in &decisions {
        for phase in [Phase::Auth, Phase::Account, change(true)] {
            let line = decision_line(&subject, decision, phase);
            let parsed = DecisionLine::parse(&line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(parsed.code, code_of(decision, phase), "{line}");
            assert_eq!(parsed.user, "al\"ice\u{7f}ü");
            assert_eq!(parsed.rhost, "");
        }
    }
    assert_eq!(DecisionLine::parse("cache problem user=\"x\": y"), None);
}
