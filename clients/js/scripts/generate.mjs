// Regenerates src/openapi.ts (TypeScript types) from the API's OpenAPI document, as the
// current Python code serves it at GET /v1/openapi.json (produced in process by
// scripts/openapi_document.py; no server needed).
//
//   node scripts/generate.mjs           write src/openapi.ts   (npm run generate)
//   node scripts/generate.mjs --check   exit 1 when src/openapi.ts is stale
//
// The Python interpreter: $PYTHON, else the repository's .venv, else python3.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(root, "..", "..");
const target = join(root, "src", "openapi.ts");
const check = process.argv.includes("--check");

function python() {
  if (process.env.PYTHON) return process.env.PYTHON;
  const venv = join(repo, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, encoding: "utf8" });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    process.exit(result.status ?? 1);
  }
}

const work = mkdtempSync(join(tmpdir(), "aipod-openapi-"));
try {
  const documentPath = join(work, "openapi.json");
  const output = check ? join(work, "openapi.ts") : target;
  run(python(), [join(root, "scripts", "openapi_document.py"), documentPath]);
  // --default-non-nullable=false: a body field with a default stays optional.
  run(process.execPath, [
    join(root, "node_modules", "openapi-typescript", "bin", "cli.js"),
    documentPath,
    "--output",
    output,
    "--default-non-nullable=false",
  ]);
  if (check) {
    const fresh = readFileSync(output, "utf8");
    const committed = existsSync(target) ? readFileSync(target, "utf8") : "";
    if (fresh !== committed) {
      const a = committed.split("\n");
      const b = fresh.split("\n");
      let line = 0;
      while (line < a.length && line < b.length && a[line] === b[line]) line++;
      console.error(
        `src/openapi.ts is stale (first difference at line ${line + 1}:\n` +
          `  committed: ${a[line] ?? "<end of file>"}\n  generated: ${b[line] ?? "<end of file>"})\n` +
          "Run `npm run generate && npm run build` in clients/js and commit the result.",
      );
      process.exit(1);
    }
    console.log("src/openapi.ts matches the current OpenAPI document");
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
