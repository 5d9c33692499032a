//! A keyed bijection over `[0, N)`: the order in which probes are sent.
//!
//! An unbalanced Feistel network permutes `[0, 2^n)` where `2^n` is the
//! smallest power of two >= N (n >= 2). The two halves have `n/2` and
//! `n - n/2` bits and trade places every round, so any n works, not only
//! even ones. Cycle-walking (re-encrypting until the value falls below N)
//! turns that into a permutation of `[0, N)`; since `2^n < 2N`, a walk takes
//! fewer than two steps on average.
//!
//! Why it is a bijection: each round maps `(L, R)` to `(R, L ^ F(R))`, which
//! is undone by `(L', R') -> (R' ^ F(L'), L')`, whatever `F` is; a composition
//! of invertible maps is invertible. Cycle-walking restricted to `[0, N)` is
//! injective because the walk from `x` follows `x`'s cycle of the big
//! permutation to the first later member below N; two different starting
//! points below N on the same cycle stop at different members (the walk
//! from each stops before reaching the other), so no two collide, and an
//! injective map of a finite set to itself is a bijection.
//!
//! The round function is a 64-bit avalanche mixer keyed by a per-round key
//! derived from the seed. It spreads consecutive positions across hosts and
//! ports; it is not meant to be secret. Reply forgery is stopped by the
//! SipHash cookie (see `cookie.rs`), whose key is independent of this seed.

/// Four rounds: Luby-Rackoff's bound for a strong permutation from good round
/// functions; fmix64 avalanches fully, and the spread test below holds.
const ROUNDS: usize = 4;

#[derive(Clone, Debug)]
pub struct Permutation {
    size: u64,
    /// Width of the half that starts (and, after an even number of rounds,
    /// ends) on the left.
    left_bits: u32,
    right_bits: u32,
    keys: [u64; ROUNDS],
}

