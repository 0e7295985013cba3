// Shared by the e2e node peers (ws_pusher_client.js, ws_raw_client.js): JSON-line output and
// the command file a test appends JSON lines to.
'use strict';

const fs = require('fs');

const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const finish = (code) => process.stdout.write('', () => process.exit(code));

// Returns a poll function: each call runs, in order, the complete lines added to `file` since
// the last call (`run(command)`); a line that is not JSON or whose command throws is reported
// as {"error":...}. No-op when `file` is unset or not written yet.
function commandReader(file, run) {
  let consumed = 0;
  return function poll() {
    if (!file) return;
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      return;  // not written yet
    }
    const end = text.lastIndexOf('\n');
    if (end < consumed) return;
    const fresh = text.slice(consumed, end + 1);
    consumed = end + 1;
    for (const line of fresh.split('\n')) {
      if (line.trim() === '') continue;
      try {
        run(JSON.parse(line));
      } catch (e) {
        print({ error: 'bad command ' + line + ': ' + String(e && e.message ? e.message : e) });
      }
    }
  };
}

module.exports = { print, finish, commandReader };
