-- API keys, usage logs and daily token counters.

-- One row per API key. Only a hash of the secret is stored: SHA-256 of the
-- key, or HMAC-SHA-256 keyed with the configured pepper.
CREATE TABLE api_keys (
	id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	key_hash           bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
	key_prefix         text NOT NULL,
	name               text NOT NULL DEFAULT '',
	tenant_id          text NOT NULL CHECK (tenant_id <> ''),
	-- public model names the key may use, as globs; empty means every model
	scopes             text[] NOT NULL DEFAULT '{}',
	-- requests per minute; NULL uses the gateway's rate_limit default_rpm
	rate_limit_rpm     integer CHECK (rate_limit_rpm > 0),
	-- tokens per UTC day; NULL means no quota
	quota_tokens_daily bigint CHECK (quota_tokens_daily > 0),
	enabled            boolean NOT NULL DEFAULT true,
	expires_at         timestamptz,
	created_at         timestamptz NOT NULL DEFAULT now(),
	last_used_at       timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
CREATE INDEX api_keys_prefix_idx ON api_keys (key_prefix);

-- Gateways cache keys in memory; every change that can affect whether or
-- how a key authenticates is announced on the channel xjp_api_keys with
-- the hex hash of the secret, so that every instance drops its copy at
-- once. last_used_at updates are not announced.
CREATE FUNCTION xjp_api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM pg_notify('xjp_api_keys', encode(OLD.key_hash, 'hex'));
	END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.key_hash <> OLD.key_hash) THEN
		PERFORM pg_notify('xjp_api_keys', encode(NEW.key_hash, 'hex'));
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_notify_insert_delete
	AFTER INSERT OR DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION xjp_api_keys_notify();
CREATE TRIGGER api_keys_notify_update
	AFTER UPDATE OF key_hash, name, tenant_id, scopes, rate_limit_rpm, quota_tokens_daily, enabled, expires_at ON api_keys
	FOR EACH ROW EXECUTE FUNCTION xjp_api_keys_notify();

-- One row per request that passed authentication, written in batches.
CREATE TABLE usage_logs (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	created_at        timestamptz NOT NULL,  -- when the request arrived
	request_id        text NOT NULL,
	tenant_id         text NOT NULL,
	key_id            uuid,
	model             text NOT NULL,         -- the public model name the client asked for
	provider          text NOT NULL,         -- the provider that served (or was last tried)
	upstream_model    text NOT NULL,
	dialect           text NOT NULL,         -- ingress dialect: openai, anthropic
	status            smallint NOT NULL,     -- HTTP status of the outcome
	prompt_tokens     integer NOT NULL,
	completion_tokens integer NOT NULL,
	cached_tokens     integer NOT NULL,
	latency_ms        integer NOT NULL,
	ttft_ms           integer,               -- time to the first token of a stream; NULL otherwise
	attempts          smallint NOT NULL
);
CREATE INDEX usage_logs_tenant_time_idx ON usage_logs (tenant_id, created_at);
CREATE INDEX usage_logs_key_time_idx ON usage_logs (key_id, created_at);

-- Tokens each key used per UTC day, shared by every gateway instance; the
-- daily quota is checked against it.
CREATE TABLE key_daily_tokens (
	key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	day    date NOT NULL,
	tokens bigint NOT NULL CHECK (tokens >= 0),
	PRIMARY KEY (key_id, day)
);
