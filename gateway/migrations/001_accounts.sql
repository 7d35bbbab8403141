-- Accounts, gateway keys, provider keys, refresh-token families and revoked access tokens.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    plan          text NOT NULL DEFAULT 'free',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_unique UNIQUE (email)
);

-- Gateway keys (gw_...): only a SHA-256 hash and a display prefix are stored.
CREATE TABLE gateway_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    key_hash     bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX gateway_keys_user ON gateway_keys (user_id, created_at);
-- Every gateway process polls this index for fresh revocations.
CREATE INDEX gateway_keys_revoked_at ON gateway_keys (revoked_at) WHERE revoked_at IS NOT NULL;

-- Users' own provider keys, AES-256-GCM encrypted under the master key named by key_id.
-- The associated data binds each ciphertext to (user_id, provider).
CREATE TABLE provider_keys (
    user_id          uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider         text NOT NULL,
    key_id           text NOT NULL,
    nonce            bytea NOT NULL,
    ciphertext       bytea NOT NULL,
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_verified_at timestamptz,
    PRIMARY KEY (user_id, provider)
);
CREATE INDEX provider_keys_key_id ON provider_keys (key_id);

-- A family is one login: every refresh token rotated out of it, and the access tokens issued with them.
CREATE TABLE refresh_families (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);

-- Opaque refresh tokens, stored as SHA-256 hashes; each one is usable once.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    family_id   uuid NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Access tokens revoked before they expire (logout), by jti; rows past expires_at are pruned.
CREATE TABLE revoked_access_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
