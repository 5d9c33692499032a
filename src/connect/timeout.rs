//! The connect timeout, adapted to measured round trips the way nmap
//! adapts its probe timeout (and TCP its retransmission timer, RFC 6298):
//! a smoothed round-trip time and its mean deviation, and a timeout of
//! `srtt + 4 * rttvar`, clamped. Before the first sample the timeout is
//! nmap's initial one, 1 s; it never goes below nmap's floor of 100 ms
//! (a loaded machine's scheduling hiccups are not silence) nor above 10 s.

use std::time::Duration;

/// The timeout before any round trip was measured (nmap's
/// `--initial-rtt-timeout` default).
pub const INITIAL: Duration = Duration::from_secs(1);
/// Floor and ceiling (nmap's `--min-rtt-timeout` / `--max-rtt-timeout`
/// defaults).
pub const MIN: Duration = Duration::from_millis(100);
pub const MAX: Duration = Duration::from_secs(10);
/// The first sample's deviation is at least this: one fast answer says
/// little about the next (nmap's 5 ms).
const MIN_FIRST_RTTVAR_US: u64 = 5_000;

#[derive(Clone, Copy, Debug)]
pub struct ConnectTimeout {
    /// Smoothed round trip and its mean deviation, µs; `None` before the
    /// first sample.
    srtt_us: Option<u64>,
    rttvar_us: u64,
    timeout_us: u64,
}

impl Default for ConnectTimeout {
    fn default() -> Self {
        ConnectTimeout {
            srtt_us: None,
            rttvar_us: 0,
            timeout_us: INITIAL.as_micros() as u64,
        }
    }
}

impl ConnectTimeout {
    /// How long a connect may take before it counts as unanswered.
    pub fn timeout(&self) -> Duration {
        Duration::from_micros(self.timeout_us)
    }

    pub fn timeout_us(&self) -> u64 {
        self.timeout_us
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt_us.map(Duration::from_micros)
    }

    /// A connect answered (connected, refused or rejected by ICMP) after
    /// `rtt_us`.
    pub fn sample(&mut self, rtt_us: u64) {
        match self.srtt_us {
            None => {
                self.srtt_us = Some(rtt_us);
                self.rttvar_us = rtt_us.clamp(MIN_FIRST_RTTVAR_US, 2_000_000);
            }
            Some(srtt) => {
                // Gains 1/8 and 1/4, in integers, signed.
                let delta = rtt_us as i64 - srtt as i64;
                let srtt = (srtt as i64 + delta / 8).max(0) as u64;
                let var = self.rttvar_us as i64;
                self.rttvar_us = (var + (delta.abs() - var) / 4).max(0) as u64;
                self.srtt_us = Some(srtt);
            }
        }
        let srtt = self.srtt_us.unwrap_or(0);
        self.timeout_us =
            (srtt + 4 * self.rttvar_us).clamp(MIN.as_micros() as u64, MAX.as_micros() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_nmaps_initial_second() {
        assert_eq!(ConnectTimeout::default().timeout(), Duration::from_secs(1));
    }

    #[test]
    fn fast_answers_bring_it_to_the_floor() {
        let mut t = ConnectTimeout::default();
        t.sample(200);
        // 200 µs + 4 x 5 ms = 20.2 ms: under the floor.
        assert_eq!(t.timeout(), MIN);
        for _ in 0..100 {
            t.sample(200);
        }
        assert_eq!(t.timeout(), MIN);
        assert_eq!(t.srtt(), Some(Duration::from_micros(200)));
    }

    #[test]
    fn slow_and_varying_answers_raise_it() {
        let mut t = ConnectTimeout::default();
        t.sample(300_000);
        // srtt 300 ms, rttvar 300 ms: 1.5 s.
        assert_eq!(t.timeout(), Duration::from_millis(1500));
        t.sample(100_000);
        // delta -200 ms: srtt 275 ms; rttvar 300 + (200 - 300)/4 = 275 ms.
        assert_eq!(t.srtt(), Some(Duration::from_millis(275)));
        assert_eq!(t.timeout(), Duration::from_millis(275 + 4 * 275));
    }

    #[test]
    fn clamped_above() {
        let mut t = ConnectTimeout::default();
        t.sample(9_000_000);
        assert_eq!(t.timeout(), MAX);
    }
}
