//! The connections one instance holds open, per capability, in a table of
//! its own, as Spin's Postgres and Redis factors keep theirs (Spin's
//! `crates/table`; wasi-common's table before it).
//!
//! A guest's `connection` handle carries a key of this table
//! (`Resource::new_own(key)`, read back with `Resource::rep`), so each
//! capability owns its connections and their count without a shared table
//! or a host type in the generated bindings. The capacity is the cap on
//! connections one request may hold from the shared pools.

use std::collections::HashMap;

pub struct Table<V> {
    capacity: usize,
    next_key: u32,
    entries: HashMap<u32, V>,
}

impl<V> Table<V> {
    /// An empty table that holds at most `capacity` values.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, next_key: 0, entries: HashMap::new() }
    }

    /// True when another value would be refused.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    /// Stores `value` under a key no value in the table has; gives the value
    /// back when the table is full.
    pub fn push(&mut self, value: V) -> Result<u32, V> {
        if self.is_full() {
            return Err(value);
        }
        loop {
            let key = self.next_key;
            self.next_key = self.next_key.wrapping_add(1);
            if let std::collections::hash_map::Entry::Vacant(slot) = self.entries.entry(key) {
                slot.insert(value);
                return Ok(key);
            }
        }
    }

    pub fn get(&self, key: u32) -> Option<&V> {
        self.entries.get(&key)
    }

    pub fn remove(&mut self, key: u32) -> Option<V> {
        self.entries.remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn holds_at_most_its_capacity_and_frees_a_place_on_remove() {
        let mut table = Table::new(2);
        let a = table.push("a").unwrap();
        let b = table.push("b").unwrap();
        assert_ne!(a, b);
        assert!(table.is_full());
        assert_eq!(table.push("c"), Err("c"));
        assert_eq!(table.remove(a), Some("a"));
        assert_eq!(table.get(a), None, "a removed key names nothing");
        let c = table.push("c").unwrap();
        assert_ne!(c, a, "keys are not reused at once");
        assert_eq!(table.get(c), Some(&"c"));
        assert_eq!(table.get(b), Some(&"b"));
    }
}
