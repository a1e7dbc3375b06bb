// Runs in the page. The bundler replaces process.env.COMPOSITE_PUBLIC_KEY with the key's text.
import { Composite } from "@composite/sdk";

const composite = new Composite({ apiKey: process.env.COMPOSITE_PUBLIC_KEY, baseUrl: process.env.COMPOSITE_API_URL });
// Queued and sent in batches; what is still queued when the page is hidden goes with keepalive.
composite.page(document.title, { path: location.pathname });
