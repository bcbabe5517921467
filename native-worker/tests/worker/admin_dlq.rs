//! `create-admin` and `dlq replay`.

use std::time::Duration;

use native_worker::admin::{self, AdminOptions, AdminOutcome, PasswordInput};
use native_worker::dlq::{self, Filter};

use crate::helpers::TestEnv;

const PASSWORD: &str = "a-Sturdy-passphrase-42";

fn given(password: &str) -> PasswordInput {
    PasswordInput::Given(password.into())
}

fn promote() -> AdminOptions {
    AdminOptions { promote_existing: true }
}

/// An account someone registered through the API, verified or not.
async fn registered(env: &TestEnv, email: &str, verified: bool) -> uuid::Uuid {
    let client = env.pool.get().await.unwrap();
    let prefs: uuid::Uuid =
        client.query_one("INSERT INTO user_preferences DEFAULT VALUES RETURNING id", &[]).await.unwrap().get(0);
    client
        .query_one(
            "INSERT INTO users (email, name, password, preferences_id, email_verified) VALUES ($1, 'Someone', 'x', $2, $3) RETURNING id",
            &[&email, &prefs, &verified],
        )
        .await
        .unwrap()
        .get(0)
}

async fn is_staff(env: &TestEnv, id: uuid::Uuid) -> bool {
    env.pool.get().await.unwrap().query_one("SELECT is_staff FROM users WHERE id = $1", &[&id]).await.unwrap().get(0)
}

#[tokio::test]
async fn create_admin_creates_then_promotes_only_when_asked() {
    let env = TestEnv::new().await;
    let url = &env.config.database_url;
    let created =
        admin::create_or_promote(url, "Boss@Example.com", "The Boss", AdminOptions::default(), given(PASSWORD))
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
    assert!(user_domain::hashing::verify_password(PASSWORD, &row.get::<_, String>(2)));
    assert!(row.get::<_, bool>(3), "preferences created with the user");

    // Promoting never asks for a password.
    let prompt = PasswordInput::Prompt(Box::new(|| panic!("no prompt on promote")));
    let again = admin::create_or_promote(url, "boss@example.com", "The Boss", promote(), prompt).await.unwrap();
    assert_eq!(again, AdminOutcome::Promoted(id));

    let weak =
        admin::create_or_promote(url, "new@example.com", "New", AdminOptions::default(), given("12345678")).await;
    assert!(matches!(weak, Err(admin::AdminError::Password(_))), "{weak:?}");
    let none = admin::create_or_promote(url, "new@example.com", "New", AdminOptions::default(), PasswordInput::Absent);
    assert!(matches!(none.await, Err(admin::AdminError::Password(_))));
    env.cleanup().await;
}

#[tokio::test]
async fn an_existing_account_is_not_promoted_without_the_flag() {
    let env = TestEnv::new().await;
    let id = registered(&env, "squatter@example.com", true).await;
    let prompt = PasswordInput::Prompt(Box::new(|| panic!("no prompt for an existing account")));
    let outcome = admin::create_or_promote(
        &env.config.database_url,
        "squatter@example.com",
        "X",
        AdminOptions::default(),
        prompt,
    )
    .await;
    assert!(matches!(outcome, Err(admin::AdminError::Exists)), "{outcome:?}");
    assert!(!is_staff(&env, id).await);
    let absent = PasswordInput::Absent;
    let outcome = admin::create_or_promote(
        &env.config.database_url,
        "squatter@example.com",
        "X",
        AdminOptions::default(),
        absent,
    )
    .await;
    assert!(matches!(outcome, Err(admin::AdminError::Exists)), "{outcome:?}");
    assert!(!is_staff(&env, id).await);
    env.cleanup().await;
}

#[tokio::test]
async fn an_unverified_account_is_never_promoted() {
    let env = TestEnv::new().await;
    let id = registered(&env, "unproven@example.com", false).await;
    let outcome = admin::create_or_promote(
        &env.config.database_url,
        "unproven@example.com",
        "X",
        promote(),
        PasswordInput::Absent,
    )
    .await;
    assert!(matches!(outcome, Err(admin::AdminError::Unverified)), "{outcome:?}");
    assert!(!is_staff(&env, id).await);
    env.cleanup().await;
}

