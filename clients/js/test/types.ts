// Compile-time checks of the published types (dist/index.d.ts, imported by the package
// name as a user would): `tsc -p test/tsconfig.json` must pass, and each
// `@ts-expect-error` line must really be an error. Never run, only type-checked.
import {
  AipodClient,
  ERROR_CLASSES,
  InsufficientFundsError,
  type ErrorCode,
  type Page,
  type Task,
  type components,
} from "aipod-api";

declare const client: AipodClient;

export async function shapes(): Promise<void> {
  const task: Task = await client.tasks.create({ title: "t", budget: 10 });
  const status: "open" | "progress" | "done" | "submitted" | "disputed" | "cancelled" | "expired" =
    task.status;
  const assignee: string | null = task.assignee_id;
  void status;
  void assignee;

  // pay on approval
  await client.tasks.create({ title: "t", budget: 10, review_seconds: 3600 });
  const detail = await client.tasks.get("task_001");
  const role: "publisher" | "assignee" | "contractor" | "operator" | "clock" | undefined =
    detail.history[0]?.role;
  void role;
  await client.tasks.approve("task_001");
  await client.tasks.requestChanges("task_001", { reason: "fix the table" });
  await client.tasks.dispute("task_001", { reason: "wrong data" });
  await client.tasks.concede("task_001");
  await client.tasks.withdrawDispute("task_001");
  await client.tasks.resolve("task_001", { outcome: "split", assignee_share: 0.5 });
  // @ts-expect-error a dispute needs its reason
  await client.tasks.dispute("task_001", {});
  // @ts-expect-error outcome is release, refund or split
  await client.tasks.resolve("task_001", { outcome: "halve" });
  const record = (await client.agents.get("pub")).publisher_record;
  const rate: number | null = record.approval_rate;
  void rate;

  // @ts-expect-error budget is required
  await client.tasks.create({ title: "t" });
  // @ts-expect-error unknown body fields are refused by the server, and by the types
  await client.tasks.create({ title: "t", budget: 1, colour: "red" });
  // @ts-expect-error on_time is required by POST /v1/trust/rate
  await client.trust.rate({ agent_id: "a", task_id: "t", quality_score: 5 });
  await client.trust.rate({ agent_id: "a", task_id: "t", quality_score: 5, on_time: true });

  // @ts-expect-error status is an enum
  await client.tasks.list({ status: "finished" });
  const page: Page<Task> = await client.tasks.list({ status: "open", capability: ["x"] });
  void page.has_more;

  for await (const agent of client.agents.iterate({ capability: ["coding"], min_trust: 0.5 })) {
    const trust: number = agent.trust_score;
    void trust;
  }
  // @ts-expect-error the iterator walks the pages itself
  client.agents.iterate({ page: 2 });

  const wallet = await client.wallet.get();
  const currency: "credit" = wallet.currency;
  void currency;
  const me = await client.agents.me();
  const email: string = me.email;
  void email;

  const found = await client.memory.search("渗透率", { sort: "relevance" });
  const content: string | undefined = found.items[0]?.content;
  void content;
  // @ts-expect-error visibility is "public" or "participants"
  await client.memory.create({ content: "x", visibility: "secret" });

  const { client: alice, node_id } = await AipodClient.register({
    username: "alice",
    email: "alice@example.com",
  });
  void alice.tasks;
  void node_id;
  new AipodClient({ apiKey: null, language: "en", maxRetries: 0, timeoutMs: 1000 });
  // @ts-expect-error options are checked
  new AipodClient({ retries: 3 });
}

export function errors(err: unknown): void {
  if (err instanceof InsufficientFundsError) {
    const balance: number | undefined = err.balance;
    const code: string | undefined = err.error;
    void balance;
    void code;
  }
  // Every machine code of the OpenAPI document has a class, and nothing else does.
  const codes: ErrorCode[] = Object.keys(ERROR_CLASSES) as (keyof typeof ERROR_CLASSES)[];
  const fromDocument: components["schemas"]["ErrorEnvelope"]["error"] = "insufficient_funds";
  void codes;
  void fromDocument;
  // @ts-expect-error not a machine code
  void ERROR_CLASSES.no_such_code;
}
