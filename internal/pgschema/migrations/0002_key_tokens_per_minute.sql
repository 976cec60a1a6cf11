-- A key's own tokens per minute, like its requests per minute.

-- tokens per minute; NULL uses the gateway's rate_limit default_tpm
ALTER TABLE api_keys ADD COLUMN rate_limit_tpm integer CHECK (rate_limit_tpm > 0);

-- A change of it reaches every gateway's key cache like the other limits.
DROP TRIGGER api_keys_notify_update ON api_keys;
CREATE TRIGGER api_keys_notify_update
	AFTER UPDATE OF key_hash, name, tenant_id, scopes, rate_limit_rpm, rate_limit_tpm, quota_tokens_daily, enabled, expires_at ON api_keys
	FOR EACH ROW EXECUTE FUNCTION xjp_api_keys_notify();
