// What the e2e scripts that drive headless Debian Chromium through playwright-core
// (tests/e2e/js/browser_*.js) share: options, launch, the command queue, DOM polling, exits.
// HERALD_CHROMIUM overrides the binary's path.
// --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
'use strict';

const message = (e) => String(e && e.message ? e.message : e);
const chromiumPath = () => process.env.HERALD_CHROMIUM || '/usr/bin/chromium';

// The options (argv[2], JSON). `chromium` sets HERALD_CHROMIUM; `tmpdir` takes Chromium's
// profile (TMPDIR) and crash database (XDG_CONFIG_HOME).
function scriptOptions() {
  const options = JSON.parse(process.argv[2] || '{}');
  if (options.chromium) process.env.HERALD_CHROMIUM = options.chromium;
  if (options.tmpdir) {
    process.env.TMPDIR = options.tmpdir;
    process.env.XDG_CONFIG_HOME = options.tmpdir;
  }
  return options;
}

// Not async: a missing playwright-core throws to the caller, not as "cannot launch".
function launchChromium() {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox'],
    headless: true,
  });
}

let browser = null;  // the one launched browser, until closeBrowser()

// The browser, or null after printing why Chromium cannot start. If it goes away other than
// through closeBrowser(), prints an error and calls gone().
async function launchOrExplain(print, gone) {
  const launching = launchChromium();
  try {
    browser = await launching;
  } catch (e) {
    print({ error: 'cannot launch chromium (' + chromiumPath() + '; apt-get install chromium, ' +
                   'or scripts/install-deps.sh --test): ' + message(e) });
    return null;
  }
  const b = browser;
  b.on('disconnected', () => {
    if (browser === b) {
      print({ error: 'the browser went away' });
      browser = null;
      gone();
    }
  });
  return b;
}

// Closes the browser, waiting 5 s at most.
async function closeBrowser() {
  const b = browser;
  browser = null;
  if (b) await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
}

// Returns run(command) for commandReader: runs commands one at a time, in order, through
// handlers[op], then prints {"done":n}. A throw prints {"error":"<op> <command[subject]>: .."};
// "exit" prints its done, then shutdown(0).
function commandLoop(handlers, { print, shutdown, subject }) {
  let done = 0;
  let queue = Promise.resolve();
  return (command) => {
    queue = queue.then(async () => {
      try {
        if (command.op === 'exit') {
          print({ done: ++done });
          await shutdown(0);
          return;
        }
        if (!Object.prototype.hasOwnProperty.call(handlers, command.op)) {
          print({ error: 'unknown command ' + JSON.stringify(command) });
        } else {
          await handlers[command.op](command);
        }
      } catch (e) {
        print({ error: command.op + ' ' + (command[subject] || '') + ': ' + message(e) });
      }
      print({ done: ++done });
    });
  };
}

// Reads snapshot() in the page every 50 ms; changed(dom) when it differs from the last read.
// Returns the interval.
function watchDom(page, snapshot, changed) {
  let busy = false;
  let last = '';
  return setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const dom = await page.evaluate(snapshot);
      const json = JSON.stringify(dom);
      if (json !== last) {
        last = json;
        changed(dom);
      }
    } catch (_) {
      // navigating or closing: the next tick reads it again
    } finally {
      busy = false;
    }
  }, 50);
}

// Runs main(); after timeoutMs (default 120 s) prints {"error":"timeout"} and exits 2, SIGTERM
// shuts down with 0, a throw from main() is printed and exits 3.
function runScript(main, { print, shutdown, timeoutMs }) {
  setTimeout(() => {
    print({ error: 'timeout' });
    shutdown(2);
  }, Number(timeoutMs || 120000)).unref();
  process.on('SIGTERM', () => shutdown(0));
  main().catch((e) => {
    print({ error: message(e) });
    shutdown(3);
  });
}

module.exports = {
  message, scriptOptions, launchChromium, launchOrExplain, closeBrowser, commandLoop, watchDom,
  runScript,
};
