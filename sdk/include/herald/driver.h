/*
 * herald/driver.h - the Herald driver ABI (C99). This header IS the contract between the
 * `herald` host and every driver plugin; nothing else crosses the shared-object boundary.
 *
 * Conventions
 * - Every symbol starts with `herald_` / `HERALD_`. No Boost, no C++ types, no exceptions.
 * - Strings are (pointer, length) pairs (`herald_str`), UTF-8, not NUL-terminated unless said.
 *   Strings passed INTO a call are BORROWED: valid only until that call returns. Copy to keep.
 * - Memory is freed by whoever allocated it. The host never frees driver memory and vice versa;
 *   everything a driver hands to the host (errors, authorization results, log lines) is copied
 *   by the host before the call returns.
 * - Structs that may grow start with `uint32_t struct_size` (the sizeof as the ALLOCATOR compiled
 *   it). Fields are only ever appended. A reader uses a field only if it lies inside struct_size
 *   (`HERALD_HAS_FIELD`). Structs without struct_size are frozen forever.
 * - Status codes: `HERALD_OK` (0) or a negative `herald_status`; on failure the callee writes
 *   a one-line, human-readable reason into the caller-owned `herald_error` buffer with
 *   `herald_error_set` (it truncates, and does nothing when `err` is NULL). Every `err` the
 *   host passes is non-NULL with a capacity of at least 256 bytes (1024 today); never keep it.
 *   The host reads the text up to the first NUL within `capacity` (an unterminated buffer is
 *   safe), shows CR/LF as spaces, and says "no reason given by the driver" when it is empty.
 *   The other way round (`authorize_topic*`), the driver owns the buffer and may pass NULL.
 *
 * What the host checks when it loads a plugin (each failure is one line naming the file):
 *   both exports present; the probe's major equals the host's and its minor is <= the host's;
 *   herald_driver_get_descriptor() non-NULL; descriptor struct_size >= HERALD_DESCRIPTOR_MIN_SIZE;
 *   `name` 1 to 64 characters of [a-z0-9_-]; `version` non-empty; `create`, `destroy`,
 *   `publish` non-NULL. Everything else in the descriptor is optional (NULL = absent).
 *
 * Threading (decided for ABI 1): `publish` and `authorize` may be called CONCURRENTLY from
 * several host threads on the same instance; a driver must make them thread-safe. `create`
 * and `destroy` of one instance never overlap any other call on that instance. The host
 * keeps the library loaded while any instance created from it is alive.
 *
 * A minimal, complete driver in C (build: cc -std=c99 -shared -fPIC -fvisibility=hidden
 * -I<prefix>/include hello.c -o herald_hello.so; or herald_add_driver() from the CMake package):
 *
 *   #include <herald/driver.h>
 *   #include <stdlib.h>
 *
 *   typedef struct hello { const herald_host_api* host; } hello;
 *
 *   static int hello_create(const herald_host_api* host, const herald_config* config,
 *                           void** out, herald_error* err) {
 *     hello* h = malloc(sizeof *h);
 *     (void)config;
 *     if (h == NULL) { herald_error_set(err, "out of memory"); return HERALD_E_FAILED; }
 *     h->host = host;
 *     *out = h;                              // non-NULL on success
 *     return HERALD_OK;
 *   }
 *   static void hello_destroy(void* instance) { free(instance); }
 *   static int hello_publish(void* instance, const herald_str* topics, size_t n_topics,
 *                            const herald_str* messages, size_t n_messages, herald_error* err) {
 *     const hello* h = instance;
 *     (void)err;
 *     for (size_t t = 0; t < n_topics; ++t)      // log "topic", then "message", per pair
 *       for (size_t m = 0; m < n_messages; ++m) {
 *         h->host->log(h->host->ctx, HERALD_LOG_INFO, topics[t]);
 *         h->host->log(h->host->ctx, HERALD_LOG_INFO, messages[m]);
 *       }
 *     return HERALD_OK;
 *   }
 *   static const herald_driver_descriptor kHello = {
 *     .struct_size = sizeof(herald_driver_descriptor),   // designated initializers: fields a
 *     .name = "hello", .version = "0.1.0",               // newer SDK appends stay NULL
 *     .create = hello_create, .destroy = hello_destroy, .publish = hello_publish,
 *   };
 *   HERALD_DEFINE_DRIVER(kHello)             // the two exports
 *
 * Versioning: MAJOR changes break compatibility (the host refuses a plugin whose major
 * differs). MINOR changes only append fields/entry points (a host accepts plugins of its own
 * major and any minor <= its own; a plugin built against a NEWER minor is refused, since it
 * may rely on host services this host lacks).
 *
 * Version history
 *   1.0  first stable ABI: probe, descriptor (create, destroy, publish, authorize, validate),
 *        host API (log, log_enabled, authorize_topic), auth result builder.
 *   1.1  descriptor: optional `health` (for `GET /healthz`). 1.0 plugins load unchanged and
 *        count as always healthy.
 *   1.2  host API: `role` (is this process serving, or a one-shot command?). Descriptor:
 *        optional `metrics` (Prometheus text appended to the host's `GET /metrics`). 1.0 and
 *        1.1 plugins load unchanged and contribute no metrics.
 *   1.3  host API: `authorize_topic_claims` (authorize_topic that also hands back the claims of
 *        the token a `jwt` rule verified, a verified user identity for presence and sign-in).
 *        1.0 to 1.2 plugins load unchanged.
 */
