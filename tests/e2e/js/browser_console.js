// Drives the `websocket` connection's live console (plugins/websocket/console/, served by
// `herald serve` at GET / of the connection's port) in headless Chromium for
// tests/e2e/browser_console_test.cpp. It opens the page (chromium.js), types into it and
// clicks as a user would when the test asks, takes screenshots, and prints what the page shows
// (read from the DOM) as JSON lines; commands come from a file the test appends JSON lines to
// (command_file.js), like the other e2e peers.
//
//   node browser_console.js '<options json>'
//
// options: {"commands": "<file>", "url": "http://127.0.0.1:<port>/", "chromium"?: "<binary>",
//           "tmpdir"?: "<dir>", "timeout_ms"?: 120000}
//
// Output lines:
//   {"ready":true,"browser":"<version>"}        Chromium launched
//   {"dom":{..}}                                what the page shows, printed on each change:
//       state (the badge's data-state), badge, socket_id, channels [{name,status}],
//       events [{channel,event,data,time}] (newest first), errors [..] (error lines of the log),
//       counts {connections,channels,subscriptions,rows:[{name,subscribers,users}]},
//       status {subscribe,publish,key,counts}
//   {"console":type,"text":..} {"pageerror":..}  the page's console messages and errors
//   {"csp":..}                                  a console message about the Content-Security-Policy
//   {"response":status,"method":m,"url":u}      every HTTP response the page got
//   {"offsite":u}                               a request to another host (there must be none)
//   {"screenshot":path,"width":w,"height":h,"overflow":px}  written; overflow = horizontal
//                                               scroll width beyond the viewport (0 when it fits)
//   {"error":..}                                a failed command or launch (launch failure: exit 3)
//   {"done":n}                                  the n-th command has run (a sync point)
// Commands (run one at a time, in order):
//   {"op":"open","width":1280,"height":800}     a new context and page at options.url
//   {"op":"fill","id":"<element id>","value":".."}   types into an input (replacing its text)
//   {"op":"click","id":"<element id>"}
//   {"op":"screenshot","path":"<file.png>","width":w,"height":h,"full_page"?:false}
//   {"op":"exit"}                               closes the browser and exits 0
// It exits by itself after timeout_ms with {"error":"timeout"} and code 2; SIGTERM closes the
// browser first.
'use strict';

const { print, finish, commandReader } = require('./command_file');
const chromium = require('./chromium');

const { message } = chromium;
const options = chromium.scriptOptions();
const pageUrl = new URL(options.url || 'http://127.0.0.1:6001/');

let browser = null;
let context = null;
let page = null;
let timer = null;

// What the console shows, from its DOM (runs in the page).
function snapshot() {
  const text = (id) => {
    const el = document.getElementById(id);
    return el ? el.textContent.trim() : null;
  };
  const all = (selector) => Array.from(document.querySelectorAll(selector));
  return {
    state: document.getElementById('state').dataset.state,
    badge: text('state'),
    socket_id: text('socket-id'),
    channels: all('#subscriptions .chip').map((li) => ({ name: li.dataset.channel, status: li.dataset.status })),
    events: all('#log .entry.event').map((li) => ({
      channel: li.dataset.channel,
      event: li.dataset.event,
      data: li.querySelector('pre').textContent,
      time: li.querySelector('.time').textContent,
    })),
    errors: all('#log .entry.error').map((li) => li.querySelector('.head').textContent),
    counts: {
      connections: text('stat-connections'),
      channels: text('stat-channels'),
      subscriptions: text('stat-subscriptions'),
      rows: all('#channels-body tr[data-channel]').map((tr) => ({
        name: tr.dataset.channel,
        subscribers: tr.querySelector('.subscribers').textContent,
        users: tr.querySelector('.users').textContent,
      })),
    },
    status: {
      subscribe: text('subscribe-status'),
      publish: text('publish-status'),
      key: text('key-status'),
      counts: text('counts-status'),
    },
  };
}

async function open(command) {
  if (page) throw new Error('the page is already open');
  context = await browser.newContext({
    viewport: { width: Number(command.width || 1280), height: Number(command.height || 800) },
    colorScheme: 'light',
    locale: 'en-US',
  });
  page = await context.newPage();
  page.on('console', (msg) => {
    const text = msg.text();
    print(/Content.Security.Policy/i.test(text) ? { csp: text } : { console: msg.type(), text });
  });
  page.on('pageerror', (error) => print({ pageerror: message(error) }));
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.hostname !== pageUrl.hostname) print({ offsite: request.url() });
  });
  page.on('response', (response) => {
    print({ response: response.status(), method: response.request().method(), url: response.url() });
  });
  await page.goto(pageUrl.href, { waitUntil: 'load', timeout: 15000 });
  timer = chromium.watchDom(page, snapshot, (dom) => print({ dom }));
}

async function screenshot(command) {
  const width = Number(command.width || 1280);
  const height = Number(command.height || 800);
  await page.setViewportSize({ width, height });
  // Let the layout settle and the "fresh" highlight of new log lines fade.
  await page.waitForTimeout(1500);
  const overflow = await page.evaluate(
      () => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
  await page.screenshot({ path: String(command.path), fullPage: Boolean(command.full_page) });
  print({ screenshot: String(command.path), width, height, overflow });
}

async function shutdown(code) {
  clearInterval(timer);
  await chromium.closeBrowser();
  finish(code);
}

const handlers = {
  open,
  fill: (command) => page.fill('#' + command.id, String(command.value ?? '')),
  click: (command) => page.click('#' + command.id),
  screenshot,
};

async function main() {
  browser = await chromium.launchOrExplain(print, () => shutdown(4));
  if (!browser) return shutdown(3);
  print({ ready: true, browser: browser.version() });
  const run = chromium.commandLoop(handlers, { print, shutdown, subject: 'id' });
  setInterval(commandReader(options.commands, run), 20);
}

chromium.runScript(main, { print, shutdown, timeoutMs: options.timeout_ms });
