//! Newline-delimited JSON: one object per finding, fields in a fixed order
//! (a host's MAC address last, where discovery learned one). Every value
//! is a number or a string from a closed set of ASCII words, so no
//! escaping is ever needed.

use super::Format;
use crate::domain::Record;
use crate::wire::format_mac;
use std::io::Write;

pub struct Ndjson;

impl Format for Ndjson {
    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // Writing to a Vec cannot fail.
        let _ = write!(
            w,
            r#"{{"ip":"{}","port":{},"proto":"{}","state":"{}","reason":"{}","ttl":{},"ts":{}"#,
            r.ip, r.port, r.proto, r.state, r.reason, r.ttl, r.ts
        );
        if let Some(mac) = &r.mac {
            let _ = write!(w, r#","mac":"{}""#, format_mac(mac));
        }
        w.extend_from_slice(b"}\n");
    }

    fn is_record(&self, line: &[u8]) -> bool {
        line.starts_with(b"{")
    }
}

#[cfg(test)]
mod tests {
    use crate::output::FormatKind;
    use crate::output::tests::render;

    #[test]
    fn one_object_per_line() {
        let text = render(FormatKind::Ndjson);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ip":"198.18.4.7","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"ts":1732240000}"#
        );
        assert_eq!(
            lines[2],
            r#"{"ip":"198.18.14.0","port":25,"proto":"tcp","state":"filtered","reason":"admin-prohibited","ttl":255,"ts":1732240002}"#
        );
        assert_eq!(
            lines[3],
            r#"{"ip":"2001:2:0:300::1abc","port":443,"proto":"tcp","state":"filtered","reason":"no-route","ttl":64,"ts":1732240003}"#
        );
        assert_eq!(
            lines[4],
            r#"{"ip":"198.19.250.7","port":0,"proto":"icmp","state":"up","reason":"arp-response","ttl":0,"ts":1732240004,"mac":"02:73:73:77:0a:02"}"#
        );
        assert_eq!(lines.len(), 5);
    }
}
