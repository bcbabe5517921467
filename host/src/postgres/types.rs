//! Conversions between `spin:postgres` values and PostgreSQL's wire types,
//! following Spin: UUID and NUMERIC travel as strings, JSONB as bytes,
//! TIMESTAMP as a date-time tuple, a NULL parameter fits any column, and a
//! type without a WIT counterpart comes back `unsupported` with its raw bytes.
//!
//! TIMESTAMPTZ is read the way Spin reads it, as a naive date-time, which
//! tokio-postgres refuses: a TIMESTAMPTZ result column fails the query, as
//! under `spin up`. As parameters, `datetime` binds as TIMESTAMP (naive) and
//! `timestamp` (epoch seconds) as TIMESTAMPTZ, so each fits only its own
//! column type.

use anyhow::{Context, anyhow, bail};
use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::bindings::pg_wit::{Column, DbDataType, DbValue, Interval, ParameterValue};

type BoxError = Box<dyn std::error::Error + Sync + Send>;
pub type Param = Box<dyn ToSql + Send + Sync>;

pub fn as_refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Converts the guest's parameters. The error is Spin's text for the first
/// bad one (`invalid UUID not-a-uuid\n\nCaused by:\n    …`), which Spin
/// answers as `bad-parameter` from `query` and `value-conversion-failed`
/// from `execute`.
pub fn to_sql_params(params: Vec<ParameterValue>) -> Result<Vec<Param>, String> {
    params.into_iter().map(to_sql).collect::<anyhow::Result<_>>().map_err(|e| super::errors::chain_text(&*e))
}

fn to_sql(value: ParameterValue) -> anyhow::Result<Param> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Date((y, m, d)) => Box::new(date(y, m, d)?),
        ParameterValue::Time((h, mi, s, ns)) => Box::new(time(h, mi, s, ns)?),
        // A naive date-time: binds to TIMESTAMP only.
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            Box::new(NaiveDateTime::new(date(y, mo, d)?, time(h, mi, s, ns)?))
        }
        // An instant: binds to TIMESTAMPTZ only.
        ParameterValue::Timestamp(secs) => {
            Box::new(DateTime::<Utc>::from_timestamp(secs, 0).ok_or_else(|| anyhow!("invalid epoch timestamp {secs}"))?)
        }
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(&v).with_context(|| format!("invalid UUID {v}"))?),
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(&v)
                .with_context(|| format!("invalid JSON {}", String::from_utf8_lossy(&v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal(&v)?),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => {
            Box::new(v.iter().map(|d| d.as_deref().map(decimal).transpose()).collect::<anyhow::Result<Vec<_>>>()?)
        }
        ParameterValue::Interval(v) => Box::new(IntervalValue(v)),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::RangeInt32(_) | ParameterValue::RangeInt64(_) | ParameterValue::RangeDecimal(_) => {
            bail!("range parameters are not supported by this host")
        }
    })
}

fn date(y: i32, m: u8, d: u8) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| anyhow!("invalid date y={y}, m={m}, d={d}"))
}

fn time(h: u8, m: u8, s: u8, ns: u32) -> anyhow::Result<NaiveTime> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| anyhow!("invalid time {h}:{m}:{s}:{ns}"))
}

/// Exactly the decimal the guest wrote: a value that would lose digits is
/// refused, not rounded, as in Spin.
fn decimal(v: &str) -> anyhow::Result<rust_decimal::Decimal> {
    rust_decimal::Decimal::from_str_exact(v).with_context(|| format!("invalid decimal {v}"))
}

/// NULL, acceptable for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// INTERVAL in PostgreSQL's binary form: microseconds, days, months.
#[derive(Debug)]
struct IntervalValue(Interval);

