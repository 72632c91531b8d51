// What Chromium really does with the API's cookies and CORS when a
// single-page app on another origin calls it with `credentials: "include"`.
//
// Starts the built `api` binary (API_BIN, default ../../target/debug/api) on
// the embedded default, serves two tiny pages on other ports (the SPA, whose
// origin is in CORS_ALLOWED_ORIGINS, and a stranger's page, whose origin is
// not) and drives them in headless Chromium (CHROMIUM, default
// /usr/bin/chromium) through playwright-core.
//
// Both pages load the SPA's client, src/spa.ts compiled to dist/spa.js
// (`npm test` builds it first): calls typed from openapi/openapi.json, as
// window.spa. The stranger's page runs the same code, as a copy of the SPA
// on the wrong origin would.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const apiBin = process.env.API_BIN ?? join(here, "..", "..", "target", "debug", "api");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

let api, apiUrl, spa, spaUrl, stranger, strangerUrl, browser, dataDir;

// No bundler: the page maps the client's one import to openapi-fetch's own
// ES module, served beside it.
function page(title) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<meta name="api" content="${apiUrl}">
<script type="importmap">{"imports":{"openapi-fetch":"/openapi-fetch.mjs"}}</script>
<script type="module" src="/spa.js"></script>
</head><body>${title}</body></html>`;
}

const scripts = {
  "/spa.js": join(here, "dist", "spa.js"),
  "/openapi-fetch.mjs": fileURLToPath(import.meta.resolve("openapi-fetch")),
};

function serve(title) {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const script = scripts[req.url];
      if (script) {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
        res.end(readFileSync(script));
      } else {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(page(title));
      }
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function startApi(spaOrigin) {
  return new Promise((resolve, reject) => {
    dataDir = mkdtempSync(join(tmpdir(), "km-browser-"));
    const child = spawn(apiBin, [], {
      env: {
        PATH: process.env.PATH,
        DATA_DIR: dataDir,
        LISTEN_ADDR: "127.0.0.1:0",
        LOG_FORMAT: "json",
        RUST_LOG: "info",
        CORS_ALLOWED_ORIGINS: spaOrigin,
        // Every page and request comes from 127.0.0.1: limits a real site
        // would use are not what this test is about.
        LOGIN_LIMIT_PER_IP: "100000/1",
        LOGIN_LIMIT_PER_USERNAME: "100000/1",
        REGISTER_LIMIT_PER_IP: "100000/1",
        NEW_SESSION_LIMIT_PER_IP: "100000/1",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.on("error", reject);
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      try {
        const log = JSON.parse(line);
        if (log.fields?.message === "serving") resolve({ child, addr: log.fields.addr });
      } catch {
        // not a JSON line: ignore
      }
    });
    setTimeout(() => reject(new Error("the api did not start within 30 s")), 30_000).unref();
  });
}

before(async () => {
  for (const script of Object.values(scripts)) {
    if (!existsSync(script)) throw new Error(`${script} is missing: \`npm test\` builds it (npm run types && npm run build)`);
  }
  spa = await serve("Kitchen Memory SPA");
  stranger = await serve("Someone else's page");
  // "localhost" on every side: the SPA, the stranger and the API are one
  // site (cookies with SameSite=Lax flow) but three origins (CORS applies).
  spaUrl = `http://localhost:${spa.address().port}`;
  strangerUrl = `http://localhost:${stranger.address().port}`;
  const started = await startApi(spaUrl);
  api = started.child;
  apiUrl = `http://localhost:${started.addr.split(":").pop()}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  api?.kill("SIGTERM");
  spa?.close();
  stranger?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// Opens a page in a browser profile and waits for its client.
async function open(context, url) {
  const tab = await context.newPage();
  await tab.goto(url);
  await tab.waitForFunction(() => window.spa);
  return tab;
}

// Calls the page's client (window.spa) and returns what the page sees: the
// status, x-request-id, the fields it shows and any problem, or the
// browser's error.
function call(tab, method, ...args) {
  return tab.evaluate(({ method, args }) => window.spa[method](...args), { method, args });
}

test("an SPA on another origin keeps its cart across requests and reloads with credentials: include", async () => {
  const context = await browser.newContext();
  const tab = await open(context, spaUrl);

  const added = await call(tab, "addToCart", 1, 2);
  assert.equal(added.status, 201, JSON.stringify(added));
  assert.ok(added.requestId, "x-request-id is exposed to the page");

  const cookies = await context.cookies(apiUrl);
  const session = cookies.find((c) => c.name === "km_session");
  assert.ok(session, `the browser stored the session cookie: ${JSON.stringify(cookies)}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Lax");
  assert.equal(await tab.evaluate(() => document.cookie), "", "the page's scripts cannot read it");

  const set = await call(tab, "setQuantity", 6, 3);
  assert.equal(set.status, 200, JSON.stringify(set));
  await tab.reload();
  await tab.waitForFunction(() => window.spa);
  const cart = await call(tab, "cart");
  assert.equal(cart.status, 200);
  assert.equal(cart.body.item_count, 5);
  assert.equal(cart.body.total, "55.30");

  // Without credentials the browser sends no cookie: an empty cart.
  const anonymous = await call(tab, "cart", "same-origin");
  assert.equal(anonymous.body.item_count, 0);

  // Another browser profile is another visitor.
  const other = await browser.newContext();
  const otherTab = await open(other, spaUrl);
  const theirs = await call(otherTab, "cart");
  assert.equal(theirs.body.item_count, 0);
  await other.close();
  await context.close();
});