#ifndef HERALD_DRIVER_H
#define HERALD_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERALD_ABI_MAJOR 1
#define HERALD_ABI_MINOR 3
/* Packed as (major << 16) | minor; the value returned by the probe. */
#define HERALD_ABI_VERSION (((uint32_t)HERALD_ABI_MAJOR << 16) | (uint32_t)HERALD_ABI_MINOR)
#define HERALD_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define HERALD_ABI_VERSION_MINOR(v) ((uint32_t)(v)&0xFFFFu)

#if defined(_WIN32)
#define HERALD_EXPORT __declspec(dllexport)
#else
#define HERALD_EXPORT __attribute__((visibility("default")))
#endif

/* True when `field` of `*ptr` lies inside the struct_size the allocator declared. A driver
 * checks it before reading a host_api field added after ABI 1.0 (`role`, `authorize_topic_claims`):
 * an older host's struct ends before them. (The host reads a plugin's descriptor the same way.) */
#define HERALD_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

/* Names of the two exported symbols every plugin must define. */
#define HERALD_ABI_PROBE_SYMBOL "herald_driver_abi_version"
#define HERALD_DESCRIPTOR_SYMBOL "herald_driver_get_descriptor"

typedef enum herald_status {
  HERALD_OK = 0,
  HERALD_E_FAILED = -1,           /* the operation failed at run time (peer down, I/O ...) */
  HERALD_E_INVALID_ARGUMENT = -2, /* the call's input is unusable (bad topic, bad message) */
  HERALD_E_CONFIG = -3,           /* the connection's configuration is invalid            */
  HERALD_E_EXCEPTION = -4,        /* an unexpected C++ exception was caught at the boundary */
  /* From `health` or `metrics`, declared by the driver but not served by this instance (a
   * connection that has none): the host treats the entry point as absent (healthy, no metrics)
   * and logs nothing. From any other entry point it is a failure like the others. */
  HERALD_E_UNSUPPORTED = -5
} herald_status;

typedef enum herald_log_level {
  HERALD_LOG_TRACE = 0,
  HERALD_LOG_DEBUG = 1,
  HERALD_LOG_INFO = 2,
  HERALD_LOG_WARN = 3,
  HERALD_LOG_ERROR = 4,
  HERALD_LOG_CRITICAL = 5
} herald_log_level;

/* A borrowed UTF-8 string: `size` bytes at `data` (data may be NULL when size is 0). Frozen. */
typedef struct herald_str {
  const char* data;
  size_t size;
} herald_str;

/* Error out-parameter. Owned by the CALLER: the host for every driver entry point, the driver
 * for the host's `authorize_topic*`. The callee writes at most `capacity - 1` bytes of message
 * plus a NUL into `message` (herald_error_set does exactly that) and never keeps the pointer. */
typedef struct herald_error {
  uint32_t struct_size;
  char* message;
  size_t capacity;
} herald_error;

/* One top-level key of a connection's configuration. `value` is the plain text for a TOML
 * string, and compact JSON for anything else (numbers, booleans, arrays, tables). Frozen. */
