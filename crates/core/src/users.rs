//! Users and tokens. Passwords are Argon2id-hashed off the async runtime; access
//! tokens are verified without a database query (signature, expiry against the
//! injected clock, and the in-memory revocation cache).

use serde_json::json;
use subtle::ConstantTimeEq;
use switchyard_auth::{TokenKind, password};
use switchyard_domain::{
    Metadata, Page, QueryParams, RefreshSession, Status, User, UserQuery, UserRole, UserWithSecret,
    validate,
};
use switchyard_store::StoreError;
use uuid::Uuid;

use crate::{Caller, Core, Error, Result, entity::patch};

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub username: String,
    pub password: String,
    pub tags: Vec<String>,
    pub metadata: Metadata,
    pub private_metadata: Metadata,
    pub profile_picture: String,
    pub status: Option<String>,
    pub role: Option<String>,
}

/// Fields a PATCH may change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub metadata: Option<Metadata>,
    pub private_metadata: Option<Metadata>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound,
        other => other.into(),
    }
}

impl Core {
    async fn hash_password(&self, p: String) -> Result<String> {
        self.hashing
            .run(move || password::hash(&p))
            .await?
            .map_err(Error::Internal)
    }

    async fn verify_password(&self, p: String, h: String) -> Result<bool> {
        self.hashing.run(move || password::verify(&p, &h)).await
    }

    /// The rule new passwords must match (`MG_USERS_PASS_REGEX`), as a regular
    /// expression, for the API description.
    pub fn password_pattern(&self) -> String {
        match &self.cfg.password_regex {
            Some(r) => r.as_str().to_string(),
            None => "^[\\s\\S]{8,}$".into(),
        }
    }

    fn check_password(&self, p: &str) -> Result<()> {
        if p.is_empty() {
            return Err(Error::InvalidInput("missing password".into()));
        }
        let ok = match &self.cfg.password_regex {
            Some(r) => r.is_match(p),
            None => p.chars().count() >= 8,
        };
        if !ok {
            return Err(Error::InvalidInput(
                "password does not meet the requirements".into(),
            ));
        }
        Ok(())
    }

    /// `POST /users`: self-registration when allowed, otherwise super-admin only.
    pub async fn register(&self, caller: Option<&Caller>, n: NewUser) -> Result<User> {
        let by_admin = caller.is_some_and(Caller::is_super_admin);
        if !self.cfg.allow_self_register && !by_admin {
            return Err(match caller {
                None => Error::Unauthenticated("missing or invalid bearer user token"),
                Some(_) => Error::Forbidden("not authorized to perform admin action"),
            });
        }
        if n.first_name.trim().is_empty() {
            return Err(Error::InvalidInput("missing first name".into()));
        }
        if n.last_name.trim().is_empty() {
            return Err(Error::InvalidInput("missing last name".into()));
        }
        validate::name(&n.first_name)?;
        validate::tags(&n.tags)?;
        validate::name(&n.last_name)?;
        validate::email(&n.email)?;
        validate::username(&n.username)?;
        self.check_password(&n.password)?;
        let status = Status::parse_for_create(n.status.as_deref())?;
        let role = match n.role.as_deref() {
            None | Some("") => UserRole::User,
            Some(r) => {
                let r = UserRole::parse(r)?;
                if r == UserRole::Admin && !by_admin {
                    return Err(Error::Forbidden("not authorized to perform admin action"));
                }
                r
            }
        };
        let hash = self.hash_password(n.password).await?;
        let user = User {
            id: Uuid::new_v4(),
            first_name: n.first_name,
            last_name: n.last_name,
            email: n.email,
            username: n.username,
            tags: n.tags,
            metadata: n.metadata,
            private_metadata: n.private_metadata,
            profile_picture: n.profile_picture,
            status,
            role,
            created_at: self.now(),
            updated_at: None,
            updated_by: None,
            verified_at: None,
        };
        self.store
            .create_user(&UserWithSecret {
                user: user.clone(),
                password_hash: hash,
            })
            .await?;
        self.emit("user", "create", user.id, None, json!({})).await;
        Ok(user)
    }

