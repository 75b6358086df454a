-- Tokens may expire and be revoked; neither kind is accepted, and both stay listed.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN revoked_at timestamptz;
