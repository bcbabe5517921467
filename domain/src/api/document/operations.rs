//! Every documented operation: what it is for, its body, its answers and
//! the statuses beyond those the rules imply. Method, path and access come
//! from the endpoint table ([`super::endpoints`]).

use serde_json::json;

use super::super::requests::*;
use super::super::responses::*;
use super::super::schema::NO_NUL;
use super::operation::{Operation, Schemas};
use super::shared::{array, header, link, path_id, query, reference};
use crate::api::endpoints::Op;
use crate::envelope::{CursorMeta, PageMeta};

pub(super) fn operations(s: &mut Schemas) -> Vec<Operation> {
    let user = s.of::<UserView>();
    let tokens = s.of::<SessionTokens>();
    let preferences = s.of::<Preferences>();
    let empty = s.of::<Empty>();
    let page_meta = s.of::<PageMeta>();
    let cursor_meta = s.of::<CursorMeta>();
    let audit = s.of::<AuditEntry>();
    let session = s.of::<SessionInfo>();
    let id = || path_id("id", "The user's id");
    let audit_params = |op: Operation| {
        op.parameter(query(
            "limit",
            "Events per page",
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
        ))
        .parameter(query(
            "cursor",
            "The `meta.next_cursor` of the previous page",
            json!({"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}),
        ))
        .paginated(cursor_meta.clone())
        .errors(&[400])
    };
    let registered_user = json!({"id": "$response.body#/data/user/id"});
    let health = s.of::<Health>();
    let readiness = |op: Operation| {
        op.describe("Checks PostgreSQL and Redis. The outcome is reused for up to a second (`data.checked_at` says when the checks ran), so polling cannot load the database.")
            .answer(200, "Healthy", health.clone())
            .raw(
                503,
                json!({
                    "description": "Unhealthy: the envelope of a failure (`code: service_unavailable`) that still carries `data.checks`",
                    "headers": {
                        "X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"},
                        "Retry-After": header("Seconds until a retry may succeed", json!({"type": "integer"})),
                    },
                    "content": {"application/json": {"schema": {"allOf": [
                        reference("ErrorEnvelope"),
                        {"type": "object", "required": ["data"], "properties": {"data": reference("Health")}},
                    ]}}},
                }),
            )
            .unbacked()
    };

    vec![
        readiness(Operation::of(Op::Health, "health", "Health of the service and what it depends on")),
        readiness(Operation::of(Op::Ready, "health", "Readiness: the same checks as `/api/v1/health/`")),
        Operation::of(Op::Live, "health", "Liveness: the instance answers")
            .describe("Touches nothing (no database, no cache), so a liveness probe never restarts an instance because a dependency is down.")
            .answer(200, "Alive", s.of::<Liveness>())
            .unbacked(),
        Operation::of(Op::OpenApi, "docs", "This document")
            .raw(200, json!({"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}))
            .unbacked(),
        Operation::of(Op::DocsPage, "docs", "The document rendered for people (Swagger UI)")
            .raw(200, json!({"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}))
            .unbacked(),
        Operation::of(Op::Jwks, "auth", "Public keys of access tokens (JWKS)")
            .describe("Cacheable for five minutes. The same set as `/api/v1/auth/jwks.json`.")
            .raw(200, json!({"description": "The key set", "content": {"application/jwk-set+json": {"schema": reference("JwkSet")}}}))
            .unbacked(),
        Operation::of(Op::JwksUnderApi, "auth", "Public keys of access tokens (JWKS)")
            .raw(200, json!({"description": "The key set", "content": {"application/jwk-set+json": {"schema": reference("JwkSet")}}}))
            .unbacked(),
        Operation::of(Op::Register, "users", "Register")
            .describe("Creates the account, its preferences and its first session in one statement, and sends a verification email event. Rate limited per client address.")
            .body(s.of::<RegisterRequest>())
            .answer(201, "Registered: the user and a session", tokens.clone())
            .errors(&[409])
            .link("GetUserById", link("staffGetUser", registered_user.clone()))
            .link("PatchUserById", link("staffPatchUser", registered_user.clone()))
            .link("DeleteUserById", link("staffDeleteUser", registered_user.clone()))
            .link("GetInternalUser", link("internalGetUser", registered_user.clone()))
            .link("GetUserPreferences", link("serviceGetPreferences", registered_user.clone())),
        Operation::of(Op::ListUsers, "staff", "List users")
            .parameter(query("page", "From 1", json!({"type": "integer", "minimum": 1, "maximum": u32::MAX, "default": 1})))
            .parameter(query("limit", "Users per page", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20})))
            .parameter(query("search", "Part of an email or name, case-insensitive", json!({"type": "string", "pattern": NO_NUL})))
            .parameter(query("is_active", "Only active (true) or deactivated (false) accounts", json!({"type": "boolean"})))
            .answer(200, "A page of users", array(user.clone()))
            .paginated(page_meta)
            .errors(&[400]),
        Operation::of(Op::Login, "auth", "Sign in")
            .describe("An unknown email and a wrong password get the same 401. Past the account's failure allowance even the right password gets 429. An account with two-factor sign-in gets a challenge instead of tokens.")
            .body(s.of::<LoginRequest>())
            .answer(200, "Signed in (tokens and the user), or a second factor is required (a challenge)", json!({"oneOf": [tokens.clone(), s.of::<MfaChallenge>()]}))
            .errors(&[401, 403]),
        Operation::of(Op::LoginMfa, "auth", "Complete a sign-in with a second factor")
            .body(s.of::<MfaLoginRequest>())
            .answer(200, "Signed in", tokens.clone())
            .errors(&[401, 403]),
        Operation::of(Op::Refresh, "auth", "Trade a refresh token for new tokens")
            .describe("The refresh token is spent: presenting it again is a 401 and revokes its whole session.")
            .body(s.of::<RefreshRequest>())
            .answer(200, "New tokens", tokens.clone())
            .errors(&[401]),
        Operation::of(Op::Logout, "auth", "End this session, or every session")
            .body(s.of::<LogoutRequest>())
            .answer(200, "Logged out", s.of::<RevokedTokens>())
            .errors(&[401]),
        Operation::of(Op::VerifyEmail, "auth", "Verify the email address")
            .body(s.of::<TokenRequest>())
            .answer(200, "Verified", s.of::<EmailVerification>()),
        Operation::of(Op::ResendVerification, "auth", "Send a new verification email")
            .answer(200, "Sent", s.of::<EmailVerification>())
            .errors(&[409]),
        Operation::of(Op::RequestPasswordReset, "auth", "Ask for a password reset email")
            .describe("200 whether or not the email has an account. Needs the cache (503 without it).")
            .body(s.of::<ResetRequest>())
            .answer(200, "If the account exists, the email is on its way", empty.clone()),
        Operation::of(Op::ConfirmPasswordReset, "auth", "Set a new password with a reset token")
            .body(s.of::<ResetConfirmRequest>())
            .answer(200, "The password is reset; every session is revoked", empty.clone()),
        Operation::of(Op::RequestEmailCode, "auth", "Ask for a sign-in code by email")
            .describe("202 whether or not the email has an account, after the same work. For an active account an `email_code` email carries eight digits, valid for 10 minutes, single use, five wrong tries; a newer code replaces an older one. Limited per email and per client address (429).")
            .body(s.of::<EmailCodeRequest>())
            .answer(202, "If the account exists, the code is on its way", empty.clone()),
        Operation::of(Op::VerifyEmailCode, "auth", "Sign in with an emailed code")
            .describe("A wrong, used or expired code, or an unknown email, is the same 401. Signing in this way verifies the email; the session's `amr` is `email`. An account with two-factor sign-in gets a challenge for `POST /api/v1/auth/login/mfa/` instead of tokens. Wrong codes count against the account's failure allowance, as wrong passwords do (429 past it).")
            .body(s.of::<EmailCodeVerifyRequest>())
            .answer(200, "Signed in (tokens and the user), or a second factor is required (a challenge)", json!({"oneOf": [tokens.clone(), s.of::<MfaChallenge>()]}))
            .errors(&[401, 403]),
        Operation::of(Op::PasskeyRegisterOptions, "passkeys", "Start registering a passkey")
            .describe("The current password is required, as for any new factor (wrong ones count against the account's failure allowance). `data.publicKey` is PublicKeyCredentialCreationOptions in WebAuthn's JSON form: a discoverable credential, ES256 (-7) or EdDSA (-8), `attestation: none`, the account's passkeys excluded. The challenge is single use and lives 5 minutes.")
            .body(s.of::<PasswordRequest>())
            .answer(200, "Options for navigator.credentials.create()", s.of::<PasskeyOptions>()),
        Operation::of(Op::RegisterPasskey, "passkeys", "Register a passkey")
            .describe("The credential is `RegistrationResponseJSON` (`PublicKeyCredential.toJSON()`). The origin, RP ID, challenge, user presence (and user verification when `webauthn_user_verification` is `required`) are checked; attestation is not trusted: `none`, or a `packed` self attestation that verifies. A refused credential is a 400 naming why; one already registered is a 409. An account keeps at most 20 passkeys.")
            .body(s.of::<PasskeyRegisterRequest>())
            .answer(201, "Registered", s.of::<PasskeyView>())
            .errors(&[409]),
        Operation::of(Op::PasskeyLoginOptions, "passkeys", "Start a sign-in with a passkey")
            .describe("Without an email: a usernameless sign-in (`allowCredentials` empty). With one, `allowCredentials` lists the account's passkeys, and an email without an account gets an answer of the same shape. Limited per client address (429).")
            .body(s.of::<PasskeyLoginOptionsRequest>())
            .answer(200, "Options for navigator.credentials.get()", s.of::<PasskeyOptions>()),
        Operation::of(Op::PasskeyLogin, "passkeys", "Sign in with a passkey")
            .describe("The credential is `AuthenticationResponseJSON`. The challenge is spent by the first try, right or wrong. A refused assertion (replayed, expired, another origin or RP, a bad signature, a counter that went backwards) is 401 `invalid_credentials`; a deactivated account 403. With user verification the session's `amr` is `hwk` and `user`, a second factor; without it, an account with two-factor sign-in gets a challenge for `POST /api/v1/auth/login/mfa/`.")
            .body(s.of::<PasskeyLoginRequest>())
            .answer(200, "Signed in (tokens and the user), or a second factor is required (a challenge)", json!({"oneOf": [tokens.clone(), s.of::<MfaChallenge>()]}))
            .errors(&[401, 403]),
        Operation::of(Op::ListPasskeys, "passkeys", "The caller's passkeys")
            .answer(200, "Passkeys, newest first", array(s.of::<PasskeyView>())),
        Operation::of(Op::RemovePasskey, "passkeys", "Remove one of the caller's passkeys")
            .describe("The current password is required.")
            .parameter(path_id("id", "The passkey's id"))
            .body(s.of::<PasswordRequest>())
            .answer(200, "Removed", s.of::<PasskeyRemoved>())
            .errors(&[404]),
        Operation::of(Op::ChangePassword, "auth", "Change the password")
            .describe("Wrong current passwords count against the account's failure allowance (429 past it). Other sessions are revoked; this client gets new tokens.")
            .body(s.of::<PasswordChangeRequest>())
            .answer(200, "Changed: a fresh session", tokens.clone()),
        Operation::of(Op::Introspect, "service", "Introspect a token (RFC 7662)")
            .describe("For gateways: whether an access or refresh token is active now (signature, expiry, its session not ended, the account active). The answer is RFC 7662's object at the top level, not the envelope: an unknown, malformed, expired or ended token is `{\"active\": false}`. Not idempotent (`X-Request-ID` is ignored): the answer is about now.")
            .form_too()
            .body(s.of::<IntrospectRequest>())
            .raw(200, json!({
                "description": "The token's state (RFC 7662, section 2.2)",
                "headers": {"X-Correlation-ID": {"$ref": "#/components/headers/X-Correlation-ID"}},
                "content": {"application/json": {"schema": s.of::<Introspection>()}},
            })),
        Operation::of(Op::ListOwnSessions, "auth", "The caller's sessions")
            .answer(200, "Sessions that can still be refreshed, newest use first", array(session.clone()))
            .link("EndFirstSession", link("deleteAuthSessionsId", json!({"id": "$response.body#/data/0/id"}))),
        Operation::of(Op::EndOwnSession, "auth", "End one of the caller's sessions")
            .parameter(path_id("id", "The session's id"))
            .answer(200, "Ended", s.of::<SessionEnded>())
            .errors(&[404]),
        audit_params(
            Operation::of(Op::OwnAudit, "auth", "The caller's audit trail")
                .answer(200, "Events, newest first", array(audit.clone())),
        ),
        Operation::of(Op::StartMfa, "mfa", "Start two-factor enrolment")
            .describe("Needs the current password: a wrong one is a 400 and counts against the account's failure allowance (429 past it).")
            .body(s.of::<PasswordRequest>())
            .answer(200, "A pending secret", s.of::<MfaEnrolment>())
            .errors(&[409]),
        Operation::of(Op::DisableMfa, "mfa", "Turn two-factor sign-in off")
            .body(s.of::<PasswordAndCodeRequest>())
            .answer(200, "Off; every session is signed out", s.of::<MfaState>()),
        Operation::of(Op::ConfirmMfa, "mfa", "Confirm enrolment with a current code")
            .describe("Every other session of the account ends: whoever held them signed in without this factor.")
            .body(s.of::<CodeRequest>())
            .answer(200, "On: the recovery codes, shown once", s.of::<MfaEnabled>())
            .errors(&[409]),
        Operation::of(Op::ReplaceRecoveryCodes, "mfa", "Replace the recovery codes")
            .body(s.of::<PasswordAndCodeRequest>())
            .answer(200, "New codes; the old ones no longer work", s.of::<RecoveryCodes>()),
        Operation::of(Op::GetProfile, "profile", "The caller's account")
            .answer(200, "The user", user.clone()),
        Operation::of(Op::PatchProfile, "profile", "Change some of the caller's fields")
            .body(s.of::<ProfilePatch>())
            .answer(200, "The changed user", user.clone()),
        Operation::of(Op::PutProfile, "profile", "Replace the caller's editable fields")
            .body(s.of::<ProfileReplace>())
            .answer(200, "The changed user", user.clone()),
        Operation::of(Op::DeactivateProfile, "profile", "Deactivate the caller's account")
            .describe("Sets `is_active` to false and ends every session.")
            .answer(200, "Deactivated", s.of::<Deactivated>()),
        Operation::of(Op::RegisterDevice, "devices", "Register one of the caller's devices")
            .describe("The same token again from the same user is the same device: 200, `last_seen_at` updated (and the device active again). A token registered by another user moves to the caller: 201. A user keeps at most 20 devices: a 21st evicts the one seen least recently.")
            .body(s.of::<DeviceRequest>())
            .answer(201, "Registered", s.of::<DeviceView>())
            .answer(200, "Already the caller's: seen now", s.of::<DeviceView>()),
        Operation::of(Op::ListDevices, "devices", "The caller's devices")
            .describe("Most recently seen first; retired ones (`active: false`) too.")
            .answer(200, "Devices", array(s.of::<DeviceView>())),
        Operation::of(Op::RemoveDevice, "devices", "Remove one of the caller's devices")
            .parameter(path_id("id", "The device's id"))
            .answer(200, "Removed", s.of::<DeviceRemoved>())
            .errors(&[404]),
        Operation::of(Op::GetPreferences, "preferences", "The caller's notification preferences")
            .describe("Every configured category is listed: on where the user set nothing, and always on where it is required.")
            .answer(200, "Preferences", preferences.clone()),
        Operation::of(Op::PatchPreferences, "preferences", "Change some preferences")
            .describe("A JSON merge patch (RFC 7396) of the preferences: `null` removes a member (a category's override, the quiet hours, the locale), except that a `null` `email` or `push` leaves it unchanged. A problem is reported under its path, e.g. `categories.marketing.email`; `false` for a required category (`security`) is a 400.")
            .body(s.of::<PreferencesPatch>())
            .answer(200, "Preferences", preferences.clone()),
        Operation::of(Op::PutPreferences, "preferences", "Replace the preferences")
            .describe("Categories, quiet hours and locale left out are reset: every category on, no quiet hours, no locale.")
            .body(s.of::<PreferencesReplace>())
            .answer(200, "Preferences", preferences.clone()),
        Operation::of(Op::GetUser, "staff", "A user")
            .parameter(id())
            .answer(200, "The user", user.clone())
            .errors(&[404]),
        Operation::of(Op::PatchUser, "staff", "Change a user")
            .describe("Staff cannot deactivate or demote themselves (400).")
            .parameter(id())
            .body(s.of::<StaffUserPatch>())
            .answer(200, "The changed user", user.clone())
            .errors(&[404]),
        Operation::of(Op::EraseUser, "staff", "Erase a user")
            .describe("Staff cannot erase themselves (400).")
            .parameter(id())
            .answer(200, "Erased", s.of::<UserDeleted>())
            .errors(&[400, 404]),
        Operation::of(Op::ListUserSessions, "staff", "A user's sessions")
            .parameter(id())
            .answer(200, "Sessions", array(session.clone()))
            .link(
                "EndFirstSession",
                link(
                    "deleteUsersIdSessionsSession",
                    json!({"id": "$request.path.id", "session": "$response.body#/data/0/id"}),
                ),
            )
            .errors(&[404]),
        Operation::of(Op::EndUserSessions, "staff", "End every session of a user")
            .describe("Their refresh and access tokens stop working at once. Not for the caller's own account (400: use `/api/v1/auth/sessions/` or log out).")
            .parameter(id())
            .answer(200, "Ended", s.of::<RevokedTokens>())
            .errors(&[400, 404]),
        Operation::of(Op::EndUserSession, "staff", "End one session of a user")
            .describe("Its refresh and access tokens stop working at once. Not for the caller's own account (400).")
            .parameter(id())
            .parameter(path_id("session", "The session's id"))
            .answer(200, "Ended", s.of::<SessionEnded>())
            .errors(&[400, 404]),
        Operation::of(Op::ResetUserMfa, "staff", "Reset a user's lost second factor")
            .describe("Removes the user's factor (pending or confirmed) and recovery codes, ends every session of the user and sends them an `mfa_reset` email event. Audited. Answers 200 with `removed: false` for a user without a factor. Not for the caller's own factor (400: turning it off takes the password and a code).")
            .parameter(id())
            .answer(200, "Reset", s.of::<MfaReset>())
            .errors(&[400, 404]),
        Operation::of(Op::ListUserDevices, "staff", "A user's devices")
            .parameter(id())
            .answer(200, "Devices, most recently seen first", array(s.of::<DeviceView>()))
            .errors(&[404]),
        audit_params(
            Operation::of(Op::UserAudit, "staff", "A user's audit trail")
                .parameter(id())
                .answer(200, "Events, newest first", array(audit)),
        ),
        Operation::of(Op::ServicePreferences, "service", "A user's preferences, for services")
            .parameter(id())
            .answer(200, "Preferences", preferences)
            .errors(&[404]),
        Operation::of(Op::InternalUser, "service", "What a service needs to address a user")
            .parameter(id())
            .answer(200, "The user, for services", s.of::<InternalUser>())
            .errors(&[404]),
        Operation::of(Op::LookupUsers, "service", "Many users at once, for a broadcast")
            .describe("Up to 500 ids (repeats count once; more is a 400) in one call and one query: each user found as `/api/v1/internal/users/{id}/` answers it plus its active devices, most recently seen first; the ids of none in `missing`. A read that POSTs: `X-Request-ID` is ignored. Audited once per call, with the count.")
            .body(s.of::<LookupRequest>())
            .answer(200, "The users found and the ids missing", s.of::<Lookup>()),
        Operation::of(Op::TestNotification, "staff", "Queue a test push notification")
            .body(s.of::<TestNotificationRequest>())
            .answer(202, "Queued", s.of::<QueuedNotification>())
            .errors(&[404]),
    ]
}
