use crate::extract::{Ctx, Id, Scoped};
use crate::params::Auth;
use axum::{
    Json,
    extract::State,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_api_types as api;
use switchyard_core::{NewUser, UserUpdate};
use switchyard_domain::Status;

use crate::{
    Api, AppState, convert, created, doc, empty,
    error::ApiResult,
    extract::{AppJson, LenientAuth, Q},
};

pub fn routes(a: Api) -> Api {
    let t = "users";
    a.route(
        Method::POST,
        "/users",
        doc(t, "Register a user")
            .auth(Auth::Optional)
            .body("UserReq")
            .ok(201, Some("UserRes")),
        register,
    )
    .route(
        Method::GET,
        "/users",
        doc(t, "List users (super-admin)")
            .query(crate::params::USERS)
            .ok(200, Some("UsersPage")),
        list,
    )
    .route(
        Method::POST,
        "/users/tokens/issue",
        doc(t, "Issue tokens by username or e-mail")
            .auth(Auth::Public)
            .body("TokenReq")
            .ok(201, Some("TokenRes")),
        issue,
    )
    .route(
        Method::POST,
        "/users/tokens/refresh",
        doc(t, "Refresh tokens").ok(201, Some("TokenRes")),
        refresh,
    )
    .route(
        Method::POST,
        "/users/tokens/revoke",
        doc(t, "Revoke a refresh session")
            .body("RevokeReq")
            .ok(204, None),
        revoke,
    )
    .route(
        Method::GET,
        "/users/tokens/refresh-tokens",
        doc(t, "List refresh sessions").ok(200, Some("RefreshTokensRes")),
        sessions,
    )
    .route(
        Method::POST,
        "/password/reset-request",
        doc(
            t,
            "E-mail a password-reset token (same answer for unknown addresses)",
        )
        .auth(Auth::Public)
        .body("PasswordResetRequestReq")
        .ok(201, None),
        reset_request,
    )
    .route(
        Method::PUT,
        "/password/reset",
        doc(t, "Set a new password with the e-mailed token (Bearer)")
            .body("PasswordResetReq")
            .ok(201, None),
        reset,
    )
    .route(
        Method::GET,
        "/users/profile",
        doc(t, "The caller's profile").ok(200, Some("UserRes")),
        profile,
    )
    .route(
        Method::GET,
        "/users/search",
        doc(t, "Search users")
            .query(crate::params::USERS)
            .ok(200, Some("UsersPage")),
        search,
    )
    .route(
        Method::PATCH,
        "/users/secret",
        doc(t, "Change own password")
            .body("SecretReq")
            .ok(200, Some("UserRes")),
        secret,
    )
    .route(
        Method::GET,
        "/users/{id}",
        doc(t, "View a user").ok(200, Some("UserRes")),
        view,
    )
    .route(
        Method::PATCH,
        "/users/{id}",
        doc(t, "Update names and metadata")
            .body("UserUpdateReq")
            .ok(200, Some("UserRes")),
        update,
    )
    .route(
        Method::DELETE,
        "/users/{id}",
        doc(t, "Delete (soft) a user").ok(204, None),
        delete,
    )
    .route(
        Method::PATCH,
        "/users/{id}/username",
        doc(t, "Change username")
            .body("UsernameReq")
            .ok(200, Some("UserRes")),
        username,
    )
    .route(
        Method::PATCH,
        "/users/{id}/email",
        doc(t, "Change e-mail")
            .body("EmailReq")
            .ok(200, Some("UserRes")),
        email,
    )
    .route(
        Method::PATCH,
        "/users/{id}/tags",
        doc(t, "Replace tags")
            .body("TagsReq")
            .ok(200, Some("UserRes")),
        tags,
    )
    .route(
        Method::PATCH,
        "/users/{id}/picture",
        doc(t, "Change profile picture")
            .body("PictureReq")
            .ok(200, Some("UserRes")),
        picture,
    )
    .route(
        Method::PATCH,
        "/users/{id}/role",
        doc(t, "Change role (super-admin)")
            .body("RoleReq")
            .ok(200, Some("UserRes")),
        role,
    )
    .route(
        Method::POST,
        "/users/{id}/enable",
        doc(t, "Enable a user").ok(200, Some("UserRes")),
        enable,
    )
    .route(
        Method::POST,
        "/users/{id}/disable",
        doc(t, "Disable a user").ok(200, Some("UserRes")),
        disable,
    )
}

fn ok_user(u: &switchyard_domain::User) -> Response {
    Json(convert::user(u)).into_response()
}

async fn register(
    State(s): State<AppState>,
    LenientAuth(c): LenientAuth,
    AppJson(r): AppJson<api::UserReq>,
) -> ApiResult<Response> {
    let u = s
        .core
        .register(
            c.as_ref(),
            NewUser {
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                username: r.credentials.username,
                password: r.credentials.secret,
                tags: r.tags,
                metadata: r.metadata,
                private_metadata: r.private_metadata,
                profile_picture: r.profile_picture,
                status: r.status,
                role: r.role,
            },
        )
        .await?;
    Ok(created(format!("/users/{}", u.id), &convert::user(&u)))
}

async fn list(Ctx(s, c): Ctx, Q(q): Q) -> ApiResult<Response> {
    Ok(Json(convert::users(s.core.list_users(&c, &q).await?)).into_response())
}

async fn search(Ctx(s, c): Ctx, Q(q): Q) -> ApiResult<Response> {
    let p = s.core.search_users(&c, &q).await?;
    Ok(Json(api::UsersPage {
        limit: p.limit,
        offset: p.offset,
        total: p.total,
        users: p.items.iter().map(convert::user_public).collect(),
    })
    .into_response())
}

fn tokens(p: switchyard_core::TokenPair) -> api::TokenRes {
    api::TokenRes {
        access_token: p.access_token,
        refresh_token: p.refresh_token,
        access_type: String::new(),
    }
}

async fn issue(
    State(s): State<AppState>,
    parts: axum::http::request::Parts,
    AppJson(r): AppJson<api::TokenReq>,
) -> ApiResult<Response> {
    // Guessing passwords is throttled per source and per account: only failures count,
    // so a user who knows their password is never slowed down by their own logins.
    let ip = crate::source_ip(&parts);
    let account = r.username.trim().to_lowercase();
    crate::over_limit(s.login_sources.peek(ip, "login"))?;
    crate::over_limit(s.login_accounts.peek(account.clone(), "login"))?;
    match s
        .core
        .issue_token(&r.username, &r.password, &r.description)
        .await
    {
        Ok(p) => Ok((StatusCode::CREATED, Json(tokens(p))).into_response()),
        Err(
            e @ (switchyard_core::Error::Unauthenticated(_) | switchyard_core::Error::NotFound),
        ) => {
            let _ = s.login_sources.check(ip, "login");
            let _ = s.login_accounts.check(account, "login");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn refresh(State(s): State<AppState>, req: axum::extract::Request) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    // Failed refreshes count against the source like failed logins (their own bucket).
    let ip = crate::source_ip(&parts);
    crate::over_limit(s.login_sources.peek(ip, "refresh"))?;
    let token = crate::extract::bearer(&parts).ok_or(switchyard_core::Error::Unauthenticated(
        "missing or invalid bearer user token",
    ))?;
    match s.core.refresh_token(token).await {
        Ok(p) => Ok((StatusCode::CREATED, Json(tokens(p))).into_response()),
        Err(e @ switchyard_core::Error::Unauthenticated(_)) => {
            let _ = s.login_sources.check(ip, "refresh");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn reset_request(
    State(s): State<AppState>,
    parts: axum::http::request::Parts,
    AppJson(r): AppJson<api::PasswordResetRequestReq>,
) -> ApiResult<Response> {
    // Every request counts, per source and per address: each one may send an e-mail.
    let ip = crate::source_ip(&parts);
    crate::over_limit(s.login_sources.check(ip, "reset"))?;
    crate::over_limit(
        s.login_accounts
            .check(r.email.trim().to_lowercase(), "reset"),
    )?;
    s.core.request_password_reset(&r.email).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"msg": "Email with reset link is sent"})),
    )
        .into_response())
}

async fn reset(State(s): State<AppState>, req: axum::extract::Request) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let ip = crate::source_ip(&parts);
    crate::over_limit(s.login_sources.peek(ip, "reset-token"))?;
    let token = crate::extract::bearer(&parts)
        .ok_or(switchyard_core::Error::Unauthenticated(
            "missing reset token",
        ))?
        .to_string();
    let req = axum::extract::Request::from_parts(parts, body);
    let AppJson(r) =
        <AppJson<api::PasswordResetReq> as axum::extract::FromRequest<AppState>>::from_request(
            req, &s,
        )
        .await?;
    match s
        .core
        .reset_password(&token, &r.password, &r.confirm_password)
        .await
    {
        Ok(()) => Ok((StatusCode::CREATED, Json(serde_json::json!({}))).into_response()),
        Err(e @ switchyard_core::Error::Unauthenticated(_)) => {
            let _ = s.login_sources.check(ip, "reset-token");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke(Ctx(s, c): Ctx, AppJson(r): AppJson<api::RevokeReq>) -> ApiResult<Response> {
    s.core.revoke_token(&c, &r.token_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn sessions(Ctx(s, c): Ctx) -> ApiResult<Response> {
    let list = s.core.list_sessions(&c).await?;
    Ok(Json(api::RefreshTokensRes {
        refresh_tokens: list
            .into_iter()
            .map(|x| api::RefreshTokenInfo {
                id: x.id.to_string(),
                description: x.description,
            })
            .collect(),
    })
    .into_response())
}

async fn profile(Scoped(s, c): Scoped) -> ApiResult<Response> {
    Ok(ok_user(&s.core.profile(&c).await?))
}

async fn secret(Ctx(s, c): Ctx, AppJson(r): AppJson<api::SecretReq>) -> ApiResult<Response> {
    Ok(ok_user(
        &s.core
            .update_secret(&c, &r.old_secret, &r.new_secret)
            .await?,
    ))
}

async fn view(Ctx(s, c): Ctx, Id(p): Id) -> ApiResult<Response> {
    Ok(ok_user(&s.core.view_user(&c, p).await?))
}

async fn update(
    Ctx(s, c): Ctx,
    Id(p): Id,
    AppJson(r): AppJson<api::UserUpdateReq>,
) -> ApiResult<Response> {
    let up = UserUpdate {
        first_name: r.first_name,
        last_name: r.last_name,
        metadata: r.metadata,
        private_metadata: r.private_metadata,
    };
    Ok(ok_user(&s.core.update_user(&c, p, up).await?))
}

async fn username(
    Ctx(s, c): Ctx,
    Id(p): Id,
    AppJson(r): AppJson<api::UsernameReq>,
) -> ApiResult<Response> {
    Ok(ok_user(&s.core.update_username(&c, p, r.username).await?))
}

async fn email(
    Ctx(s, c): Ctx,
    Id(p): Id,
    AppJson(r): AppJson<api::EmailReq>,
) -> ApiResult<Response> {
    Ok(ok_user(&s.core.update_email(&c, p, r.email).await?))
}

async fn tags(Ctx(s, c): Ctx, Id(p): Id, AppJson(r): AppJson<api::TagsReq>) -> ApiResult<Response> {
    Ok(ok_user(&s.core.update_user_tags(&c, p, r.tags).await?))
}

async fn picture(
    Ctx(s, c): Ctx,
    Id(p): Id,
    AppJson(r): AppJson<api::PictureReq>,
) -> ApiResult<Response> {
    Ok(ok_user(
        &s.core.update_picture(&c, p, r.profile_picture).await?,
    ))
}

async fn role(Ctx(s, c): Ctx, Id(p): Id, AppJson(r): AppJson<api::RoleReq>) -> ApiResult<Response> {
    Ok(ok_user(&s.core.update_role(&c, p, &r.role).await?))
}

async fn enable(Ctx(s, c): Ctx, Id(p): Id) -> ApiResult<Response> {
    Ok(ok_user(
        &s.core.set_user_status(&c, p, Status::Enabled).await?,
    ))
}

async fn disable(Ctx(s, c): Ctx, Id(p): Id) -> ApiResult<Response> {
    Ok(ok_user(
        &s.core.set_user_status(&c, p, Status::Disabled).await?,
    ))
}

async fn delete(Ctx(s, c): Ctx, Id(p): Id) -> ApiResult<Response> {
    s.core.set_user_status(&c, p, Status::Deleted).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
