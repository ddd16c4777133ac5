//! Reproducible randomness from a seed (xorshift64), for property-style
//! scenarios: a failing seed replays the same sequence.

#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(0x9E37_79B9_7F4A_7C15 ^ seed.max(1))
    }

    /// Starts at `state` itself rather than a mix of it: the fault proxy's
    /// sequences (and the bench's instance ids) were recorded that way.
    pub fn from_state(state: u64) -> Self {
        Self(state.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times out of a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}
