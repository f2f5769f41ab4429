//! Bundles: 128 bits, a 5-bit template and three 41-bit slots (Itanium Architecture Software
//! Developer's Manual, vol. 3, §4.1 "Format Summary" and table 3-10 "Template Field Encoding
//! and Instruction Slot Mapping").

/// An execution unit type, as a template assigns it to a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Memory (also runs A-type instructions).
    M,
    /// Integer (also runs A-type instructions).
    I,
    /// Floating point.
    F,
    /// Branch.
    B,
    /// The L+X pair of an MLX bundle (slots 1 and 2 together).
    L,
}

/// A decoded template: the unit of each slot and whether a stop follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// Unit of slots 0, 1 and 2 (MLX: slot 1 is `L`, slot 2 is its X half, also `L`).
    pub units: [Unit; 3],
    /// Whether an instruction group ends after slot 0, 1 or 2.
    pub stops: [bool; 3],
}

/// The template of encoding `t`, `None` for the reserved ones (0x06, 0x07, 0x14, 0x15, 0x1a,
/// 0x1b, 0x1e, 0x1f): table 3-10, vol. 3.
pub fn template(t: u8) -> Option<Template> {
    use Unit::*;
    let odd = t & 1 == 1;
    let (units, mid) = match t & !1 {
        0x00 => ([M, I, I], None),
        0x02 => ([M, I, I], Some(1)),
        0x04 => ([M, L, L], None),
        0x08 => ([M, M, I], None),
        0x0a => ([M, M, I], Some(0)),
        0x0c => ([M, F, I], None),
        0x0e => ([M, M, F], None),
        0x10 => ([M, I, B], None),
        0x12 => ([M, B, B], None),
        0x16 => ([B, B, B], None),
        0x18 => ([M, M, B], None),
        0x1c => ([M, F, B], None),
        _ => return None,
    };
    let mut stops = [false, false, odd];
    if let Some(i) = mid {
        stops[i] = true;
    }
    Some(Template { units, stops })
}

/// The template's name as objdump prints it (`MII`, `MLX`, ...).
pub fn name(t: &Template) -> String {
    t.units
        .iter()
        .take(if t.units[1] == Unit::L { 2 } else { 3 })
        .map(|u| match u {
            Unit::M => 'M',
            Unit::I => 'I',
            Unit::F => 'F',
            Unit::B => 'B',
            Unit::L => 'L',
        })
        .chain((t.units[1] == Unit::L).then_some('X'))
        .collect()
}

/// Splits 16 little-endian bytes into the template number and the three slots.
pub fn split(bytes: &[u8; 16]) -> (u8, [u64; 3]) {
    let v = u128::from_le_bytes(*bytes);
    let mask = (1u128 << 41) - 1;
    (
        (v & 0x1f) as u8,
        [
            ((v >> 5) & mask) as u64,
            ((v >> 46) & mask) as u64,
            ((v >> 87) & mask) as u64,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_follow_table_3_10() {
        let reserved: Vec<u8> = (0..32).filter(|t| template(*t).is_none()).collect();
        assert_eq!(reserved, [0x06, 0x07, 0x14, 0x15, 0x1a, 0x1b, 0x1e, 0x1f]);
        let mi_i = template(0x03).unwrap();
        assert_eq!(
            (name(&mi_i), mi_i.stops),
            ("MII".into(), [false, true, true])
        );
        assert_eq!(name(&template(0x05).unwrap()), "MLX");
        assert_eq!(template(0x0b).unwrap().stops, [true, false, true]);
    }

    #[test]
    fn slots_are_41_bits_after_the_template() {
        let v: u128 = 0x11 | (0x1234u128 << 5) | (0x5678u128 << 46) | (0x0100_0000_0000_u128 << 87);
        let (t, s) = split(&v.to_le_bytes());
        assert_eq!((t, s), (0x11, [0x1234, 0x5678, 0x0100_0000_0000]));
    }
}
