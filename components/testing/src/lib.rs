//! A test fixture, never deployed: a component that misbehaves on purpose so
//! the host's isolation can be tested (a trap, an endless loop, a memory
//! hog, a database its manifest does not allow), a trivial route to measure
//! the host's own cost per request, echoes of what Spin hands a component,
//! and probes of Spin's Postgres behaviour (`pg-types`, `pg-timestamptz`,
//! `pg-empty`, `pg-errors`) and key-value behaviour (`kv`, `kv-open-many`)
//! that are run under both `spin up` and the host.
// Its probes hand back spin-sdk's own error types as they come.
#![allow(clippy::result_large_err)]

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let path = request.path_with_query().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default().to_owned();
    let last = path.rsplit('/').next().unwrap_or_default();
    if last == "hello" {
        // The host's benchmark measures this route: do nothing else.
        return Response::new(200, "hello");
    }
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(String::from_utf8_lossy(&v).into_owned())))
        .collect();
    match last {
        "trap" => panic!("this component traps on purpose"),
        "slow" => {
            // Long enough for a test to ask the host to shut down meanwhile.
            std::thread::sleep(std::time::Duration::from_millis(500));
            Response::new(200, "slow done")
        }
        "loop" => loop {
            std::hint::black_box(());
        },
        "memory" => {
            // Far past any sane instance limit; the allocation must fail.
            let hog: Vec<u8> = std::hint::black_box(vec![1; 1 << 30]);
            Response::new(
                200,
                format!("allocated {}", std::hint::black_box(&hog).iter().map(|b| *b as usize).sum::<usize>()),
            )
        }
        "database" => match spin_sdk::variables::get("database_url") {
            Ok(url) => match spin_sdk::pg4::Connection::open(&url) {
                Ok(connection) => match connection.query("SELECT 1", &[]) {
                    Ok(_) => Response::new(200, "connected"),
                    Err(e) => Response::new(502, format!("{e:?}")),
                },
                Err(e) => Response::new(403, format!("{e:?}")),
            },
            Err(e) => Response::new(500, format!("{e:?}")),
        },
        "redis" => {
            // Every operation of fermyon:spin/redis, on keys the test names.
            let key = headers.get("x-key").and_then(|v| v.as_str()).unwrap_or("testing").to_owned();
            let url = spin_sdk::variables::get("redis_url").unwrap_or_default();
            let connection = match spin_sdk::redis::Connection::open(&url) {
                Ok(connection) => connection,
                Err(e) => return Response::new(502, format!("{e:?}")),
            };
            let (counter, set) = (format!("{key}:n"), format!("{key}:s"));
            let report = serde_json::json!({
                "set": format!("{:?}", connection.set(&key, b"v1".as_ref())),
                "get": format!("{:?}", connection.get(&key)),
                "incr": [format!("{:?}", connection.incr(&counter)), format!("{:?}", connection.incr(&counter))],
                "sadd": format!("{:?}", connection.sadd(&set, &["a".to_owned(), "b".to_owned(), "a".to_owned()])),
                "smembers": format!("{:?}", connection.smembers(&set).map(|mut m| { m.sort(); m })),
                "srem": format!("{:?}", connection.srem(&set, &["a".to_owned()])),
                "publish": format!("{:?}", connection.publish("testing-channel", b"hello".as_ref())),
                "execute_set": format!("{:?}", connection.execute("SET", &[spin_sdk::redis::RedisParameter::Binary(key.clone().into_bytes()), spin_sdk::redis::RedisParameter::Binary(b"v2".to_vec())])),
                "execute_get": format!("{:?}", connection.execute("GET", &[spin_sdk::redis::RedisParameter::Binary(key.clone().into_bytes())])),
                "del": format!("{:?}", connection.del(&[key.clone(), counter.clone(), set.clone()])),
                "hget_missing": format!("{:?}", connection.execute("HGET", &[spin_sdk::redis::RedisParameter::Binary(b"no-such-hash".to_vec()), spin_sdk::redis::RedisParameter::Int64(1)])),
            });
            Response::new(200, report.to_string())
        }
        "kv" => key_value(&headers),
        "kv-open-many" => key_value_open_many(&headers),
        "pg-types" => pg_types(),
        "pg-timestamptz" => pg_timestamptz(),
        "pg-empty" => pg_empty(),
        "pg-errors" => pg_errors(),
        "variable" => {
            let name = headers.get("x-variable").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            match spin_sdk::variables::get(&name) {
                Ok(value) => Response::new(200, value),
                Err(e) => Response::new(404, format!("{e:?}")),
            }
        }
        _ => Response::new(200, serde_json::Value::Object(headers).to_string()),
    }
}

