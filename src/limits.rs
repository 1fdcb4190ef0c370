/*!
The bounds netdrill keeps on what peers and programs may make it hold, in one place.
*/

/// The most bytes one receive step buffers (a peer that sends more fails the step).
pub const STEP_CAP: usize = 16 * 1024 * 1024;

/// What every connection of a netdrill process may buffer of what peers sent, together.
/// A run of 10,000 `parallel` copies against a server that answers with megabytes
/// shares this, instead of each copy taking what it likes.
pub const RECEIVE_BUDGET: usize = 128 * 1024 * 1024;

static RECEIVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Takes `bytes` from [`RECEIVE_BUDGET`]; false (and nothing taken) when that would go
/// over it.
pub fn take_receive_budget(bytes: usize) -> bool {
    use std::sync::atomic::Ordering;
    RECEIVED
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(bytes).filter(|&n| n <= RECEIVE_BUDGET)
        })
        .is_ok()
}

/// Gives `bytes` back to [`RECEIVE_BUDGET`].
pub fn return_receive_budget(bytes: usize) {
    use std::sync::atomic::Ordering;
    let _ = RECEIVED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
        Some(used.saturating_sub(bytes))
    });
}

/// How much of [`RECEIVE_BUDGET`] is taken now.
pub fn receive_budget_used() -> usize {
    RECEIVED.load(std::sync::atomic::Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receive_budget_is_never_exceeded_and_comes_back() {
        let before = receive_budget_used();
        assert!(take_receive_budget(1024));
        assert!(!take_receive_budget(RECEIVE_BUDGET));
        return_receive_budget(1024);
        assert!(receive_budget_used() <= before + 1024);
    }
}
