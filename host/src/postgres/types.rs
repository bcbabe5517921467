//! Conversions between `spin:postgres` values and PostgreSQL's wire types,
//! following Spin: UUID and NUMERIC travel as strings, JSONB as bytes,
//! TIMESTAMP and TIMESTAMPTZ as a UTC date-time tuple, a NULL parameter fits
//! any column, and a type without a WIT counterpart comes back `unsupported`
//! with its raw bytes.

use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::bindings::pg_wit::{
    Column, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError, RowSet,
};

type BoxError = Box<dyn std::error::Error + Sync + Send>;
pub type Param = Box<dyn ToSql + Send + Sync>;

pub fn as_refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Converts the guest's parameters; the error text names the bad one.
pub fn to_sql_params(params: Vec<ParameterValue>) -> Result<Vec<Param>, String> {
    params.into_iter().enumerate().map(|(i, p)| to_sql(p).map_err(|e| format!("parameter ${}: {e}", i + 1))).collect()
}

fn to_sql(value: ParameterValue) -> Result<Param, String> {
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
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            Box::new(NaiveDateTime::new(date(y, mo, d)?, time(h, mi, s, ns)?))
        }
        ParameterValue::Timestamp(secs) => {
            Box::new(DateTime::<Utc>::from_timestamp(secs, 0).ok_or("timestamp out of range")?)
        }
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid uuid: {e}"))?),
        ParameterValue::Jsonb(v) => {
            Box::new(serde_json::from_slice::<serde_json::Value>(&v).map_err(|e| format!("invalid JSON: {e}"))?)
        }
        ParameterValue::Decimal(v) => Box::new(decimal(&v)?),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => {
            Box::new(v.iter().map(|d| d.as_deref().map(decimal).transpose()).collect::<Result<Vec<_>, _>>()?)
        }
        ParameterValue::Interval(v) => Box::new(IntervalValue(v)),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::RangeInt32(_) | ParameterValue::RangeInt64(_) | ParameterValue::RangeDecimal(_) => {
            return Err("range parameters are not supported by this host".into());
        }
    })
}

fn date(y: i32, m: u8, d: u8) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

fn time(h: u8, m: u8, s: u8, ns: u32) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns}"))
}

fn decimal(v: &str) -> Result<rust_decimal::Decimal, String> {
    v.parse().map_err(|e| format!("invalid decimal {v:?}: {e}"))
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

fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize, wrap: impl FnOnce(T) -> DbValue) -> Result<DbValue, String> {
    row.try_get::<_, Option<T>>(index)
        .map(|value| value.map_or(DbValue::DbNull, wrap))
        .map_err(|e| format!("column {index}: {e}"))
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

fn db_value(row: &Row, index: usize) -> Result<DbValue, String> {
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
        Type::TIMESTAMP => get(row, index, datetime),
        Type::TIMESTAMPTZ => get(row, index, |t: DateTime<Utc>| datetime(t.naive_utc())),
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

/// The guest's row set. Column metadata comes from the first row, so an
/// empty result has no columns, as in Spin.
pub fn row_set(rows: &[Row]) -> Result<RowSet, String> {
    let columns = rows
        .first()
        .map(|row| {
            row.columns()
                .iter()
                .map(|c| Column { name: c.name().to_owned(), data_type: data_type(c.type_()) })
                .collect()
        })
        .unwrap_or_default();
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|i| db_value(row, i)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RowSet { columns, rows })
}

/// A failed statement as `query-failed`, with the server's structured error
/// when there is one.
pub fn query_failed(error: &tokio_postgres::Error) -> Error {
    match error.as_db_error() {
        Some(db) => {
            let extras = [
                ("hint", db.hint()),
                ("schema", db.schema()),
                ("table", db.table()),
                ("column", db.column()),
                ("datatype", db.datatype()),
                ("constraint", db.constraint()),
                ("where", db.where_()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
            .collect();
            Error::QueryFailed(QueryError::DbError(DbError {
                // tokio-postgres's own Display says only "db error".
                as_text: db.to_string(),
                severity: db.severity().to_owned(),
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                extras,
            }))
        }
        None => Error::QueryFailed(QueryError::Text(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_parameters_are_reported_with_their_position() {
        let error = to_sql_params(vec![ParameterValue::Int32(1), ParameterValue::Uuid("nope".into())]).err().unwrap();
        assert!(error.starts_with("parameter $2: invalid uuid"), "{error}");
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
