//! Packets on the wire: the SYN template we send, the replies we parse,
//! and ARP for finding the next hop. Building and parsing go through
//! etherparse; the per-probe hot path only patches the template in place.

pub mod arp;
pub mod checksum;
pub mod reply;
pub mod template;

/// Ethernet + IPv4 + TCP header offsets, as the template lays them out.
pub mod offsets {
    pub const ETH_LEN: usize = 14;
    pub const IP: usize = ETH_LEN;
    pub const IP_ID: usize = IP + 4;
    pub const IP_CHECKSUM: usize = IP + 10;
    pub const IP_SRC: usize = IP + 12;
    pub const IP_DST: usize = IP + 16;
    pub const IP_LEN: usize = 20;
    pub const TCP: usize = IP + IP_LEN;
    pub const TCP_SRC_PORT: usize = TCP;
    pub const TCP_DST_PORT: usize = TCP + 2;
    pub const TCP_SEQ: usize = TCP + 4;
    pub const TCP_CHECKSUM: usize = TCP + 16;
    pub const TCP_OPTIONS: usize = TCP + 20;
}

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
