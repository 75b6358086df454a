//! A short-lived in-memory cache of valid tokens, so that a busy client does
//! not cost a database read per request. A revoked (deleted) token keeps
//! working for at most `[api] token_cache_ms` in a process that saw it; an
//! expiring token is never served from here past its expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use horizon_store::TokenOwner;

/// Entries kept at most; when full, expired ones go first, then all.
const CAPACITY: usize = 10_000;

#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (TokenOwner, Instant)>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The owner of a token hash seen valid less than `ttl` ago.
    pub fn get(&self, hash: &str) -> Option<TokenOwner> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = time::OffsetDateTime::now_utc();
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .filter(|(owner, _)| owner.expires_at.is_none_or(|e| e > now))
            .map(|(owner, _)| owner.clone())
    }

    pub fn put(&self, hash: String, owner: TokenOwner) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(hash, (owner, Instant::now()));
    }

    /// Forget the tokens whose hash starts with `id` (revoked here: this
    /// process stops accepting them at once).
    pub fn forget(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|hash, _| !hash.starts_with(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> TokenOwner {
        TokenOwner {
            user_id: "alice".into(),
            admin: false,
            expires_at: None,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = TokenCache::new(Duration::from_millis(30));
        cache.put("h".into(), owner());
        assert_eq!(cache.get("h"), Some(owner()));
        assert_eq!(cache.get("other"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("h"), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = TokenCache::new(Duration::ZERO);
        cache.put("h".into(), owner());
        assert_eq!(cache.get("h"), None);
    }
}
