-- Tokens may expire and be revoked; neither kind is accepted, and both stay
-- listed (RFC 3339 UTC text, as every time here).
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
