/**
 * Usage as charts (drawn in the browser by uPlot from the page's `#chart-data` block, assets.ts)
 * with the same numbers as a table for screen readers and no-script: a key's, or the project's.
 */
import { raw } from "hono/html";
import type { FC } from "hono/jsx";
import type { TrafficCount } from "../lifecycle";
import type { KeyName } from "./activity";
import { count, KeyLink, TodayAgainstQuota } from "./components";
import type { Unusual } from "./unusual";

export interface ChartSeries {
  unit: "day" | "minute";
  at: string[];
  requests: number[];
  rejected: number[];
  denied: number[];
}

export function chartSeries(unit: "day" | "minute", slots: readonly TrafficCount[]): ChartSeries {
  return {
    unit,
    at: slots.map((slot) => slot.at),
    requests: slots.map((slot) => slot.requests),
    rejected: slots.map((slot) => slot.rejected),
    denied: slots.map((slot) => slot.denied),
  };
}

/** Usage as two charts (30 days, the last hour) with the same numbers as a table for screen readers and no-script. */
export const UsageCharts: FC<{ days: TrafficCount[]; minutes: TrafficCount[]; what: string }> = ({ days, minutes, what }) => {
  const data = { days: chartSeries("day", days), minutes: chartSeries("minute", minutes) };
  const total = (slots: TrafficCount[], pick: (slot: TrafficCount) => number) => count(slots.reduce((sum, slot) => sum + pick(slot), 0));
  return (
    <section aria-labelledby="usage-heading">
      <h2 id="usage-heading">Usage of {what}</h2>
      <p class="muted">
        Admitted requests, requests refused with 429 (rate limit or daily quota) and refused with 401/403 (revoked, expired, missing
        permission, origin not allowed). Counts reach these charts within seconds of the traffic. Times are UTC.
      </p>
      <div class="charts">
        <figure class="box">
          <figcaption>
            <strong>Last {days.length} days</strong>: {total(days, (d) => d.requests)} admitted, {total(days, (d) => d.rejected)} × 429,{" "}
            {total(days, (d) => d.denied)} × 401/403
          </figcaption>
          <div class="chart" data-series="days" role="img" aria-label={`Requests per day over the last ${days.length} days`}></div>
        </figure>
        <figure class="box">
          <figcaption>
            <strong>Last hour, per minute</strong>: {total(minutes, (d) => d.requests)} admitted, {total(minutes, (d) => d.rejected)} × 429,{" "}
            {total(minutes, (d) => d.denied)} × 401/403
          </figcaption>
          <div class="chart" data-series="minutes" role="img" aria-label="Requests per minute over the last hour"></div>
        </figure>
      </div>
      <script type="application/json" id="chart-data">
        {raw(JSON.stringify(data).replaceAll("<", "\\u003c"))}
      </script>
      <details>
        <summary>The days as a table</summary>
        <table class="cards">
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Admitted</th>
              <th scope="col">Refused 429</th>
              <th scope="col">Refused 401/403</th>
            </tr>
          </thead>
          <tbody>
            {[...days].reverse().map((day) => (
              <tr data-day={day.at}>
                <td data-label="Day">{day.at}</td>
                <td data-label="Admitted">{count(day.requests)}</td>
                <td data-label="Refused 429">{count(day.rejected)}</td>
                <td data-label="Refused 401/403">{count(day.denied)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </section>
  );
};


export interface KeyUsageRow {
  name: KeyName;
  today: TrafficCount;
  daily: number;
  unusual: Unusual | null;
}

export const UsagePage: FC<{ days: TrafficCount[]; minutes: TrafficCount[]; rows: KeyUsageRow[]; environment: string }> = ({ days, minutes, rows, environment }) => (
  <>
    <h1>Usage</h1>
    <UsageCharts days={days} minutes={minutes} what={environment === "test" ? "the project's test keys" : "the whole project"} />
    <h2>Today, per key</h2>
    <table class="cards">
      <thead>
        <tr>
          <th scope="col">Key</th>
          <th scope="col">Today against the daily quota</th>
          <th scope="col">Flag</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr data-key-id={row.name.id}>
            <td data-label="Key">
              <KeyLink name={row.name} />
            </td>
            <td data-label="Today">
              <TodayAgainstQuota today={row.today} daily={row.daily} />
            </td>
            <td data-label="Flag">{row.unusual ? <span class="badge unusual" title={row.unusual.reason}>unusual activity</span> : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
    {rows.length === 0 && <p class="muted">No traffic today.</p>}
  </>
);

