//! `create-admin` and `dlq replay`.

use std::time::Duration;

use native_worker::admin::{self, AdminOutcome};
use native_worker::dlq::{self, Filter};

use crate::helpers::TestEnv;

#[tokio::test]
async fn create_admin_creates_then_promotes() {
    let env = TestEnv::new().await;
    let url = &env.config.database_url;
    let created =
        admin::create_or_promote(url, "Boss@Example.com", "The Boss", || Ok("a-Sturdy-passphrase-42\n".into()))
            .await
            .unwrap();
    let AdminOutcome::Created(id) = created else { panic!("expected a new user, got {created:?}") };
    let row = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT u.email, u.is_staff, u.password, p.push FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "boss@example.com");
    assert!(row.get::<_, bool>(1));
    assert!(user_domain::hashing::verify_password("a-Sturdy-passphrase-42", &row.get::<_, String>(2)));
    assert!(row.get::<_, bool>(3), "preferences created with the user");

    // Promoting never asks for a password.
    let again =
        admin::create_or_promote(url, "boss@example.com", "The Boss", || panic!("no prompt on promote")).await.unwrap();
    assert_eq!(again, AdminOutcome::Promoted(id));

    let weak = admin::create_or_promote(url, "new@example.com", "New", || Ok("12345678".into())).await;
    assert!(matches!(weak, Err(admin::AdminError::Password(_))), "{weak:?}");
    env.cleanup().await;
}

#[tokio::test]
async fn dlq_replay_moves_matching_dead_letters_back_and_keeps_the_rest() {
    let env = TestEnv::new().await;
    let user = uuid::Uuid::new_v4();
    // Dead letters as the worker writes them: through the DLX with a reason.
    for (i, reason) in ["unknown user x", "unknown user y", "malformed: nope", "unknown user z"].iter().enumerate() {
        let headers = native_worker::message::with_failure_reason(
            Some(&native_worker::message::with_retry_count(None, 3)),
            reason,
        );
        native_worker::topology::publish_confirmed(
            &env.channel,
            &env.config.dlx_exchange,
            &env.config.dlx_routing_key,
            serde_json::to_vec(&TestEnv::push_body(user, &format!("dl-{i}"))).unwrap().as_slice(),
            native_worker::topology::json_properties().with_headers(headers),
        )
        .await
        .unwrap();
    }
    let filter = Filter { reason_contains: Some("unknown user".into()), body_contains: None };

    let dry = dlq::replay(&env.config, &filter, usize::MAX, true).await.unwrap();
    assert_eq!((dry.examined, dry.matched, dry.replayed), (4, 3, 0));
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 4, "a dry run moves nothing");

    let limited = dlq::replay(&env.config, &filter, 2, false).await.unwrap();
    assert_eq!(limited.replayed, 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 2);
    let replayed = env.drain(&env.config.push_queue).await;
    assert_eq!(replayed.len(), 2);
    for m in &replayed {
        assert_eq!(m.reason(), None, "a replayed message starts over");
        assert_eq!(native_worker::message::retry_count(m.headers.as_ref()), 0);
    }
    let left = env.drain(&env.config.failed_queue).await;
    let mut reasons: Vec<_> = left.iter().map(|m| m.reason().unwrap()).collect();
    reasons.sort();
    assert_eq!(reasons, ["malformed: nope", "unknown user z"]);
    env.cleanup().await;
}
