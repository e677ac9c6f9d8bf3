//! The memory budget of admission control: what requests in flight and rows
//! not yet written may use.
//!
//! A receiver charges a request before decoding it; the charge travels with
//! the request's records into the shards and is released when the last batch
//! holding them has been written. When a charge does not fit, the request is
//! refused with a retryable status instead of growing the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes that requests and buffered rows may hold.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// Charges `bytes`, or returns `None` when they do not fit.
    pub fn try_charge(self: &Arc<Self>, bytes: u64) -> Option<Charge> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes)?;
            if next > self.limit {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Charge {
                        budget: Arc::clone(self),
                        bytes,
                    });
                }
                Err(actual) => used = actual,
            }
        }
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The share of the budget in use, 0.0 to 1.0.
    pub fn pressure(&self) -> f64 {
        if self.limit == 0 {
            return 1.0;
        }
        self.used() as f64 / self.limit as f64
    }
}

/// Bytes charged to a budget; released when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Charge {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fit_the_limit_and_are_released_on_drop() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_charge(60).expect("fits");
        assert!(budget.try_charge(41).is_none(), "over the limit");
        let b = budget.try_charge(40).expect("fits exactly");
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(
            budget.try_charge(101).is_none(),
            "never more than the limit"
        );
    }

    #[test]
    fn concurrent_charges_never_exceed_the_limit() {
        let budget = MemoryBudget::new(1000);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = Arc::clone(&budget);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Some(charge) = budget.try_charge(7) {
                            assert!(budget.used() <= 1000);
                            drop(charge);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        assert_eq!(budget.used(), 0);
    }
}