typedef struct herald_config_entry {
  herald_str key;
  herald_str value;
  int32_t is_string; /* 1: value is the raw string; 0: value is JSON text */
} herald_config_entry;

/* A connection's configuration, borrowed for the duration of `create`/`validate`. */
typedef struct herald_config {
  uint32_t struct_size;
  herald_str connection;              /* the connection's name, e.g. "log"              */
  herald_str json;                    /* the whole table as a JSON object               */
  const herald_config_entry* entries; /* the same table, one entry per top-level key   */
  size_t entry_count;
  herald_str source;   /* "file:line" where the connection is defined   */
  herald_str base_dir; /* resolve relative paths (files, sockets) here   */
} herald_config;

/* An HTTP header; names keep the case the client sent. Frozen. */
typedef struct herald_header {
  herald_str name;
  herald_str value;
} herald_header;

/* An incoming HTTP request (authorization endpoint), borrowed for the call. */
typedef struct herald_request {
  uint32_t struct_size;
  herald_str method; /* "GET", "POST", ...                            */
  herald_str path;   /* the path as received (not percent-decoded), without the query */
  herald_str query;  /* raw query string without '?', may be empty   */
  const herald_header* headers;
  size_t header_count;
  herald_str body;           /* raw body bytes                                */
  herald_str remote_address; /* "ip:port" of the peer                       */
} herald_request;

/* Authorization result builder (Spiral's AuthorizationStatus), owned by the HOST. A guard
 * calls these setters only during the `authorize` call that received it (never after it
 * returns, never from another thread once it has returned); the host copies every string
 * before the setter returns. All function pointers are non-NULL. Defaults: success = 0,
 * topics = null (unset), no attributes, no response. */
typedef struct herald_auth_result {
  uint32_t struct_size;
  void* ctx; /* pass back to every setter */
  void (*set_success)(void* ctx, int success);
  /* The first call turns topics from null into a list. `topic` = (NULL, 0) only marks the
   * list as present-but-empty; any other value, a non-NULL empty string included, is added. */
  void (*add_topic)(void* ctx, herald_str topic);
  void (*set_attributes)(void* ctx, herald_str json_object);
  /* Makes the host answer with exactly this response instead of 200/403. */
  void (*set_response)(void* ctx, int http_status, herald_str body);
  void (*add_response_header)(void* ctx, herald_str name, herald_str value);
} herald_auth_result;

/* Outcome of the host's topic rules. */
typedef enum herald_topic_decision {
  HERALD_TOPIC_DENY = 0,    /* a pattern matched and its rule denied       */
  HERALD_TOPIC_ALLOW = 1,   /* a pattern matched and its rule allowed      */
  HERALD_TOPIC_NO_MATCH = 2 /* no pattern matched: Spiral treats it as deny */
} herald_topic_decision;

/* Receives one extracted topic parameter ({name} -> value); strings borrowed for the call. */
typedef void (*herald_param_fn)(void* user, herald_str name, herald_str value);

/* What the process hosting an instance is doing (herald_host_api.role, ABI 1.2). */
typedef enum herald_role {
  /* A short-lived command (`herald publish`, `herald check`) or an embedding application that
   * did not say otherwise: a driver that would run a server must not start one (the
   * `websocket` driver publishes through the running server's HTTP API instead). */
  HERALD_ROLE_CLIENT = 0,
  /* `herald serve` (or an embedder that serves): start listeners, background work. */
  HERALD_ROLE_SERVER = 1
} herald_role;

/* Receives a piece of text; the string is borrowed for the call (ABI 1.2). */
typedef void (*herald_write_fn)(void* user, herald_str text);

/* Services the host offers a driver instance. Owned by the HOST; valid from `create` until
 * `destroy` returns. Append-only: check HERALD_HAS_FIELD before using a field added after 1.0. */
