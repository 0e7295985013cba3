// Signs requests with the official `pusher` npm library (pusher-http-node), for the C++
// cross-check in tests/e2e/pusher_signing_crosscheck_test.cpp.
//
// stdin: a JSON array of cases; stdout: a JSON array with one result per case, in order.
//   {"op":"rest", key, secret, method, path, body?, params?, timestamp}
//       -> {"query": Pusher#createSignedQueryString(...)} with the clock fixed at `timestamp`
//   {"op":"channel", key, secret, master_key_base64?, socket_id, channel, data?}
//       -> Pusher#authorizeChannel(socket_id, channel, data)   (data: the presence object)
//   {"op":"user", key, secret, socket_id, user_data}
//       -> Pusher#authenticateUser(socket_id, user_data)
//   {"op":"trigger", app_id, key, secret, channels, event, data, params?}
//       -> {"status", "requests":[{"method","target","body"}]}: Pusher#trigger(...) against a
//          local HTTP server this script starts, which records each request as it arrived
// A case the library refuses gives {"error": message}.
"use strict"

const http = require("http")
const Pusher = require("pusher")

function client(c, extra) {
  const options = Object.assign(
    { appId: c.app_id || "1", key: c.key, secret: c.secret },
    extra || {}
  )
  if (c.master_key_base64) options.encryptionMasterKeyBase64 = c.master_key_base64
  return new Pusher(options)
}

// Pusher#trigger against a recording HTTP server on 127.0.0.1 (an ephemeral port): returns
// what arrived on the wire, exactly as sent.
async function trigger(c) {
  const recorded = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on("data", (chunk) => chunks.push(chunk))
    req.on("end", () => {
      recorded.push({
        method: req.method,
        target: req.url,
        body: Buffer.concat(chunks).toString("utf8"),
      })
      res.writeHead(200, { "Content-Type": "application/json", Connection: "close" })
      res.end("{}")
    })
  })
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  try {
    const pusher = client(c, {
      host: "127.0.0.1",
      port: server.address().port,
      useTLS: false,
      timeout: 10000,
      // No keep-alive: an idle pooled socket would keep node running after the last case.
      agent: new http.Agent({ keepAlive: false }),
    })
    const res = await pusher.trigger(c.channels, c.event, c.data, c.params)
    return { status: res.status, requests: recorded }
  } finally {
    server.close()
  }
}

async function run(c) {
  switch (c.op) {
    case "rest": {
      const realNow = Date.now
      Date.now = () => c.timestamp * 1000 // the library reads the clock for auth_timestamp
      try {
        return {
          query: client(c).createSignedQueryString({
            method: c.method,
            path: c.path,
            body: c.body,
            params: c.params,
          }),
        }
      } finally {
        Date.now = realNow
      }
    }
    case "channel":
      return client(c).authorizeChannel(c.socket_id, c.channel, c.data)
    case "user":
      return client(c).authenticateUser(c.socket_id, c.user_data)
    case "trigger":
      return trigger(c)
    default:
      throw new Error("unknown op " + c.op)
  }
}

async function main() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"))
  const results = []
  for (const c of cases) {
    try {
      results.push(await run(c))
    } catch (e) {
      const cause = e && e.error ? ": " + String(e.error.message || e.error) : ""
      results.push({ error: String(e.message || e) + cause })
    }
  }
  process.stdout.write(JSON.stringify(results) + "\n", () => process.exit(0))
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n")
  process.exit(1)
})