test("preferences set from the SPA land in an encrypted HttpOnly cookie and survive goodbye", async () => {
  const context = await browser.newContext();
  const tab = await open(context, spaUrl);
  await call(tab, "recordVisit");
  const put = await call(tab, "setTheme", "dark");
  assert.equal(put.status, 200, JSON.stringify(put));
  const prefs = (await context.cookies(apiUrl)).find((c) => c.name === "preferences");
  assert.ok(prefs && prefs.httpOnly && !prefs.value.includes("dark"), JSON.stringify(prefs));

  const bye = await call(tab, "goodbye");
  assert.equal(bye.status, 200, JSON.stringify(bye));
  const names = (await context.cookies(apiUrl)).map((c) => c.name).sort();
  assert.deepEqual(names, ["last_visit_summary", "preferences"], "the session cookie is gone, the rest stay");
  const welcome = await call(tab, "recordVisit");
  assert.equal(welcome.body.returning, true);
  assert.equal(welcome.body.visit_count, 2);
  const after = await call(tab, "preferences");
  assert.equal(after.body.theme, "dark");
  await context.close();
});

test("a page on an origin not in CORS_ALLOWED_ORIGINS can neither read nor change a visitor's cart", async () => {
  const context = await browser.newContext();
  const own = await open(context, spaUrl);
  await call(own, "addToCart", 3, 1);

  const evil = await open(context, strangerUrl);
  const read = await call(evil, "cart");
  assert.ok(read.error, `the browser must block reading the response: ${JSON.stringify(read)}`);
  const write = await call(evil, "addToCart", 4, 1);
  assert.ok(write.error, `the preflight must fail: ${JSON.stringify(write)}`);
  // A "simple" request (a bodiless POST) needs no preflight: the browser
  // sends it with the cookie, and only the API's Origin check stops it.
  for (const path of ["/api/v1/visits", "/api/v1/orders"]) {
    await evil.evaluate(async (url) => {
      await fetch(url, { method: "POST", mode: "no-cors", credentials: "include" });
    }, `${apiUrl}${path}`);
  }
  const state = await call(own, "session");
  assert.equal(state.body.visit_count, 0, "no visit was recorded from the stranger's page");

  const cart = await call(own, "cart");
  assert.deepEqual(cart.body.lines.map((l) => [l.product_id, l.quantity]), [[3, 1]]);
  const orders = await call(own, "orders");
  assert.deepEqual(orders.body.items, []);
  await context.close();
});

test("Swagger UI renders under its Content-Security-Policy without a violation", async () => {
  const context = await browser.newContext();
  const tab = await context.newPage();
  const problems = [];
  tab.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  tab.on("pageerror", (e) => problems.push(String(e)));
  await tab.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const res = await tab.goto(`${apiUrl}/swagger-ui/`);
  assert.match(res.headers()["content-security-policy"], /script-src 'self'/);
  await tab.waitForSelector(".opblock-summary-path", { timeout: 15_000 });
  const paths = await tab.$$eval(".opblock-summary-path", (els) => els.map((e) => e.textContent));
  assert.ok(paths.some((p) => p.includes("/api/v1/products")), JSON.stringify(paths));
  // An opened operation renders its parameters, examples and models too.
  await tab.click(".opblock-summary");
  await tab.waitForSelector(".opblock-body .responses-wrapper", { timeout: 15_000 });
  const violations = await tab.evaluate(() => window.__violations);
  assert.deepEqual(violations, [], "no CSP violation");
  assert.deepEqual(problems, [], "no console error");
  await context.close();
});

test("no other page can frame the API", async () => {
  const context = await browser.newContext();
  const tab = await context.newPage();
  await tab.goto(strangerUrl);
  for (const path of ["/swagger-ui/", "/api/v1/products", "/nowhere"]) {
    const url = `${apiUrl}${path}`;
    await tab.evaluate(
      (url) =>
        new Promise((resolve) => {
          const frame = document.createElement("iframe");
          frame.src = url;
          frame.onload = resolve;
          document.body.append(frame);
          setTimeout(resolve, 5_000);
        }),
      url,
    );
    const framed = tab.frames().find((f) => f.url() === url);
    assert.equal(framed, undefined, `${path} was framed: ${tab.frames().map((f) => f.url())}`);
  }
  await context.close();
});
