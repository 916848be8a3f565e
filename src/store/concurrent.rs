//! Work on many items at once, at most `-j` at a time: the one pool every transfer of the store
//! goes through (blobs pushed, base layers pulled).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work` on every item, at most `jobs` at a time, and returns the results in item order.
/// After a failure no new item starts; those under way finish (nothing is left running), and the
/// first failure in item order is returned, so the error does not depend on timing.
///
/// Scoped threads rather than a thread-pool crate: the items are a handful of blobs, each
/// waiting on the network, and the scope lets `work` borrow what the caller holds.
pub fn each_concurrently<T: Sync, R: Send, E: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, Result<R, E>)>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len()) {
            s.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = work(item);
                    failed.fetch_or(r.is_err(), Ordering::Relaxed);
                    done.lock().expect("results lock").push((i, r));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("results lock");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_in_item_order_and_the_first_failure_in_item_order_wins() {
        let items: Vec<u64> = (0..10).collect();
        // Later items finish first: the order of results is still the items'.
        let slow_first = |&i: &u64| -> Result<u64, String> {
            std::thread::sleep(Duration::from_millis(30 - 3 * i));
            Ok(i * 2)
        };
        assert_eq!(each_concurrently(&items, 4, slow_first).unwrap(), (0..10).map(|i| i * 2).collect::<Vec<_>>());
        // Items 2 and 3 fail, 3 first: the error is item 2's, whatever the timing.
        let fails = |&i: &u64| -> Result<u64, String> {
            std::thread::sleep(Duration::from_millis(if i == 2 { 40 } else { 5 }));
            if i == 2 || i == 3 {
                return Err(format!("item {i}"));
            }
            Ok(i)
        };
        assert_eq!(each_concurrently(&items, 4, fails).unwrap_err(), "item 2");
        assert!(each_concurrently(&[] as &[u64], 4, slow_first).unwrap().is_empty());
    }

    #[test]
    fn never_more_than_jobs_at_once() {
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let items = [(); 12];
        let work = |_: &()| -> Result<(), ()> {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
            now.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        };
        each_concurrently(&items, 3, work).unwrap();
        assert!(most.load(Ordering::SeqCst) <= 3);
        most.store(0, Ordering::SeqCst);
        each_concurrently(&items, 1, work).unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }
}
