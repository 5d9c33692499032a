//! The SYN cookie: a SipHash-2-4 of the flow, so a reply can be checked
//! without remembering the probe.
//!
//! The 64-bit hash of (source ip, destination ip, source port, destination
//! port) gives the TCP sequence number (low 32 bits) and the IP ID (next 16
//! bits). A target answering a SYN acknowledges `seq + 1`, so a reply is ours
//! exactly when its acknowledgement matches the cookie recomputed from its own
//! addresses and ports. The 128-bit key is drawn from the OS for every run
//! and never derived from `--seed`, so knowing the scan order does not let
//! anyone forge replies; a blind forger must guess 32 bits per reply.

use siphasher::sip::SipHasher24;

/// The flow a probe belongs to, from the scanner's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_port: u16,
    pub dst_port: u16,
}

/// What the hash puts into a probe's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// TCP sequence number of the SYN.
    pub seq: u32,
    /// IPv4 identification of the SYN: not relied on for validation (NATs
    /// may rewrite it), but it keeps the ID from being a fixed fingerprint.
    pub ip_id: u16,
}

#[derive(Clone)]
pub struct CookieKey {
    hasher: SipHasher24,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)") // never print the secret
    }
}

impl CookieKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Self {
        CookieKey::from_keys(rand::random(), rand::random())
    }

    pub fn from_keys(k0: u64, k1: u64) -> Self {
        CookieKey {
            hasher: SipHasher24::new_with_keys(k0, k1),
        }
    }

    #[inline]
    pub fn cookie(&self, flow: &Flow) -> Cookie {
        let mut input = [0u8; 12];
        input[0..4].copy_from_slice(&flow.src_ip.to_be_bytes());
        input[4..8].copy_from_slice(&flow.dst_ip.to_be_bytes());
        input[8..10].copy_from_slice(&flow.src_port.to_be_bytes());
        input[10..12].copy_from_slice(&flow.dst_port.to_be_bytes());
        let h = self.hasher.hash(&input);
        Cookie {
            seq: h as u32,
            ip_id: (h >> 32) as u16,
        }
    }

    /// Does `ack` acknowledge the SYN we would have sent on `flow`?
    #[inline]
    pub fn acks_syn(&self, flow: &Flow, ack: u32) -> bool {
        ack == self.cookie(flow).seq.wrapping_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    fn flow(n: u32) -> Flow {
        Flow {
            src_ip: 0xc613_ff01,
            dst_ip: 0xc612_0000 + n,
            src_port: 61000 + (n % 256) as u16,
            dst_port: (n % 65536) as u16,
        }
    }

    #[test]
    fn matches_reference_siphash24() {
        // The SipHash paper's key 00..0f over our 12-byte layout, computed by
        // the streaming hasher: the one-shot call must agree byte for byte.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let key = CookieKey::from_keys(k0, k1);
        let f = flow(7);
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(&f.src_ip.to_be_bytes());
        h.write(&f.dst_ip.to_be_bytes());
        h.write(&f.src_port.to_be_bytes());
        h.write(&f.dst_port.to_be_bytes());
        let want = h.finish();
        let c = key.cookie(&f);
        assert_eq!(c.seq, want as u32);
        assert_eq!(c.ip_id, (want >> 32) as u16);
        // The SipHash-2-4 paper's test vector for the empty message.
        assert_eq!(
            SipHasher24::new_with_keys(k0, k1).hash(&[]),
            0x726f_db47_dd0e_0e31
        );
    }

    #[test]
    fn genuine_acks_validate() {
        let key = CookieKey::random();
        for n in 0..10_000 {
            let f = flow(n);
            let seq = key.cookie(&f).seq;
            assert!(key.acks_syn(&f, seq.wrapping_add(1)));
        }
    }

    #[test]
    fn forged_or_mismatched_replies_fail() {
        let key = CookieKey::random();
        let other = CookieKey::random();
        let mut accepted = 0;
        for n in 0..10_000 {
            let f = flow(n);
            let ack = key.cookie(&f).seq.wrapping_add(1);
            // Off by one, another run's key, another flow's field: all refused.
            assert!(!key.acks_syn(&f, ack.wrapping_add(1)));
            assert!(!key.acks_syn(&f, ack.wrapping_sub(1)));
            let mut g = f;
            g.dst_port ^= 1;
            accepted += u32::from(key.acks_syn(&g, ack));
            let mut g = f;
            g.dst_ip ^= 1;
            accepted += u32::from(key.acks_syn(&g, ack));
            let mut g = f;
            g.src_port ^= 1;
            accepted += u32::from(key.acks_syn(&g, ack));
            accepted += u32::from(other.acks_syn(&f, ack));
        }
        // 40,000 guesses at 2^-32 each: any acceptance means a broken hash.
        assert_eq!(accepted, 0);
    }

    #[test]
    fn keys_differ_between_runs() {
        let a = CookieKey::random();
        let b = CookieKey::random();
        assert_ne!(a.cookie(&flow(1)), b.cookie(&flow(1)));
    }
}
