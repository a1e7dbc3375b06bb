/**
 * The project's plan on a key's page, with the limits it sets (issue 16): one small component, kept
 * apart from the page layout. Says which of the key's limits are its own (an operator's override,
 * which stays when the plan changes) and which follow the plan.
 */
import type { FC } from "hono/jsx";
import { formatCount } from "../http/plural";
import type { KeyRecord } from "../lifecycle";

const NAMES = { rate: "rate", burst: "burst", daily: "daily quota" } as const;

export const PlanLimits: FC<{ record: Pick<KeyRecord, "plan" | "plan_limits" | "limit_overrides"> }> = ({ record }) => {
  const { rate, burst, daily } = record.plan_limits;
  const own = (["rate", "burst", "daily"] as const).filter((part) => record.limit_overrides[part] !== null).map((part) => NAMES[part]);
  return (
    <span>
      <strong>{record.plan}</strong> — for this key's type: {formatCount(rate)}/s, burst {formatCount(burst)}, {formatCount(daily)} per day (UTC)
      {own.length > 0 && <>; this key's own {own.join(", ")} stays when the plan changes</>}
    </span>
  );
};
