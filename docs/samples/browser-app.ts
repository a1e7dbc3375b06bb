// Runs in the page. The bundler replaces process.env.COMPOSITE_PUBLIC_KEY with the key's text.
import { Composite } from "../../sdk/src/index.ts";

const composite = new Composite({ apiKey: process.env.COMPOSITE_PUBLIC_KEY, baseUrl: process.env.COMPOSITE_API_URL });
await composite.track("page_view", { path: location.pathname });
