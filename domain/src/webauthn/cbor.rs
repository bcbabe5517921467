//! The little of CBOR (RFC 8949) a WebAuthn relying party reads: the
//! attestation object, the attestation statement and COSE keys. Definite
//! lengths only (CTAP2's canonical form has no other), nesting bounded,
//! every length checked against what is left, so hostile bytes end in an
//! error, never in a panic or a huge allocation.

/// A decoded CBOR item.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Unsigned(u64),
    /// The value is `-1 - n`; kept as `i128` so every CBOR negative fits.
    Negative(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Bool(bool),
    Null,
}

impl Value {
    /// The value of `key` in a map (`None` for a missing key or a non-map).
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of the integer key `key` (COSE keys are keyed by integers).
    pub fn get_int(&self, key: i64) -> Option<&Value> {
        self.get(&Value::int(key))
    }

    /// The value of the text key `key` (the attestation object's keys).
    pub fn get_text(&self, key: &str) -> Option<&Value> {
        self.get(&Value::Text(key.to_owned()))
    }

    pub fn int(value: i64) -> Value {
        if value >= 0 { Value::Unsigned(value as u64) } else { Value::Negative(-1 - i128::from(value)) }
    }

    /// The item as an integer, if it is one that fits an `i64`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Unsigned(n) => i64::try_from(*n).ok(),
            Value::Negative(n) => i64::try_from(-1 - n).ok(),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("CBOR ends early")]
    Truncated,
    #[error("CBOR item not supported here (indefinite length, float, tag or reserved)")]
    Unsupported,
    #[error("CBOR nests too deeply")]
    TooDeep,
    #[error("CBOR text is not UTF-8")]
    NotUtf8,
    #[error("bytes follow the CBOR item")]
    TrailingBytes,
}

/// Items nested deeper than this are refused: nothing WebAuthn sends goes past 4.
const MAX_DEPTH: usize = 8;

/// Decodes exactly one item that fills `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let (value, used) = decode_prefix(bytes)?;
    if used == bytes.len() { Ok(value) } else { Err(CborError::TrailingBytes) }
}

/// Decodes the item at the start of `bytes`, and how many bytes it took
/// (a credential's COSE key is followed by more authenticator data).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), CborError> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.item(0)?;
    Ok((value, reader.at))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CborError> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or(CborError::Truncated)?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    /// The argument that follows an initial byte's additional information.
    fn argument(&mut self, info: u8) -> Result<u64, CborError> {
        Ok(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes"))),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            27 => u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            _ => return Err(CborError::Unsupported),
        })
    }

    /// A length, which must fit in what is left (each element takes at
    /// least a byte), so a forged length cannot reserve memory.
    fn length(&mut self, info: u8) -> Result<usize, CborError> {
        let n = self.argument(info)?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left { Err(CborError::Truncated) } else { Ok(n as usize) }
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        Ok(match major {
            0 => Value::Unsigned(self.argument(info)?),
            1 => Value::Negative(i128::from(self.argument(info)?)),
            2 => {
                let n = self.length(info)?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            3 => {
                let n = self.length(info)?;
                Value::Text(String::from_utf8(self.take(n)?.to_vec()).map_err(|_| CborError::NotUtf8)?)
            }
            4 => {
                let n = self.length(info)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let n = self.length(info)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = self.item(depth + 1)?;
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                Value::Map(entries)
            }
            7 => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 => Value::Null,
                _ => return Err(CborError::Unsupported),
            },
            // Tags (6) mean nothing in what WebAuthn sends.
            _ => return Err(CborError::Unsupported),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shapes_of_an_attestation_object() {
        // {"fmt": "none", "attStmt": {}, "authData": h'0102'}
        let bytes = [
            0xa3, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e', 0x67, b'a', b't', b't', b'S', b't', b'm', b't',
            0xa0, 0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a', 0x42, 1, 2,
        ];
        let value = decode(&bytes).unwrap();
        assert_eq!(value.get_text("fmt").and_then(Value::as_text), Some("none"));
        assert_eq!(value.get_text("attStmt"), Some(&Value::Map(vec![])));
        assert_eq!(value.get_text("authData").and_then(Value::as_bytes), Some(&[1u8, 2][..]));
    }

    #[test]
    fn integers_of_every_width_and_sign() {
        assert_eq!(decode(&[0x17]).unwrap(), Value::Unsigned(23));
        assert_eq!(decode(&[0x18, 0xff]).unwrap(), Value::Unsigned(255));
        assert_eq!(decode(&[0x19, 0x01, 0x00]).unwrap(), Value::Unsigned(256));
        assert_eq!(decode(&[0x26]).unwrap().as_int(), Some(-7));
        assert_eq!(decode(&[0x27]).unwrap().as_int(), Some(-8));
        assert_eq!(decode(&[0x38, 0x63]).unwrap().as_int(), Some(-100));
        let huge = decode(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(huge.as_int(), None, "below i64::MIN");
    }

    #[test]
    fn hostile_bytes_are_errors() {
        assert_eq!(decode(&[]), Err(CborError::Truncated));
        // A byte string claiming 2^32 bytes.
        assert_eq!(decode(&[0x5a, 0xff, 0xff, 0xff, 0xff]), Err(CborError::Truncated));
        // A map claiming a billion entries.
        assert_eq!(decode(&[0xba, 0x40, 0, 0, 0]), Err(CborError::Truncated));
        assert_eq!(decode(&[0x5f]), Err(CborError::Unsupported), "indefinite length");
        assert_eq!(decode(&[0xf9, 0, 0]), Err(CborError::Unsupported), "a float");
        assert_eq!(decode(&[0xc2, 0x40]), Err(CborError::Unsupported), "a tag");
        assert_eq!(decode(&[0x62, 0xff, 0xfe]), Err(CborError::NotUtf8));
        assert_eq!(decode(&[0x01, 0x02]), Err(CborError::TrailingBytes));
        assert_eq!(decode(&[0x81; 64]), Err(CborError::TooDeep));
        assert_eq!(decode_prefix(&[0x01, 0x02]).unwrap(), (Value::Unsigned(1), 1));
    }
}
