//! Internet checksum (RFC 1071) pieces: partial sums that can be extended a
//! field at a time, which is what lets the template fix its checksums
//! without re-reading the whole header for every probe.

/// Ones'-complement partial sum of big-endian 16-bit words; an odd trailing
/// byte is padded with zero.
pub fn sum_bytes(bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    let mut sum: u32 = chunks
        .by_ref()
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Adds a 32-bit field as two 16-bit words.
#[inline(always)]
pub fn add_u32(sum: u32, value: u32) -> u32 {
    sum + (value >> 16) + (value & 0xffff)
}

/// Folds carries back in and complements: the value for the header field.
#[inline(always)]
pub fn finish(sum: u32) -> u16 {
    let mut s = sum;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum_bytes(&data)), !0xddf2);
    }

    #[test]
    fn incremental_equals_whole() {
        let data = [
            0x45u8, 0, 0, 44, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 198, 19, 255, 1, 198, 18, 4, 7,
        ];
        let whole = finish(sum_bytes(&data));
        let mut zeroed = data;
        zeroed[16..20].fill(0);
        let inc = finish(add_u32(
            sum_bytes(&zeroed),
            u32::from_be_bytes([198, 18, 4, 7]),
        ));
        assert_eq!(whole, inc);
        assert_eq!(finish(sum_bytes(&[0xab])), !0xab00);
    }
}
