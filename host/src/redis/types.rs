//! Redis replies and errors in the shapes of `fermyon:spin/redis`, as
//! Spin's `factor-outbound-redis` gives them.

use redis::Value;

use crate::bindings::redis_wit::{Error, RedisResult};

/// A failed command or connection: `type-error` for a reply of the wrong
/// type, `other` with the client's text for anything else.
pub fn other(error: redis::RedisError) -> Error {
    if error.kind() == redis::ErrorKind::TypeError { Error::TypeError } else { Error::Other(error.to_string()) }
}

/// Spin's shape for `execute` results: arrays, sets and maps flattened; `OK`
/// as a status; doubles and big numbers as strings; booleans as 0/1.
pub fn flatten(value: Value, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(i) => out.push(RedisResult::Int64(i)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out)?;
                flatten(v, out)?;
            }
        }
        Value::Attribute { data, .. } => flatten(*data, out)?,
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        Value::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Push { data, .. } => {
            for item in data {
                flatten(item, out)?;
            }
        }
        Value::ServerError(e) => return Err(Error::Other(format!("{e:?}"))),
        #[allow(unreachable_patterns)]
        _ => return Err(Error::Other("unsupported Redis value".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_results_are_flattened_like_spin() {
        let mut out = Vec::new();
        let value = Value::Array(vec![
            Value::Okay,
            Value::Int(3),
            Value::Set(vec![Value::BulkString(b"a".to_vec())]),
            Value::Boolean(true),
            Value::Double(1.5),
        ]);
        flatten(value, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                RedisResult::Status("OK".into()),
                RedisResult::Int64(3),
                RedisResult::Binary(b"a".to_vec()),
                RedisResult::Int64(1),
                RedisResult::Binary(b"1.5".to_vec()),
            ]
        );
    }
}
