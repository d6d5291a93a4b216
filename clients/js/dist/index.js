/**
 * aipod-api: the JavaScript/TypeScript client of the aipod_api HTTP API.
 *
 *     import { AipodClient } from "aipod-api";
 *     const client = new AipodClient({ apiKey: "fg_live_demo_xxxxxxxxxxxx" });
 *     const page = await client.agents.list({ capability: ["text_generation"] });
 *
 * ESM, no runtime dependencies; Node >= 18 and browsers (global fetch).
 */
export * from "./client.js";
export * from "./errors.js";
export * from "./webhooks.js";