impl ToSql for IntervalValue {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for IntervalValue {
    fn from_sql(_: &Type, mut raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("an interval is 16 bytes".into());
        }
        Ok(Self(Interval { micros: raw.get_i64(), days: raw.get_i32(), months: raw.get_i32() }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Any value, as the raw bytes PostgreSQL sent, for `unsupported`.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        ref other => DbDataType::Other(other.name().to_owned()),
    }
}

fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    wrap: impl FnOnce(T) -> DbValue,
) -> Result<DbValue, tokio_postgres::Error> {
    row.try_get::<_, Option<T>>(index).map(|value| value.map_or(DbValue::DbNull, wrap))
}

fn datetime(dt: NaiveDateTime) -> DbValue {
    DbValue::Datetime((
        dt.year(),
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
        dt.nanosecond(),
    ))
}

fn db_value(row: &Row, index: usize) -> Result<DbValue, tokio_postgres::Error> {
    let ty = row.columns()[index].type_();
    match *ty {
        Type::BOOL => get(row, index, DbValue::Boolean),
        Type::CHAR => get(row, index, DbValue::Int8),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::FLOAT4 => get(row, index, DbValue::Floating32),
        Type::FLOAT8 => get(row, index, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, index, DbValue::Str),
        Type::BYTEA => get(row, index, DbValue::Binary),
        Type::DATE => get(row, index, |d: NaiveDate| DbValue::Date((d.year(), d.month() as u8, d.day() as u8))),
        Type::TIME => get(row, index, |t: NaiveTime| {
            DbValue::Time((t.hour() as u8, t.minute() as u8, t.second() as u8, t.nanosecond()))
        }),
        // Spin reads both as a naive date-time; for TIMESTAMPTZ tokio-postgres
        // refuses (`cannot convert between the Rust type
        // Option<NaiveDateTime> and the Postgres type timestamptz`), and that
        // refusal is the error the guest must see.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, index, datetime),
        Type::UUID => get(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        Type::JSONB => get(row, index, |j: serde_json::Value| DbValue::Jsonb(j.to_string().into_bytes())),
        Type::NUMERIC => get(row, index, |d: rust_decimal::Decimal| DbValue::Decimal(d.to_string())),
        Type::INT4_ARRAY => get(row, index, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, index, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, index, |v: Vec<Option<rust_decimal::Decimal>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => get(row, index, DbValue::ArrayStr),
        Type::INTERVAL => get(row, index, |i: IntervalValue| DbValue::Interval(i.0)),
        _ => get(row, index, |raw: Raw| DbValue::Unsupported(raw.0)),
    }
}

/// A row's values, or the first that does not convert.
pub fn row(row: &Row) -> Result<Vec<DbValue>, tokio_postgres::Error> {
    (0..row.len()).map(|index| db_value(row, index)).collect()
}

/// The guest's column descriptions.
pub fn columns(columns: &[tokio_postgres::Column]) -> Vec<Column> {
    columns.iter().map(|c| Column { name: c.name().to_owned(), data_type: data_type(c.type_()) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_parameters_are_reported_in_spins_words() {
        let error = to_sql_params(vec![ParameterValue::Int32(1), ParameterValue::Uuid("nope".into())]).err().unwrap();
        assert!(error.starts_with("invalid UUID nope\n\nCaused by:\n    invalid character"), "{error}");
        assert!(to_sql_params(vec![ParameterValue::Date((2024, 2, 30))]).is_err());
        assert!(to_sql_params(vec![ParameterValue::Jsonb(b"{".to_vec())]).is_err());
        assert!(to_sql_params(vec![ParameterValue::Decimal("1.5".into()), ParameterValue::DbNull]).is_ok());
    }

    #[test]
    fn null_fits_every_type_and_intervals_round_trip() {
        assert!(<Null as ToSql>::accepts(&Type::UUID));
        let mut buf = BytesMut::new();
        let interval = IntervalValue(Interval { micros: 1_500_000, days: 2, months: 3 });
        interval.to_sql(&Type::INTERVAL, &mut buf).unwrap();
        let back = IntervalValue::from_sql(&Type::INTERVAL, &buf).unwrap();
        assert_eq!((back.0.micros, back.0.days, back.0.months), (1_500_000, 2, 3));
    }
}
