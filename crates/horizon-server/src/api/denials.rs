//! Refused unauthenticated requests, audited without a durable row each.
//!
//! Anyone can send a request with a bad token, so one audit row (written
//! durably and published to Kafka) per refusal would let anyone make the
//! database and Kafka write at will. Instead, up to `[api]
//! denied_audit_per_minute` refusals a minute (per process) get a row of
//! their own, as before; the others are counted (`horizon_api_denied_total`)
//! and summed up in one row a minute: how many, and from which addresses
//! (the busiest few). Admins still see every refusal in `/v1/audit`, as a
//! row or in a summary.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultDirectRateLimiter, Quota};

/// Addresses remembered per summary, at most (the rest are "others").
const SOURCES: usize = 1000;
/// Addresses named in a summary.
const NAMED: usize = 10;

#[derive(Debug)]
pub struct Denials {
    /// Refusals that get a row of their own (`None`: every one).
    rows: Option<DefaultDirectRateLimiter>,
    unrecorded: Mutex<Unrecorded>,
}

#[derive(Debug, Default)]
struct Unrecorded {
    count: u64,
    by_source: HashMap<String, u64>,
    others: u64,
}

impl Denials {
    /// `per_minute` rows of their own a minute; 0: every refusal gets one.
    pub fn new(per_minute: u32) -> Self {
        Denials {
            rows: NonZeroU32::new(per_minute)
                .map(|n| DefaultDirectRateLimiter::direct(Quota::per_minute(n))),
            unrecorded: Mutex::new(Unrecorded::default()),
        }
    }

    /// A refusal from `source`: whether it gets a row of its own (else it
    /// is counted for the next summary).
    pub fn admit(&self, source: &str) -> bool {
        let Some(rows) = &self.rows else {
            return true;
        };
        if rows.check().is_ok() {
            return true;
        }
        let mut unrecorded = self.unrecorded.lock().unwrap_or_else(|e| e.into_inner());
        unrecorded.count += 1;
        let known = unrecorded.by_source.len();
        match unrecorded.by_source.get_mut(source) {
            Some(n) => *n += 1,
            None if known < SOURCES => {
                unrecorded.by_source.insert(source.to_owned(), 1);
            }
            None => unrecorded.others += 1,
        }
        false
    }

    /// The summary of the refusals counted since the last one, if any:
    /// how many, and a description of where from.
    pub fn summary(&self) -> Option<(u64, String)> {
        let taken = std::mem::take(&mut *self.unrecorded.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.count == 0 {
            return None;
        }
        let mut sources: Vec<(String, u64)> = taken.by_source.into_iter().collect();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut named: Vec<String> = sources
            .iter()
            .take(NAMED)
            .map(|(source, n)| format!("{source} ({n})"))
            .collect();
        let rest: u64 = sources.iter().skip(NAMED).map(|(_, n)| n).sum::<u64>() + taken.others;
        if rest > 0 {
            named.push(format!("others ({rest})"));
        }
        Some((
            taken.count,
            format!(
                "{} more unauthenticated requests were refused, not recorded one by one; from {}",
                taken.count,
                named.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_budget_refusals_are_counted_and_summed_up() {
        let denials = Denials::new(3);
        let admitted = (0..10)
            .filter(|i| denials.admit(if i % 2 == 0 { "10.0.0.1" } else { "10.0.0.2" }))
            .count();
        assert_eq!(admitted, 3);
        let (count, text) = denials.summary().expect("a summary");
        assert_eq!(count, 7);
        assert!(text.contains("10.0.0.2 (4), 10.0.0.1 (3)"), "{text}");
        assert!(denials.summary().is_none(), "taken");
    }

    #[test]
    fn zero_means_a_row_for_every_refusal() {
        let denials = Denials::new(0);
        assert!((0..100).all(|_| denials.admit("x")));
        assert!(denials.summary().is_none());
    }
}
