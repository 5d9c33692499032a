//! CSV (RFC 4180) with a header row naming the same fields as ndjson.
//! No field can contain a comma, quote or newline (an IPv6 address has
//! colons, a state may have a `|`), so none is quoted.

use super::{Format, RunInfo};
use crate::domain::Record;
use std::io::Write;

pub const HEADER: &str = "ip,port,proto,state,reason,ttl,ts";

pub struct Csv;

impl Format for Csv {
    fn begin(&mut self, w: &mut Vec<u8>, _run: &RunInfo) {
        w.extend_from_slice(HEADER.as_bytes());
        w.push(b'\n');
    }

    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // Writing to a Vec cannot fail.
        let _ = writeln!(
            w,
            "{},{},{},{},{},{},{}",
            r.ip, r.port, r.proto, r.state, r.reason, r.ttl, r.ts
        );
    }

    fn is_record(&self, line: &[u8]) -> bool {
        !line.is_empty() && !line.starts_with(b"ip,")
    }
}

#[cfg(test)]
mod tests {
    use crate::output::FormatKind;
    use crate::output::tests::render;

    #[test]
    fn header_then_rows() {
        assert_eq!(
            render(FormatKind::Csv),
            "ip,port,proto,state,reason,ttl,ts\n\
             198.18.4.7,80,tcp,open,syn-ack,64,1732240000\n\
             198.18.4.8,23,tcp,closed,reset,63,1732240001\n\
             198.18.14.0,25,tcp,filtered,admin-prohibited,255,1732240002\n\
             2001:2:0:300::1abc,443,tcp,filtered,no-route,64,1732240003\n\
             198.19.250.7,0,icmp,up,arp-response,0,1732240004\n"
        );
    }
}