typedef struct herald_host_api {
  uint32_t struct_size;
  uint32_t host_abi_version; /* HERALD_ABI_VERSION of the host                       */
  void* ctx;                 /* opaque; pass as the first argument of every function */
  /* Required, never NULL. Writes `message` (borrowed) to the host's logger, tagged with the
   * connection's name. Thread-safe. */
  void (*log)(void* ctx, int level, herald_str message);
  /* Required, never NULL. Nonzero when `level` would be written: skip building messages
   * otherwise. */
  int (*log_enabled)(void* ctx, int level);
  /* Required, never NULL. Evaluates the host's [[authorize.topics]] rules for `topic` in the
   * context of `request`: the first pattern that matches decides. Each extracted parameter
   * is passed to `on_param(user, name, value)` (on_param may be NULL). Returns a
   * herald_topic_decision, or a negative herald_status with `err` filled. `err` is owned by
   * the DRIVER (the caller) and may be NULL. Thread-safe. */
  int (*authorize_topic)(void* ctx, const herald_request* request, herald_str topic,
                         herald_param_fn on_param, void* user, herald_error* err);

  /* ---- ABI 1.2 ---- */

  /* A herald_role: HERALD_ROLE_SERVER inside `herald serve`, HERALD_ROLE_CLIENT otherwise.
   * Absent (a 1.0/1.1 host) means HERALD_ROLE_CLIENT; read it with HERALD_HAS_FIELD. */
  int32_t role;

  /* ---- ABI 1.3 ---- */

  /* Present in every 1.3+ host (non-NULL when HERALD_HAS_FIELD says the field exists; a
   * 1.0-1.2 host lacks it). authorize_topic, plus: when the deciding rule verified a token and
   * allowed (a `jwt` rule), calls `on_claims(user, json)` exactly once, before returning
   * HERALD_TOPIC_ALLOW, with the token's claims as a JSON object (compact text, BORROWED for
   * that call: copy to keep). Not called for any other outcome or rule kind (`allow`, `header`,
   * `webhook` vouch for no identity). `on_param` and `on_claims` may be NULL and get the same
   * `user`. Returns a herald_topic_decision, or a negative herald_status with `err` filled;
   * `err` is owned by the DRIVER (the caller) and may be NULL. Thread-safe. */
  int (*authorize_topic_claims)(void* ctx, const herald_request* request, herald_str topic,
                                herald_param_fn on_param, herald_write_fn on_claims, void* user,
                                herald_error* err);
} herald_host_api;

/* The driver descriptor. Owned by the PLUGIN, in static storage, valid while the library is
 * loaded; the host copies what it keeps. */
typedef struct herald_driver_descriptor {
  uint32_t struct_size; /* sizeof(herald_driver_descriptor) as the DRIVER compiled it */
  /* Required. The name users write in `driver = "..."`: 1 to 64 characters of [a-z0-9_-],
   * static storage (the host refuses the plugin otherwise). */
  const char* name;
  /* Required. The driver's own version, e.g. "1.2.0", static storage. */
  const char* version;
  /* Optional (may be NULL). One-line description, static storage. */
  const char* description;

  /* Required. Creates an instance for one connection. `host` and the strings in `config`
   * are owned by the host; `host` stays valid until destroy(*out_instance) returns, `config`
   * only during this call (copy any string the instance keeps). On success stores a non-NULL
   * instance in *out_instance (NULL is taken as a failure) and returns HERALD_OK. On failure
   * returns a negative status, fills `err`, and owns nothing: HERALD_E_CONFIG (or
   * HERALD_E_INVALID_ARGUMENT) for a bad setting, which makes start-up and `herald publish` exit
   * 2; any other status is a run-time failure (exit 1: "cannot start: <err>"). */
  int (*create)(const herald_host_api* host, const herald_config* config, void** out_instance,
                herald_error* err);

  /* Required. Destroys an instance made by `create`. Never called concurrently with any
   * other call on that instance. Must not fail. */
  void (*destroy)(void* instance);

  /* Required. Publishes every message to every topic (Spiral: BroadcastInterface::publish).
   * Arrays and strings are borrowed for the call. n_topics >= 1 and n_messages >= 0 (zero
   * messages publish nothing and succeed). Returns HERALD_OK, or a negative status with `err`
   * filled: the host then reports "publish failed: <err>" (HTTP 502 from the API, exit 1 from
   * `herald publish`). May be called concurrently. */
  int (*publish)(void* instance, const herald_str* topics, size_t n_topics,
                 const herald_str* messages, size_t n_messages, herald_error* err);

  /* Optional: NULL means the driver is not a guard (Spiral: GuardInterface), and the host's
   * authorize endpoint answers 200. Decides an authorization request by calling the setters
   * of `result` (owned by the host; its setters are valid only until this call returns).
   * Returns HERALD_OK when `result` holds the decision; a negative status (HERALD_E_UNSUPPORTED
   * included) with `err` filled otherwise: the host answers 403 and writes `err` to its own
   * log only, never to the client. May be called concurrently. */
  int (*authorize)(void* instance, const herald_request* request, herald_auth_result* result,
                   herald_error* err);

  /* Optional: NULL means no validation beyond `create`. Checks a configuration without side
   * effects (no sockets, no files), for `herald check`. Returns HERALD_OK or HERALD_E_CONFIG
   * with `err` filled. */
  int (*validate)(const herald_config* config, herald_error* err);

  /* ---- ABI 1.1 ---- */

  /* Optional (NULL, or absent from a 1.0 descriptor, means always healthy). Reports whether
   * the instance can publish right now (peer reachable, server listening), for the host's
   * `GET /healthz`. Must be cheap (a cached state or a ping with a short timeout) and must not
   * publish. Returns HERALD_OK, or a negative status with `err` saying what is wrong. May be
   * called concurrently with `publish` and `authorize`. */
  int (*health)(void* instance, herald_error* err);

  /* ---- ABI 1.2 ---- */

  /* Optional (NULL, or absent from an older descriptor, means no metrics). Writes the
   * instance's metrics in the Prometheus text format (0.0.4) by calling `write(user, text)`
   * any number of times: whole lines, each ending in '\n', `# HELP`/`# TYPE` before a family's
   * samples. Names should start with `herald_` and every sample should carry the label
   * `connection="<name>"`; the host merges families of the same name from several instances.
   * Must be cheap (counters read, no I/O). Returns HERALD_OK, or a negative status with `err`
   * filled (the host then leaves this instance's text out). May be called concurrently with
   * every other entry point except create/destroy. */
  int (*metrics)(void* instance, herald_write_fn write, void* user, herald_error* err);

  /* ABI 1.3+ appends fields here. */
} herald_driver_descriptor;