#[tokio::test]
async fn a_password_given_for_an_existing_account_is_an_error() {
    let env = TestEnv::new().await;
    let id = registered(&env, "owner@example.com", true).await;
    for options in [AdminOptions::default(), promote()] {
        let outcome =
            admin::create_or_promote(&env.config.database_url, "owner@example.com", "X", options, given(PASSWORD))
                .await;
        assert!(matches!(outcome, Err(admin::AdminError::PasswordForExisting)), "{options:?}: {outcome:?}");
    }
    let row = env
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT is_staff, password FROM users WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), "x", "the owner's password is untouched");
    env.cleanup().await;
}

/// The command line as an operator runs it: stdin decides what was given.
#[tokio::test]
async fn create_admin_command_reads_the_password_from_stdin_and_needs_the_flag_to_promote() {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;

    let env = TestEnv::new().await;
    let run = |args: &'static [&'static str], stdin: Option<&'static str>| {
        let mut command = env.command(args);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        async move {
            let mut child = command.spawn().unwrap();
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).await.unwrap();
            }
            drop(input);
            let out = child.wait_with_output().await.unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        }
    };
    let (ok, out) = run(&["create-admin", "--email", "cli@example.com"], Some("a-Sturdy-passphrase-42\n")).await;
    assert!(ok && out.contains("created staff user"), "{out}");
    let (ok, out) = run(&["create-admin", "--email", "cli@example.com"], None).await;
    assert!(!ok && out.contains("--promote-existing"), "{out}");
    let (ok, out) =
        run(&["create-admin", "--email", "cli@example.com", "--promote-existing"], Some("another-Sturdy-one-43\n"))
            .await;
    assert!(!ok && out.contains("a password was given"), "{out}");
    let (ok, out) = run(&["create-admin", "--email", "cli@example.com", "--promote-existing"], None).await;
    assert!(ok && out.contains("promoted staff user"), "{out}");
    env.cleanup().await;
}

/// Publishes dead letters as the worker writes them: through the DLX with a reason.
async fn dead_letters(env: &TestEnv, reasons: &[&str]) {
    for (i, reason) in reasons.iter().enumerate() {
        let headers = native_worker::message::with_failure_reason(None, reason);
        native_worker::topology::publish_confirmed(
            &env.channel,
            &env.config.dlx_exchange,
            &env.config.dlx_routing_key,
            serde_json::to_vec(&TestEnv::push_body(uuid::Uuid::new_v4(), &format!("dl-{i}"))).unwrap().as_slice(),
            native_worker::topology::json_properties().with_headers(headers),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn dlq_replay_leaves_malformed_and_too_large_in_place_unless_asked() {
    let env = TestEnv::new().await;
    dead_letters(
        &env,
        &[
            "unknown user x",
            "malformed: body is not valid JSON",
            "too large: 300000 bytes, over the limit of 262144",
            "retries exhausted: database: no database connection",
        ],
    )
    .await;

    let report = dlq::replay(&env.config, &Filter::default(), usize::MAX, false).await.unwrap();
    assert_eq!((report.examined, report.replayed, report.skipped_malformed), (4, 2, 2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let replayed: Vec<String> = env.drain(&env.config.push_queue).await.iter().map(|m| m.request_id()).collect();
    assert_eq!(replayed, ["dl-0", "dl-3"]);
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 2, "malformed ones stay");

    // Even a filter naming them does not replay them without the flag.
    let named = Filter { reason_contains: Some("malformed".into()), ..Filter::default() };
    let report = dlq::replay(&env.config, &named, usize::MAX, false).await.unwrap();
    assert_eq!((report.replayed, report.skipped_malformed), (0, 2));

    let all = Filter { include_malformed: true, ..Filter::default() };
    let report = dlq::replay(&env.config, &all, usize::MAX, false).await.unwrap();
    assert_eq!((report.replayed, report.skipped_malformed), (2, 0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut replayed: Vec<String> = env.drain(&env.config.push_queue).await.iter().map(|m| m.request_id()).collect();
    replayed.sort();
    assert_eq!(replayed, ["dl-1", "dl-2"]);
    assert_eq!(env.queue_len(&env.config.failed_queue).await, 0);
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
    let filter = Filter { reason_contains: Some("unknown user".into()), body_contains: None, include_malformed: true };

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
