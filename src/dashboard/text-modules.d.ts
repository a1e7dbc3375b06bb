// Files that wrangler.jsonc's `rules` bundle as text (the dashboard's chart library, served by assets.ts).
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.min.css" {
  const text: string;
  export default text;
}
