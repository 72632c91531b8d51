// A change to the spec that would break the SPA's client must fail its type
// check, not only the browser test (which exercises some calls, and only
// once a browser runs). In a copy of openapi/openapi.json, renames a field
// the page shows, a field it sends and a path it calls, makes a field the
// page shows optional and another nullable; generates the types from the
// copy with the `types` script's own arguments and checks src/spa.ts
// against them with tsc, expecting an error at each of the five places.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const generator = join(here, "node_modules", "openapi-typescript", "bin", "cli.js");
const spec = join("..", "..", "openapi", "openapi.json");
const types = join("src", "api.d.ts");
const tsc = join(here, "node_modules", "typescript", "bin", "tsc");

function renameProperty(schema, from, to) {
  assert.ok(schema.properties[from], `the spec no longer has ${from}: update this test`);
  schema.properties[to] = schema.properties[from];
  delete schema.properties[from];
  schema.required = schema.required?.map((name) => (name === from ? to : name));
}

function makeOptional(schema, name) {
  assert.ok(schema.required?.includes(name), `the spec no longer requires ${name}: update this test`);
  schema.required = schema.required.filter((required) => required !== name);
}

function makeNullable(schema, name) {
  const type = schema.properties[name]?.type;
  assert.ok(typeof type === "string", `the spec no longer has ${name} as one plain type: update this test`);
  schema.properties[name].type = [type, "null"];
}

test("renaming a field or path the SPA's client uses, or making a field it shows optional or nullable, in a copy of the spec, fails tsc where the client uses it", async () => {
  const [command, ...args] = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).scripts.types.split(/\s+/);
  assert.deepEqual([command, args.includes(spec), args.includes(types)], ["openapi-typescript", true, true]);

  const changed = JSON.parse(readFileSync(join(here, spec), "utf8"));
  renameProperty(changed.components.schemas.CartView, "item_count", "items_in_cart");
  // Optional, so only the body's exact check (`satisfies`) can catch it.
  renameProperty(changed.components.schemas.AddItem, "quantity", "count");
  const linePath = "/api/v1/cart/items/{product_id}";
  assert.ok(changed.paths[linePath], `the spec no longer has ${linePath}: update this test`);
  changed.paths["/api/v1/cart/lines/{product_id}"] = changed.paths[linePath];
  delete changed.paths[linePath];
  // Still the same name: only the page's declared view types catch these
  // (inferred, they would show "undefined" or "null" and pass).
  makeOptional(changed.components.schemas.CartView, "total");
  makeNullable(changed.components.schemas.SessionState, "cart_item_count");

  const source = readFileSync(join(here, "src", "spa.ts"), "utf8").split("\n");
  const lineOf = (text) => {
    const index = source.findIndex((line) => line.includes(text));
    assert.ok(index >= 0, `src/spa.ts no longer has ${text}: update this test`);
    return index + 1;
  };
  const expected = {
    "the cart's item count it shows": lineOf("item_count: c.item_count"),
    "the quantity it sends": lineOf('api.POST("/api/v1/cart/items"'),
    "the cart line's path": lineOf(`api.PUT("${linePath}"`),
    "the cart's total it shows, made optional": lineOf("total: c.total"),
    "the session's cart item count it shows, made nullable": lineOf("cart_item_count: s.cart_item_count"),
  };

  // Beside node_modules, so that tsc resolves openapi-fetch as it does for src/.
  const dir = mkdtempSync(join(here, ".spec-change-"));
  try {
    writeFileSync(join(dir, "openapi.json"), JSON.stringify(changed));
    copyFileSync(join(here, "src", "spa.ts"), join(dir, "spa.ts"));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ extends: "../tsconfig.json", compilerOptions: { rootDir: ".", noEmit: true }, files: ["spa.ts"], include: [] }),
    );
    const into = { [spec]: join(dir, "openapi.json"), [types]: join(dir, "api.d.ts") };
    await run(process.execPath, [generator, ...args.map((arg) => into[arg] ?? arg)], { cwd: here });
    const checked = await run(process.execPath, [tsc, "-p", dir], { cwd: here }).then(
      () => ({ code: 0, stdout: "" }),
      (failure) => failure,
    );
    assert.notEqual(checked.code, 0, "tsc passed against the changed spec");
    const errorLines = new Set([...checked.stdout.matchAll(/spa\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])));
    for (const [what, line] of Object.entries(expected)) {
      assert.ok(errorLines.has(line), `no error for ${what} (src/spa.ts line ${line}):\n${checked.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
