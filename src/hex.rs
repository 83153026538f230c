//! Lower-case hexadecimal digits of a number, for ids and validators made on every request
//! (`format!("{:032x}")` costs several times as much through the formatting machinery).

/// The low `digits` hex digits of `value` (at most 32), most significant first, zero-padded.
pub fn lower(value: u128, digits: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut all = [0u8; 32];
    for (pair, byte) in all.chunks_exact_mut(2).zip(value.to_be_bytes()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    let digits = &all[32 - digits.min(32)..];
    std::str::from_utf8(digits)
        .expect("hex digits are ASCII")
        .to_owned()
}

/// `n` random bytes from the operating system, as `2n` lower-case hex digits: secrets, token ids,
/// instance ids.
pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits_match_the_formatter() {
        for value in [
            0u128,
            0xab,
            u128::from(u64::MAX),
            u128::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            assert_eq!(super::lower(value, 32), format!("{value:032x}"));
            assert_eq!(
                super::lower(value, 16),
                format!("{:016x}", value & u128::from(u64::MAX))
            );
        }
    }
}