/* The two symbols every plugin exports, both required. Define them with HERALD_DEFINE_DRIVER
 * (C) or HERALD_DRIVER (driver.hpp, C++), which cannot get them wrong. Written by hand, the
 * prototypes below make a mistyped export (wrong return or parameter types) a compile error
 * instead of a load-time one; a misspelt name is a different function, which C compilers report
 * with -Wmissing-prototypes (gcc, clang), and the host only when it loads the plugin.
 *
 * herald_driver_abi_version: FROZEN signature for every ABI major, runs no other code.
 *   Returns HERALD_ABI_VERSION as the plugin was compiled.
 * herald_driver_get_descriptor: returns the static descriptor; never NULL for a valid plugin. */
typedef uint32_t (*herald_abi_probe_fn)(void);
typedef const herald_driver_descriptor* (*herald_descriptor_fn)(void);
HERALD_EXPORT uint32_t herald_driver_abi_version(void);
HERALD_EXPORT const herald_driver_descriptor* herald_driver_get_descriptor(void);

/* Defines both exports from a `herald_driver_descriptor` variable of static storage duration
 * (a file-scope `static const` one). Use once per plugin, at file scope, with no `;` after it
 * (ISO C forbids an empty declaration there; -Wpedantic warns):
 *   HERALD_DEFINE_DRIVER(kMyDescriptor) */
#define HERALD_DEFINE_DRIVER(descriptor)                                                \
  HERALD_EXPORT uint32_t herald_driver_abi_version(void) { return HERALD_ABI_VERSION; } \
  HERALD_EXPORT const herald_driver_descriptor* herald_driver_get_descriptor(void) {    \
    return &(descriptor);                                                               \
  }

/* Minimum descriptor size the host accepts: the ABI 1.0 layout, up to and including
 * `validate`. Fields after it (1.1+) are read only when the plugin's struct_size covers them. */
#define HERALD_DESCRIPTOR_MIN_SIZE (offsetof(herald_driver_descriptor, validate) + sizeof(void*))

/* Copies a NUL-terminated message into a host-owned error (truncating). Safe with err NULL. */
static inline void herald_error_set(herald_error* err, const char* message) {
  size_t i = 0;
  if (err == NULL || err->message == NULL || err->capacity == 0) return;
  if (message != NULL) {
    for (; message[i] != '\0' && i + 1 < err->capacity; ++i) err->message[i] = message[i];
  }
  err->message[i] = '\0';
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HERALD_DRIVER_H */
