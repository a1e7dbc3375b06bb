-- Plans (issue 16): a project's plan sets its keys' default limits (src/policy/plans.ts). Every
-- project starts on, and every existing project stays on, the default plan "free" (API.md §3's
-- table). `plan_limits` holds a custom plan's limits as JSON ({"public":{"rate","burst","daily"},
-- "secret":{…}}); named plans leave it NULL (their limits are in the code). `plan_revision` grows by
-- one with each change: a key's object takes a plan only from a newer revision than it holds, so
-- changes that race land in order.
ALTER TABLE projects ADD COLUMN plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise', 'custom'));
ALTER TABLE projects ADD COLUMN plan_limits TEXT;
ALTER TABLE projects ADD COLUMN plan_revision INTEGER NOT NULL DEFAULT 0;

-- The plan as each key's object last took it (part of the key's versioned state, recorded like the
-- rest of it): JSON {"name","revision","limits":{"rate","burst","daily"}}, the plan's defaults for the
-- key's type. NULL for keys from before plans: the default plan, revision 0.
ALTER TABLE api_keys ADD COLUMN plan TEXT;
