//! A test fixture, never deployed: a component that misbehaves on purpose so
//! the host's isolation can be tested (a trap, an endless loop, a memory
//! hog, a database its manifest does not allow), a trivial route to measure
//! the host's own cost per request, and echoes of what Spin hands a component.

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
                "set": format!("{:?}", connection.set(&key, &b"v1".to_vec())),
                "get": format!("{:?}", connection.get(&key)),
                "incr": [format!("{:?}", connection.incr(&counter)), format!("{:?}", connection.incr(&counter))],
                "sadd": format!("{:?}", connection.sadd(&set, &["a".to_owned(), "b".to_owned(), "a".to_owned()])),
                "smembers": format!("{:?}", connection.smembers(&set).map(|mut m| { m.sort(); m })),
                "srem": format!("{:?}", connection.srem(&set, &["a".to_owned()])),
                "publish": format!("{:?}", connection.publish("testing-channel", &b"hello".to_vec())),
                "execute_set": format!("{:?}", connection.execute("SET", &[spin_sdk::redis::RedisParameter::Binary(key.clone().into_bytes()), spin_sdk::redis::RedisParameter::Binary(b"v2".to_vec())])),
                "execute_get": format!("{:?}", connection.execute("GET", &[spin_sdk::redis::RedisParameter::Binary(key.clone().into_bytes())])),
                "del": format!("{:?}", connection.del(&[key.clone(), counter.clone(), set.clone()])),
                "hget_missing": format!("{:?}", connection.execute("HGET", &[spin_sdk::redis::RedisParameter::Binary(b"no-such-hash".to_vec()), spin_sdk::redis::RedisParameter::Int64(1)])),
            });
            Response::new(200, report.to_string())
        }
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
