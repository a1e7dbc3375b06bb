-- Dashboard sessions end for every browser at once (issue 14): a session cookie carries the
-- epoch of its key as it was at sign-in, signed; signing out bumps the key's epoch, so every
-- cookie issued before — copies included — stops working on its next page. No row = epoch 0.
-- Holds a key id and a counter only: nothing that identifies a browser, never a cookie.
CREATE TABLE dashboard_session_epochs (
  key_id  TEXT PRIMARY KEY,      -- key_…
  epoch   INTEGER NOT NULL       -- bumped by each sign-out
);
