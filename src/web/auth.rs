//! HTTP basic authentication against `basic_auth_users` (bcrypt hashes). A user that does
//! not exist is checked against a decoy hash of the same cost, so the time an answer takes
//! does not tell which users exist. Verified passwords are remembered in a bounded set keyed
//! by a SHA-256 of user, hash and password, so a scrape every second does not pay bcrypt each
//! time; wrong guesses are not remembered, so they cannot push the right ones out.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;

use super::config::BcryptHash;

/// How many verified (user, password) pairs are remembered.
const CACHE_ENTRIES: usize = 256;

/// Checks credentials against the configured users.
pub struct BasicAuth {
    users: BTreeMap<String, BcryptHash>,
    /// A hash of a password no one sends, at the highest cost of the configured hashes.
    decoy: String,
    /// Keys of credentials verified right.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// One bcrypt at a time: it is CPU-bound by design, and concurrent floods of wrong
    /// passwords must not take both cores away from scrapes.
    bcrypt_turn: Mutex<()>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, BcryptHash>) -> Result<BasicAuth, bcrypt::BcryptError> {
        let cost = users
            .values()
            .map(BcryptHash::cost)
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let decoy = bcrypt::hash("ipvs_exporter decoy password", cost)?;
        Ok(BasicAuth {
            users,
            decoy,
            verified: Mutex::new(HashSet::new()),
            bcrypt_turn: Mutex::new(()),
        })
    }

    /// The answer for these credentials when it is already known: `Some(true)` for a
    /// password verified before, `Some(false)` when the header is not basic auth at all.
    /// Cheap: call it first, and [`BasicAuth::check`] only when this says `None`.
    pub fn cached(&self, authorization: Option<&[u8]>) -> Option<bool> {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Some(false);
        };
        let hash = self.users.get(&user)?;
        let key = cache_key(&user, &hash.0, &password);
        self.verified
            .lock()
            .ok()
            .and_then(|verified| verified.contains(&key).then_some(true))
    }

    /// Whether the `Authorization` header's value names a user and the right password.
    /// Blocking (bcrypt): call it off the async threads.
    pub fn check(&self, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let known = self.users.get(&user);
        let hash = known.map_or(self.decoy.as_str(), |h| h.0.as_str());
        let key = cache_key(&user, hash, &password);
        if known.is_some()
            && self
                .verified
                .lock()
                .is_ok_and(|verified| verified.contains(&key))
        {
            return true;
        }
        let matches = {
            let _turn = self.bcrypt_turn.lock();
            bcrypt::verify(&password, hash).unwrap_or(false)
        };
        // Only right passwords are remembered: guesses cannot push them out.
        if matches
            && known.is_some()
            && let Ok(mut verified) = self.verified.lock()
        {
            if verified.len() >= CACHE_ENTRIES {
                verified.clear();
            }
            verified.insert(key);
        }
        matches && known.is_some()
    }
}

fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

/// `Basic base64(user:password)` into its user and password.
fn parse_basic(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded.get(..colon)?.to_vec()).ok()?;
    let password = decoded.get(colon + 1..)?.to_vec();
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    fn auth() -> BasicAuth {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        BasicAuth::new(BTreeMap::from([("prom".to_string(), BcryptHash(hash))])).expect("auth")
    }

    #[test]
    fn right_password_only() {
        let auth = auth();
        assert!(auth.check(Some(&header("prom", "s3cret"))));
        // Twice: the cached answer is the same.
        assert!(auth.check(Some(&header("prom", "s3cret"))));
        assert!(!auth.check(Some(&header("prom", "wrong"))));
        assert!(!auth.check(Some(&header("prom", "wrong"))));
        assert!(!auth.check(Some(&header("nobody", "s3cret"))));
        assert!(!auth.check(None));
        assert!(!auth.check(Some(b"Bearer abc")));
        assert!(!auth.check(Some(b"Basic !!!")));
    }

    #[test]
    fn decoy_has_the_users_cost() {
        let auth = auth();
        assert_eq!(BcryptHash(auth.decoy.clone()).cost(), 4);
        // Even the decoy's own password does not let an unknown user in.
        assert!(!auth.check(Some(&header("ghost", "ipvs_exporter decoy password"))));
    }

    #[test]
    fn only_right_passwords_are_remembered() {
        let auth = auth();
        let right = header("prom", "s3cret");
        assert_eq!(auth.cached(Some(&right)), None);
        assert!(auth.check(Some(&right)));
        assert_eq!(auth.cached(Some(&right)), Some(true));
        for i in 0..20 {
            assert!(!auth.check(Some(&header("prom", &format!("guess{i}")))));
        }
        assert_eq!(auth.cached(Some(&header("prom", "guess1"))), None);
        assert_eq!(auth.verified.lock().expect("lock").len(), 1);
        assert_eq!(auth.cached(Some(&right)), Some(true));
        assert_eq!(auth.cached(Some(b"Bearer x")), Some(false));
    }

    #[test]
    fn passwords_may_hold_colons() {
        assert_eq!(
            parse_basic(&header("u", "a:b")),
            Some(("u".to_string(), b"a:b".to_vec()))
        );
    }
}
