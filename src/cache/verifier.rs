//! The offline password verifier: argon2id with a random salt, stored as a PHC string
//! (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), so the parameters travel with it.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params};

/// Stored parameters beyond these are refused unverified: an entry that asks for
/// gigabytes or minutes of work would stall the login that reads it.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_PASSES: u32 = 16;
const MAX_LANES: u32 = 8;

/// Why a verifier could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifierError {
    /// argon2 failed to hash.
    Hash(argon2::password_hash::Error),
    /// The stored verifier does not parse, or argon2 cannot use it.
    Unusable(argon2::password_hash::Error),
    /// The stored verifier is of another algorithm.
    NotArgon2id(String),
    /// The stored parameters are beyond this module's bounds.
    TooCostly {
        /// Memory, KiB.
        m: u32,
        /// Passes.
        t: u32,
        /// Lanes.
        p: u32,
    },
}

impl std::fmt::Display for VerifierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifierError::Hash(e) => write!(f, "argon2: {e}"),
            VerifierError::Unusable(e) => write!(f, "unusable verifier: {e}"),
            VerifierError::NotArgon2id(algorithm) => write!(f, "not argon2id but {algorithm}"),
            VerifierError::TooCostly { m, t, p } => write!(
                f,
                "parameters beyond this module's bounds (m={m} t={t} p={p})"
            ),
        }
    }
}

impl std::error::Error for VerifierError {}

/// A verifier for `password`: argon2id with the crate's defaults (OWASP's choice:
/// 19 MiB, 2 passes, 1 lane), which cost a login tens of milliseconds.
pub fn hash(password: &str) -> Result<String, VerifierError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(VerifierError::Hash)
}

/// Whether `password` matches the stored verifier `phc`. A verifier that is not an
/// argon2id PHC string within the bounds above is an error, never a match.
pub fn verify(phc: &str, password: &str) -> Result<bool, VerifierError> {
    let parsed = PasswordHash::new(phc).map_err(|e| VerifierError::Unusable(e.into()))?;
    check_bounds(&parsed)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(VerifierError::Unusable(e)),
    }
}

/// The parameters of a verifier, for `pam-crowd cache show` (never the hash itself).
pub fn describe(phc: &str) -> String {
    match PasswordHash::new(phc) {
        Ok(parsed) => match Params::try_from(&parsed) {
            Ok(p) => format!(
                "{} m={} KiB t={} p={}",
                parsed.algorithm,
                p.m_cost(),
                p.t_cost(),
                p.p_cost()
            ),
            Err(e) => format!("unusable ({e})"),
        },
        Err(e) => format!("unusable ({e})"),
    }
}

fn check_bounds(parsed: &PasswordHash) -> Result<(), VerifierError> {
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(VerifierError::NotArgon2id(parsed.algorithm.to_string()));
    }
    let p = Params::try_from(parsed).map_err(VerifierError::Unusable)?;
    if p.m_cost() > MAX_MEMORY_KIB || p.t_cost() > MAX_PASSES || p.p_cost() > MAX_LANES {
        return Err(VerifierError::TooCostly {
            m: p.m_cost(),
            t: p.t_cost(),
            p: p.p_cost(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_matches_its_password_only() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(verify(&phc, "correct horse"), Ok(true));
        assert_eq!(verify(&phc, "correct horsE"), Ok(false));
        assert_eq!(verify(&phc, ""), Ok(false));
        assert!(describe(&phc).starts_with("argon2id m=19456 KiB t=2 p=1"));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(hash("pw").unwrap(), hash("pw").unwrap());
    }

    #[test]
    fn unusable_verifiers_are_errors_not_matches() {
        let phc = hash("pw").unwrap();
        let greedy = phc.replace("m=19456", "m=4000000");
        assert!(verify(&greedy, "pw").is_err());
        let argon2i = phc.replace("$argon2id$", "$argon2i$");
        assert!(verify(&argon2i, "pw").is_err());
        assert!(verify("plaintext", "plaintext").is_err());
        assert!(verify("", "").is_err());
    }
}
