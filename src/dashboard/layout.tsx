/**
 * The frame of every dashboard page: header, navigation, the environment the session sees, and
 * the one stylesheet. Built for a 390 px phone up (no sideways scrolling: tables become cards
 * under 720 px, long ids wrap) and WCAG AA contrast (text at least 4.5:1 on its background; the
 * header's secondary text was 3.16:1). Keyboard: a skip link, visible focus on everything.
 */
import { raw } from "hono/html";
import type { Child, FC } from "hono/jsx";
import type { Viewer } from "../context";

const STYLE = `
  *, *::before, *::after { box-sizing: border-box; }
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  a { color: #1849a9; } a:hover { color: #0f2f6e; }
  :focus-visible { outline: 3px solid #f79009; outline-offset: 2px; }
  .skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
  .skip:focus { left: .5rem; }
  header { background: #1d2330; color: #fff; padding: .75rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
  header a { color: #fff; } header .who { color: #d0d5dd; overflow-wrap: anywhere; }
  header form { margin-left: auto; }
  main { max-width: 72rem; margin: 1rem auto; padding: 0 1rem; overflow-wrap: anywhere; }
  h1 { font-size: 1.6rem; margin: .5rem 0; } h2 { font-size: 1.25rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #d0d5dd; vertical-align: top; }
  .box { background: #fff; border: 1px solid #d0d5dd; border-radius: 6px; padding: 1rem; margin: 1rem 0; }
  .error { border-color: #b42318; background: #fef3f2; } .notice { border-color: #067647; background: #ecfdf3; }
  .warn { border-color: #b54708; background: #fffaeb; }
  .badge { display: inline-block; font-size: .85em; padding: .05rem .45rem; border-radius: 4px; background: #eaecf0; color: #1d2330; margin: 0 .25rem .1rem 0; }
  .badge.revoked, .badge.expired, .badge.unusual { background: #fee4e2; color: #7a271a; }
  .badge.due, .badge.expiring, .badge.in_use { background: #fef0c7; color: #7a2e0e; }
  .badge.safe_to_revoke, .badge.active { background: #dcfae6; color: #074d31; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  code.key { display: block; font-size: 1.05em; padding: .5rem; background: #f2f4f7; word-break: break-all; user-select: all; }
  label { display: block; margin: .6rem 0 .2rem; font-weight: 600; } fieldset { border: 1px solid #d0d5dd; margin: .75rem 0; }
  label.plain { font-weight: normal; }
  input[type=text], input[type=password], input[type=date], input:not([type]), select, textarea { width: 100%; max-width: 36rem; font: inherit; padding: .35rem; border: 1px solid #667085; border-radius: 4px; }
  button, .button { font: inherit; padding: .4rem .9rem; border-radius: 4px; border: 1px solid #1849a9; background: #1849a9; color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
  button.secondary { background: #fff; color: #1849a9; } button.danger { background: #b42318; border-color: #b42318; }
  header button { background: #fff; color: #1d2330; border-color: #fff; }
  .muted { color: #475467; }
  header .muted { color: #d0d5dd; }
  meter, progress { width: 10rem; max-width: 100%; }
  .env { padding: .5rem 1rem; background: #eff4ff; border-bottom: 1px solid #b2ccff; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 28rem), 1fr)); gap: 1rem; }
  .chart { min-height: 260px; width: 100%; overflow: hidden; }
  .steps { padding-left: 1.25rem; } .steps > li { margin-bottom: 1rem; }
  .steps .done { color: #067647; font-weight: 600; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
  dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
  .uplot .u-legend { font-size: .85em; }
  @media (max-width: 720px) {
    dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: .4rem; }
    table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
    table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
    table.cards tr { border: 1px solid #d0d5dd; border-radius: 6px; margin-bottom: .75rem; padding: .25rem 0; background: #fff; }
    table.cards td { border: 0; padding: .2rem .75rem; }
    table.cards td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
    header form { margin-left: 0; }
  }
`;

/** Which keys the session sees, and how to see the others (issue 16: live keys were just absent). */
const EnvironmentNote: FC<{ viewer: Viewer }> = ({ viewer }) => (
  <p class="env" data-environment={viewer.environment}>
    {viewer.environment === "test" ? (
      <>
        <strong>Test environment.</strong> You signed in with a test key, so you see and manage test keys only. To see live keys, sign
        out and sign in with a live secret key (<code>sk_live_…</code>).
      </>
    ) : (
      <>
        <strong>Live and test.</strong> You signed in with a live key: you see the project's live and test keys. A test key (
        <code>sk_test_…</code>) would see test keys only.
      </>
    )}
  </p>
);

export const Layout: FC<{ title: string; nonce: string; viewer?: Viewer; charts?: boolean; children?: Child }> = ({ title, nonce, viewer, charts, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{title} · Composite Analytics Dashboard</title>
      <style nonce={nonce}>{raw(STYLE)}</style>
      {charts && <link rel="stylesheet" href="/dashboard/assets/uplot.css" nonce={nonce} />}
    </head>
    <body>
      <a class="skip" href="#main">Skip to content</a>
      <header>
        <strong>Composite Analytics Dashboard</strong>
        {viewer && (
          <>
            <nav aria-label="Dashboard">
              Settings → <a href="/dashboard/keys">API Keys</a> · <a href="/dashboard/usage">Usage</a> · <a href="/dashboard/activity">Activity</a>
            </nav>
            <span class="who">
              project {viewer.projectId} · signed in with {viewer.display}
              {viewer.canChange ? "" : " (read only)"}
            </span>
            <form method="post" action="/dashboard/logout">
              <button type="submit">Sign out</button>
            </form>
          </>
        )}
      </header>
      {viewer && <EnvironmentNote viewer={viewer} />}
      <main id="main">{children}</main>
      {charts && <script src="/dashboard/assets/uplot.js" nonce={nonce}></script>}
      {viewer && <script src="/dashboard/assets/dashboard.js" nonce={nonce}></script>}
    </body>
  </html>
);