/// splitmix64: turns a seed into well-spread round keys.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline(always)]
fn round_fn(half: u64, key: u64) -> u64 {
    // murmur3's fmix64 finaliser over the keyed input.
    let mut z = half ^ key;
    z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

#[inline(always)]
fn mask(bits: u32) -> u64 {
    (1u64 << bits) - 1
}

impl Permutation {
    /// A permutation of `[0, size)`. `size` must be at least 1.
    pub fn new(size: u64, seed: u64) -> Permutation {
        assert!(size >= 1, "permutation of an empty set");
        let n = (64 - (size - 1).leading_zeros()).max(2);
        let left_bits = n / 2;
        let mut state = seed;
        let mut keys = [0u64; ROUNDS];
        for k in &mut keys {
            *k = splitmix64(&mut state);
        }
        Permutation {
            size,
            left_bits,
            right_bits: n - left_bits,
            keys,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    #[inline(always)]
    fn encrypt(&self, x: u64) -> u64 {
        let (mut lw, mut rw) = (self.left_bits, self.right_bits);
        let mut l = x >> rw;
        let mut r = x & mask(rw);
        for &k in &self.keys {
            let new_r = l ^ (round_fn(r, k) & mask(lw));
            l = r;
            r = new_r;
            std::mem::swap(&mut lw, &mut rw);
        }
        (l << rw) | r
    }

    #[inline(always)]
    fn decrypt(&self, x: u64) -> u64 {
        let (mut lw, mut rw) = (self.left_bits, self.right_bits);
        let mut l = x >> rw;
        let mut r = x & mask(rw);
        for &k in self.keys.iter().rev() {
            // (L', R') came from (R' ^ F(L'), L'); R' has width rw.
            let prev_l = r ^ (round_fn(l, k) & mask(rw));
            r = l;
            l = prev_l;
            std::mem::swap(&mut lw, &mut rw);
        }
        (l << rw) | r
    }

    /// The index visited at `position`; `position < size`.
    #[inline]
    pub fn apply(&self, position: u64) -> u64 {
        debug_assert!(position < self.size);
        let mut x = self.encrypt(position);
        while x >= self.size {
            x = self.encrypt(x);
        }
        x
    }

    /// The position at which `index` is visited; `index < size`.
    pub fn invert(&self, index: u64) -> u64 {
        debug_assert!(index < self.size);
        let mut x = self.decrypt(index);
        while x >= self.size {
            x = self.decrypt(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_bijection(size: u64, seed: u64) {
        let p = Permutation::new(size, seed);
        let mut seen = vec![false; size as usize];
        for pos in 0..size {
            let i = p.apply(pos);
            assert!(
                i < size,
                "size {size} seed {seed}: {pos} -> {i} out of range"
            );
            assert!(
                !seen[i as usize],
                "size {size} seed {seed}: {i} visited twice"
            );
            seen[i as usize] = true;
            assert_eq!(p.invert(i), pos, "size {size} seed {seed}: inverse");
        }
    }

    #[test]
    fn bijection_for_many_sizes_and_seeds() {
        let sizes = [
            1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 64, 97, 127, 128, 255, 256, 257, 1000, 1021, 1024,
            4093, 4096, 4097, 65521, 65536, 65537,
        ];
        for &size in &sizes {
            for seed in [0, 1, 42, 0xdead_beef, u64::MAX] {
                assert_bijection(size, seed);
            }
        }
    }

    #[test]
    fn bijection_at_a_million() {
        for seed in [7, 1_000_003] {
            assert_bijection(1_000_000, seed);
        }
        assert_bijection(1 << 20, 3);
    }

    #[test]
    fn encrypt_is_a_bijection_on_its_power_of_two_domain_at_odd_widths() {
        // n = 2, 3, 5, 9, 15: halves of unequal width.
        for size in [4u64, 8, 32, 512, 32768] {
            let p = Permutation::new(size, 99);
            let mut seen = vec![false; size as usize];
            for x in 0..size {
                let y = p.encrypt(x);
                assert!(!seen[y as usize]);
                seen[y as usize] = true;
                assert_eq!(p.decrypt(y), x);
            }
        }
    }

    #[test]
    fn internet_scale_round_trips() {
        let p = Permutation::new(1 << 48, 5);
        for pos in [0, 1, 12345, (1 << 47) + 3, (1 << 48) - 1] {
            let i = p.apply(pos);
            assert!(i < 1 << 48);
            assert_eq!(p.invert(i), pos);
        }
    }

    #[test]
    fn seeds_change_the_order_and_the_same_seed_repeats_it() {
        let a = Permutation::new(10_000, 1);
        let b = Permutation::new(10_000, 2);
        let a2 = Permutation::new(10_000, 1);
        let order = |p: &Permutation| (0..100).map(|i| p.apply(i)).collect::<Vec<_>>();
        assert_eq!(order(&a), order(&a2));
        assert_ne!(order(&a), order(&b));
    }

    #[test]
    fn consecutive_positions_spread_over_hosts_and_ports() {
        // 4096 hosts x 16 ports; index = port * 4096 + host.
        let (hosts, ports) = (4096u64, 16u64);
        let p = Permutation::new(hosts * ports, 11);
        for window in 0..ports {
            let mut per_port = [0u32; 16];
            let mut per_host = vec![0u32; hosts as usize];
            for pos in window * hosts..(window + 1) * hosts {
                let i = p.apply(pos);
                per_port[(i / hosts) as usize] += 1;
                per_host[(i % hosts) as usize] += 1;
            }
            // Expected 256 per port (sd ~15.5); a sequential order gives 4096/0.
            for c in per_port {
                assert!((150..=370).contains(&c), "window {window}: {per_port:?}");
            }
            // Expected 1 per host; a burst on one host would show here.
            assert!(
                per_host.iter().all(|&c| c <= 9),
                "window {window}: host burst"
            );
        }
    }
}
