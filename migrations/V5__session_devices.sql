-- Sessions a user can see and end. A session is a refresh-token family;
-- each token records the client it was issued to, so the family's newest
-- token says where the session was last used from.
ALTER TABLE refresh_tokens ADD COLUMN device TEXT CHECK (char_length(device) <= 200);
ALTER TABLE refresh_tokens ADD COLUMN client_address TEXT CHECK (char_length(client_address) <= 64);
