/**
 * The task registry: every graphile-worker task, by identifier. Each task lives in its own file
 * and is wrapped by `traced` (payload validation, trace continuation, correlation id).
 */
import type { TaskList } from "graphile-worker";
import { traced } from "../worker/traced.ts";

export const taskList: TaskList = Object.fromEntries(
  ([] as Parameters<typeof traced>[0][]).map((def) => [def.name, traced(def)]),
);