/// A header's text, or `default`.
fn header(headers: &serde_json::Map<String, serde_json::Value>, name: &str, default: &str) -> String {
    headers.get(name).and_then(|v| v.as_str()).unwrap_or(default).to_owned()
}

/// Every operation of `fermyon:spin/key-value@2.0.0` on the store labelled
/// `x-store` (default `cache`), on keys under the prefix `x-key` that the
/// test names, in order: what undeclared labels answer, missing keys, exact
/// values (binary, empty), `get-keys` (only this prefix's, the prefix cut
/// off), delete. Reads `<prefix>:raw`, which the test sets with plain Redis,
/// and leaves `<prefix>:kept` = `kept` for the test to read the same way.
fn key_value(headers: &serde_json::Map<String, serde_json::Value>) -> Response {
    use spin_sdk::key_value::Store;
    let prefix = format!("{}:", header(headers, "x-key", "testing-kv"));
    let label = header(headers, "x-store", "cache");
    let mut report = serde_json::Map::new();
    macro_rules! note {
        ($name:literal, $result:expr) => {
            report.insert($name.to_owned(), serde_json::Value::String(format!("{:?}", $result)));
        };
    }
    note!("open_undeclared", Store::open("undeclared").map(drop));
    note!("open_default", Store::open_default().map(drop));
    let store = match Store::open(&label) {
        Ok(store) => store,
        Err(e) => {
            note!("open", Err::<(), _>(e));
            return Response::new(200, serde_json::Value::Object(report).to_string());
        }
    };
    let key = |name: &str| format!("{prefix}{name}");
    let mine = |keys: Result<Vec<String>, spin_sdk::key_value::Error>| {
        keys.map(|keys| {
            let mut keys: Vec<String> =
                keys.iter().filter_map(|k| k.strip_prefix(prefix.as_str())).map(str::to_owned).collect();
            keys.sort();
            keys
        })
    };
    note!("get_missing", store.get(&key("value")));
    note!("exists_missing", store.exists(&key("value")));
    note!("delete_missing", store.delete(&key("value")));
    note!("set", store.set(&key("value"), b"v1"));
    note!("get", store.get(&key("value")));
    note!("exists", store.exists(&key("value")));
    note!("set_again", store.set(&key("value"), b"v2"));
    note!("get_again", store.get(&key("value")));
    note!("set_binary", store.set(&key("binary"), &[0, 255, 1, 10]));
    note!("get_binary", store.get(&key("binary")));
    note!("set_empty", store.set(&key("empty"), b""));
    note!("get_empty", store.get(&key("empty")));
    note!("exists_empty", store.exists(&key("empty")));
    note!("get_raw", store.get(&key("raw")));
    note!("set_kept", store.set(&key("kept"), b"kept"));
    note!("get_keys", mine(store.get_keys()));
    note!("delete", store.delete(&key("value")));
    note!("get_deleted", store.get(&key("value")));
    note!("exists_deleted", store.exists(&key("value")));
    let cleanup =
        [key("binary"), key("empty"), key("raw")].iter().map(|k| store.delete(k)).collect::<Result<Vec<_>, _>>();
    note!("cleanup", cleanup.map(drop));
    note!("get_keys_after", mine(store.get_keys()));
    Response::new(200, serde_json::Value::Object(report).to_string())
}

