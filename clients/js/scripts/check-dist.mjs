// Fails when dist/ (committed, so that using or testing the package needs no build) is
// not exactly what `tsc` builds from src/ now. Fix: `npm run build` and commit dist/.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const work = mkdtempSync(join(tmpdir(), "aipod-dist-"));

function files(dir, prefix = "") {
  const found = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...files(dir, name));
    else if (entry.isFile()) found.push(name);
  }
  return found.sort();
}

try {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json", "--outDir", work], {
    cwd: root,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    process.exit(result.status ?? 1);
  }
  const built = files(work);
  const committed = files(join(root, "dist"));
  const problems = [];
  for (const name of new Set([...built, ...committed])) {
    if (!built.includes(name)) problems.push(`dist/${name}: not built from src/ any more`);
    else if (!committed.includes(name)) problems.push(`dist/${name}: missing`);
    else if (
      readFileSync(join(work, name), "utf8") !== readFileSync(join(root, "dist", name), "utf8")
    )
      problems.push(`dist/${name}: differs from the build of src/`);
  }
  if (problems.length) {
    console.error(`${problems.join("\n")}\nRun \`npm run build\` in clients/js and commit dist/.`);
    process.exit(1);
  }
  console.log(`dist/ matches the build of src/ (${built.length} files)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
