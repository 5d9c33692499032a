//! Packets on the wire: the frame templates probe modules build on, the
//! replies we parse (both families), and ARP and Neighbor Discovery for
//! finding the next hop. Building and parsing go through etherparse; the
//! per-probe hot path only patches a template in place.

pub mod arp;
pub mod checksum;
pub mod nd;
pub mod reply;
pub mod shape;
pub mod template;

pub type MacAddr = [u8; 6];

pub fn format_mac(mac: &MacAddr) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
pub fn parse_mac(s: &str) -> Option<MacAddr> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip_and_rejects() {
        let m = parse_mac("96:EF:9b:09:02:59").unwrap();
        assert_eq!(format_mac(&m), "96:ef:9b:09:02:59");
        assert_eq!(parse_mac("96-ef-9b-09-02-59"), Some(m));
        for bad in [
            "",
            "96:ef:9b:09:02",
            "96:ef:9b:09:02:59:00",
            "96:ef:9b:09:02:zz",
            "960:ef:9b:09:02:59",
            "::::::",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
