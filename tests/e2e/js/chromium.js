// Launches Debian's headless Chromium through playwright-core, for the e2e tests that drive a
// real browser (tests/e2e/js/browser_*.js). HERALD_CHROMIUM overrides the binary's path.
// --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
'use strict';

const { chromium } = require('playwright-core');

async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.HERALD_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
    headless: true,
  });
}

module.exports = { launchChromium };