    /// Creates the super-admin if no user has that username yet. Returns the user and
    /// whether it was created now.
    pub async fn seed_admin(
        &self,
        username: &str,
        email: &str,
        password: &str,
        first: &str,
        last: &str,
    ) -> Result<(User, bool)> {
        match self.store.user_by_login(username).await {
            Ok(u) => return Ok((u.user, false)),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.now();
        let user = User {
            id: Uuid::new_v4(),
            first_name: first.into(),
            last_name: last.into(),
            email: email.into(),
            username: username.into(),
            tags: vec![],
            metadata: Metadata::new(),
            private_metadata: Metadata::new(),
            profile_picture: String::new(),
            status: Status::Enabled,
            role: UserRole::Admin,
            created_at: now,
            updated_at: None,
            updated_by: None,
            verified_at: Some(now),
        };
        let hash = self.hash_password(password.to_string()).await?;
        match self
            .store
            .create_user(&UserWithSecret {
                user: user.clone(),
                password_hash: hash,
            })
            .await
        {
            Ok(()) => Ok((user, true)),
            // Another node, started at the same instant, seeded it first: that is the
            // admin (nodes of one deployment share their settings).
            Err(StoreError::Conflict { .. }) => {
                let u = self.store.user_by_login(username).await?;
                Ok((u.user, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn pair(&self, user: &User, session: Uuid) -> Result<TokenPair> {
        self.pair_with(user, session, None)
    }

    /// A pair whose refresh token carries refresh id `rid` (none at login).
    fn pair_with(&self, user: &User, session: Uuid, rid: Option<&str>) -> Result<TokenPair> {
        let now = self.now();
        let verified = user.verified_at.is_some();
        let role = user.role.claim();
        Ok(TokenPair {
            access_token: self
                .tokens
                .issue(
                    TokenKind::Access,
                    user.id,
                    role,
                    verified,
                    Some(session),
                    now,
                )
                .map_err(Error::Internal)?,
            refresh_token: self
                .tokens
                .issue_refresh(
                    TokenKind::Refresh,
                    user.id,
                    role,
                    verified,
                    Some(session),
                    rid,
                    now,
                )
                .map_err(Error::Internal)?,
        })
    }

    /// `POST /users/tokens/issue` by username or e-mail.
    pub async fn issue_token(
        &self,
        login: &str,
        password: &str,
        description: &str,
    ) -> Result<TokenPair> {
        if login.is_empty() {
            return Err(Error::InvalidInput("missing username / email".into()));
        }
        if password.is_empty() {
            return Err(Error::InvalidInput("missing password".into()));
        }
        validate::text(description)?;
        let u = self.store.user_by_login(login).await.map_err(not_found)?;
        if !self
            .verify_password(password.to_string(), u.password_hash.clone())
            .await?
        {
            return Err(Error::Unauthenticated("invalid credentials"));
        }
        if u.user.status != Status::Enabled {
            return Err(Error::Unauthenticated("invalid credentials"));
        }
        let now = self.now();
        let session = RefreshSession {
            id: Uuid::new_v4(),
            user_id: u.user.id,
            description: description.to_string(),
            created_at: now,
            expires_at: now + self.tokens.refresh_ttl,
        };
        self.store.create_session(&session).await?;
        self.pair(&u.user, session.id)
    }

    /// `POST /users/tokens/refresh`: a live refresh session yields a new pair.
    pub async fn refresh_token(&self, refresh: &str) -> Result<TokenPair> {
        let c = self
            .tokens
            .verify(refresh, TokenKind::Refresh, self.now())
            .map_err(|_| {
                Error::Unauthenticated("failed to perform authentication over the entity")
            })?;
        let user_id =
            Uuid::parse_str(&c.sub).map_err(|_| Error::Unauthenticated("invalid token"))?;
        let sid = c
            .jti
            .as_deref()
            .and_then(|j| Uuid::parse_str(j).ok())
            .ok_or(Error::Unauthenticated("invalid token"))?;
        let s = self.store.session(sid).await.map_err(|e| match e {
            StoreError::NotFound => Error::Unauthenticated("refresh token revoked"),
            other => other.into(),
        })?;
        if s.user_id != user_id || s.expires_at <= self.now() {
            return Err(Error::Unauthenticated("refresh token revoked"));
        }
        let u = self
            .store
            .user(user_id)
            .await
            .map_err(|_| Error::Unauthenticated("invalid token"))?;
        if u.user.status != Status::Enabled {
            return Err(Error::Unauthenticated(
                "failed to perform authentication over the entity",
            ));
        }
        // Each refresh token works once: the session moves to a new refresh id. A
        // token presented again (stolen and replayed, or replayed by its owner) ends
        // the session, so whoever holds the newer one is logged out too.
        let next = Uuid::new_v4().simple().to_string();
        let presented = c.rid.as_deref().unwrap_or("");
        if !self.store.rotate_session(sid, presented, &next).await? {
            let _ = self.store.delete_session(user_id, sid).await;
            if let Ok(mut r) = self.revoked.write() {
                r.sessions.insert(sid);
            }
            self.emit("session", "revoke", sid, None, json!({"user": user_id}))
                .await;
            return Err(Error::Unauthenticated("refresh token reused"));
        }
        self.pair_with(&u.user, sid, Some(&next))
    }

    /// Verifies an access token: no database query.
    pub fn authenticate(&self, token: &str) -> Result<Caller> {
        let unauth = || Error::Unauthenticated("failed to perform authentication over the entity");
        let now = self.now();
        // A token whose signature was already checked skips the check (bounded memory;
        // expiry and revocation are still checked on every use).
        let cached = self
            .verified_tokens
            .read()
            .ok()
            .and_then(|m| m.get(token).copied());
        let (caller, session, exp) = match cached {
            Some(v) => v,
            None => {
                // An access token, or an API key (whose id is its jti, revoked like a
                // session).
                let c = match self.tokens.verify(token, TokenKind::Access, now) {
                    Err(switchyard_auth::TokenError::WrongKind) => self
                        .tokens
                        .verify(token, TokenKind::ApiKey, now)
                        .map_err(|_| unauth())?,
                    other => other.map_err(|_| unauth())?,
                };
                let user = Uuid::parse_str(&c.sub).map_err(|_| unauth())?;
                let session = c.jti.as_deref().and_then(|j| Uuid::parse_str(j).ok());
                let role = UserRole::from_claim(c.role).ok_or_else(unauth)?;
                let caller = Caller {
                    user,
                    role,
                    verified: c.verified,
                    pat: None,
                    via_key: c.kind == TokenKind::ApiKey as u8,
                };
                if let Ok(mut m) = self.verified_tokens.write() {
                    if m.len() >= crate::VERIFIED_TOKENS_MAX {
                        m.clear();
                    }
                    m.insert(token.to_string(), (caller, session, c.exp));
                }
                (caller, session, c.exp)
            }
        };
        if exp <= now.unix_timestamp() || self.user_revoked(caller.user, session) {
            return Err(unauth());
        }
        Ok(caller)
    }

    /// The unverified-user gate (contract §1.4), applied by routes that need it.
    pub fn require_verified(&self, c: &Caller) -> Result<()> {
        if !self.cfg.allow_unverified && !c.verified && !c.is_super_admin() {
            return Err(Error::Unauthenticated("email not verified"));
        }
        Ok(())
    }

    pub async fn revoke_token(&self, caller: &Caller, token_id: &str) -> Result<()> {
        if token_id.is_empty() {
            return Err(Error::InvalidInput("missing entity id".into()));
        }
        let sid = validate::parse_id(token_id)?;
        self.store
            .delete_session(caller.user, sid)
            .await
            .map_err(not_found)?;
        self.emit("session", "revoke", sid, None, json!({"user": caller.user}))
            .await;
        Ok(())
    }

    pub async fn list_sessions(&self, caller: &Caller) -> Result<Vec<RefreshSession>> {
        Ok(self.store.list_sessions(caller.user, self.now()).await?)
    }

    pub async fn profile(&self, caller: &Caller) -> Result<User> {
        self.scope_check(
            caller,
            switchyard_domain::ScopeEntity::Users,
            Some(switchyard_domain::ScopeOp::Read),
            None,
            Some(caller.user),
        )
        .await?;
        Ok(self.store.user(caller.user).await.map_err(not_found)?.user)
    }

    fn self_or_admin(caller: &Caller, id: Uuid) -> Result<()> {
        if caller.user == id || caller.is_super_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "failed to perform authorization over the entity",
            ))
        }
    }

    pub async fn view_user(&self, caller: &Caller, id: Uuid) -> Result<User> {
        Self::self_or_admin(caller, id)?;
        Ok(self.store.user(id).await.map_err(not_found)?.user)
    }

    pub async fn list_users(&self, caller: &Caller, q: &QueryParams) -> Result<Page<User>> {
        if !caller.is_super_admin() {
            return Err(Error::Forbidden("not authorized to perform admin action"));
        }
        let uq = q.user_query(true)?;
        Ok(self.store.list_users(&uq).await?)
    }

    /// `GET /users/search`: any user may look others up by name (to invite them).
    pub async fn search_users(&self, _caller: &Caller, q: &QueryParams) -> Result<Page<User>> {
        let mut uq: UserQuery = q.user_query(true)?;
        if uq.username.is_none()
            && uq.first_name.is_none()
            && uq.last_name.is_none()
            && uq.page.id.is_none()
        {
            return Err(Error::InvalidInput("search query must not be empty".into()));
        }
        if uq.username.as_ref().is_some_and(|u| u.len() < 3)
            || uq.page.id.as_ref().is_some_and(|u| u.len() < 3)
        {
            return Err(Error::InvalidInput(
                "search query must be at least 3 characters".into(),
            ));
        }
        uq.email = None;
        Ok(self.store.list_users(&uq).await?)
    }

    async fn modify_user(
        &self,
        caller: &Caller,
        id: Uuid,
        f: impl FnOnce(&mut User) -> Result<()>,
    ) -> Result<User> {
        Self::self_or_admin(caller, id)?;
        let mut u = self.store.user(id).await.map_err(not_found)?.user;
        f(&mut u)?;
        u.updated_at = Some(self.now());
        u.updated_by = Some(caller.user);
        self.store.update_user(&u).await?;
        self.emit("user", "update", u.id, None, json!({})).await;
        Ok(u)
    }

    pub async fn update_user(&self, caller: &Caller, id: Uuid, up: UserUpdate) -> Result<User> {
        if let Some(n) = &up.first_name {
            validate::name(n)?;
        }
        if let Some(n) = &up.last_name {
            validate::name(n)?;
        }
        self.modify_user(caller, id, |u| {
            patch(&mut u.first_name, up.first_name);
            patch(&mut u.last_name, up.last_name);
            patch(&mut u.metadata, up.metadata);
            patch(&mut u.private_metadata, up.private_metadata);
            Ok(())
        })
        .await
    }

    pub async fn update_username(
        &self,
        caller: &Caller,
        id: Uuid,
        username: String,
    ) -> Result<User> {
        validate::username(&username)?;
        self.modify_user(caller, id, |u| {
            u.username = username;
            Ok(())
        })
        .await
    }

    pub async fn update_email(&self, caller: &Caller, id: Uuid, email: String) -> Result<User> {
        validate::email(&email)?;
        self.modify_user(caller, id, |u| {
            if u.email != email {
                u.email = email;
                u.verified_at = None;
            }
            Ok(())
        })
        .await
    }

    pub async fn update_user_tags(
        &self,
        caller: &Caller,
        id: Uuid,
        tags: Vec<String>,
    ) -> Result<User> {
        validate::tags(&tags)?;
        self.modify_user(caller, id, |u| {
            u.tags = tags;
            Ok(())
        })
        .await
    }

    pub async fn update_picture(&self, caller: &Caller, id: Uuid, pic: String) -> Result<User> {
        self.modify_user(caller, id, |u| {
            u.profile_picture = pic;
            Ok(())
        })
        .await
    }

    pub async fn update_role(&self, caller: &Caller, id: Uuid, role: &str) -> Result<User> {
        if !caller.is_super_admin() {
            return Err(Error::Forbidden("not authorized to perform admin action"));
        }
        let role = UserRole::parse(role)?;
        let before = self.store.user(id).await.map_err(not_found)?.user.role;
        let u = self
            .modify_user(caller, id, |u| {
                u.role = role;
                Ok(())
            })
            .await?;
        if before != role {
            // API keys carry the role they were issued with.
            self.revoke_credentials(id, false).await?;
        }
        Ok(u)
    }

    pub async fn update_secret(&self, caller: &Caller, old: &str, new: &str) -> Result<User> {
        if old.is_empty() || new.is_empty() {
            return Err(Error::InvalidInput("missing password".into()));
        }
        self.check_password(new)?;
        let u = self.store.user(caller.user).await.map_err(not_found)?;
        if !self
            .verify_password(old.to_string(), u.password_hash.clone())
            .await?
        {
            return Err(Error::Unauthenticated("invalid credentials"));
        }
        let hash = self.hash_password(new.to_string()).await?;
        // Every session ends: tokens issued before the change stop working.
        self.replace_password(caller.user, &hash).await?;
        let mut user = u.user;
        user.updated_at = Some(self.now());
        Ok(user)
    }

    /// Sets a new password hash, ending every session of the user (here at once, on
    /// other nodes when the events arrive).
    async fn replace_password(&self, user: Uuid, hash: &str) -> Result<()> {
        let ended = self.store.update_password(user, hash, self.now()).await?;
        self.end_sessions(user, ended).await;
        Ok(())
    }

    /// Applies the end of these refresh sessions (their access tokens stop working).
    async fn end_sessions(&self, user: Uuid, ended: Vec<Uuid>) {
        if let Ok(mut r) = self.revoked.write() {
            r.sessions.extend(ended.iter().copied());
        }
        for sid in ended {
            self.emit("session", "revoke", sid, None, json!({"user": user}))
                .await;
        }
    }

    /// Revokes every API key and PAT of the user (a reset after an account takeover
    /// leaves the intruder nothing; a role change must not outlive in a key's claims).
    async fn revoke_credentials(&self, user: Uuid, pats_too: bool) -> Result<()> {
        for id in self.store.revoke_user_keys(user).await? {
            self.emit("key", "revoke", id, None, json!({"issuer_id": user}))
                .await;
        }
        if pats_too {
            for id in self.store.revoke_user_pats(user, self.now()).await? {
                self.emit("pat", "revoke", id, None, json!({"user_id": user}))
                    .await;
            }
        }
        Ok(())
    }

    /// `POST /password/reset-request`: e-mails a reset token to the address when a user
    /// has it. The answer is the same for unknown addresses (no account oracle).
    pub async fn request_password_reset(&self, email: &str) -> Result<()> {
        let Some(mailer) = self.cfg.mailer.clone() else {
            return Err(Error::Unavailable(
                "password reset by e-mail is not configured on this server",
            ));
        };
        let email = email.trim();
        // A malformed address is told apart (it says nothing about accounts).
        switchyard_domain::validate::email(email).map_err(Error::from)?;
        let u = match self.store.user_by_login(email).await {
            Ok(u)
                if u.user.email.eq_ignore_ascii_case(email) && u.user.status == Status::Enabled =>
            {
                u
            }
            Ok(_) | Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let token = self
            .tokens
            .issue_recovery(
                u.user.id,
                u.user.role.claim(),
                &password_tag(&u.password_hash),
                self.now(),
                self.cfg.reset_ttl,
            )
            .map_err(Error::Internal)?;
        let minutes = self.cfg.reset_ttl.whole_minutes();
        let how = if self.cfg.reset_url.is_empty() {
            format!("Use this reset token within {minutes} minutes:\r\n\r\n{token}\r\n")
        } else {
            format!(
                "Open this link within {minutes} minutes to choose a new password:\r\n\r\n{}?token={token}\r\n",
                self.cfg.reset_url
            )
        };
        let body = format!(
            "Hello {},\r\n\r\nSomeone asked to reset the password of your Switchyard account \
             ({}). {how}\r\nIf it was not you, ignore this e-mail: your password stays as it is.\r\n",
            u.user.first_name, u.user.username
        );
        // Sent in the background: the answer does not tell, by its timing, whether the
        // address has an account.
        let to = u.user.email.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer
                .send(&to, "Reset your Switchyard password", &body)
                .await
            {
                tracing::warn!(error = %e, "password reset e-mail not sent");
            }
        });
        Ok(())
    }

    /// `PUT /password/reset` with the e-mailed token: sets the new password (which must
    /// match its confirmation and the password rules) and ends every session. The token
    /// works once: it names the password it replaces.
    pub async fn reset_password(&self, token: &str, password: &str, confirm: &str) -> Result<()> {
        let bad = || Error::Unauthenticated("invalid or expired reset token");
        let c = self
            .tokens
            .verify(token, TokenKind::Recovery, self.now())
            .map_err(|_| bad())?;
        let user = Uuid::parse_str(&c.sub).map_err(|_| bad())?;
        if password.is_empty() {
            return Err(Error::InvalidInput("missing password".into()));
        }
        if password != confirm {
            return Err(Error::InvalidInput(
                "password and confirm_password do not match".into(),
            ));
        }
        self.check_password(password)?;
        let u = self.store.user(user).await.map_err(|_| bad())?;
        let tag = password_tag(&u.password_hash);
        let same: bool = c
            .rid
            .as_deref()
            .unwrap_or("")
            .as_bytes()
            .ct_eq(tag.as_bytes())
            .into();
        if !same || u.user.status != Status::Enabled {
            return Err(bad());
        }
        let hash = self.hash_password(password.to_string()).await?;
        // Only while the password is still the one the token names: spent once, also
        // when two resets race.
        let ended = self
            .store
            .replace_password_hash(user, &u.password_hash, &hash, self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => bad(),
                other => other.into(),
            })?;
        self.end_sessions(user, ended).await;
        self.revoke_credentials(user, true).await
    }

    pub async fn set_user_status(&self, caller: &Caller, id: Uuid, status: Status) -> Result<User> {
        Self::self_or_admin(caller, id)?;
        let mut u = self.store.user(id).await.map_err(not_found)?.user;
        if u.status == Status::Deleted {
            return Err(Error::NotFound);
        }
        if u.status == status {
            return Err(Error::Conflict("status already assigned"));
        }
        u.status = status;
        u.updated_at = Some(self.now());
        u.updated_by = Some(caller.user);
        self.store.update_user(&u).await?;
        let op = match status {
            Status::Enabled => "enable",
            Status::Deleted => "delete",
            _ => "disable",
        };
        // Apply locally at once so this node refuses the tokens before the event loops
        // back; other nodes apply the event.
        if let Ok(mut r) = self.revoked.write() {
            if status == Status::Enabled {
                r.users.remove(&id);
            } else {
                r.users.insert(id);
            }
        }
        self.emit("user", op, id, None, json!({})).await;
        Ok(u)
    }
}

/// A short digest of a password hash: a reset token carries the one it may replace.
fn password_tag(hash: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(hash.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}