/// Opens the store labelled `x-store` 300 times without closing any: how
/// many stores one instance may hold, and the error past that.
fn key_value_open_many(headers: &serde_json::Map<String, serde_json::Value>) -> Response {
    let label = header(headers, "x-store", "cache");
    let mut stores = Vec::new();
    let mut first_error = None;
    for _ in 0..300 {
        match spin_sdk::key_value::Store::open(&label) {
            Ok(store) => stores.push(store),
            Err(e) => {
                first_error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    let report = serde_json::json!({ "opened": stores.len().to_string(), "first_error": format!("{first_error:?}") });
    Response::new(200, report.to_string())
}

/// Opens the component's `database_url`, or answers 502 with the error.
fn open_database() -> Result<spin_sdk::pg4::Connection, Response> {
    let url = spin_sdk::variables::get("database_url").unwrap_or_default();
    spin_sdk::pg4::Connection::open(&url).map_err(|e| Response::new(502, format!("{e:?}")))
}

/// Spin's type mapping, both ways, as a component sees it. Everything here
/// answers identically under `spin up` and on the host: no TIMESTAMPTZ
/// column (Spin cannot read one, see `pg-timestamptz`) and no empty result
/// (Spin 4.0.x never answers one, see `pg-empty`).
fn pg_types() -> Response {
    use spin_sdk::pg4::ParameterValue as P;
    let connection = match open_database() {
        Ok(connection) => connection,
        Err(answer) => return answer,
    };
    let results = connection.query(
        "SELECT 1::int2 AS i2, 2::int4 AS i4, 3::int8 AS i8, 1.5::float4 AS f4, 2.5::float8 AS f8, 'x'::text AS t, \
         '\\x0102'::bytea AS b, '2024-02-29'::date AS d, '12:34:56'::time AS tm, \
         '2024-02-29 12:34:56'::timestamp AS ts, \
         '6f1c3f8e-2a52-4a7c-9b1e-0c7c1e2d3f40'::uuid AS u, '{\"a\": 1}'::jsonb AS j, 1.25::numeric AS n, \
         ARRAY[1, NULL, 3]::int4[] AS arr, '1 day 2 hours'::interval AS iv, NULL::text AS nothing, true AS yes, \
         $1::uuid AS pu, $2::numeric AS pn, $3::jsonb AS pj, $4::date AS pd, $5::text AS pnull, $6::timestamp AS pts, \
         extract(epoch FROM $7::timestamptz)::int8 AS ptz",
        &[
            P::Uuid("6f1c3f8e-2a52-4a7c-9b1e-0c7c1e2d3f40".into()),
            P::Decimal("3.75".into()),
            P::Jsonb(b"[1,2]".to_vec()),
            P::Date((2024, 3, 1)),
            P::DbNull,
            P::Datetime((2024, 3, 1, 1, 2, 3, 0)),
            // Epoch seconds bind as TIMESTAMPTZ.
            P::Timestamp(1_709_210_096),
        ],
    );
    let bad = connection.query("SELECT $1::uuid", &[P::Uuid("not-a-uuid".into())]);
    let failed = connection.query("SELECT * FROM no_such_table", &[]);
    let report = serde_json::json!({
        "rows": format!("{:?}", results.as_ref().map(|r| &r.rows)),
        "columns": format!("{:?}", results.as_ref().map(|r| r.columns.iter().map(|c| format!("{}:{:?}", c.name, c.data_type)).collect::<Vec<_>>())),
        "bad_parameter": format!("{bad:?}"),
        "query_failed": format!("{failed:?}"),
    });
    Response::new(200, report.to_string())
}

/// A TIMESTAMPTZ result column, which Spin cannot read: the whole query
/// fails. Also a `datetime` parameter where TIMESTAMPTZ is expected (it
/// binds as TIMESTAMP only).
fn pg_timestamptz() -> Response {
    use spin_sdk::pg4::ParameterValue as P;
    let connection = match open_database() {
        Ok(connection) => connection,
        Err(answer) => return answer,
    };
    let column = connection.query("SELECT 1 AS one, '2024-02-29 12:34:56+02'::timestamptz AS tz", &[]);
    let naive_parameter =
        connection.query("SELECT $1::timestamptz = now() AS same", &[P::Datetime((2024, 3, 1, 1, 2, 3, 0))]);
    let report = serde_json::json!({
        "column": format!("{:?}", column.map(|r| r.rows)),
        "datetime_parameter": format!("{:?}", naive_parameter.map(|r| r.rows)),
    });
    Response::new(200, report.to_string())
}

/// A synchronous query that matches no row. Spin 4.0.0 to 4.0.2 never
/// answers it (spinframework/spin#3671), so this probe is for the host only.
fn pg_empty() -> Response {
    let connection = match open_database() {
        Ok(connection) => connection,
        Err(answer) => return answer,
    };
    let empty = connection.query("SELECT 1 AS one, 'x'::text AS two WHERE false", &[]);
    // `execute` of the same statement is unaffected: it counts rows.
    let executed = connection.execute("SELECT 1 AS one, 'x'::text AS two WHERE false", &[]);
    let report = serde_json::json!({
        "empty": format!("{:?}", empty.map(|r| (r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(), r.rows.len()))),
        "execute": format!("{executed:?}"),
    });
    Response::new(200, report.to_string())
}

/// Database errors in every shape Spin gives them: structured from
/// `execute` and from a `query` that fails before rows stream, flattened to
/// text when the error arrives while rows stream. Works on a temporary
/// table of its own, so concurrent requests never meet.
fn pg_errors() -> Response {
    let connection = match open_database() {
        Ok(connection) => connection,
        Err(answer) => return answer,
    };
    let table = format!("pg_errors_{}", uuid::Uuid::new_v4().simple());
    let duplicate = format!("INSERT INTO {table} (id, n) VALUES (1, 1)");
    let setup = connection
        .execute(&format!("CREATE TEMP TABLE {table} (id int PRIMARY KEY, n int NOT NULL CHECK (n > 0))"), &[])
        .and_then(|_| connection.execute(&duplicate, &[]));
    if let Err(e) = setup {
        return Response::new(500, format!("{e:?}"));
    }
    let negative = format!("UPDATE {table} SET n = -1 RETURNING id");
    let cases = [
        ("execute_unique", format!("{:?}", connection.execute(&duplicate, &[]))),
        ("query_unique_returning", format!("{:?}", connection.query(&format!("{duplicate} RETURNING id"), &[]))),
        ("query_check_returning", format!("{:?}", connection.query(&negative, &[]))),
        // Met in the data while rows stream, unlike a constant `1 / 0`, which fails at planning.
        (
            "query_division_by_zero",
            format!("{:?}", connection.query("SELECT 1 / x AS q FROM (VALUES (1), (0)) AS v(x)", &[])),
        ),
        ("query_constant_division_by_zero", format!("{:?}", connection.query("SELECT 1 / 0 AS q", &[]))),
        ("query_syntax", format!("{:?}", connection.query("SELEC 1", &[]))),
        ("query_unknown_table", format!("{:?}", connection.query("SELECT * FROM no_such_table", &[]))),
        ("execute_unknown_table", format!("{:?}", connection.execute("DELETE FROM no_such_table", &[]))),
    ];
    let _ = connection.execute(&format!("DROP TABLE IF EXISTS {table}"), &[]);
    let report: serde_json::Map<String, serde_json::Value> =
        cases.into_iter().map(|(name, result)| (name.to_owned(), serde_json::Value::String(result))).collect();
    Response::new(200, serde_json::Value::Object(report).to_string())
}
