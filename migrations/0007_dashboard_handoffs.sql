-- One-time handoffs of a just-created key from the dashboard's POST to the page that shows it
-- (post/redirect/get, issue 16). The key itself is never here: it travels only in the browser's
-- short-lived, encrypted and signed handoff cookie. This row is what makes that cookie good for
-- one showing: opening the page deletes it, so a reload or a copied cookie shows nothing.
CREATE TABLE dashboard_handoffs (
  id          TEXT PRIMARY KEY,   -- hnd_… (random), also inside the encrypted cookie
  key_id      TEXT NOT NULL,      -- the signed-in key whose session may open it
  expires_at  INTEGER NOT NULL    -- epoch ms; rows past it are deleted by the next creation
);
