/**
 * The last chance to send in a browser: `pagehide` (the page is going away or into the
 * back-forward cache) and `visibilitychange` to hidden (a tab switched away, a phone locked — on
 * mobile often the last event a page ever sees). Nothing outside a browser.
 */
export function onPageHide(handler: () => void): () => void {
  const global = globalThis as { window?: EventTarget; document?: EventTarget & { visibilityState?: string } };
  const { window: win, document: doc } = global;
  if (typeof win?.addEventListener !== "function" || typeof doc?.addEventListener !== "function") return () => {};
  const onVisibility = () => {
    if (doc.visibilityState === "hidden") handler();
  };
  win.addEventListener("pagehide", handler);
  doc.addEventListener("visibilitychange", onVisibility);
  return () => {
    win.removeEventListener("pagehide", handler);
    doc.removeEventListener("visibilitychange", onVisibility);
  };
}
