// Drives tests/e2e/browser/echo_page.html (Laravel Echo + pusher-js) in headless Chromium for
// tests/e2e/browser_echo_test.cpp. It serves the page and the two libraries' browser builds
// (from tests/e2e/node_modules, so no CDN and no network) on 127.0.0.1 at an ephemeral port,
// launches Chromium (chromium.js), and opens pages in browser contexts of their own (each one a
// separate browser profile: its own cookies and sockets) when the test asks. It prints one JSON
// line per observation and takes commands from a file the test appends JSON lines to
// (command_file.js), like the other e2e peers.
//
//   node browser_echo.js '<options json>'
//
// options: {"commands": "<file>", "node_modules"?: "<dir>", "chromium"?: "<binary>",
//           "tmpdir"?: "<dir>", "timeout_ms"?: 120000}
//   chromium: sets HERALD_CHROMIUM for chromium.js (default /usr/bin/chromium).
//   tmpdir: where Chromium's profile (TMPDIR) and crash database (XDG_CONFIG_HOME) go, so a
//           killed run leaves nothing behind outside the test's own directory.
//
// Output lines:
//   {"ready":true,"origin":"http://127.0.0.1:<port>","browser":"<version>"}   serving, launched
//   {"page":p,"dom":{"connection","channel","status","events":[..],"members":[..],
//                    "presence":[..]}}      what page p shows (the texts), printed on each change
//   {"page":p,"console":type,"text":..} {"page":p,"pageerror":..}   the page's console and errors
//   {"page":p,"response":status,"method":m,"url":u}   every HTTP response the page got
//   {"page":p,"request_failed":u,"reason":..}
//   {"page":p,"offsite":u}                   a request to anything but 127.0.0.1 (there must be none)
//   {"opened":p} {"closed":p}                answers to open / close
//   {"error":..}                             a failed command or launch (launch failure: exit 3)
//   {"done":n}                               the n-th command has run (a sync point)
// Commands (run one at a time, in order):
//   {"op":"open","page":p,"config":{..},"jwt"?:{"secret","sub","user_info"?}}
//       a new browser context and page at /echo_page.html?config=<config>; `jwt` adds an HS256
//       token (made here, `exp` in 10 minutes) as `Authorization: Bearer` to config.headers;
//       its `sub` and `user_info` claims are the presence identity Herald's guard uses.
//   {"op":"close","page":p}   closes p's context (its WebSocket goes away with it)
//   {"op":"exit"}             closes the browser and exits 0
// It exits by itself after timeout_ms with {"error":"timeout"} and code 2; SIGTERM closes the
// browser first.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const { print, finish, commandReader } = require('./command_file');
const chromium = require('./chromium');

const { message } = chromium;
const options = chromium.scriptOptions();
const nodeModules = options.node_modules || path.join(__dirname, '..', 'node_modules');
const pageDir = path.join(__dirname, '..', 'browser');

// The only files served: URL path -> file.
const files = {
  '/echo_page.html': path.join(pageDir, 'echo_page.html'),
  '/echo_page.js': path.join(pageDir, 'echo_page.js'),
  '/vendor/pusher-js/pusher.js': path.join(nodeModules, 'pusher-js', 'dist', 'web', 'pusher.js'),
  '/vendor/laravel-echo/echo.js': path.join(nodeModules, 'laravel-echo', 'dist', 'echo.js'),
};
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

function base64url(data) {
  return Buffer.from(data).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}
function jwt(secret, claims) {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(head + '.' + body).digest();
  return head + '.' + body + '.' + base64url(sig);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const file = Object.prototype.hasOwnProperty.call(files, url.pathname) ? files[url.pathname] : null;
  if (req.method !== 'GET' || file === null) {
    res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404, { 'Cache-Control': 'no-store' });
    res.end();
    return;
  }
  fs.readFile(file, (err, body) => {
    if (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(message(err));
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)], 'Cache-Control': 'no-store' });
    res.end(body);
  });
});

let browser = null;
let origin = '';
const pages = new Map();  // name -> {context, page, timer}

// The page's texts, read from the DOM.
function snapshot() {
  const text = (id) => {
    const el = document.getElementById(id);
    return el ? el.textContent : null;
  };
  const list = (id) => Array.from(document.querySelectorAll('#' + id + ' > li'), (li) => li.textContent);
  return {
    connection: text('connection'),
    channel: text('channel'),
    status: text('status'),
    events: list('events'),
    members: list('members'),
    presence: list('presence-log'),
  };
}

async function open(command) {
  const name = String(command.page);
  if (pages.has(name)) throw new Error('page ' + name + ' is already open');
  const config = Object.assign({}, command.config || {});
  config.headers = Object.assign({}, config.headers || {});
  if (command.jwt) {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: command.jwt.sub, iat: now, exp: now + 600 };
    if (command.jwt.user_info !== undefined) claims.user_info = command.jwt.user_info;
    config.headers.Authorization = 'Bearer ' + jwt(command.jwt.secret, claims);
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => print({ page: name, console: msg.type(), text: msg.text() }));
  page.on('pageerror', (error) => print({ page: name, pageerror: message(error) }));
  page.on('request', (request) => {
    const host = new URL(request.url()).hostname;
    if (host !== '127.0.0.1') print({ page: name, offsite: request.url() });
  });
  page.on('response', (response) => {
    print({ page: name, response: response.status(), method: response.request().method(), url: response.url() });
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure();
    print({ page: name, request_failed: request.url(), reason: failure ? failure.errorText : '' });
  });
  const entry = { context, page, timer: null };
  pages.set(name, entry);
  await page.goto(origin + '/echo_page.html?config=' + encodeURIComponent(JSON.stringify(config)),
                  { waitUntil: 'load', timeout: 15000 });
  entry.timer = chromium.watchDom(page, snapshot, (dom) => print({ page: name, dom }));
  print({ opened: name });
}

async function close(command) {
  const name = String(command.page);
  const entry = pages.get(name);
  if (!entry) throw new Error('no page ' + name);
  clearInterval(entry.timer);
  pages.delete(name);
  await entry.context.close();
  print({ closed: name });
}

async function shutdown(code) {
  for (const entry of pages.values()) clearInterval(entry.timer);
  pages.clear();
  await chromium.closeBrowser();
  server.close();
  finish(code);
}

async function main() {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  origin = 'http://127.0.0.1:' + server.address().port;
  for (const file of Object.values(files)) {
    if (!fs.existsSync(file)) throw new Error('missing ' + file + ' (npm ci in tests/e2e)');
  }
  browser = await chromium.launchOrExplain(print, () => shutdown(4));
  if (!browser) return shutdown(3);
  print({ ready: true, origin, browser: browser.version() });
  const run = chromium.commandLoop({ open, close }, { print, shutdown, subject: 'page' });
  setInterval(commandReader(options.commands, run), 20);
}

chromium.runScript(main, { print, shutdown, timeoutMs: options.timeout_ms });
