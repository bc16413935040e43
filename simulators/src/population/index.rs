//! The index by codice fiscale: every person's base code packed into 62 bits, sorted with the person's
//! index — 12 bytes a person, about 17 MB for a city of 1.4 million.
//!
//! Omocodia needs no extra storage: people sharing a base code sit next to each other, ordered by index,
//! and a person's omocodia level is their rank in that run (the first registered keeps the base code,
//! as with the Agenzia).

use super::PopulationError;
use super::codice_fiscale::omocodia_mask_for_level;

pub(crate) struct CodeIndex {
    keys: Vec<u64>,
    ids: Vec<u32>,
}

impl CodeIndex {
    /// Sorts `(base key, person)` pairs; fails if more people share a base code than there are
    /// omocodic variants.
    pub(crate) fn build(mut pairs: Vec<(u64, u32)>) -> Result<CodeIndex, PopulationError> {
        pairs.sort_unstable();
        let mut longest = 0;
        let mut run = 0;
        for i in 0..pairs.len() {
            run = if i > 0 && pairs[i - 1].0 == pairs[i].0 {
                run + 1
            } else {
                1
            };
            longest = longest.max(run);
        }
        if longest > 0 && omocodia_mask_for_level(longest - 1).is_none() {
            return Err(PopulationError::OmocodiaExhausted { people: longest });
        }
        let keys = pairs.iter().map(|p| p.0).collect();
        let ids = pairs.iter().map(|p| p.1).collect();
        Ok(CodeIndex { keys, ids })
    }

    /// The people sharing a base code, in index order.
    pub(crate) fn run(&self, key: u64) -> &[u32] {
        let start = self.keys.partition_point(|&k| k < key);
        let end = start + self.keys[start..].partition_point(|&k| k == key);
        &self.ids[start..end]
    }

    /// A person's omocodia level: their rank among those sharing their base code.
    pub(crate) fn level(&self, key: u64, id: u32) -> usize {
        self.run(key)
            .iter()
            .position(|&i| i == id)
            .expect("every person of the population is indexed")
    }

    /// The people whose code is omocodic (level 1 or more), in index order of the sorted runs.
    pub(crate) fn omocodic(&self) -> impl Iterator<Item = u32> + '_ {
        (1..self.keys.len())
            .filter(|&i| self.keys[i - 1] == self.keys[i])
            .map(|i| self.ids[i])
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<u64>() + self.ids.capacity() * size_of::<u32>()
    }
}
